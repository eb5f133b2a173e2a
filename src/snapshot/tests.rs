//! Build → read round trips and corruption: every truncation and byte flip
//! is refused with an error, never a panic.

use super::format::{Section, FOOTER_LEN, HEADER_LEN, NONE_DAY, SECTION_ENTRY_LEN, VERSION};
use super::rows::EntryRec;
use super::*;
use crate::catalog::Catalog;
use crate::codes::{self, Key};
use crate::date::Day;
use crate::entry::{Facts, Kind, Status};
use proptest::prelude::*;

const CATALOG: &str = r#"
[[domain]]
id = "court"
name = "失信被执行人"
[[domain]]
id = "tax"
name = "重大税收违法"
watch_after_exit_days = 180
[[matter]]
id = "proc"
name = "政府采购"
must_query = true
[[measure]]
id = "P1"
name = "限制参与政府采购活动"
effect = "punish"
lists = ["black"]
domains = ["*"]
matters = ["proc"]
mandatory = true
"#;

fn d(s: &str) -> Day {
    Day::parse(s).unwrap()
}

fn code(i: u32) -> crate::codes::Code {
    crate::gen::subject_code(3, i as u64)
}

/// `(subject, entry_id, kind, status, listed, until)` rows.
type Row<'a> = (u32, &'a str, Kind, Status, &'a str, Option<&'a str>);

fn accepted(rows: &[Row]) -> Builder {
    let mut acc = Builder::default();
    for &(s, id, kind, status, listed, until) in rows {
        let c = code(s);
        let rec = EntryRec {
            key: c.key().unwrap().into(),
            person: codes::parse(c.as_str(), d("2026-11-21")).unwrap().kind
                == codes::CodeKind::Person,
            facts: Facts {
                kind,
                status,
                domain: (s % 2) as u16,
                listed_on: d(listed),
                valid_until: until.map(d),
                exited_on: None,
                watch_until: None,
            },
            reported_on: NONE_DAY,
            entry_id: acc.arena.push(id),
            name: acc.arena.push("某某"),
            authority: acc.authorities.intern(if s % 2 == 0 { "fy" } else { "sw" }),
            basis: acc.arena.push("文号"),
        };
        acc.entries.push(rec);
    }
    acc
}

fn sample() -> Vec<u8> {
    use Kind::*;
    use Status::*;
    let acc = accepted(&[
        (1, "E1", Black, Active, "2026-01-01", None),
        (1, "E2", Red, Active, "2025-01-01", None),
        (2, "E3", Red, Active, "2025-01-01", Some("2026-12-31")),
        (3, "E4", Black, Active, "2025-01-01", Some("2026-06-30")),
        (4, "E5", Watch, Objection, "2026-02-01", None),
        (5, "E6", Black, Revoked, "2026-02-01", None),
    ]);
    let cat = Catalog::from_toml(CATALOG, "t").unwrap();
    acc.finish(&cat, d("2026-11-20"), Meta::default())
        .unwrap()
        .to_bytes()
}

#[test]
fn round_trip() {
    let bytes = sample();
    let snap = Snapshot::from_bytes(bytes.clone()).unwrap();
    assert_eq!(snap.subjects(), 5);
    assert_eq!(snap.entries(), 6);
    assert_eq!(snap.data_date, d("2026-11-20"));
    assert_eq!(snap.catalog, Catalog::from_toml(CATALOG, "t").unwrap());
    for s in 1..=5 {
        let slot = snap.lookup(code(s).key().unwrap()).unwrap();
        assert_eq!(snap.subject_key(slot.sid), code(s).key().unwrap());
    }
    assert!(snap.lookup(code(99).key().unwrap()).is_none());
    let e = snap.entry(snap.find_entry("E4").unwrap());
    assert_eq!(e.entry_id, "E4");
    assert_eq!(e.name, "某某");
    assert_eq!(e.facts.valid_until, Some(d("2026-06-30")));
    assert!(snap.find_entry("E9").is_none());
    assert_eq!(snap.bitmap(Kind::Red, None).unwrap().len(), 2);
    // Precomputed flags agree with the rules on the data date.
    let slot = snap.lookup(code(1).key().unwrap()).unwrap();
    let (ev, _) = snap.evaluate(slot.sid, snap.data_date, &|_| false);
    assert_eq!(slot.info & crate::rules::flags::LISTS, ev.flags());
    // Subject 3's black ran out: derived watch until 2027-06-30 (court) or
    // 2026-12-27 (tax, 180 days); its flags are valid until then.
    let slot = snap.lookup(code(3).key().unwrap()).unwrap();
    assert_eq!(
        slot.info & crate::rules::flags::LISTS,
        crate::rules::flags::WATCH
    );
    // Deterministic: the same input gives the same bytes.
    assert_eq!(sample(), bytes);
}

