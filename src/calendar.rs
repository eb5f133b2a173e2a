//! Working days (工作日), for the reporting deadline of SPEC §10: a listing
//! must reach the platform "自认定之日起5个工作日内".
//!
//! Monday to Friday are working days, except the `holidays` of the
//! calendar file (public holidays falling on weekdays); Saturdays and
//! Sundays are not, except its `workdays` (调休: weekend days worked to
//! make up for a longer holiday). The file is TOML:
//!
//! ```toml
//! holidays = [2026-10-01, "2026-10-02"]   # TOML dates or "YYYY-MM-DD"
//! workdays = [2026-09-20]
//! ```
//!
//! Any other key, a value that is not a date, or a day named in both lists
//! is an error naming the file. A holiday on a weekend or a workday on a
//! weekday changes nothing and is accepted (the official notices list whole
//! holiday periods, weekends included).
//!
//! Counting is O(log n) whatever the span: weekdays by arithmetic, then the
//! weekday holidays and weekend workdays in the span by binary search.

use crate::date::Day;
use std::path::Path;

/// Why a calendar file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: not valid TOML: {message}")]
    Toml {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: unknown key {key:?} (a calendar has `holidays` and `workdays`)")]
    UnknownKey { file: String, key: String },
    #[error("{file}: `{key}` must be an array of dates")]
    NotArray { file: String, key: &'static str },
    #[error("{file}: {key}[{index}]: {problem}")]
    BadDate {
        file: String,
        key: &'static str,
        index: usize,
        problem: String,
    },
    #[error("{file}: {day} is both a holiday and a workday")]
    Both { file: String, day: Day },
}

/// A working-day calendar: weekdays minus holidays plus make-up workdays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Holidays that fall on a weekday, sorted, unique.
    weekday_holidays: Vec<Day>,
    /// Workdays that fall on a weekend, sorted, unique.
    weekend_workdays: Vec<Day>,
    /// First and last year any date of the file falls in (`None` for the
    /// plain Monday-to-Friday calendar).
    years: Option<(i32, i32)>,
}

/// Monday = 0 … Sunday = 6. 1970-01-01 was a Thursday.
pub fn weekday(d: Day) -> u32 {
    (d.0 as i64 + 3).rem_euclid(7) as u32
}

pub fn is_weekend(d: Day) -> bool {
    weekday(d) >= 5
}

/// Weekdays among the days before `d`, counted from the Monday 1970-01-05
/// (negative before it): only differences are meaningful.
fn weekdays_before(d: Day) -> i64 {
    let n = d.0 as i64 - 4;
    let (weeks, rest) = (n.div_euclid(7), n.rem_euclid(7));
    weeks * 5 + rest.min(5)
}

/// Elements of a sorted slice within `[a, b]`.
fn count_in(sorted: &[Day], a: Day, b: Day) -> i64 {
    (sorted.partition_point(|&d| d <= b) - sorted.partition_point(|&d| d < a)) as i64
}

impl Calendar {
    /// Monday to Friday, no holidays: the calendar without `--calendar`.
    pub fn weekdays() -> Calendar {
        Calendar::default()
    }

    /// Builds a calendar from lists of days (any order, repeats allowed).
    /// `Err(day)` names a day found in both lists.
    pub fn new(holidays: &[Day], workdays: &[Day]) -> Result<Calendar, Day> {
        let mut h: Vec<Day> = holidays.to_vec();
        let mut w: Vec<Day> = workdays.to_vec();
        h.sort_unstable();
        h.dedup();
        w.sort_unstable();
        w.dedup();
        if let Some(&both) = h.iter().find(|d| w.binary_search(d).is_ok()) {
            return Err(both);
        }
        let years = h.iter().chain(&w).map(|d| d.ymd().0).fold(
            None,
            |acc: Option<(i32, i32)>, y| match acc {
                None => Some((y, y)),
                Some((a, b)) => Some((a.min(y), b.max(y))),
            },
        );
        Ok(Calendar {
            weekday_holidays: h.into_iter().filter(|&d| !is_weekend(d)).collect(),
            weekend_workdays: w.into_iter().filter(|&d| is_weekend(d)).collect(),
            years,
        })
    }

