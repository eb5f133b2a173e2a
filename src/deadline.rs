//! The reporting deadline (SPEC §10): a listing must reach the platform
//! "自认定之日起5个工作日内" — within N working days (default 5) of its
//! `listed_on`. An entry's optional `reported_on` is the day it did.
//!
//! An entry is *late* when the working days from the day after `listed_on`
//! through `reported_on` ([`Calendar::days_to_report`]) are more than N:
//! listed on a Friday and reported the Friday after is 5 working days, in
//! time; the Monday after that is 6, late.
//!
//! `credlist inspect --calendar C --deadline-days N` adds, per authority,
//! how many entries it has, how many carry `reported_on`, how many of those
//! were late, and the late ones. In inspect's JSON this is the `deadline`
//! object:
//! ```json
//! "deadline": {"days": 5, "calendar": "fixtures/calendar-2026-2027.toml",
//!   "calendar_years": [2026, 2027], "entries": 9, "reported": 7, "late": 2,
//!   "outside_calendar": 0,
//!   "authorities": [{"authority": "tax-bureau", "entries": 4, "reported": 3,
//!     "late": 1, "late_entries": [{"entry_id": "…", "kind": "black",
//!     "listed_on": "…", "reported_on": "…", "working_days": 6}]}]}
//! ```
//! `calendar` and `calendar_years` are null without `--calendar` (Monday to
//! Friday). `outside_calendar` counts reported entries whose counted days
//! reach into a year the calendar file names no date in: they are counted
//! Monday to Friday, which the operator should know (the file must be kept
//! current). Authorities are sorted by bytes, late entries by `listed_on`
//! then entry_id.

use crate::calendar::Calendar;
use crate::date::Day;
use crate::entry::Kind;
use serde::Serialize;
use std::collections::BTreeMap;

/// The default deadline: 5 working days.
pub const DEFAULT_DAYS: u32 = 5;

