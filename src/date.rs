//! Calendar dates as day numbers.
//!
//! Every date in credlist is a `Day`: days since 1970-01-01 (proleptic
//! Gregorian). Rules compare and add days, the snapshot stores them as `u32`,
//! and the wire protocol carries them as-is, so one integer type is enough.
//! "Today" is the civil date in Asia/Shanghai (UTC+8, no daylight saving
//! since 1991), the time zone the lists are published in.

use std::fmt;
use std::time::SystemTime;

/// Days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Day(pub i32);

/// Why a date string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("not a YYYY-MM-DD date: {0:?}")]
    Format(String),
    #[error("no such calendar date: {0}")]
    NoSuchDay(String),
}

impl Day {
    /// Earliest date any rule or code accepts (birth dates start here).
    pub const MIN_BIRTH: Day = Day(-25567); // 1900-01-01

    /// Builds a day from a civil date, `None` when the date does not exist.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Day> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y, m, d)))
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, real calendar date).
    pub fn parse(s: &str) -> Result<Day, DateError> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
            })
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(DateError::Format(s.to_string()));
        }
        let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
            return Err(DateError::Format(s.to_string()));
        };
        Day::from_ymd(y as i32, m, d).ok_or_else(|| DateError::NoSuchDay(s.to_string()))
    }

    /// The civil date `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// Today in Asia/Shanghai.
    pub fn today() -> Day {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Day(((secs + 8 * 3600).div_euclid(86_400)) as i32)
    }

    pub fn plus(self, days: i32) -> Day {
        Day(self.0.saturating_add(days))
    }

    /// Encoding in the snapshot and on the wire: days since 1970-01-01 as
    /// `u32`. Dates before 1970 never occur in list entries (they are
    /// refused at ingest), so the conversion is exact for stored dates.
    pub fn to_u32(self) -> u32 {
        self.0.max(0) as u32
    }

    pub fn from_u32(v: u32) -> Day {
        Day(v.min(i32::MAX as u32) as i32)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC): the time of records and journal lines.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let day = Day(secs.div_euclid(86_400) as i32);
    let s = secs.rem_euclid(86_400);
    format!(
        "{day}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's civil-date algorithms: exact over the whole i32 range we use.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    // In i64: the shift by 719 468 days overflows i32 near its ends (a
    // batch frame's `as_of` can be any u32).
    let z = z as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    // |y| < 5.9 million for any i32 day: fits.
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_253_652_123);
        assert_eq!(timestamp(t), "2026-11-21T09:34:12.123Z");
    }

    /// Found by fuzzing the batch connection: `as_of` near u32::MAX
    /// overflowed the day-to-date conversion.
    #[test]
    fn days_at_the_ends_of_the_range_convert_without_overflow() {
        assert_eq!(Day(i32::MAX).ymd(), (5_881_580, 7, 11));
        assert_eq!(Day(i32::MIN).ymd(), (-5_877_641, 6, 23));
        assert_eq!(Day::from_u32(u32::MAX).to_string(), "5881580-07-11");
        assert_eq!(Day(i32::MAX - 719_468).ymd(), (5_879_610, 9, 9));
    }

    #[test]
    fn known_days() {
        assert_eq!(Day::parse("1970-01-01").unwrap(), Day(0));
        assert_eq!(Day::parse("2000-03-01").unwrap(), Day(11017));
        assert_eq!(Day::parse("1900-01-01").unwrap(), Day::MIN_BIRTH);
        assert_eq!(Day(20413).to_string(), "2025-11-21");
    }

    #[test]
    fn refuses_bad_dates() {
        for s in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026/01/01",
            "20260101",
            "2026-1-01",
            " 2026-01-01",
            "２０２６-01-01",
        ] {
            assert!(Day::parse(s).is_err(), "{s} should be refused");
        }
        assert!(Day::parse("2024-02-29").is_ok());
        assert!(Day::parse("2000-02-29").is_ok());
        assert!(Day::parse("1900-02-29").is_err());
    }

    #[test]
    fn round_trip_every_day_for_three_centuries() {
        for n in -30_000..80_000 {
            let (y, m, d) = Day(n).ymd();
            assert_eq!(Day::from_ymd(y, m, d), Some(Day(n)));
        }
    }
}
