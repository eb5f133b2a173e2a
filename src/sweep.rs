//! The conflict sweep: every red entry suppressed by a black or watch entry
//! of the same subject (SPEC §3 rule 4), with the entries on both sides. The
//! red entry's authority must publish the exit from the red list.

use crate::check::Holds;
use crate::date::Day;
use crate::entry::Kind;
use crate::rules::Hit;
use crate::snapshot::Snapshot;
use rayon::prelude::*;
use serde::Serialize;

/// One side of a conflict, borrowing its strings from the snapshot (a full
/// sweep can produce millions of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SideHit<'a> {
    pub entry_id: &'a str,
    pub kind: Kind,
    pub domain: &'a str,
    pub authority: &'a str,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
    pub suspended: bool,
    pub suppressed: bool,
    pub derived: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict<'a> {
    pub code: crate::codes::Code,
    /// The suppressed red entry; its authority must publish the exit.
    pub red: SideHit<'a>,
    /// The effective black and watch hits that suppress it, by entry_id.
    pub by: Vec<SideHit<'a>>,
}

fn side<'a>(snap: &'a Snapshot, first: u32, h: &Hit) -> SideHit<'a> {
    let v = snap.entry(first + h.entry as u32);
    SideHit {
        entry_id: v.entry_id,
        kind: h.kind,
        domain: snap.domain_id(h.domain),
        authority: v.authority,
        listed_on: h.listed_on,
        valid_until: h.valid_until,
        suspended: h.suspended,
        suppressed: h.suppressed,
        derived: h.derived,
    }
}

/// All conflicts on `day`, sorted by code then red entry_id.
pub fn sweep<'a>(snap: &'a Snapshot, day: Day, holds: &Holds) -> Vec<Conflict<'a>> {
    let Some(red) = snap.bitmap(Kind::Red, None) else {
        return Vec::new();
    };
    let mut bw = snap.bitmap(Kind::Black, None).cloned().unwrap_or_default();
    if let Some(w) = snap.bitmap(Kind::Watch, None) {
        bw |= w;
    }
    // Derived watch comes from black entries, so candidates are red ∩ (black ∪ watch).
    let candidates: Vec<u32> = (red & &bw).iter().collect();
    let mut out: Vec<Conflict> = candidates
        .par_iter()
        .map_init(Vec::new, |buf, &sid| {
            let ev = snap.evaluate_facts(sid, day, &|e| holds.is_held(e), buf);
            if !ev.hits.iter().any(|h| h.kind == Kind::Red && h.suppressed) {
                return Vec::new();
            }
            let first = snap.subject_entries(sid).start;
            let code = snap.subject_key(sid).to_code();
            let mut by: Vec<SideHit> = ev
                .hits
                .iter()
                .filter(|h| h.kind != Kind::Red)
                .map(|h| side(snap, first, h))
                .collect();
            by.sort_by(|a, b| a.entry_id.cmp(b.entry_id).then(a.derived.cmp(&b.derived)));
            ev.hits
                .iter()
                .filter(|h| h.kind == Kind::Red && h.suppressed)
                .map(|h| Conflict {
                    code,
                    red: side(snap, first, h),
                    by: by.clone(),
                })
                .collect::<Vec<_>>()
        })
        .flatten_iter()
        .collect();
    out.par_sort_unstable_by(|a, b| {
        a.code
            .cmp(&b.code)
            .then_with(|| a.red.entry_id.cmp(b.red.entry_id))
    });
    out
}

pub const CSV_HEADER: [&str; 12] = [
    "code",
    "red_entry_id",
    "red_domain",
    "red_authority",
    "red_listed_on",
    "red_valid_until",
    "by_entry_id",
    "by_kind",
    "by_domain",
    "by_authority",
    "by_derived",
    "by_suspended",
];

/// Writes one CSV row per (suppressed red entry, suppressing entry) pair.
pub fn write_csv(conflicts: &[Conflict], w: impl std::io::Write) -> csv::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(CSV_HEADER)?;
    for c in conflicts {
        for b in &c.by {
            let red_until = c.red.valid_until.map(|d| d.to_string()).unwrap_or_default();
            csv.write_record([
                c.code.as_str(),
                c.red.entry_id,
                c.red.domain,
                c.red.authority,
                &c.red.listed_on.to_string(),
                &red_until,
                b.entry_id,
                b.kind.as_str(),
                b.domain,
                b.authority,
                if b.derived { "true" } else { "false" },
                if b.suspended { "true" } else { "false" },
            ])?;
        }
    }
    csv.flush()?;
    Ok(())
}