    /// Parses a calendar file's text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Calendar, CalendarError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let at = e.span().map_or(0, |s| s.start).min(text.len());
            CalendarError::Toml {
                file: file.to_string(),
                line: text[..at].matches('\n').count() + 1,
                message: e.message().trim().replace('\n', "; "),
            }
        })?;
        if let Some(key) = table
            .keys()
            .find(|k| k.as_str() != "holidays" && k.as_str() != "workdays")
        {
            return Err(CalendarError::UnknownKey {
                file: file.to_string(),
                key: key.clone(),
            });
        }
        let days = |key: &'static str| -> Result<Vec<Day>, CalendarError> {
            let Some(v) = table.get(key) else {
                return Ok(Vec::new());
            };
            let arr = v.as_array().ok_or_else(|| CalendarError::NotArray {
                file: file.to_string(),
                key,
            })?;
            arr.iter()
                .enumerate()
                .map(|(index, v)| {
                    toml_day(v).map_err(|problem| CalendarError::BadDate {
                        file: file.to_string(),
                        key,
                        index,
                        problem,
                    })
                })
                .collect()
        };
        let (h, w) = (days("holidays")?, days("workdays")?);
        Calendar::new(&h, &w).map_err(|day| CalendarError::Both {
            file: file.to_string(),
            day,
        })
    }

    /// Reads a calendar file.
    pub fn load(path: &Path) -> Result<Calendar, CalendarError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Io {
            file: file.clone(),
            source,
        })?;
        Calendar::from_toml(&text, &file)
    }

    pub fn is_working_day(&self, d: Day) -> bool {
        if is_weekend(d) {
            self.weekend_workdays.binary_search(&d).is_ok()
        } else {
            self.weekday_holidays.binary_search(&d).is_err()
        }
    }

    /// Working days in `[a, b]` (0 when `b < a`).
    pub fn working_days(&self, a: Day, b: Day) -> u32 {
        if b < a {
            return 0;
        }
        let n = weekdays_before(b.plus(1))
            - weekdays_before(a)
            - count_in(&self.weekday_holidays, a, b)
            + count_in(&self.weekend_workdays, a, b);
        n.max(0) as u32
    }

    /// Working days from the day after `listed_on` through `reported_on`:
    /// the count the reporting deadline compares with its limit.
    pub fn days_to_report(&self, listed_on: Day, reported_on: Day) -> u32 {
        self.working_days(listed_on.plus(1), reported_on)
    }

    /// First and last year the calendar file names a date in; days outside
    /// are counted Monday to Friday, which is wrong around holidays.
    pub fn years(&self) -> Option<(i32, i32)> {
        self.years
    }

    /// Whether `d` lies in a year the calendar file covers (always true for
    /// the plain Monday-to-Friday calendar, which claims no holidays).
    pub fn covers(&self, d: Day) -> bool {
        self.years.is_none_or(|(a, b)| (a..=b).contains(&d.ymd().0))
    }
}

