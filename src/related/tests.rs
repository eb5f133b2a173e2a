use super::*;
use crate::catalog::Catalog;
use crate::entry::{Kind, Status};
use crate::rules::{evaluate, flags as f8};

fn d(s: &str) -> Day {
    Day::parse(s).unwrap()
}

fn rel(role: Role, from: &str, until: Option<&str>) -> RelationFacts {
    RelationFacts {
        role,
        from: d(from),
        until: until.map(d),
    }
}

fn entry(kind: Kind, status: Status, listed: &str, until: Option<&str>) -> Facts {
    Facts {
        kind,
        status,
        domain: 0,
        listed_on: d(listed),
        valid_until: until.map(d),
        exited_on: None,
        watch_until: None,
    }
}

fn eval(entries: &[Facts], day: &str, held: &dyn Fn(usize) -> bool) -> Evaluation {
    evaluate(entries, d(day), held, &|_| 365)
}

const CATALOG: &str = r#"
[[domain]]
id = "court"
name = "失信被执行人"

[[matter]]
id = "market_entry"
name = "企业登记"

[[matter]]
id = "honours"
name = "评优评先"

[[measure]]
id = "P-BAN-01"
name = "限制担任法定代表人、负责人"
effect = "punish"
lists = ["black"]
domains = ["*"]
matters = ["market_entry"]
mandatory = true
applies_to = ["legal_rep", "principal"]

[[measure]]
id = "P-ENTRY-01"
name = "从严审核行政许可"
effect = "punish"
lists = ["black"]
domains = ["*"]
matters = ["market_entry"]
mandatory = true
applies_to = ["subject", "legal_rep"]

[[measure]]
id = "P-WATCH-01"
name = "加强监管"
effect = "punish"
lists = ["watch"]
domains = ["*"]
matters = ["market_entry"]
applies_to = ["subject", "legal_rep"]

[[measure]]
id = "R-HON-01"
name = "优先推荐评优"
effect = "reward"
lists = ["red"]
domains = ["*"]
matters = ["honours"]
applies_to = ["subject", "shareholder"]
"#;

fn table() -> MeasureTable {
    MeasureTable::new(&Catalog::from_toml(CATALOG, "t.toml").unwrap())
}

const MARKET: usize = 0;
const HONOURS: usize = 1;
const BAN: usize = 0;
const ENTRY: usize = 1;
const WATCH: usize = 2;
const HON: usize = 3;

#[test]
fn roles_round_trip_and_masks() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
        assert_eq!(Role::from_u8(r as u8), Some(r));
    }
    assert_eq!(Role::parse("chairman"), None);
    let m = applies_mask(&["subject".into(), "legal_rep".into()]);
    assert_eq!(m, APPLIES_SUBJECT | role_bit(Role::LegalRep));
    assert_eq!(
        applies_mask(&["professional".into()]),
        role_bit(Role::Professional)
    );
}

#[test]
fn in_effect_boundaries() {
    let r = rel(Role::LegalRep, "2026-03-01", Some("2026-06-30"));
    for (day, want) in [
        ("2026-02-28", false),
        ("2026-03-01", true),
        ("2026-06-30", true),
        ("2026-07-01", false),
    ] {
        assert_eq!(in_effect(&r, d(day)), want, "{day}");
    }
    let open = rel(Role::Director, "2026-03-01", None);
    assert!(in_effect(&open, d("2099-01-01")));
    let mut b = Vec::new();
    boundaries(&r, &mut b);
    assert_eq!(b, [d("2026-03-01"), d("2026-07-01")]);
}

#[test]
fn binds_on_the_day_or_on_the_listing_day() {
    // Legal representative 2026-01-01 … 2026-03-31; the organisation was
    // listed on 2026-02-10. On 2026-05-01 the relation has ended, but it was
    // in effect when the organisation was listed: still bound.
    let former = rel(Role::LegalRep, "2026-01-01", Some("2026-03-31"));
    assert!(binds(&former, d("2026-05-01"), d("2026-02-10")));
    // Listed the day after the relation ended, checked later: not bound.
    assert!(!binds(&former, d("2026-05-01"), d("2026-04-01")));
    // Listed on the relation's last day: bound.
    assert!(binds(&former, d("2026-05-01"), d("2026-03-31")));
    // Listed the day before the relation started; the relation is in effect
    // on the check day: the present legal representative is bound.
    let present = rel(Role::LegalRep, "2026-04-01", None);
    assert!(binds(&present, d("2026-05-01"), d("2026-03-31")));
    // The present one, checked the day before it took the role, listed
    // before as well: not bound.
    assert!(!binds(&present, d("2026-03-31"), d("2026-03-30")));
}

