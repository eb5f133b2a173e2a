//! The rules of SPEC §3 and the measures of §4, as pure functions of a
//! subject's entries and a date.
//!
//! 1. effective windows;
//! 2. objection (status or hold) suspends measures;
//! 3. a black entry's exit yields a derived watch hit;
//! 4. black and watch suppress red;
//! 5. subject status black > watch > red > clear.

use crate::catalog::{Catalog, Effect};
use crate::date::Day;
use crate::entry::{Facts, Kind, Status};
use crate::roles as related;

/// Flag bits of the batch protocol (SPEC §6), also used in-process.
pub mod flags {
    pub const UNANSWERED: u8 = 1;
    pub const BLACK: u8 = 1 << 1;
    pub const WATCH: u8 = 1 << 2;
    pub const RED: u8 = 1 << 3;
    pub const SUSPENDED: u8 = 1 << 4;
    pub const MUST_APPLY: u8 = 1 << 5;
    pub const MAY_APPLY: u8 = 1 << 6;
    pub const REWARD: u8 = 1 << 7;
    /// The list bits that depend only on the entries and the date.
    pub const LISTS: u8 = BLACK | WATCH | RED | SUSPENDED;
    pub const MEASURES: u8 = MUST_APPLY | MAY_APPLY | REWARD;
}

/// Overall status of a subject on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectStatus {
    Black,
    Watch,
    Red,
    Clear,
}

/// One effective hit: an entry (or the watch derived from a black entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Index of the entry in the slice given to [`evaluate`].
    pub entry: usize,
    pub kind: Kind,
    pub domain: u16,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
    pub suspended: bool,
    pub suppressed: bool,
    pub derived: bool,
}