/// A TOML local date (`2026-10-01`) or a `"YYYY-MM-DD"` string.
fn toml_day(v: &toml::Value) -> Result<Day, String> {
    match v {
        toml::Value::String(s) => Day::parse(s).map_err(|e| e.to_string()),
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => Day::from_ymd(d.year as i32, d.month as u32, d.day as u32)
                .ok_or_else(|| format!("no such calendar date: {dt}")),
            _ => Err(format!("{dt} is not a plain date (no time, no offset)")),
        },
        other => Err(format!("not a date: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    #[test]
    fn weekdays_of_known_dates() {
        assert_eq!(weekday(d("1970-01-01")), 3); // Thursday
        assert_eq!(weekday(d("2026-11-20")), 4); // Friday
        assert_eq!(weekday(d("2026-10-01")), 3); // Thursday
        assert_eq!(weekday(d("2026-02-14")), 5); // Saturday
        assert_eq!(weekday(d("1969-12-29")), 0); // Monday
    }

    #[test]
    fn counting_agrees_with_walking_day_by_day() {
        let cal = Calendar::new(
            &[
                d("2026-10-01"),
                d("2026-10-02"),
                d("2026-10-03"),
                d("2026-10-05"),
            ],
            &[d("2026-09-27"), d("2026-10-10")],
        )
        .unwrap();
        let start = d("2026-09-01");
        for a in 0..60 {
            for len in 0..50 {
                let (a, b) = (start.plus(a), start.plus(a + len));
                let walked = (a.0..=b.0).filter(|&n| cal.is_working_day(Day(n))).count();
                assert_eq!(cal.working_days(a, b) as usize, walked, "{a} … {b}");
            }
        }
        assert_eq!(cal.working_days(d("2026-10-02"), d("2026-10-01")), 0);
    }

    #[test]
    fn plain_calendar_is_monday_to_friday() {
        let cal = Calendar::weekdays();
        // Listed on a Friday: the next working day is Monday.
        assert_eq!(cal.days_to_report(d("2026-11-20"), d("2026-11-22")), 0);
        assert_eq!(cal.days_to_report(d("2026-11-20"), d("2026-11-23")), 1);
        assert_eq!(cal.days_to_report(d("2026-11-20"), d("2026-11-27")), 5);
        assert_eq!(cal.days_to_report(d("2026-11-20"), d("2026-11-30")), 6);
        assert_eq!(cal.days_to_report(d("2026-11-20"), d("2026-11-20")), 0);
        assert!(cal.covers(d("1999-01-01")));
    }

    #[test]
    fn holidays_and_make_up_days_move_the_count() {
        let cal = Calendar::from_toml(
            "holidays = [2026-10-01, \"2026-10-02\", 2026-10-05]\nworkdays = [\"2026-10-10\"]\n",
            "cal.toml",
        )
        .unwrap();
        assert!(!cal.is_working_day(d("2026-10-01")));
        assert!(cal.is_working_day(d("2026-10-10"))); // a Saturday worked
        assert!(!cal.is_working_day(d("2026-10-11")));
        // Listed Wednesday 2026-09-30: Thu, Fri holidays, weekend, Mon holiday;
        // Tue 6, Wed 7, Thu 8, Fri 9, Sat 10 (worked) = 5.
        assert_eq!(cal.days_to_report(d("2026-09-30"), d("2026-10-10")), 5);
        assert_eq!(cal.years(), Some((2026, 2026)));
        assert!(!cal.covers(d("2027-01-04")));
    }

    #[test]
    fn the_shipped_calendar_loads_and_knows_2026() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/calendar-2026-2027.toml"
        );
        let cal = Calendar::load(Path::new(path)).unwrap();
        assert_eq!(cal.years(), Some((2026, 2027)));
        // 国庆节: Thursday 1 … Wednesday 7 October off, Saturday 10 worked.
        assert!(!cal.is_working_day(d("2026-10-01")));
        assert!(!cal.is_working_day(d("2026-10-07")));
        assert!(cal.is_working_day(d("2026-10-08")));
        assert!(cal.is_working_day(d("2026-10-10")));
        assert!(cal.is_working_day(d("2026-09-20")));
        // 春节: Monday 16 … Monday 23 February off, Saturday 14 and 28 worked.
        assert!(cal.is_working_day(d("2026-02-14")));
        assert!(!cal.is_working_day(d("2026-02-23")));
        assert!(cal.is_working_day(d("2026-02-28")));
        // 2026: 261 weekdays − 19 weekday holidays (元旦 2, 春节 6, 清明 1,
        // 劳动节 3, 端午 1, 中秋 1, 国庆 5) + 6 make-up days = 248.
        assert_eq!(cal.working_days(d("2026-01-01"), d("2026-12-31")), 248);
    }

    #[test]
    fn bad_files_name_the_file_and_the_place() {
        let err = |text: &str| {
            Calendar::from_toml(text, "fixtures/x.toml")
                .unwrap_err()
                .to_string()
        };
        // TOML itself refuses an impossible TOML date; the error has its line.
        let e = err("workdays = []\nholidays = [2026-02-30]");
        assert!(e.contains("fixtures/x.toml:2"), "{e}");
        let e = err("holidays = [\"2026-02-30\"]");
        assert!(
            e.contains("fixtures/x.toml") && e.contains("holidays[0]"),
            "{e}"
        );
        let e = err("workdays = [\"2026-1-4\"]");
        assert!(e.contains("workdays[0]") && e.contains("2026-1-4"), "{e}");
        let e = err("holidays = [2026-10-01T09:00:00]");
        assert!(e.contains("not a plain date"), "{e}");
        let e = err("holidays = [20261001]");
        assert!(e.contains("not a date"), "{e}");
        let e = err("holiday = [2026-10-01]");
        assert!(e.contains("unknown key") && e.contains("holiday"), "{e}");
        let e = err("holidays = 2026-10-01");
        assert!(e.contains("array"), "{e}");
        let e = err("holidays = [2026-10-01]\nworkdays = [\"2026-10-01\"]");
        assert!(e.contains("both"), "{e}");
        let e = err("holidays = [");
        assert!(e.contains("fixtures/x.toml") && e.contains("TOML"), "{e}");
    }
}
