//! Build → read round trips and corruption: every truncation and byte flip
//! is refused with an error, never a panic.

use super::builder::RelationRow;
use super::format::{Section, FOOTER_LEN, HEADER_LEN, NONE_DAY, SECTION_ENTRY_LEN, VERSION};
use super::rows::{EntryRec, KeyBytes};
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
            }
            .into(),
            reported_on: NONE_DAY,
            entry_id: acc.arena.push(id),
            name_len: acc.arena.push("某某").len() as u16,
            basis_len: acc.arena.push("文号").len() as u16,
            authority: acc.authorities.intern(if s % 2 == 0 { "fy" } else { "sw" }),
        };
        acc.entries.push(rec);
    }
    acc
}

/// The snapshot bytes of `acc` under `catalog`, at the tests' data date.
fn snapshot_bytes(acc: Builder, catalog: &str) -> Vec<u8> {
    let cat = Catalog::from_toml(catalog, "t").unwrap();
    acc.finish(&cat, d("2026-11-20"), Meta::default())
        .unwrap()
        .to_bytes()
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
    snapshot_bytes(acc, CATALOG)
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
    let bytes = snapshot_bytes(Builder::default(), CATALOG);
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

const REL_CATALOG: &str = r#"
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
applies_to = ["subject", "legal_rep"]
[[measure]]
id = "P2"
name = "限制担任法定代表人"
effect = "punish"
lists = ["black", "watch"]
domains = ["court"]
matters = ["proc"]
applies_to = ["principal", "director"]
[[measure]]
id = "R1"
name = "优先办理"
effect = "reward"
lists = ["red"]
domains = ["*"]
matters = ["proc"]
applies_to = ["subject", "shareholder"]
"#;

fn person(c: &crate::codes::Code) -> bool {
    codes::parse(c.as_str(), d("2026-11-21")).unwrap().kind == codes::CodeKind::Person
}

/// `(relation_id, org subject, party subject, role, from, until)`.
type Rel<'a> = (
    &'a str,
    u32,
    u32,
    crate::related::Role,
    &'a str,
    Option<&'a str>,
);

fn with_relations(mut acc: Builder, rels: &[Rel]) -> Builder {
    for &(id, org, party, role, from, until) in rels {
        let (o, p) = (code(org), code(party));
        acc.push_relation(&RelationRow {
            org: o.key().unwrap(),
            org_person: person(&o),
            party: p.key().unwrap(),
            party_person: person(&p),
            relation_id: id,
            facts: crate::related::RelationFacts {
                role,
                from: d(from),
                until: until.map(d),
            },
        });
    }
    acc
}

fn relation_rows() -> Vec<Rel<'static>> {
    use crate::related::Role::*;
    vec![
        // Subject 20 (new, relation-only) is legal rep of black subject 1,
        // and was legal rep of subject 3 (black ran out: derived watch).
        ("R1", 1, 20, LegalRep, "2025-06-01", None),
        ("R2", 3, 20, LegalRep, "2024-01-01", Some("2025-03-01")),
        // Subject 21 principal of subject 4 (watch, objection).
        ("R3", 4, 21, Principal, "2026-01-01", Some("2026-12-31")),
        // Subject 2 (red) is a shareholder of red subject 1's… and of 22.
        ("R4", 22, 2, Shareholder, "2025-01-01", None),
        ("R5", 1, 2, Shareholder, "2025-01-01", None),
        // Party 1 (black) holds a role in subject 23; 23's party is listed.
        ("R6", 23, 1, Director, "2026-03-01", Some("2027-03-01")),
        ("R7", 2, 24, Director, "2026-11-21", None),
    ]
}

fn sample_with_relations() -> Vec<u8> {
    use Kind::*;
    use Status::*;
    let acc = accepted(&[
        (1, "E1", Black, Active, "2026-01-01", None),
        (1, "E2", Red, Active, "2025-01-01", None),
        (2, "E3", Red, Active, "2025-01-01", Some("2026-12-31")),
        (3, "E4", Black, Active, "2025-01-01", Some("2026-06-30")),
        (4, "E5", Watch, Objection, "2026-02-01", None),
        (5, "E6", Black, Revoked, "2026-02-01", None),
        (22, "E7", Red, Active, "2026-05-01", None),
        (24, "E8", Watch, Active, "2026-10-01", Some("2027-01-31")),
    ]);
    let acc = with_relations(acc, &relation_rows());
    snapshot_bytes(acc, REL_CATALOG)
}

