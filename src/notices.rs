//! `credlist notices OLD NEW`: what each listing authority must announce
//! between two snapshots (SPEC §10): listings (公示), exits through the
//! original channel (名单退出公告), warnings to watch-list subjects of their
//! period (提示重点关注有效期) and escalations from watch to black.
//!
//! A hit is *in force* on a day when it is effective and not suppressed; a
//! suspended hit (objection) is still in force: an objection suspends
//! measures, not the listing. A hit is identified by its `entry_id`,
//! whether it is derived, and its kind (an entry whose kind changed, say
//! red to black, exits one list and is listed on the other).
//!
//! - `listed`: in force in NEW on D2, not in OLD on D1, under NEW's
//!   authority of the entry;
//! - `exited`: in force in OLD on D1, not in NEW on D2, under OLD's
//!   authority, with the first reason that applies ([`Reason`]): `removed`
//!   (the entry_id is absent from NEW), `revoked` (NEW's status), `repaired`
//!   (NEW's status, `exited_on` ≤ D2; not for a derived hit, whose watch
//!   the repair starts rather than ends), `expired` (NEW's `valid_until`, or
//!   a derived hit's W computed from NEW, before D2), `suppressed` (the hit
//!   is effective in NEW on D2 but suppressed), else `changed`;
//! - `warnings`: the watch hits among `listed`, derived included, with
//!   their `valid_until`;
//! - `escalations`: subjects whose status was `watch` in OLD on D1 and is
//!   `black` in NEW on D2, under the authority of each of their effective
//!   black entries in NEW on D2, with those entries.
//!
//! Natural persons' codes and names are masked ([`crate::mask`]).
//!
//! JSON (`--json`):
//! ```json
//! {"old": {"snapshot": "<id>", "data_date": "2026-11-13", "as_of": "2026-11-13"},
//!  "new": {"snapshot": "<id>", "data_date": "2026-11-20", "as_of": "2026-11-20"},
//!  "totals": {"listed": 4, "exited": 7, "warnings": 2, "escalations": 1},
//!  "authorities": [
//!    {"authority": "market-bureau",
//!     "listed":   [{"entry_id", "kind", "derived", "code", "name", "domain",
//!                   "listed_on", "valid_until"}],
//!     "exited":   [{…the same fields…, "reason": "expired"}],
//!     "warnings": [{"entry_id", "derived", "code", "name", "domain", "valid_until"}],
//!     "escalations": [{"code", "name", "entries": ["…"]}]}]}
//! ```
//! Authorities are sorted by bytes and appear only when they have something
//! to announce; `listed`, `exited` and `warnings` are sorted by kind (red,
//! black, watch), entry_id, then derived; `escalations` by code. Totals
//! count the items of those lists over all authorities (a subject escalated
//! under two authorities counts twice). `valid_until` is null when
//! open-ended; `name` is empty when the entry has none.

use crate::codes::Key;
use crate::date::Day;
use crate::entry::{Kind, Status};
use crate::mask;
use crate::publish::{is_person, kind_rank};
use crate::rules::{derived_watch, SubjectStatus};
use crate::snapshot::Snapshot;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a hit left the lists: the first that applies, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The entry is absent from NEW.
    Removed,
    /// 认定有误: NEW says the entry was listed in error.
    Revoked,
    /// 信用修复: NEW says the subject left early, on or before D2.
    Repaired,
    /// The entry's `valid_until` (a derived hit's W) is before D2.
    Expired,
    /// A red hit of a subject now on a black or watch list.
    Suppressed,
    /// Anything else: a date, the kind or the status changed.
    Changed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Removed => "removed",
            Reason::Revoked => "revoked",
            Reason::Repaired => "repaired",
            Reason::Expired => "expired",
            Reason::Suppressed => "suppressed",
            Reason::Changed => "changed",
        }
    }
}

/// What NEW says about the entry behind a hit that is no longer in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewState {
    pub status: Status,
    pub exited_on: Option<Day>,
    /// `valid_until` of the entry, or W of the derived watch (None when
    /// open-ended or when the entry yields no derived watch any more).
    pub end: Option<Day>,
    /// The hit is effective in NEW on D2 but suppressed.
    pub suppressed: bool,
}

/// The exit reason of a hit (derived or not) given what NEW says about its
/// entry (`None`: the entry is absent) on `d2`.
pub fn exit_reason(new: Option<NewState>, derived: bool, d2: Day) -> Reason {
    let Some(n) = new else {
        return Reason::Removed;
    };
    if n.status == Status::Revoked {
        Reason::Revoked
    } else if !derived && n.status == Status::Repaired && n.exited_on.is_some_and(|x| x <= d2) {
        Reason::Repaired
    } else if n.end.is_some_and(|e| e < d2) {
        Reason::Expired
    } else if n.suppressed {
        Reason::Suppressed
    } else {
        Reason::Changed
    }
}