#[test]
fn derived_watch_binds_through_the_black_listing_day() {
    // Black 2025-01-10 … 2025-12-31 → derived watch from 2026-01-01.
    let org = [entry(
        Kind::Black,
        Status::Active,
        "2025-01-10",
        Some("2025-12-31"),
    )];
    let ev = eval(&org, "2026-03-01", &|_| false);
    assert_eq!(ev.hits.len(), 1);
    assert!(ev.hits[0].derived);
    assert_eq!(ev.hits[0].listed_on, d("2026-01-01"));
    // Legal rep only in 2025-01 (when the black entry was listed).
    let r = rel(Role::LegalRep, "2025-01-01", Some("2025-01-31"));
    assert_eq!(bound_hits(&r, d("2026-03-01"), &ev, &org), [0]);
    // Legal rep only in 2025-12 … 2026-01-15: neither the check day nor the
    // black entry's listing day (the derived hit's own X does not count).
    let r = rel(Role::LegalRep, "2025-12-01", Some("2026-01-15"));
    assert!(bound_hits(&r, d("2026-03-01"), &ev, &org).is_empty());
}

#[test]
fn party_shown_only_when_in_effect_and_not_clear() {
    let r = rel(Role::Shareholder, "2026-01-01", Some("2026-06-30"));
    assert!(party_shown(&r, d("2026-06-30"), SubjectStatus::Red));
    assert!(!party_shown(&r, d("2026-07-01"), SubjectStatus::Black));
    assert!(!party_shown(&r, d("2026-03-01"), SubjectStatus::Clear));
    assert!(party_shown(&r, d("2026-03-01"), SubjectStatus::Watch));
}

fn names(f: &[Fired]) -> Vec<usize> {
    f.iter().map(|x| x.measure).collect()
}

#[test]
fn measures_through_roles_merge_with_direct_ones() {
    let t = table();
    let day = "2026-05-01";
    // The checked person is black-listed themself and is the legal
    // representative of a black-listed organisation.
    let own_entries = [entry(Kind::Black, Status::Active, "2026-01-01", None)];
    let own = eval(&own_entries, day, &|_| false);
    let org_entries = [entry(Kind::Black, Status::Active, "2026-02-01", None)];
    let org = eval(&org_entries, day, &|_| false);
    let links = [OrgLink {
        relation: rel(Role::LegalRep, "2025-01-01", None),
        visible: true,
        org: &org,
        org_entries: &org_entries,
    }];
    let m = measures(&t, MARKET, &own, &links, d(day));
    assert_eq!(names(&m.must_apply), [BAN, ENTRY]);
    // BAN only through the relation.
    assert!(m.must_apply[0].own.is_empty());
    assert_eq!(
        m.must_apply[0].through,
        [Through {
            link: 0,
            hits: vec![0]
        }]
    );
    // ENTRY both ways, once.
    assert_eq!(m.must_apply[1].own, [0]);
    assert_eq!(
        m.must_apply[1].through,
        [Through {
            link: 0,
            hits: vec![0]
        }]
    );
    assert!(m.may_apply.is_empty() && m.rewards.is_empty());
}

#[test]
fn role_not_named_fires_nothing() {
    let t = table();
    let day = "2026-05-01";
    let own = eval(&[], day, &|_| false);
    let org_entries = [entry(Kind::Black, Status::Active, "2026-02-01", None)];
    let org = eval(&org_entries, day, &|_| false);
    for (role, want) in [
        (Role::LegalRep, vec![BAN, ENTRY]),
        (Role::Principal, vec![BAN]),
        (Role::Manager, vec![]),
        (Role::Director, vec![]),
    ] {
        let links = [OrgLink {
            relation: rel(role, "2025-01-01", None),
            visible: true,
            org: &org,
            org_entries: &org_entries,
        }];
        let m = measures(&t, MARKET, &own, &links, d(day));
        assert_eq!(names(&m.must_apply), want, "{role:?}");
    }
}

#[test]
fn suspended_suppressed_revoked_and_invisible_fire_nothing() {
    let t = table();
    let day = "2026-05-01";
    let own = eval(&[], day, &|_| false);
    let r = rel(Role::LegalRep, "2025-01-01", None);
    let check = |org_entries: &[Facts], held: bool, visible: bool| {
        let org = eval(org_entries, day, &|_| held);
        let links = [OrgLink {
            relation: r,
            visible,
            org: &org,
            org_entries,
        }];
        measures(&t, MARKET, &own, &links, d(day))
    };
    let black = [entry(Kind::Black, Status::Active, "2026-02-01", None)];
    assert_eq!(check(&black, false, true).must_apply.len(), 2);
    // A hold on the organisation's entry suspends its measures for the party.
    assert!(check(&black, true, true).must_apply.is_empty());
    let objection = [entry(Kind::Black, Status::Objection, "2026-02-01", None)];
    assert!(check(&objection, false, true).must_apply.is_empty());
    let revoked = [entry(Kind::Black, Status::Revoked, "2026-02-01", None)];
    assert!(check(&revoked, false, true).must_apply.is_empty());
    // Rule 6: an organisation code that counts as a person, for a caller
    // without person permission.
    assert!(check(&black, false, false).must_apply.is_empty());
}