#[test]
fn empty_snapshot_round_trips() {
    let cat = Catalog::from_toml(CATALOG, "t").unwrap();
    let bytes = Builder::default()
        .finish(&cat, d("2026-11-20"), Meta::default())
        .unwrap()
        .to_bytes();
    let snap = Snapshot::from_bytes(bytes).unwrap();
    assert_eq!(snap.entries(), 0);
    assert!(snap
        .lookup(Key::from_bytes(b"91350100M000100Y43").unwrap())
        .is_none());
}

#[test]
fn every_truncation_is_refused() {
    let bytes = sample();
    for len in 0..bytes.len() {
        let r = Snapshot::from_bytes(bytes[..len].to_vec());
        assert!(r.is_err(), "truncated to {len} bytes was accepted");
    }
}

#[test]
fn a_flip_in_every_section_is_refused() {
    let bytes = sample();
    let snap = Snapshot::from_bytes(bytes.clone()).unwrap();
    drop(snap);
    let nsec = Section::ALL.len();
    // Every byte of the header and section table, then bytes in each section.
    let mut offsets: Vec<usize> = (0..HEADER_LEN + nsec * SECTION_ENTRY_LEN).collect();
    for i in 0..nsec {
        let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
        offsets.extend((off..off + len).step_by((len / 16).max(1)));
    }
    offsets.extend(bytes.len() - FOOTER_LEN..bytes.len());
    for off in offsets {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[off] ^= bit;
            assert!(
                Snapshot::from_bytes(b).is_err(),
                "flip of bit {bit:#x} at {off} was accepted"
            );
        }
    }
}

#[test]
fn wrong_version_is_named() {
    let mut b = sample();
    let other = VERSION + 1;
    b[8..12].copy_from_slice(&other.to_le_bytes());
    let err = Snapshot::from_bytes(b).err().unwrap().to_string();
    assert!(err.contains(&format!("version {other}")), "{err}");
}

/// Re-seals a modified body with a valid footer, as a hostile writer would.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - FOOTER_LEN;
    let h = xxhash_rust::xxh3::xxh3_128(&b[..n]);
    b[n..].copy_from_slice(&h.to_le_bytes());
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Even with a valid checksum, arbitrary bytes in the body never panic
    /// or read out of bounds: they are refused, or read safely.
    #[test]
    fn resealed_garbage_never_panics(pos in 0usize..4096, val in any::<u8>(), n in 1usize..6) {
        let mut b = sample();
        for k in 0..n {
            let p = (pos + k * 97) % (b.len() - FOOTER_LEN);
            b[p] = val.wrapping_add(k as u8);
        }
        if let Ok(snap) = Snapshot::from_bytes(reseal(b)) {
            for s in 0..8u32 {
                if let Some(slot) = snap.lookup(code(s).key().unwrap()) {
                    let _ = snap.evaluate(slot.sid, d("2026-11-20"), &|_| false);
                }
            }
            let _ = snap.find_entry("E3");
            let _ = crate::inspect::inspect(&snap);
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(Snapshot::from_bytes(b).is_err());
    }
}

/// The batch flags (precomputed range or the rules on facts) agree with a
/// full evaluation of the subject on every day around each boundary.
#[test]
fn batch_flags_agree_with_full_evaluation_on_every_day() {
    use crate::check::{flags_of, Ctx, Holds};
    let snap = Snapshot::from_bytes(sample()).unwrap();
    let none = Holds::default();
    let held = Holds::new(&snap, snap.find_entry("E1"));
    for holds in [&none, &held] {
        for day in d("2024-12-25").0..d("2027-08-01").0 {
            let ctx = Ctx {
                snap: &snap,
                holds,
                day: Day(day),
                matter: Some(0),
                persons: true,
            };
            for s in 1..=5 {
                let c = code(s);
                let slot = snap.lookup(c.key().unwrap()).unwrap();
                let (ev, _) = snap.evaluate(slot.sid, Day(day), &|e| holds.is_held(e));
                let want = ev.flags() | snap.measures.profile_flags(0, &crate::rules::profile(&ev));
                assert_eq!(flags_of(&ctx, &c.0), want, "subject {s} on {}", Day(day));
            }
        }
    }
}