/// A hit as announced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoticeHit {
    pub entry_id: String,
    pub kind: Kind,
    pub derived: bool,
    /// Masked for a natural person.
    pub code: String,
    /// Masked for a natural person.
    pub name: String,
    pub domain: String,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exited {
    #[serde(flatten)]
    pub hit: NoticeHit,
    pub reason: Reason,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub entry_id: String,
    pub derived: bool,
    pub code: String,
    pub name: String,
    pub domain: String,
    pub valid_until: Option<Day>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub code: String,
    pub name: String,
    /// The subject's effective black entries of this authority.
    pub entries: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuthorityNotices {
    pub authority: String,
    pub listed: Vec<NoticeHit>,
    pub exited: Vec<Exited>,
    pub warnings: Vec<Warning>,
    pub escalations: Vec<Escalation>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side {
    pub snapshot: String,
    pub data_date: Day,
    pub as_of: Day,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub listed: u64,
    pub exited: u64,
    pub warnings: u64,
    pub escalations: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notices {
    pub old: Side,
    pub new: Side,
    pub totals: Totals,
    pub authorities: Vec<AuthorityNotices>,
}

/// A hit in force, by entry number.
#[derive(Clone, Copy, Debug)]
struct InForce<'a> {
    entry_id: &'a str,
    kind: Kind,
    derived: bool,
    entry: u32,
    listed_on: Day,
    valid_until: Option<Day>,
}

impl InForce<'_> {
    fn id(&self) -> (&[u8], bool, u8) {
        (self.entry_id.as_bytes(), self.derived, kind_rank(self.kind))
    }
}

/// The hits in force on `day`, sorted by identity, and the keys of the
/// subjects whose status is `watch` that day.
fn scan(snap: &Snapshot, day: Day) -> (Vec<InForce<'_>>, Vec<Key>) {
    let (mut hits, watch) = (0..snap.subjects())
        .into_par_iter()
        .fold(
            || (Vec::new(), Vec::new(), Vec::new()),
            |(mut hits, mut watch, mut buf), sid| {
                let ev = snap.evaluate_facts(sid, day, &|_| false, &mut buf);
                if ev.status == SubjectStatus::Watch {
                    watch.push(snap.subject_key(sid));
                }
                let first = snap.subject_entries(sid).start;
                for h in ev.hits.iter().filter(|h| !h.suppressed) {
                    let entry = first + h.entry as u32;
                    hits.push(InForce {
                        entry_id: snap.entry(entry).entry_id,
                        kind: h.kind,
                        derived: h.derived,
                        entry,
                        listed_on: h.listed_on,
                        valid_until: h.valid_until,
                    });
                }
                (hits, watch, buf)
            },
        )
        .map(|(h, w, _)| (h, w))
        .reduce(
            || (Vec::new(), Vec::new()),
            |(mut h1, mut w1), (h2, w2)| {
                h1.extend(h2);
                w1.extend(w2);
                (h1, w1)
            },
        );
    hits.par_sort_unstable_by(|a, b| a.id().cmp(&b.id()));
    (hits, watch)
}

/// Code and name of an entry's subject as announced (masked for persons).
fn subject_of(snap: &Snapshot, entry: u32) -> (String, String) {
    let v = snap.entry(entry);
    let code = snap.subject_key(v.sid).to_code();
    mask::published(code.as_str(), v.name, is_person(snap, v.sid))
}

fn notice_hit(snap: &Snapshot, h: &InForce) -> (String, NoticeHit) {
    let v = snap.entry(h.entry);
    let (code, name) = subject_of(snap, h.entry);
    (
        v.authority.to_string(),
        NoticeHit {
            entry_id: h.entry_id.to_string(),
            kind: h.kind,
            derived: h.derived,
            code,
            name,
            domain: snap.domain_id(v.facts.domain).to_string(),
            listed_on: h.listed_on,
            valid_until: h.valid_until,
        },
    )
}

/// What NEW says on `d2` about the entry behind `h` (a hit of OLD).
fn new_state(new: &Snapshot, d2: Day, h: &InForce) -> Option<NewState> {
    let e = new.find_entry(h.entry_id)?;
    let v = new.entry(e);
    let f = v.facts;
    let end = if h.derived {
        derived_watch(&f, new.watch_days(f.domain)).map(|(_, w)| w)
    } else {
        f.valid_until
    };
    let first = new.subject_entries(v.sid).start;
    let ev = new.evaluate_facts(v.sid, d2, &|_| false, &mut Vec::new());
    let suppressed = ev.hits.iter().any(|x| {
        first + x.entry as u32 == e && x.derived == h.derived && x.kind == h.kind && x.suppressed
    });
    Some(NewState {
        status: f.status,
        exited_on: f.exited_on,
        end,
        suppressed,
    })
}

/// Merges two identity-sorted lists of hits in force: those only in
/// `before` (gone) and those only in `after` (came).
fn gone_and_came<'a, 'b>(
    before: &'a [InForce<'b>],
    after: &'a [InForce<'b>],
) -> (Vec<&'a InForce<'b>>, Vec<&'a InForce<'b>>) {
    let (mut i, mut j) = (0, 0);
    let mut gone = Vec::new();
    let mut came = Vec::new();
    while i < before.len() || j < after.len() {
        let ord = match (before.get(i), after.get(j)) {
            (Some(a), Some(b)) => a.id().cmp(&b.id()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                gone.push(&before[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                came.push(&after[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    (gone, came)
}

/// Escalations: subjects on the watch list on D1 in OLD, black on D2 in
/// NEW, by authority of their black entries.
fn escalations(new: &Snapshot, d2: Day, watch_subjects: &[Key]) -> Vec<(String, Escalation)> {
    watch_subjects
        .par_iter()
        .filter_map(|&key| new.lookup(key))
        .flat_map_iter(|slot| {
            let ev = new.evaluate_facts(slot.sid, d2, &|_| false, &mut Vec::new());
            let mut per_auth: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
            if ev.status == SubjectStatus::Black {
                let first = new.subject_entries(slot.sid).start;
                for h in ev.hits.iter().filter(|h| h.kind == Kind::Black) {
                    let e = first + h.entry as u32;
                    per_auth.entry(new.entry(e).authority).or_default().push(e);
                }
            }
            per_auth
                .into_iter()
                .map(|(auth, mut entries)| {
                    entries.sort_by(|a, b| {
                        new.entry(*a)
                            .entry_id
                            .as_bytes()
                            .cmp(new.entry(*b).entry_id.as_bytes())
                    });
                    let (code, name) = subject_of(new, entries[0]);
                    let ids = entries
                        .iter()
                        .map(|&e| new.entry(e).entry_id.to_string())
                        .collect();
                    (
                        auth.to_string(),
                        Escalation {
                            code,
                            name,
                            entries: ids,
                        },
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The notices between `old` on `d1` and `new` on `d2`.
pub fn notices(old: &Snapshot, d1: Day, new: &Snapshot, d2: Day) -> Notices {
    let ((before, watch_subjects), (after, _)) = rayon::join(|| scan(old, d1), || scan(new, d2));
    let mut by_auth: BTreeMap<String, AuthorityNotices> = BTreeMap::new();
    fn at(m: &mut BTreeMap<String, AuthorityNotices>, a: String) -> &mut AuthorityNotices {
        m.entry(a.clone()).or_insert_with(|| AuthorityNotices {
            authority: a,
            ..Default::default()
        })
    }

    let (gone, came) = gone_and_came(&before, &after);
    let exited: Vec<(String, Exited)> = gone
        .par_iter()
        .map(|h| {
            let (auth, hit) = notice_hit(old, h);
            let reason = exit_reason(new_state(new, d2, h), h.derived, d2);
            (auth, Exited { hit, reason })
        })
        .collect();
    let listed: Vec<(String, NoticeHit)> = came.par_iter().map(|h| notice_hit(new, h)).collect();
    for (auth, x) in exited {
        at(&mut by_auth, auth).exited.push(x);
    }
    for (auth, h) in listed {
        let a = at(&mut by_auth, auth);
        if h.kind == Kind::Watch {
            a.warnings.push(Warning {
                entry_id: h.entry_id.clone(),
                derived: h.derived,
                code: h.code.clone(),
                name: h.name.clone(),
                domain: h.domain.clone(),
                valid_until: h.valid_until,
            });
        }
        a.listed.push(h);
    }

    let escalations = escalations(new, d2, &watch_subjects);
    for (auth, x) in escalations {
        at(&mut by_auth, auth).escalations.push(x);
    }

    let order = |k: Kind, id: &str, derived: bool| (kind_rank(k), id.as_bytes().to_vec(), derived);
    let mut totals = Totals::default();
    let authorities: Vec<AuthorityNotices> = by_auth
        .into_values()
        .map(|mut a| {
            a.listed
                .sort_by_cached_key(|h| order(h.kind, &h.entry_id, h.derived));
            a.exited
                .sort_by_cached_key(|x| order(x.hit.kind, &x.hit.entry_id, x.hit.derived));
            a.warnings
                .sort_by_cached_key(|w| (w.entry_id.as_bytes().to_vec(), w.derived));
            a.escalations.sort_by(|x, y| x.code.cmp(&y.code));
            totals.listed += a.listed.len() as u64;
            totals.exited += a.exited.len() as u64;
            totals.warnings += a.warnings.len() as u64;
            totals.escalations += a.escalations.len() as u64;
            a
        })
        .collect();
    Notices {
        old: Side {
            snapshot: old.id.clone(),
            data_date: old.data_date,
            as_of: d1,
        },
        new: Side {
            snapshot: new.id.clone(),
            data_date: new.data_date,
            as_of: d2,
        },
        totals,
        authorities,
    }
}

/// The text form, for a person.
pub fn write_text(
    n: &Notices,
    old_name: &str,
    new_name: &str,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    writeln!(
        w,
        "old {old_name} (id {}, data date {}) as of {}",
        n.old.snapshot, n.old.data_date, n.old.as_of
    )?;
    writeln!(
        w,
        "new {new_name} (id {}, data date {}) as of {}",
        n.new.snapshot, n.new.data_date, n.new.as_of
    )?;
    writeln!(
        w,
        "listed {}, exited {}, warnings {}, escalations {}",
        n.totals.listed, n.totals.exited, n.totals.warnings, n.totals.escalations
    )?;
    let until = |d: Option<Day>| d.map_or("open-ended".to_string(), |d| format!("to {d}"));
    let kind = |k: Kind, derived: bool| {
        if derived {
            format!("{} (derived)", k.as_str())
        } else {
            k.as_str().to_string()
        }
    };
    for a in &n.authorities {
        writeln!(w)?;
        writeln!(w, "authority {}", a.authority)?;
        for h in &a.listed {
            writeln!(
                w,
                "  listed     {} {} {} {} {} from {}, {}",
                h.entry_id,
                kind(h.kind, h.derived),
                h.domain,
                h.code,
                h.name,
                h.listed_on,
                until(h.valid_until)
            )?;
        }
        for x in &a.exited {
            let h = &x.hit;
            writeln!(
                w,
                "  exited     {} {} {} {} {} ({})",
                h.entry_id,
                kind(h.kind, h.derived),
                h.domain,
                h.code,
                h.name,
                x.reason.as_str()
            )?;
        }
        for h in &a.warnings {
            writeln!(
                w,
                "  warning    {} {} {} {} {} watched {}",
                h.entry_id,
                kind(Kind::Watch, h.derived),
                h.domain,
                h.code,
                h.name,
                until(h.valid_until)
            )?;
        }
        for e in &a.escalations {
            writeln!(
                w,
                "  escalation {} {} watch to black: {}",
                e.code,
                e.name,
                e.entries.join(", ")
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

    fn state(
        status: Status,
        exited_on: Option<&str>,
        end: Option<&str>,
        suppressed: bool,
    ) -> NewState {
        NewState {
            status,
            exited_on: exited_on.map(d),
            end: end.map(d),
            suppressed,
        }
    }

    #[test]
    fn reasons_in_order_of_precedence() {
        let d2 = d("2026-11-20");
        assert_eq!(exit_reason(None, false, d2), Reason::Removed);
        assert_eq!(exit_reason(None, true, d2), Reason::Removed);
        // Revoked beats everything else NEW may say.
        let all = state(
            Status::Revoked,
            Some("2026-11-01"),
            Some("2026-11-01"),
            false,
        );
        assert_eq!(exit_reason(Some(all), false, d2), Reason::Revoked);
        // Repaired beats expired when both apply.
        let both = state(
            Status::Repaired,
            Some("2026-11-20"),
            Some("2026-11-10"),
            false,
        );
        assert_eq!(exit_reason(Some(both), false, d2), Reason::Repaired);
        // …on or before D2 only.
        let later = state(
            Status::Repaired,
            Some("2026-11-21"),
            Some("2026-11-10"),
            false,
        );
        assert_eq!(exit_reason(Some(later), false, d2), Reason::Expired);
        // A derived hit is never "repaired": the repair began its watch.
        assert_eq!(exit_reason(Some(both), true, d2), Reason::Expired);
        // Expired: strictly before D2.
        let ran_out = state(Status::Active, None, Some("2026-11-19"), true);
        assert_eq!(exit_reason(Some(ran_out), false, d2), Reason::Expired);
        let last_day = state(Status::Active, None, Some("2026-11-20"), true);
        assert_eq!(exit_reason(Some(last_day), false, d2), Reason::Suppressed);
        let other = state(Status::Objection, None, None, false);
        assert_eq!(exit_reason(Some(other), false, d2), Reason::Changed);
    }

    #[test]
    fn reasons_serialize_in_lower_case() {
        assert_eq!(
            serde_json::to_string(&Reason::Suppressed).unwrap(),
            "\"suppressed\""
        );
        assert_eq!(Reason::Removed.as_str(), "removed");
    }
}