/// What the deadline reads of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported<'a> {
    pub entry_id: &'a str,
    pub kind: Kind,
    pub authority: &'a str,
    pub listed_on: Day,
    pub reported_on: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LateEntry {
    pub entry_id: String,
    pub kind: Kind,
    pub listed_on: Day,
    pub reported_on: Day,
    /// Working days from the day after `listed_on` through `reported_on`.
    pub working_days: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuthorityDeadline {
    pub authority: String,
    pub entries: u64,
    pub reported: u64,
    pub late: u64,
    pub late_entries: Vec<LateEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deadline {
    pub days: u32,
    /// The calendar file, `None` for Monday to Friday.
    pub calendar: Option<String>,
    pub calendar_years: Option<[i32; 2]>,
    pub entries: u64,
    pub reported: u64,
    pub late: u64,
    pub outside_calendar: u64,
    pub authorities: Vec<AuthorityDeadline>,
}

/// Judges every entry against the deadline of `days` working days.
pub fn deadline<'a>(
    entries: impl IntoIterator<Item = Reported<'a>>,
    cal: &Calendar,
    calendar_name: Option<String>,
    days: u32,
) -> Deadline {
    let mut by: BTreeMap<&str, AuthorityDeadline> = BTreeMap::new();
    let (mut total, mut reported, mut late, mut outside) = (0u64, 0u64, 0u64, 0u64);
    for e in entries {
        total += 1;
        let a = by.entry(e.authority).or_insert_with(|| AuthorityDeadline {
            authority: e.authority.to_string(),
            ..Default::default()
        });
        a.entries += 1;
        let Some(r) = e.reported_on else { continue };
        a.reported += 1;
        reported += 1;
        if !cal.covers(e.listed_on.plus(1)) || !cal.covers(r) {
            outside += 1;
        }
        let n = cal.days_to_report(e.listed_on, r);
        if n > days {
            a.late += 1;
            late += 1;
            a.late_entries.push(LateEntry {
                entry_id: e.entry_id.to_string(),
                kind: e.kind,
                listed_on: e.listed_on,
                reported_on: r,
                working_days: n,
            });
        }
    }
    let authorities = by
        .into_values()
        .map(|mut a| {
            a.late_entries.sort_by(|x, y| {
                x.listed_on
                    .cmp(&y.listed_on)
                    .then_with(|| x.entry_id.as_bytes().cmp(y.entry_id.as_bytes()))
            });
            a
        })
        .collect();
    Deadline {
        days,
        calendar: calendar_name,
        calendar_years: cal.years().map(|(a, b)| [a, b]),
        entries: total,
        reported,
        late,
        outside_calendar: outside,
        authorities,
    }
}

/// Judges every entry of a snapshot.
pub fn of_snapshot(
    snap: &crate::snapshot::Snapshot,
    cal: &Calendar,
    calendar_name: Option<String>,
    days: u32,
) -> Deadline {
    let entries = (0..snap.entries()).map(|i| {
        let v = snap.entry(i);
        Reported {
            entry_id: v.entry_id,
            kind: v.facts.kind,
            authority: v.authority,
            listed_on: v.facts.listed_on,
            reported_on: v.reported_on,
        }
    });
    deadline(entries, cal, calendar_name, days)
}

/// The text form, appended to inspect's.
pub fn write_text(d: &Deadline, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let cal = match (&d.calendar, d.calendar_years) {
        (Some(c), Some([a, b])) => format!("calendar {c}, {a}-{b}"),
        (Some(c), None) => format!("calendar {c}, no dates"),
        _ => "Monday to Friday".to_string(),
    };
    writeln!(
        w,
        "reporting deadline: {} working days after listed_on ({cal}): {} entries, {} reported, {} late",
        d.days, d.entries, d.reported, d.late
    )?;
    if d.outside_calendar > 0 {
        writeln!(
            w,
            "  note: {} reported entries count days in years the calendar does not cover (counted Monday to Friday)",
            d.outside_calendar
        )?;
    }
    writeln!(
        w,
        "  {:<24} {:>8} {:>8} {:>8}",
        "authority", "entries", "reported", "late"
    )?;
    for a in &d.authorities {
        writeln!(
            w,
            "  {:<24} {:>8} {:>8} {:>8}",
            a.authority, a.entries, a.reported, a.late
        )?;
        for l in &a.late_entries {
            writeln!(
                w,
                "    late {} {} listed {} reported {} ({} working days)",
                l.entry_id,
                l.kind.as_str(),
                l.listed_on,
                l.reported_on,
                l.working_days
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    fn rep<'a>(id: &'a str, auth: &'a str, listed: &str, reported: Option<&str>) -> Reported<'a> {
        Reported {
            entry_id: id,
            kind: Kind::Black,
            authority: auth,
            listed_on: d(listed),
            reported_on: reported.map(d),
        }
    }

    #[test]
    fn exactly_n_is_in_time_n_plus_one_is_late() {
        let cal = Calendar::weekdays();
        // Listed Friday 2026-11-20: Mon 23 … Fri 27 = 5, Mon 30 = 6.
        let got = deadline(
            [
                rep("A", "x", "2026-11-20", Some("2026-11-27")),
                rep("B", "x", "2026-11-20", Some("2026-11-30")),
                rep("C", "x", "2026-11-20", None),
                rep("D", "y", "2026-11-20", Some("2026-11-20")),
            ],
            &cal,
            None,
            5,
        );
        assert_eq!((got.entries, got.reported, got.late), (4, 3, 1));
        assert_eq!(got.authorities.len(), 2);
        let x = &got.authorities[0];
        assert_eq!((x.entries, x.reported, x.late), (3, 2, 1));
        assert_eq!(x.late_entries[0].entry_id, "B");
        assert_eq!(x.late_entries[0].working_days, 6);
        assert_eq!(got.authorities[1].late, 0);
        assert_eq!(got.outside_calendar, 0);
    }

    #[test]
    fn days_outside_the_calendar_are_counted() {
        let cal = Calendar::new(&[d("2026-10-01")], &[]).unwrap();
        let got = deadline(
            [
                rep("A", "x", "2026-12-31", Some("2027-01-04")),
                rep("B", "x", "2026-12-01", Some("2026-12-02")),
                rep("C", "x", "2025-12-01", None),
            ],
            &cal,
            Some("c.toml".into()),
            5,
        );
        assert_eq!(got.outside_calendar, 1);
        assert_eq!(got.calendar_years, Some([2026, 2026]));
    }
}
