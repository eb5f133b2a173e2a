//! `credlist publish`: the lists as published (公示) on a date, SPEC §10.
//!
//! One record per hit that is effective on the date, not suspended (an
//! entry in objection, 异议核实中: its measures are not applied, so it is not
//! published either) and not suppressed (a red entry of a subject on a
//! black or watch list). Derived watch hits (after a black exit) are
//! published with the watch list, carrying the black entry's id, domain,
//! authority and basis, with `listed_on` = X and `valid_until` = W.
//! Objection holds live on the daemon only: publishing from a snapshot
//! knows none.
//!
//! Records are sorted by kind (red, black, watch), then authority, then
//! entry_id (bytes). Natural persons are masked ([`crate::mask`]);
//! organisations are published as they are.
//!
//! Formats: CSV (`entry_id,kind,derived,code,name,domain,authority,basis,
//! listed_on,valid_until`, `derived` as `true`/`false`, an open-ended
//! `valid_until` empty), by default preceded by a UTF-8 byte order mark so
//! that spreadsheet programs show the Chinese text; or JSON Lines, one
//! object with the same fields a line (`valid_until` null when open-ended).

use crate::check::Holds;
use crate::date::Day;
use crate::entry::Kind;
use crate::mask;
use crate::rules::Hit;
use crate::snapshot::Snapshot;
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

pub const CSV_HEADER: [&str; 10] = [
    "entry_id",
    "kind",
    "derived",
    "code",
    "name",
    "domain",
    "authority",
    "basis",
    "listed_on",
    "valid_until",
];

/// Publication order of the lists: red, black, watch.
pub fn kind_rank(k: Kind) -> u8 {
    match k {
        Kind::Red => 0,
        Kind::Black => 1,
        Kind::Watch => 2,
    }
}

/// Which lists to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds {
    pub red: bool,
    pub black: bool,
    pub watch: bool,
}

impl Kinds {
    /// The default: the red and black lists.
    pub const DEFAULT: Kinds = Kinds {
        red: true,
        black: true,
        watch: false,
    };

    pub fn of(kinds: &[Kind]) -> Kinds {
        Kinds {
            red: kinds.contains(&Kind::Red),
            black: kinds.contains(&Kind::Black),
            watch: kinds.contains(&Kind::Watch),
        }
    }

    pub fn contains(&self, k: Kind) -> bool {
        match k {
            Kind::Red => self.red,
            Kind::Black => self.black,
            Kind::Watch => self.watch,
        }
    }
}

/// One published record, borrowing its strings from the snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record<'a> {
    pub entry_id: &'a str,
    pub kind: Kind,
    pub derived: bool,
    /// Masked for a natural person.
    pub code: String,
    /// Masked for a natural person.
    pub name: String,
    pub domain: &'a str,
    pub authority: &'a str,
    pub basis: &'a str,
    pub listed_on: Day,
    pub valid_until: Option<Day>,
}

/// Whether a subject counts as a natural person (the dictionary's flag).
pub fn is_person(snap: &Snapshot, sid: u32) -> bool {
    snap.lookup(snap.subject_key(sid))
        .is_some_and(|slot| slot.person())
}

/// The record of a hit of subject `sid` (whose entries start at `first`).
fn record<'a>(snap: &'a Snapshot, first: u32, code: &str, person: bool, h: &Hit) -> Record<'a> {
    let v = snap.entry(first + h.entry as u32);
    let (code, name) = mask::published(code, v.name, person);
    Record {
        entry_id: v.entry_id,
        kind: h.kind,
        derived: h.derived,
        code,
        name,
        domain: snap.domain_id(h.domain),
        authority: v.authority,
        basis: v.basis,
        listed_on: h.listed_on,
        valid_until: h.valid_until,
    }
}

/// Every published record of `kinds` on `day`, in publication order.
pub fn publish(snap: &Snapshot, day: Day, kinds: Kinds) -> Vec<Record<'_>> {
    // Subjects with a stored entry of a kind asked for; derived watch hits
    // come from black entries.
    let mut subjects = roaring::RoaringBitmap::new();
    for k in Kind::ALL {
        let wanted = kinds.contains(k) || (k == Kind::Black && kinds.watch);
        if let (true, Some(b)) = (wanted, snap.bitmap(k, None)) {
            subjects |= b;
        }
    }
    let sids: Vec<u32> = subjects.iter().collect();
    let holds = Holds::default();
    let mut out: Vec<Record> = sids
        .par_iter()
        .map_init(Vec::new, |buf, &sid| {
            let ev = snap.evaluate_facts(sid, day, &|e| holds.is_held(e), buf);
            let mut hits = ev
                .hits
                .iter()
                .filter(|h| h.is_active() && kinds.contains(h.kind))
                .peekable();
            if hits.peek().is_none() {
                return Vec::new();
            }
            let first = snap.subject_entries(sid).start;
            let code = snap.subject_key(sid).to_code();
            let person = is_person(snap, sid);
            hits.map(|h| record(snap, first, code.as_str(), person, h))
                .collect::<Vec<_>>()
        })
        .flatten_iter()
        .collect();
    out.par_sort_unstable_by(|a, b| {
        kind_rank(a.kind)
            .cmp(&kind_rank(b.kind))
            .then_with(|| a.authority.as_bytes().cmp(b.authority.as_bytes()))
            .then_with(|| a.entry_id.as_bytes().cmp(b.entry_id.as_bytes()))
            .then_with(|| a.derived.cmp(&b.derived))
    });
    out
}

