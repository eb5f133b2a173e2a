//! The conflict sweep: every red entry suppressed by a black or watch entry
//! of the same subject (SPEC §3 rule 4), with the entries on both sides. The
//! red entry's authority must publish the exit from the red list.

use crate::check::Holds;
use crate::codes::Key;
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
    let (entry_id, authority) = snap.entry_id_authority(first + h.entry as u32);
    SideHit {
        entry_id,
        kind: h.kind,
        domain: snap.domain_id(h.domain),
        authority,
        listed_on: h.listed_on,
        valid_until: h.valid_until,
        suspended: h.suspended,
        suppressed: h.suppressed,
        derived: h.derived,
    }
}

/// A sweep's conflicts, sorted by code then red entry_id.
///
/// They stay in the parts the threads made them in (the parts in order):
/// copying a million of them into one vector, into memory touched for
/// the first time, took a sixth of a sweep.
#[derive(Debug, Default)]
pub struct Conflicts<'a> {
    parts: Vec<Vec<Conflict<'a>>>,
}

impl<'a> Conflicts<'a> {
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Vec::is_empty)
    }

    /// The conflicts in order.
    pub fn iter(&self) -> impl Iterator<Item = &Conflict<'a>> + '_ {
        self.into_iter()
    }
}

impl<'s, 'a> IntoIterator for &'s Conflicts<'a> {
    type Item = &'s Conflict<'a>;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'s, Vec<Conflict<'a>>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.iter().flatten()
    }
}

/// All conflicts on `day`, sorted by code then red entry_id.
pub fn sweep<'a>(snap: &'a Snapshot, day: Day, holds: &Holds) -> Conflicts<'a> {
    let Some(red) = snap.bitmap(Kind::Red, None) else {
        return Conflicts::default();
    };
    let mut bw = snap.bitmap(Kind::Black, None).cloned().unwrap_or_default();
    if let Some(w) = snap.bitmap(Kind::Watch, None) {
        bw |= w;
    }
    // Derived watch comes from black entries, so candidates are red ∩ (black ∪ watch).
    let sids: Vec<u32> = (red & &bw).iter().collect();
    // Taken in code order, so that the conflicts come out sorted by code;
    // each subject's are sorted by red entry_id where they are made.
    // The code's order (90 bits) and the subject id in one number: half
    // the bytes to sort of a pair.
    let mut candidates: Vec<u128> = sids
        .par_iter()
        .map(|&sid| code_order(snap.subject_key(sid)) << 32 | sid as u128)
        .collect();
    candidates.par_sort_unstable();
    // In code order the subjects are all over the file: what the next ones
    // need is fetched ahead (their records, then their entries', then their
    // strings) while this one is evaluated.
    // 16: on this project's 2-vCPU VM, 4 and 8 left the loop waiting for
    // the records it had asked for (sweep bench 562-612 ms at 4, 456-527 at
    // 16, 546-578 at 32).
    const AHEAD: usize = 16;
    // A part per chunk, with room for two conflicts a candidate: room
    // never used is never touched, and costs no memory, while a vector
    // that regrows is copied into new memory.
    let parts: Vec<Vec<Conflict>> = candidates
        .par_chunks(4096)
        .map_init(Vec::new, |buf, chunk| {
            let mut out = Vec::with_capacity(chunk.len() * 2);
            for (i, &c) in chunk.iter().enumerate() {
                for step in 0..3u8 {
                    if let Some(&next) = chunk.get(i + (3 - step as usize) * AHEAD) {
                        snap.prefetch_subject(next as u32, step);
                    }
                }
                conflicts_of(snap, c as u32, day, holds, buf, &mut out);
            }
            out
        })
        .collect();
    Conflicts { parts }
}

/// Appends the conflicts of subject `sid` to `out`, sorted by red entry_id.
fn conflicts_of<'a>(
    snap: &'a Snapshot,
    sid: u32,
    day: Day,
    holds: &Holds,
    buf: &mut Vec<crate::entry::Facts>,
    out: &mut Vec<Conflict<'a>>,
) {
    let ev = snap.evaluate_facts(sid, day, &|e| holds.is_held(e), buf);
    let suppressed = |h: &&Hit| h.kind == Kind::Red && h.suppressed;
    if !ev.hits.iter().any(|h| suppressed(&h)) {
        return;
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
    let start = out.len();
    let mut reds = ev.hits.iter().filter(suppressed).peekable();
    while let Some(h) = reds.next() {
        let by = if reds.peek().is_some() {
            by.clone()
        } else {
            std::mem::take(&mut by)
        };
        out.push(Conflict {
            code,
            red: side(snap, first, h),
            by,
        });
    }
    out[start..].sort_unstable_by(|a, b| a.red.entry_id.cmp(b.red.entry_id));
}

/// A packed key as a number in the order of its code: the key holds the
/// first character in its low 5 bits and each value is one more than the
/// character's place in the alphabet, which is in byte order; reversed,
/// the first character is the most significant.
fn code_order(k: Key) -> u128 {
    (0..18).fold(0u128, |acc, i| acc << 5 | (k.0 >> (5 * i)) & 31)
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
pub fn write_csv(conflicts: &Conflicts, w: impl std::io::Write) -> csv::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{Code, USCC_ALPHABET};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn code_order_is_the_order_of_codes(
            a in proptest::collection::vec(0usize..31, 18),
            b in proptest::collection::vec(0usize..31, 18),
        ) {
            let code = |v: &[usize]| {
                let mut c = [0u8; 18];
                for (o, &i) in c.iter_mut().zip(v) {
                    *o = USCC_ALPHABET[i];
                }
                Code(c)
            };
            let (ca, cb) = (code(&a), code(&b));
            let (ka, kb) = (ca.key().unwrap(), cb.key().unwrap());
            prop_assert_eq!(code_order(ka).cmp(&code_order(kb)), ca.cmp(&cb));
        }
    }
}