#[test]
fn suppressed_red_and_rewards_through_relations() {
    let t = table();
    let day = "2026-05-01";
    let r = rel(Role::Shareholder, "2025-01-01", None);
    let red = [entry(Kind::Red, Status::Active, "2026-02-01", None)];
    let red_org = eval(&red, day, &|_| false);
    let links = [OrgLink {
        relation: r,
        visible: true,
        org: &red_org,
        org_entries: &red,
    }];
    // A clear shareholder of a red organisation: the reward reaches it.
    let clear = eval(&[], day, &|_| false);
    let m = measures(&t, HONOURS, &clear, &links, d(day));
    assert_eq!(names(&m.rewards), [HON]);
    // A shareholder whose own status is watch or black: no reward through
    // the relation.
    for k in [Kind::Watch, Kind::Black] {
        let own_e = [entry(k, Status::Active, "2026-01-01", None)];
        let own = eval(&own_e, day, &|_| false);
        let m = measures(&t, HONOURS, &own, &links, d(day));
        assert!(m.rewards.is_empty(), "{k:?}");
    }
    // A red organisation that is also black: its red is suppressed, no reward.
    let both = [
        entry(Kind::Red, Status::Active, "2026-02-01", None),
        entry(Kind::Black, Status::Active, "2026-03-01", None),
    ];
    let both_org = eval(&both, day, &|_| false);
    let links = [OrgLink {
        relation: r,
        visible: true,
        org: &both_org,
        org_entries: &both,
    }];
    assert!(measures(&t, HONOURS, &clear, &links, d(day))
        .rewards
        .is_empty());
}

#[test]
fn two_roles_in_one_organisation_are_two_ways() {
    let t = table();
    let day = "2026-05-01";
    let own = eval(&[], day, &|_| false);
    let org_entries = [entry(Kind::Watch, Status::Active, "2026-02-01", None)];
    let org = eval(&org_entries, day, &|_| false);
    let mk = |role| OrgLink {
        relation: rel(role, "2025-01-01", None),
        visible: true,
        org: &org,
        org_entries: &org_entries,
    };
    let links = [mk(Role::LegalRep), mk(Role::Principal)];
    let m = measures(&t, MARKET, &own, &links, d(day));
    // WATCH applies to legal_rep only: one way.
    assert_eq!(names(&m.may_apply), [WATCH]);
    assert_eq!(m.may_apply[0].through.len(), 1);
    assert_eq!(m.may_apply[0].through[0].link, 0);
}

#[test]
fn profile_items_and_flags_agree_with_measures() {
    let t = table();
    let day = "2026-05-01";
    let own_e = [entry(Kind::Red, Status::Active, "2026-01-01", None)];
    let own = eval(&own_e, day, &|_| false);
    let org_entries = [entry(Kind::Black, Status::Active, "2026-02-01", None)];
    let org = eval(&org_entries, day, &|_| false);
    let link = OrgLink {
        relation: rel(Role::LegalRep, "2025-01-01", None),
        visible: true,
        org: &org,
        org_entries: &org_entries,
    };
    for org_is_person in [false, true] {
        let items = profile(&own, &[(link, org_is_person)], d(day));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].role(), Some(Role::LegalRep));
        assert_eq!(items[0].through_person(), org_is_person);
        assert_eq!(items[1].role(), None);
        let pf = t.item_flags(MARKET, &items);
        for persons in [false, true] {
            let visible = persons || !org_is_person;
            let links = [OrgLink { visible, ..link }];
            let m = measures(&t, MARKET, &own, &links, d(day));
            let want = if m.must_apply.is_empty() {
                0
            } else {
                f8::MUST_APPLY
            } | if m.may_apply.is_empty() {
                0
            } else {
                f8::MAY_APPLY
            } | if m.rewards.is_empty() { 0 } else { f8::REWARD };
            assert_eq!(
                pf.bits(persons, false),
                want,
                "person org {org_is_person}, persons {persons}"
            );
        }
    }
}

#[test]
fn related_bits() {
    assert_eq!(
        related_bit(SubjectStatus::Black) as u16,
        flags::RELATED_BLACK >> 8
    );
    assert_eq!(related_bit(SubjectStatus::Clear), 0);
    assert_eq!(
        [
            SubjectStatus::Black,
            SubjectStatus::Watch,
            SubjectStatus::Red
        ]
        .map(|s| (related_bit(s) as u16) << 8)
        .iter()
        .fold(0, |a, b| a | b),
        flags::RELATED
    );
}
