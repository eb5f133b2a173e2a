//! The conflict sweep: every red entry suppressed by a black or watch entry
//! of the same subject (SPEC §3 rule 4), with the entries on both sides. The
//! red entry's authority must publish the exit from the red list.

use crate::check::{hit_out, HitOut, Holds};
use crate::date::Day;
use crate::entry::Kind;
use crate::snapshot::Snapshot;
use rayon::prelude::*;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub code: String,
    /// The suppressed red entry; its authority must publish the exit.
    pub red: HitOut,
    /// The effective black and watch hits that suppress it.
    pub by: Vec<HitOut>,
}

/// All conflicts on `day`, sorted by code then red entry_id.
pub fn sweep(snap: &Snapshot, day: Day, holds: &Holds) -> Vec<Conflict> {
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
        .flat_map_iter(|&sid| {
            let (ev, views) = snap.evaluate(sid, day, &|e| holds.is_held(e));
            let code = snap.subject_key(sid).to_code().as_str().to_string();
            let by: Vec<HitOut> = ev
                .hits
                .iter()
                .filter(|h| h.kind != Kind::Red)
                .map(|h| hit_out(snap, &views, h))
                .collect();
            ev.hits
                .iter()
                .filter(|h| h.kind == Kind::Red && h.suppressed)
                .map(|h| Conflict {
                    code: code.clone(),
                    red: hit_out(snap, &views, h),
                    by: by.clone(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.par_sort_by(|a, b| {
        a.code
            .cmp(&b.code)
            .then_with(|| a.red.entry_id.cmp(&b.red.entry_id))
    });
    for c in &mut out {
        c.by.sort_by(|a, b| a.entry_id.cmp(&b.entry_id).then(a.derived.cmp(&b.derived)));
    }
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
                &c.red.entry_id,
                &c.red.domain,
                &c.red.authority,
                &c.red.listed_on.to_string(),
                &red_until,
                &b.entry_id,
                b.kind.as_str(),
                &b.domain,
                &b.authority,
                if b.derived { "true" } else { "false" },
                if b.suspended { "true" } else { "false" },
            ])?;
        }
    }
    csv.flush()?;
    Ok(())
}