/// Writes records as CSV, with a byte order mark first when `bom`.
pub fn write_csv(records: &[Record], bom: bool, mut w: impl Write) -> csv::Result<()> {
    if bom {
        w.write_all(BOM)?;
    }
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(CSV_HEADER)?;
    for r in records {
        let listed_on = r.listed_on.to_string();
        let valid_until = r.valid_until.map(|d| d.to_string()).unwrap_or_default();
        csv.write_record([
            r.entry_id,
            r.kind.as_str(),
            if r.derived { "true" } else { "false" },
            &r.code,
            &r.name,
            r.domain,
            r.authority,
            r.basis,
            &listed_on,
            &valid_until,
        ])?;
    }
    csv.flush()?;
    Ok(())
}

/// Writes records as JSON Lines.
pub fn write_jsonl(records: &[Record], mut w: impl Write) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV, preceded by a UTF-8 byte order mark when `bom`.
    Csv {
        bom: bool,
    },
    Jsonl,
}

/// Writes records in `format`.
pub fn write(records: &[Record], format: Format, w: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Csv { bom } => write_csv(records, bom, &mut *w).map_err(std::io::Error::from),
        Format::Jsonl => write_jsonl(records, &mut *w),
    }
}

/// Writes records to `path` durably ([`crate::durable`]: a temp file
/// beside it, fsynced, renamed over it): a reader never sees half a file.
pub fn write_file(
    records: &[Record],
    format: Format,
    path: &std::path::Path,
) -> std::io::Result<()> {
    crate::durable::write_file(path, |w| write(records, format, w))
}

/// Records counted by kind, in publication order: `[red, black, watch]`.
pub fn counts(records: &[Record]) -> [u64; 3] {
    let mut n = [0u64; 3];
    for r in records {
        n[kind_rank(r.kind) as usize] += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publication_order_is_red_black_watch() {
        let mut ks = Kind::ALL.to_vec();
        ks.sort_by_key(|&k| kind_rank(k));
        assert_eq!(ks, [Kind::Red, Kind::Black, Kind::Watch]);
    }

    #[test]
    fn kinds_default_to_red_and_black() {
        assert_eq!(Kinds::of(&[Kind::Red, Kind::Black]), Kinds::DEFAULT);
        assert!(!Kinds::DEFAULT.contains(Kind::Watch));
        assert!(Kinds::of(&[Kind::Watch]).contains(Kind::Watch));
    }

    #[test]
    fn csv_has_a_bom_unless_asked_not_to() {
        let rec = Record {
            entry_id: "GL-1",
            kind: Kind::Black,
            derived: false,
            code: "350102********2135".into(),
            name: "陈**".into(),
            domain: "court",
            authority: "gulou-fayuan",
            basis: "（2026）闽0102执214号",
            listed_on: Day::parse("2026-02-14").unwrap(),
            valid_until: None,
        };
        let mut with = Vec::new();
        write_csv(std::slice::from_ref(&rec), true, &mut with).unwrap();
        let mut without = Vec::new();
        write_csv(std::slice::from_ref(&rec), false, &mut without).unwrap();
        assert_eq!(&with[..3], BOM);
        assert_eq!(&with[3..], &without[..]);
        assert_eq!(
            String::from_utf8(without).unwrap(),
            "entry_id,kind,derived,code,name,domain,authority,basis,listed_on,valid_until\n\
             GL-1,black,false,350102********2135,陈**,court,gulou-fayuan,（2026）闽0102执214号,2026-02-14,\n"
        );
        let mut j = Vec::new();
        write_jsonl(&[rec], &mut j).unwrap();
        assert_eq!(
            String::from_utf8(j).unwrap(),
            "{\"entry_id\":\"GL-1\",\"kind\":\"black\",\"derived\":false,\"code\":\"350102********2135\",\
             \"name\":\"陈**\",\"domain\":\"court\",\"authority\":\"gulou-fayuan\",\
             \"basis\":\"（2026）闽0102执214号\",\"listed_on\":\"2026-02-14\",\"valid_until\":null}\n"
        );
    }
}