#[test]
fn relations_round_trip_both_ways() {
    let bytes = sample_with_relations();
    let snap = Snapshot::from_bytes(bytes.clone()).unwrap();
    // Subjects 1–5, 22, 24 with entries; 20, 21, 23 from relations only.
    assert_eq!(snap.subjects(), 10);
    assert_eq!(snap.relations(), 7);
    let sid = |s: u32| snap.lookup(code(s).key().unwrap()).unwrap().sid;
    assert!(snap.subject_entries(sid(20)).is_empty());
    let orgs_of = |s: u32| -> Vec<&str> {
        let mut v: Vec<&str> = snap
            .relations_as_party(sid(s))
            .map(|r| snap.relation(r).relation_id)
            .collect();
        v.sort();
        v
    };
    let parties_of = |s: u32| -> Vec<&str> {
        let mut v: Vec<&str> = snap
            .relations_as_org(sid(s))
            .map(|r| snap.relation(r).relation_id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(orgs_of(20), ["R1", "R2"]);
    assert_eq!(orgs_of(2), ["R4", "R5"]);
    assert_eq!(parties_of(1), ["R1", "R5"]);
    assert_eq!(parties_of(2), ["R7"]);
    assert_eq!(orgs_of(24), ["R7"]);
    assert!(parties_of(24).is_empty());
    let r = snap.relation(snap.relations_as_org(sid(3)).start);
    assert_eq!(r.relation_id, "R2");
    assert_eq!(r.org, sid(3));
    assert_eq!(r.party, sid(20));
    assert_eq!(r.facts.role, crate::related::Role::LegalRep);
    assert_eq!(r.facts.until, Some(d("2025-03-01")));
    assert_eq!(r.party_person, person(&code(20)));
    assert_eq!(sample_with_relations(), bytes, "deterministic");
}

#[test]
fn every_relation_is_found_from_both_sides_through_the_subject_bits() {
    let snap = Snapshot::from_bytes(sample_with_relations()).unwrap();
    let (mut as_org, mut as_party, mut none) = (0, 0, Vec::new());
    for s in 0..snap.subjects() {
        let o = snap.relations_as_org(s).len();
        let p = snap.relations_as_party(s).count();
        assert_eq!(snap.in_relations(s), o + p > 0, "subject {s}");
        if o + p == 0 {
            none.push(s);
        }
        as_org += o;
        as_party += p;
    }
    // Every relation once from each side: a subject whose bit were missing
    // would lose its relations here.
    assert_eq!((as_org, as_party), (7, 7));
    // Subject 5 alone is in no relation.
    let sid = |c: u32| snap.lookup(code(c).key().unwrap()).unwrap().sid;
    assert_eq!(none, [sid(5)]);
    // Without relations, no bits and no subject in any.
    let plain = Snapshot::from_bytes(sample()).unwrap();
    assert!((0..plain.subjects()).all(|s| !plain.in_relations(s)));
}

#[test]
fn relation_sections_refuse_truncations_and_flips() {
    let bytes = sample_with_relations();
    for len in (0..bytes.len()).step_by(7) {
        assert!(
            Snapshot::from_bytes(bytes[..len].to_vec()).is_err(),
            "{len}"
        );
    }
    for s in [
        Section::Relations,
        Section::OrgRelations,
        Section::PartyRelations,
    ] {
        let e = HEADER_LEN + s as usize * SECTION_ENTRY_LEN;
        let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
        assert!(len > 0, "{}", s.name());
        for o in off..off + len {
            let mut b = bytes.clone();
            b[o] ^= 0x40;
            assert!(Snapshot::from_bytes(b).is_err(), "{} byte {o}", s.name());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Resealed garbage in a snapshot with relations is refused or read
    /// without panicking, relations included.
    #[test]
    fn resealed_garbage_with_relations_never_panics(pos in 0usize..8192, val in any::<u8>()) {
        let mut b = sample_with_relations();
        let p = pos % (b.len() - FOOTER_LEN);
        b[p] = val;
        if let Ok(snap) = Snapshot::from_bytes(reseal(b)) {
            let holds = crate::check::Holds::new(&snap, snap.find_entry("E1"));
            for persons in [false, true] {
                let ctx = crate::check::Ctx { snap: &snap, holds: &holds, day: d("2026-11-20"), matter: Some(0), persons };
                for s in 0..30u32 {
                    let _ = crate::check::check_one(&ctx, code(s).as_str(), None);
                    let _ = crate::check::flags_v2_of(&ctx, &code(s).0);
                }
            }
        }
    }
}

/// The batch flags of version 2 (precomputed, or the rules on facts) agree
/// with the full result item on every day around each boundary, with and
/// without holds and person permission.
#[test]
fn batch_flags_with_relations_agree_with_result_items_on_every_day() {
    use crate::check::{check_one, flags_of, flags_v2_of, Ctx, Holds};
    use crate::related::flags as rf;
    use crate::rules::{flags as f, SubjectStatus};
    let snap = Snapshot::from_bytes(sample_with_relations()).unwrap();
    let none = Holds::default();
    let held = Holds::new(&snap, snap.find_entry("E1"));
    for holds in [&none, &held] {
        for persons in [true, false] {
            for day in (d("2023-12-25").0..d("2027-08-01").0).step_by(3) {
                let ctx = Ctx {
                    snap: &snap,
                    holds,
                    day: Day(day),
                    matter: Some(0),
                    persons,
                };
                for s in [1, 2, 3, 4, 5, 20, 21, 22, 23, 24] {
                    let c = code(s);
                    let item = check_one(&ctx, c.as_str(), None);
                    let want = if item.error.is_some() {
                        f::UNANSWERED as u16
                    } else {
                        let mut w = 0u16;
                        for h in item.hits.as_ref().unwrap() {
                            w |= match h.kind {
                                Kind::Black => f::BLACK,
                                Kind::Watch => f::WATCH,
                                Kind::Red if !h.suppressed => f::RED,
                                Kind::Red => 0,
                            } as u16;
                            if h.suspended {
                                w |= f::SUSPENDED as u16;
                            }
                        }
                        for (list, bit) in [
                            (&item.must_apply, f::MUST_APPLY),
                            (&item.may_apply, f::MAY_APPLY),
                            (&item.rewards, f::REWARD),
                        ] {
                            if !list.as_ref().unwrap().is_empty() {
                                w |= bit as u16;
                            }
                        }
                        for r in item.related.as_ref().unwrap() {
                            w |= match r.status {
                                SubjectStatus::Black => rf::RELATED_BLACK,
                                SubjectStatus::Watch => rf::RELATED_WATCH,
                                SubjectStatus::Red => rf::RELATED_RED,
                                SubjectStatus::Clear => 0,
                            };
                        }
                        w
                    };
                    let at = format!("subject {s} on {}, persons {persons}", Day(day));
                    assert_eq!(flags_v2_of(&ctx, &c.0), want, "{at}");
                    assert_eq!(flags_of(&ctx, &c.0) as u16, want & 0xFF, "{at}");
                }
            }
        }
    }
}

fn arb_rows() -> impl Strategy<Value = Vec<(u32, u8, u8, i32, Option<i32>)>> {
    proptest::collection::vec(
        (
            0u32..8,
            0u8..3,
            0u8..5,
            0i32..700,
            proptest::option::of(0i32..300),
        ),
        0..12,
    )
}

fn arb_rels() -> impl Strategy<Value = Vec<(u32, u32, u8, i32, Option<i32>)>> {
    proptest::collection::vec(
        (
            0u32..10,
            0u32..10,
            0u8..6,
            0i32..700,
            proptest::option::of(0i32..300),
        ),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// §8 rule 5: adding relations never changes any subject's status or
    /// hits.
    #[test]
    fn relations_never_change_status_or_hits(rows in arb_rows(), rels in arb_rels(), probe in 0i32..1000) {
        let base = d("2025-01-01");
        let ids: Vec<String> = (0..rows.len()).map(|i| format!("E{i}")).collect();
        let entry_rows: Vec<Row> = rows
            .iter()
            .zip(&ids)
            .map(|(&(s, k, st, listed, len), id)| {
                let listed_on = base.plus(listed);
                let until = len.map(|l| listed_on.plus(l));
                (s, id.as_str(), Kind::from_u8(k).unwrap(), Status::from_u8(st).unwrap(), listed_on, until)
            })
            .map(|(s, id, k, st, l, u)| {
                let st = if st == Status::Repaired || st == Status::Expired && u.is_none() { Status::Active } else { st };
                (s, id, k, st, Box::leak(l.to_string().into_boxed_str()) as &str, u.map(|u| Box::leak(u.to_string().into_boxed_str()) as &str))
            })
            .collect();
        let rel_ids: Vec<String> = (0..rels.len()).map(|i| format!("R{i}")).collect();
        let rel_rows: Vec<Rel> = rels
            .iter()
            .zip(&rel_ids)
            .map(|(&(o, p, role, from, len), id)| {
                let f = base.plus(from);
                (id.as_str(), o + 100, p, crate::related::Role::from_u8(role).unwrap(),
                 Box::leak(f.to_string().into_boxed_str()) as &str,
                 len.map(|l| Box::leak(f.plus(l).to_string().into_boxed_str()) as &str))
            })
            .collect();
        let cat = Catalog::from_toml(REL_CATALOG, "t").unwrap();
        let plain = Snapshot::from_bytes(accepted(&entry_rows).finish(&cat, d("2026-01-01"), Meta::default()).unwrap().to_bytes()).unwrap();
        let related = Snapshot::from_bytes(with_relations(accepted(&entry_rows), &rel_rows).finish(&cat, d("2026-01-01"), Meta::default()).unwrap().to_bytes()).unwrap();
        let holds = crate::check::Holds::default();
        for persons in [true, false] {
            let ctx = |snap| crate::check::Ctx { snap, holds: &holds, day: base.plus(probe), matter: Some(0), persons };
            for s in (0..10).chain(100..110) {
                let a = crate::check::check_one(&ctx(&plain), code(s).as_str(), None);
                let b = crate::check::check_one(&ctx(&related), code(s).as_str(), None);
                prop_assert_eq!(&a.status, &b.status);
                prop_assert_eq!(&a.hits, &b.hits);
                prop_assert_eq!(&a.error, &b.error);
            }
        }
    }
}

/// Batch flags through the probe filter equal those probed straight in
/// the table, for listed, unlisted and invalid codes, in both protocol
/// versions. Three thousand subjects make keys that share a filter byte
/// (one in 128) common along the probe runs.
#[test]
fn batch_flags_through_the_probe_filter_equal_the_table() {
    use crate::check::{batch_flags, Ctx, Holds, CODE_LEN};
    use Kind::*;
    use Status::*;
    let ids: Vec<String> = (0..3000).map(|i| format!("F{i}")).collect();
    let rows: Vec<Row> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let kind = [Black, Red, Watch][i % 3];
            let until = (i % 5 == 0).then_some("2026-12-01");
            (i as u32 + 1, id.as_str(), kind, Active, "2026-01-01", until)
        })
        .collect();
    let bytes = snapshot_bytes(accepted(&rows), CATALOG);
    let plain = Snapshot::from_bytes(bytes.clone()).unwrap();
    let mut filtered = Snapshot::from_bytes(bytes).unwrap();
    assert!(plain.probe_filter().is_none());
    filtered.build_probe_filter();
    assert!(filtered.probe_filter().is_some());
    let mut codes: Vec<u8> = Vec::new();
    for i in 1..=6000u32 {
        codes.extend_from_slice(code(i).as_str().as_bytes());
    }
    codes.extend_from_slice(b"91350100M000100Y4X");
    codes.extend_from_slice(b"not a code at all!");
    codes.extend_from_slice(&[0xff; CODE_LEN]);
    let n = codes.len() / CODE_LEN;
    let holds = Holds::default();
    for day in ["2026-06-01", "2026-11-20", "2027-01-01"] {
        for persons in [true, false] {
            for matter in [None, Some(0)] {
                let ctx = |snap| Ctx {
                    snap,
                    holds: &holds,
                    day: d(day),
                    matter,
                    persons,
                };
                let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                batch_flags(&ctx(&plain), &codes, &mut a);
                batch_flags(&ctx(&filtered), &codes, &mut b);
                assert_eq!(a, b, "{day} persons={persons} matter={matter:?}");
                let (mut a, mut b) = (vec![0u16; n], vec![0u16; n]);
                batch_flags(&ctx(&plain), &codes, &mut a);
                batch_flags(&ctx(&filtered), &codes, &mut b);
                assert_eq!(a, b, "v2 {day} persons={persons} matter={matter:?}");
                let listed = a
                    .iter()
                    .filter(|&&f| f as u8 & crate::rules::flags::LISTS != 0);
                assert!(listed.count() > 1000);
            }
        }
    }
}

/// Parts with entries, relations and authorities of their own.
fn parts() -> Vec<Builder> {
    use Kind::*;
    use Status::*;
    let rels = relation_rows();
    vec![
        with_relations(
            accepted(&[
                (1, "E1", Black, Active, "2026-01-01", None),
                (2, "E3", Red, Active, "2025-01-01", Some("2026-12-31")),
                (1, "E2", Red, Active, "2025-01-01", None),
            ]),
            &rels[..3],
        ),
        Builder::default(),
        with_relations(
            accepted(&[
                (3, "E4", Black, Active, "2025-01-01", Some("2026-06-30")),
                (4, "E5", Watch, Objection, "2026-02-01", None),
                (22, "E7", Red, Active, "2026-05-01", None),
                (5, "E6", Black, Revoked, "2026-02-01", None),
            ]),
            &rels[3..],
        ),
        accepted(&[(24, "E8", Watch, Active, "2026-10-01", Some("2027-01-31"))]),
    ]
}

#[test]
fn appending_all_parts_at_once_equals_appending_them_one_by_one() {
    let drops: [(&[u32], &[u32]); 4] = [(&[1], &[0, 2]), (&[], &[]), (&[0, 3], &[1]), (&[], &[])];
    let part = |(acc, (de, dr)): (Builder, (&[u32], &[u32]))| Part {
        acc,
        drop_entries: de.to_vec(),
        drop_relations: dr.to_vec(),
        slab: Default::default(),
    };
    let mut one_by_one = Builder::default();
    for p in parts().into_iter().zip(drops) {
        one_by_one.append_all(vec![part(p)]);
    }
    let mut at_once = Builder::default();
    at_once.append_all(parts().into_iter().zip(drops).map(part).collect());
    assert_eq!(at_once.entries.len(), 8 - 3);
    assert_eq!(at_once.relations.len(), 7 - 3);
    assert_eq!(
        format!("{:?}", one_by_one.entries),
        format!("{:?}", at_once.entries)
    );
    assert_eq!(
        format!("{:?}", one_by_one.relations),
        format!("{:?}", at_once.relations)
    );
    assert_eq!(one_by_one.arena.to_vec(), at_once.arena.to_vec());
    assert_eq!(one_by_one.authorities.values, at_once.authorities.values);
    // Every string still reads as pushed.
    let ids: Vec<&str> = at_once
        .entries
        .iter()
        .map(|e| at_once.arena.get(e.entry_id))
        .collect();
    assert_eq!(ids, ["E1", "E2", "E5", "E7", "E8"]);
    let rel_ids: Vec<&str> = at_once
        .relations
        .iter()
        .map(|r| at_once.arena.get(r.relation_id))
        .collect();
    assert_eq!(rel_ids, ["R2", "R4", "R6", "R7"]);
    let cat = Catalog::from_toml(REL_CATALOG, "t").unwrap();
    let a = one_by_one
        .finish(&cat, d("2026-11-20"), Meta::default())
        .unwrap()
        .to_bytes();
    let b = at_once
        .finish(&cat, d("2026-11-20"), Meta::default())
        .unwrap()
        .to_bytes();
    assert_eq!(a, b);
    Snapshot::from_bytes(b).unwrap();
}

#[test]
fn a_sweep_over_many_parts_comes_out_in_code_order() {
    use Kind::*;
    use Status::*;
    // 20 000 subjects with a red entry and an active black one, and one
    // in three with a second red entry: conflicts over several parts.
    let ids: Vec<[String; 3]> = (0..20_000u32)
        .map(|s| [format!("B{s}"), format!("R{s}a"), format!("R{s}b")])
        .collect();
    let mut rows: Vec<Row> = Vec::new();
    for (s, [b, r1, r2]) in ids.iter().enumerate() {
        let s = s as u32;
        rows.push((s, b, Black, Active, "2026-01-01", None));
        rows.push((s, r1, Red, Active, "2025-01-01", None));
        if s % 3 == 0 {
            rows.push((s, r2, Red, Active, "2025-01-01", None));
        }
    }
    let bytes = snapshot_bytes(accepted(&rows), CATALOG);
    let snap = Snapshot::from_bytes(bytes).unwrap();
    let conflicts = crate::sweep::sweep(&snap, d("2026-11-20"), &crate::check::Holds::default());
    let got: Vec<(&str, &str)> = conflicts
        .iter()
        .map(|c| (c.code.as_str(), c.red.entry_id))
        .collect();
    assert_eq!(got.len(), 20_000 + 6_667);
    assert_eq!(conflicts.len(), got.len());
    let mut want = got.clone();
    want.sort();
    want.dedup();
    assert_eq!(got, want, "sorted by code then red entry_id, each once");
    assert_eq!(
        (&conflicts).into_iter().count(),
        got.len(),
        "iterating by reference gives the same conflicts"
    );
}

/// Entry ids that share their first 12 bytes, or are prefixes of one
/// another, and subjects with several entries, in no particular order.
fn arb_ids() -> impl Strategy<Value = Vec<(u32, String)>> {
    let id = (0u8..3, 0u32..40, 0usize..4).prop_map(|(prefix, n, pad)| {
        let stem = ["E", "ENTRY-2026-00", "ENTRY-2026-0000"][prefix as usize];
        format!("{stem}{n}{}", "-".repeat(pad))
    });
    proptest::collection::btree_map(id, 0u32..12, 0..60)
        .prop_map(|m| m.into_iter().map(|(id, s)| (s, id)).collect::<Vec<_>>())
        .prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn entries_are_in_subject_then_id_order_and_every_id_is_found(rows in arb_ids()) {
        let table: Vec<Row> = rows
            .iter()
            .map(|(s, id)| (*s, id.as_str(), Kind::Black, Status::Active, "2026-01-01", None))
            .collect();
        let bytes = snapshot_bytes(accepted(&table), CATALOG);
        let snap = Snapshot::from_bytes(bytes).unwrap();
        // Subjects are in the order of their keys' bytes.
        let mut order: Vec<(Key, &str)> =
            rows.iter().map(|(s, id)| (code(*s).key().unwrap(), id.as_str())).collect();
        order.sort_by_key(|&(k, id)| (KeyBytes::from(k).0, id));
        let got: Vec<(Key, String)> = (0..snap.subjects())
            .flat_map(|sid| {
                let key = snap.subject_key(sid);
                snap.subject_entries(sid)
                    .map(move |n| (key, n))
            })
            .map(|(key, n)| (key, snap.entry(n).entry_id.to_string()))
            .collect();
        prop_assert_eq!(got.len(), order.len());
        for ((k, id), (gk, gid)) in order.iter().zip(&got) {
            prop_assert_eq!(k, gk);
            prop_assert_eq!(*id, gid.as_str());
        }
        for (n, (_, id)) in got.iter().enumerate() {
            prop_assert_eq!(snap.find_entry(id), Some(n as u32));
        }
        prop_assert_eq!(snap.find_entry("ENTRY-2026-0"), None);
    }
}