impl Hit {
    /// Whether the hit can trigger measures.
    pub fn is_active(&self) -> bool {
        !self.suspended && !self.suppressed
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub status: SubjectStatus,
    /// Sorted by kind (black, watch, red), then entry index.
    pub hits: Vec<Hit>,
}

impl Evaluation {
    /// The list bits of the batch protocol for these hits.
    pub fn flags(&self) -> u8 {
        let mut f = 0;
        for h in &self.hits {
            f |= match h.kind {
                Kind::Black => flags::BLACK,
                Kind::Watch => flags::WATCH,
                Kind::Red if !h.suppressed => flags::RED,
                Kind::Red => 0,
            };
            if h.suspended {
                f |= flags::SUSPENDED;
            }
        }
        f
    }
}

/// The day a black entry leaves its list, if it does: `valid_until + 1` when
/// it ran out, `exited_on` when repaired, the earlier if both. Revoked
/// entries never exit (they were never on the list).
pub fn exit_day(f: &Facts) -> Option<Day> {
    if f.status == Status::Revoked {
        return None;
    }
    let ran_out = f.valid_until.map(|v| v.plus(1));
    let repaired = if f.status == Status::Repaired {
        f.exited_on
    } else {
        None
    };
    match (ran_out, repaired) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Rule 1: whether an entry is effective on `d`.
pub fn is_effective(f: &Facts, d: Day) -> bool {
    if f.listed_on > d || f.valid_until.is_some_and(|v| d > v) {
        return false;
    }
    match f.status {
        Status::Active | Status::Objection | Status::Expired => true,
        Status::Repaired => f.exited_on.is_some_and(|x| d < x),
        Status::Revoked => false,
    }
}

/// Rule 3: the derived watch window `[X, W]` of a black entry, if any.
/// `watch_days` is its domain's `watch_after_exit_days`.
pub fn derived_watch(f: &Facts, watch_days: u32) -> Option<(Day, Day)> {
    if f.kind != Kind::Black {
        return None;
    }
    let x = exit_day(f)?;
    let w = match f.watch_until {
        Some(w) => w,
        None => x.plus(watch_days as i32 - 1),
    };
    (w >= x).then_some((x, w))
}

/// Evaluates a subject's entries on `d`. `held(i)` says whether entry `i`
/// carries an objection hold placed on the daemon; `watch_days(domain)` is
/// the domain's `watch_after_exit_days`.
pub fn evaluate(
    entries: &[Facts],
    d: Day,
    held: &dyn Fn(usize) -> bool,
    watch_days: &dyn Fn(u16) -> u32,
) -> Evaluation {
    let mut hits = Vec::new();
    for (i, f) in entries.iter().enumerate() {
        let suspended = f.status == Status::Objection || held(i);
        if is_effective(f, d) {
            hits.push(Hit {
                entry: i,
                kind: f.kind,
                domain: f.domain,
                listed_on: f.listed_on,
                valid_until: f.valid_until,
                suspended,
                suppressed: false,
                derived: false,
            });
        }
        if let Some((x, w)) = derived_watch(f, watch_days(f.domain)) {
            if x <= d && d <= w {
                hits.push(Hit {
                    entry: i,
                    kind: Kind::Watch,
                    domain: f.domain,
                    listed_on: x,
                    valid_until: Some(w),
                    suspended,
                    suppressed: false,
                    derived: true,
                });
            }
        }
    }
    let black_or_watch = hits.iter().any(|h| h.kind != Kind::Red);
    if black_or_watch {
        hits.iter_mut()
            .filter(|h| h.kind == Kind::Red)
            .for_each(|h| h.suppressed = true);
    }
    hits.sort_by_key(|h| (h.kind, h.entry, h.derived));
    let status = if hits.iter().any(|h| h.kind == Kind::Black) {
        SubjectStatus::Black
    } else if hits.iter().any(|h| h.kind == Kind::Watch) {
        SubjectStatus::Watch
    } else if hits.iter().any(|h| h.kind == Kind::Red && !h.suppressed) {
        SubjectStatus::Red
    } else {
        SubjectStatus::Clear
    };
    Evaluation { status, hits }
}

/// The days on which a subject's evaluation may change: outside holds, the
/// result of [`evaluate`] is the same on every day between two consecutive
/// boundaries. Used to precompute a subject's flags for a date range.
pub fn boundaries(entries: &[Facts], watch_days: &dyn Fn(u16) -> u32, out: &mut Vec<Day>) {
    out.clear();
    for f in entries {
        out.push(f.listed_on);
        if let Some(v) = f.valid_until {
            out.push(v.plus(1));
        }
        if let Some(x) = f.exited_on {
            out.push(x);
        }
        if let Some((x, w)) = derived_watch(f, watch_days(f.domain)) {
            out.push(x);
            out.push(w.plus(1));
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// A measure that applies, with the hits that triggered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Index of the measure in the catalog.
    pub measure: usize,
    /// Indices into the evaluation's hits.
    pub hits: Vec<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Measures {
    pub must_apply: Vec<Applied>,
    pub may_apply: Vec<Applied>,
    pub rewards: Vec<Applied>,
}

/// The catalog's measures compiled for matching: per measure a kind mask,
/// a domain mask and a matter mask.
#[derive(Clone, Debug)]
pub struct MeasureTable {
    measures: Vec<CompiledMeasure>,
    ndomains: usize,
}

#[derive(Clone, Debug)]
struct CompiledMeasure {
    kinds: u8,
    /// `None` = every domain.
    domains: Option<Vec<bool>>,
    matters: Vec<bool>,
    bit: u8,
    /// Who it reaches: [`crate::roles::applies_mask`].
    applies: u8,
}

impl MeasureTable {
    pub fn new(cat: &Catalog) -> MeasureTable {
        let measures = cat
            .measures
            .iter()
            .map(|m| CompiledMeasure {
                kinds: m
                    .lists
                    .iter()
                    .filter_map(|k| Kind::parse(k))
                    .fold(0, |a, k| a | 1 << k as u8),
                domains: (!m.domains.iter().any(|d| d == "*")).then(|| {
                    cat.domains
                        .iter()
                        .map(|d| m.domains.contains(&d.id))
                        .collect()
                }),
                matters: cat
                    .matters
                    .iter()
                    .map(|mt| m.matters.contains(&mt.id))
                    .collect(),
                bit: match (m.effect, m.mandatory) {
                    (Effect::Punish, true) => flags::MUST_APPLY,
                    (Effect::Punish, false) => flags::MAY_APPLY,
                    (Effect::Reward, _) => flags::REWARD,
                },
                applies: related::applies_mask(&m.applies_to),
            })
            .collect();
        MeasureTable {
            measures,
            ndomains: cat.domains.len(),
        }
    }

    /// Whether measure `m` is of matter `matter` and triggered by an active
    /// hit of `kind` in `domain` (whoever it applies to).
    pub fn matches(&self, m: usize, matter: usize, kind: Kind, domain: u16) -> bool {
        let c = &self.measures[m];
        c.matters.get(matter).copied().unwrap_or(false)
            && c.kinds & (1 << kind as u8) != 0
            && c.domains
                .as_ref()
                .is_none_or(|d| d.get(domain as usize).copied().unwrap_or(false))
    }

    /// §4: the measures of matter `matter` that apply to the subject itself,
    /// triggered by its active hits.
    pub fn measures(&self, matter: usize, hits: &[Hit]) -> Measures {
        let mut out = Measures::default();
        for m in 0..self.measures.len() {
            if self.measures[m].applies & related::APPLIES_SUBJECT == 0 {
                continue;
            }
            let triggered = self.triggering(m, matter, hits);
            if triggered.is_empty() {
                continue;
            }
            let applied = Applied {
                measure: m,
                hits: triggered,
            };
            match self.measures[m].bit {
                flags::MUST_APPLY => out.must_apply.push(applied),
                flags::MAY_APPLY => out.may_apply.push(applied),
                _ => out.rewards.push(applied),
            }
        }
        out
    }

    /// Indices of the active hits that trigger measure `m` for `matter`.
    pub fn triggering(&self, m: usize, matter: usize, hits: &[Hit]) -> Vec<usize> {
        hits.iter()
            .enumerate()
            .filter(|(_, h)| h.is_active() && self.matches(m, matter, h.kind, h.domain))
            .map(|(i, _)| i)
            .collect()
    }

    /// The measure bits for matter `matter` of a set of active
    /// `(kind, domain)` pairs of the subject itself (its "profile").
    pub fn profile_flags(&self, matter: usize, profile: &[(Kind, u16)]) -> u8 {
        let mut f = 0;
        for (m, c) in self.measures.iter().enumerate() {
            if f & c.bit == 0
                && c.applies & related::APPLIES_SUBJECT != 0
                && profile.iter().any(|&(k, d)| self.matches(m, matter, k, d))
            {
                f |= c.bit;
            }
        }
        f
    }

    /// The measure bits for matter `matter` of a profile with relations,
    /// split by how they reach the subject (see [`ProfileFlags::bits`]).
    pub fn item_flags(&self, matter: usize, items: &[related::ProfileItem]) -> ProfileFlags {
        let mut f = ProfileFlags::default();
        for (m, c) in self.measures.iter().enumerate() {
            for it in items {
                let reaches = match it.role() {
                    None => c.applies & related::APPLIES_SUBJECT != 0,
                    Some(r) => c.applies & related::role_bit(r) != 0,
                };
                if !reaches || !self.matches(m, matter, it.kind, it.domain) {
                    continue;
                }
                match (it.role(), it.through_person()) {
                    (None, _) => f.own |= c.bit,
                    (Some(_), false) => f.via_org |= c.bit,
                    (Some(_), true) => f.via_person |= c.bit,
                }
            }
        }
        f
    }

    /// Number of measures (catalog order).
    pub fn len(&self) -> usize {
        self.measures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.measures.is_empty()
    }

    /// Who measure `m` reaches ([`crate::roles::applies_mask`]).
    pub fn applies_to(&self, m: usize) -> u8 {
        self.measures[m].applies
    }

    pub fn is_reward(&self, m: usize) -> bool {
        self.measures[m].bit == flags::REWARD
    }

    pub fn is_mandatory(&self, m: usize) -> bool {
        self.measures[m].bit == flags::MUST_APPLY
    }

    pub fn ndomains(&self) -> usize {
        self.ndomains
    }
}

/// Measure bits of a profile with relations: from the subject's own hits,
/// through organisations, and through organisations whose code counts as a
/// natural person (hidden from callers without person permission).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProfileFlags {
    pub own: u8,
    pub via_org: u8,
    pub via_person: u8,
}

impl ProfileFlags {
    /// The measure bits a caller sees: rewards never reach through a
    /// relation a subject whose own status is black or watch (§8 rule 4).
    pub fn bits(self, persons: bool, own_black_or_watch: bool) -> u8 {
        let mut via = self.via_org | if persons { self.via_person } else { 0 };
        if own_black_or_watch {
            via &= !flags::REWARD;
        }
        self.own | via
    }
}

/// The active `(kind, domain)` pairs of an evaluation, sorted and deduped:
/// everything the measures of any matter depend on.
pub fn profile(ev: &Evaluation) -> Vec<(Kind, u16)> {
    let mut p: Vec<(Kind, u16)> = ev
        .hits
        .iter()
        .filter(|h| h.is_active())
        .map(|h| (h.kind, h.domain))
        .collect();
    p.sort_unstable();
    p.dedup();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    fn facts(
        kind: Kind,
        status: Status,
        listed: &str,
        until: Option<&str>,
        exited: Option<&str>,
        watch: Option<&str>,
    ) -> Facts {
        Facts {
            kind,
            status,
            domain: 0,
            listed_on: d(listed),
            valid_until: until.map(d),
            exited_on: exited.map(d),
            watch_until: watch.map(d),
        }
    }

    fn eval(entries: &[Facts], day: &str) -> Evaluation {
        evaluate(entries, d(day), &|_| false, &|dom| {
            if dom == 1 {
                180
            } else {
                365
            }
        })
    }

    fn summary(ev: &Evaluation) -> Vec<(Kind, bool, bool, bool)> {
        ev.hits
            .iter()
            .map(|h| (h.kind, h.suspended, h.suppressed, h.derived))
            .collect()
    }

    use Kind::*;
    use Status::*;

    #[test]
    fn effective_window_boundaries() {
        let e = facts(Black, Active, "2026-01-10", Some("2026-06-30"), None, None);
        let cases = [
            ("2026-01-09", false),
            ("2026-01-10", true),
            ("2026-06-30", true),
            ("2026-07-01", false),
        ];
        for (day, want) in cases {
            assert_eq!(is_effective(&e, d(day)), want, "{day}");
        }
        let open = facts(Red, Active, "2026-01-10", None, None, None);
        assert!(is_effective(&open, d("2099-12-31")));
        let expired = facts(Red, Expired, "2026-01-10", Some("2026-03-01"), None, None);
        assert!(is_effective(&expired, d("2026-03-01")));
        assert!(!is_effective(&expired, d("2026-03-02")));
        let revoked = facts(Black, Revoked, "2026-01-10", None, None, None);
        assert!(!is_effective(&revoked, d("2026-05-01")));
        let repaired = facts(
            Black,
            Repaired,
            "2026-01-10",
            None,
            Some("2026-04-01"),
            None,
        );
        assert!(is_effective(&repaired, d("2026-03-31")));
        assert!(!is_effective(&repaired, d("2026-04-01")));
        let objection = facts(Black, Objection, "2026-01-10", None, None, None);
        assert!(is_effective(&objection, d("2026-01-10")));
    }

    #[test]
    fn derived_watch_boundaries() {
        // Ran out on 2026-06-30: exit day X = 2026-07-01; court default 365 days.
        let ran_out = facts(Black, Active, "2026-01-10", Some("2026-06-30"), None, None);
        assert_eq!(
            derived_watch(&ran_out, 365),
            Some((d("2026-07-01"), d("2027-06-30")))
        );
        let table = [
            ("2026-06-30", vec![(Black, false, false, false)]),
            ("2026-07-01", vec![(Watch, false, false, true)]),
            ("2027-06-30", vec![(Watch, false, false, true)]),
            ("2027-07-01", vec![]),
        ];
        for (day, want) in table {
            assert_eq!(summary(&eval(&[ran_out], day)), want, "{day}");
        }
        // Explicit watch_until wins over the domain default.
        let explicit = facts(
            Black,
            Expired,
            "2026-01-10",
            Some("2026-06-30"),
            None,
            Some("2026-08-31"),
        );
        assert_eq!(
            derived_watch(&explicit, 365),
            Some((d("2026-07-01"), d("2026-08-31")))
        );
        // Repaired with both dates: the earlier exit wins.
        let both = facts(
            Black,
            Repaired,
            "2026-01-10",
            Some("2026-12-31"),
            Some("2026-05-15"),
            None,
        );
        assert_eq!(
            derived_watch(&both, 180),
            Some((d("2026-05-15"), d("2026-11-10")))
        );
        let both_late = facts(
            Black,
            Repaired,
            "2026-01-10",
            Some("2026-03-31"),
            Some("2026-05-15"),
            None,
        );
        assert_eq!(exit_day(&both_late), Some(d("2026-04-01")));
        // Revoked: listed in error, no derived watch.
        let revoked = facts(Black, Revoked, "2026-01-10", Some("2026-06-30"), None, None);
        assert_eq!(derived_watch(&revoked, 365), None);
        // Open-ended active black never exits.
        let open = facts(Black, Active, "2026-01-10", None, None, None);
        assert_eq!(derived_watch(&open, 365), None);
        // Only black entries derive.
        let red = facts(Red, Active, "2026-01-10", Some("2026-06-30"), None, None);
        assert_eq!(derived_watch(&red, 365), None);
        // Domain default of another domain (180 days).
        let mut tax = ran_out;
        tax.domain = 1;
        let ev = eval(&[tax], "2026-12-27");
        assert_eq!(ev.hits[0].valid_until, Some(d("2026-12-27")));
        assert!(eval(&[tax], "2026-12-28").hits.is_empty());
    }

    #[test]
    fn objection_suspends_and_carries_to_derived_watch() {
        let e = facts(
            Black,
            Objection,
            "2026-01-10",
            Some("2026-06-30"),
            None,
            None,
        );
        assert_eq!(
            summary(&eval(&[e], "2026-03-01")),
            vec![(Black, true, false, false)]
        );
        assert_eq!(
            summary(&eval(&[e], "2026-07-01")),
            vec![(Watch, true, false, true)]
        );
        // A hold placed on the daemon suspends the same way.
        let a = facts(Black, Active, "2026-01-10", None, None, None);
        let ev = evaluate(&[a], d("2026-03-01"), &|i| i == 0, &|_| 365);
        assert!(ev.hits[0].suspended);
        assert_eq!(ev.status, SubjectStatus::Black);
        assert_eq!(ev.flags(), flags::BLACK | flags::SUSPENDED);
    }

    #[test]
    fn black_and_watch_suppress_red_and_status_order() {
        let red = facts(Red, Active, "2026-01-01", None, None, None);
        let black = facts(Black, Active, "2026-03-01", Some("2026-05-31"), None, None);
        let watch = facts(Watch, Active, "2026-09-01", Some("2026-09-30"), None, None);
        let all = [red, black, watch];
        type Row = (&'static str, SubjectStatus, Vec<(Kind, bool, bool, bool)>);
        let table: [Row; 6] = [
            (
                "2026-02-28",
                SubjectStatus::Red,
                vec![(Red, false, false, false)],
            ),
            (
                "2026-03-01",
                SubjectStatus::Black,
                vec![(Black, false, false, false), (Red, false, true, false)],
            ),
            // Derived watch from 2026-06-01 still suppresses red.
            (
                "2026-06-01",
                SubjectStatus::Watch,
                vec![(Watch, false, false, true), (Red, false, true, false)],
            ),
            (
                "2026-09-15",
                SubjectStatus::Watch,
                vec![
                    (Watch, false, false, true),
                    (Watch, false, false, false),
                    (Red, false, true, false),
                ],
            ),
            (
                "2027-05-31",
                SubjectStatus::Watch,
                vec![(Watch, false, false, true), (Red, false, true, false)],
            ),
            (
                "2027-06-01",
                SubjectStatus::Red,
                vec![(Red, false, false, false)],
            ),
        ];
        for (day, status, hits) in table {
            let ev = eval(&all, day);
            assert_eq!(ev.status, status, "{day}");
            assert_eq!(summary(&ev), hits, "{day}");
        }
        // A suspended black still makes the subject black and suppresses red.
        let obj = facts(Black, Objection, "2026-01-01", None, None, None);
        let ev = eval(&[red, obj], "2026-02-01");
        assert_eq!(ev.status, SubjectStatus::Black);
        assert!(ev.hits.iter().any(|h| h.kind == Red && h.suppressed));
        assert_eq!(ev.flags(), flags::BLACK | flags::SUSPENDED);
        assert_eq!(eval(&[], "2026-02-01").status, SubjectStatus::Clear);
    }

    #[test]
    fn measures_follow_matter_kind_and_domain() {
        let cat = Catalog::from_toml(
            r#"
[[domain]]
id = "court"
name = "c"
[[domain]]
id = "tax"
name = "t"
[[matter]]
id = "proc"
name = "p"
[[matter]]
id = "lic"
name = "l"
[[measure]]
id = "M1"
name = "m1"
effect = "punish"
lists = ["black"]
domains = ["*"]
matters = ["proc"]
mandatory = true
[[measure]]
id = "M2"
name = "m2"
effect = "punish"
lists = ["black", "watch"]
domains = ["tax"]
matters = ["proc", "lic"]
[[measure]]
id = "R1"
name = "green channel"
effect = "reward"
lists = ["red"]
domains = ["*"]
matters = ["lic"]
"#,
            "t",
        )
        .unwrap();
        let table = MeasureTable::new(&cat);
        let mut black_court = facts(Black, Active, "2026-01-01", None, None, None);
        black_court.domain = 0;
        let mut watch_tax = facts(Watch, Active, "2026-01-01", None, None, None);
        watch_tax.domain = 1;
        let ev = eval(&[black_court, watch_tax], "2026-02-01");
        let m = table.measures(0, &ev.hits);
        assert_eq!(
            m.must_apply,
            vec![Applied {
                measure: 0,
                hits: vec![0]
            }]
        );
        assert_eq!(
            m.may_apply,
            vec![Applied {
                measure: 1,
                hits: vec![1]
            }]
        );
        assert!(m.rewards.is_empty());
        assert_eq!(
            table.profile_flags(0, &profile(&ev)),
            flags::MUST_APPLY | flags::MAY_APPLY
        );
        let m = table.measures(1, &ev.hits);
        assert!(m.must_apply.is_empty());
        assert_eq!(m.may_apply.len(), 1);

        // Red alone: reward on lic; suppressed red: nothing.
        let red = facts(Red, Active, "2026-01-01", None, None, None);
        let ev = eval(&[red], "2026-02-01");
        assert_eq!(table.measures(1, &ev.hits).rewards.len(), 1);
        assert_eq!(table.profile_flags(1, &profile(&ev)), flags::REWARD);
        let ev = eval(&[red, watch_tax], "2026-02-01");
        assert!(table.measures(1, &ev.hits).rewards.is_empty());
        // Suspended black triggers no measure.
        let mut obj = black_court;
        obj.status = Objection;
        let ev = eval(&[obj], "2026-02-01");
        assert_eq!(table.measures(0, &ev.hits), Measures::default());
        assert_eq!(table.profile_flags(0, &profile(&ev)), 0);
    }

    fn arb_facts() -> impl Strategy<Value = Facts> {
        (
            0u8..3,
            0u8..5,
            0u16..2,
            0i32..400,
            proptest::option::of(0i32..400),
            proptest::option::of(0i32..400),
            proptest::option::of(0i32..600),
        )
            .prop_map(|(k, s, dom, l, v, x, w)| {
                let listed = Day(20000 + l);
                Facts {
                    kind: Kind::from_u8(k).unwrap(),
                    status: Status::from_u8(s).unwrap(),
                    domain: dom,
                    listed_on: listed,
                    valid_until: v.map(|v| listed.plus(v)),
                    exited_on: x.map(|x| listed.plus(x)),
                    watch_until: w.map(|w| listed.plus(w)),
                }
            })
    }

    proptest! {
        /// The evaluation is constant between consecutive boundaries, which
        /// is what lets the snapshot precompute flags for a date range.
        #[test]
        fn evaluation_constant_between_boundaries(entries in proptest::collection::vec(arb_facts(), 0..5), probe in 0i32..1500) {
            let wd = |dom: u16| if dom == 1 { 180 } else { 365 };
            let mut b = Vec::new();
            boundaries(&entries, &wd, &mut b);
            let day = Day(19900 + probe);
            let from = b.iter().rev().find(|&&x| x <= day).copied().unwrap_or(Day(0));
            let base = evaluate(&entries, from.max(Day(19000)), &|_| false, &wd);
            let ev = evaluate(&entries, day, &|_| false, &wd);
            if from >= Day(19000) {
                prop_assert_eq!(base, ev);
            }
        }

        /// Red is reported unsuppressed exactly when no black or watch hit exists.
        #[test]
        fn red_suppressed_iff_black_or_watch(entries in proptest::collection::vec(arb_facts(), 0..6), probe in 0i32..1000) {
            let ev = evaluate(&entries, Day(20000 + probe), &|_| false, &|_| 365);
            let bw = ev.hits.iter().any(|h| h.kind != Kind::Red);
            for h in ev.hits.iter().filter(|h| h.kind == Kind::Red) {
                prop_assert_eq!(h.suppressed, bw);
            }
            let flags = ev.flags();
            prop_assert_eq!(flags & flags::RED != 0, ev.status == SubjectStatus::Red);
        }
    }
}
