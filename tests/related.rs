//! Related parties (SPEC §8) through the real daemon: `/v1/check` answers
//! `related` and `via` exactly as the command line does, rule 6 privacy for
//! a caller without person permission, holds on an organisation's entry
//! reaching the people behind it, and batch frames of version 2 (RELATED
//! bits) next to version 1 (measures through relations).
//!
//! The snapshots are built from `fixtures/lists` with the demo relations
//! (`fixtures/README.md` "Demo relations") as of 2026-11-20; variants of
//! the lists and relations are written into each test's temporary folder.

mod support;

use credlist::wire::batch::{encode_request, encode_request_in, Response, Version};
use serde_json::{json, Value};
use std::path::Path;
use support::*;

const MARKET: &str = "market_entry";
const HONOURS: &str = "honours";
const EXPECTED_MARKET: &str = "fixtures/expected/check-market_entry-relations-2026-11-20.jsonl";

/// The present legal representative (and shareholder) of 福州闽江路桥
/// (black `FY-2025-0312`): P-MKT-01 and P-MKT-02 through REL-0001.
const LEGAL_REP: &str = "350102198001010011";
/// The principal of a red-listed service centre: R-MKT-01 through REL-0009.
const PRINCIPAL_OF_RED: &str = "350121198511110054";
/// 福州恒通物流, whose legal representative 陈某某 is black-listed.
const HENGTONG: &str = "91350105MA34JN9W17";
/// 陈某某's entry.
const CHEN_ENTRY: &str = "GL-2026-0214";
/// An all-digit organisation code valid both as a USCC and as an ID number.
const BOTH_WAYS: &str = "350103196001014976";
/// 福州海峡置业, whose shareholder is the organisation 福建榕辉贸易 (watch).
const HAIXIA: &str = "91350100MA2YLK0R1F";
const RONGHUI: &str = "91350102MA31FE2N4E";
/// An organisation on no list (legal representative a person on no list).
const UNLISTED_ORG: &str = "91350100MA2Y10015N";

/// Does `code` count as a natural person (SPEC §1)?
fn is_person(code: &str) -> bool {
    let day = credlist::date::Day::parse(DATA_DATE).unwrap();
    credlist::codes::parse(code, day).is_ok_and(|p| p.kind == credlist::codes::CodeKind::Person)
}

fn client(persons: bool) -> String {
    format!(
        "[[client]]\nname = \"registry\"\nuid = {}\nmatters = [\"*\"]\npersons = {persons}\n",
        our_uid()
    )
}

fn read_jsonl(path: &str) -> Vec<Value> {
    std::fs::read_to_string(repo(path))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The caller's spelling of an expected item's code.
fn input_of(item: &Value) -> String {
    item.get("input")
        .unwrap_or(&item["code"])
        .as_str()
        .unwrap()
        .to_string()
}

/// `results` of one `/v1/check` of `codes` on `matter` as of the data date.
fn results(d: &Daemon, matter: &str, codes: &[&str]) -> Vec<Value> {
    let subjects: Vec<Value> = codes.iter().map(|c| json!({"code": c})).collect();
    let r = d.check(&json!({"matter": matter, "as_of": DATA_DATE, "subjects": subjects}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["results"].as_array().unwrap().clone()
}

fn one(d: &Daemon, matter: &str, code: &str) -> Value {
    results(d, matter, &[code]).remove(0)
}

fn ids(item: &Value, key: &str) -> Vec<String> {
    item[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {item}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The codes in an item's `related`.
fn related_codes(item: &Value) -> Vec<String> {
    item["related"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["code"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The batch flags (version 1) a check item implies (SPEC §6 flag bits).
fn expected_flags(item: &Value) -> u8 {
    if item["valid"] != json!(true) || item.get("error").is_some() {
        return 1;
    }
    let mut f = 0u8;
    for h in item["hits"].as_array().unwrap() {
        f |= match h["kind"].as_str().unwrap() {
            "black" => 2,
            "watch" => 4,
            "red" if h["suppressed"] == json!(false) => 8,
            _ => 0,
        };
        if h["suspended"] == json!(true) {
            f |= 16;
        }
    }
    let nonempty = |k: &str| item[k].as_array().is_some_and(|a| !a.is_empty());
    for (k, bit) in [("must_apply", 32), ("may_apply", 64), ("rewards", 128)] {
        if nonempty(k) {
            f |= bit;
        }
    }
    f
}

/// The RELATED bits (8–10) an item's `related` implies.
fn expected_related_bits(item: &Value) -> u16 {
    let mut b = 0u16;
    for r in item["related"].as_array().into_iter().flatten() {
        b |= match r["status"].as_str().unwrap() {
            "black" => 1 << 8,
            "watch" => 1 << 9,
            "red" => 1 << 10,
            _ => 0,
        };
    }
    b
}

/// Copies the folder `from` (recursively) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A copy of `fixtures/lists` under `dir` without the rows whose entry id
/// is in `drop`; returns its path.
fn lists_without(dir: &Path, drop: &[&str]) -> String {
    let to = dir.join("lists");
    copy_dir(&repo("fixtures/lists"), &to);
    let court = to.join("court.csv");
    let text = std::fs::read_to_string(&court).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !drop.iter().any(|id| l.starts_with(&format!("{id},"))))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        kept.lines().count() + drop.len(),
        text.lines().count(),
        "every dropped entry was in court.csv"
    );
    std::fs::write(&court, kept).unwrap();
    s(&to).to_string()
}

// ---------------------------------------------------------------------------
// /v1/check against the command line's expected file
// ---------------------------------------------------------------------------

#[test]
fn http_check_answers_related_and_via_as_the_expected_file() {
    let d = Daemon::with_relations().start();
    let expected = read_jsonl(EXPECTED_MARKET);
    let inputs: Vec<String> = expected.iter().map(input_of).collect();
    let codes: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let got = results(&d, MARKET, &codes);
    assert_eq!(got.len(), expected.len());
    // `warning` is free text in the expected file: present exactly when
    // expected; everything else is equal.
    let strip = |v: &Value| {
        let mut v = v.clone();
        let w = v.as_object_mut().unwrap().remove("warning");
        (v, w.is_some())
    };
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(
            strip(g),
            strip(e),
            "HTTP item differs from {EXPECTED_MARKET}"
        );
    }
    // And exactly what `credlist check` answers on the daemon's snapshot.
    let o = credlist()
        .args(["check", "--snapshot", s(&d.path("current.snap"))])
        .args(["--as-of", DATA_DATE, "--matter", MARKET])
        .args(&codes)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cli: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, cli, "HTTP and `credlist check` differ");
    // The same codes with roles: the role is echoed, nothing else changes.
    let subjects: Vec<Value> = codes
        .iter()
        .map(|c| json!({"code": c, "role": "legal_rep"}))
        .collect();
    let r = d.check(&json!({"matter": MARKET, "as_of": DATA_DATE, "subjects": subjects}));
    for (g, e) in r.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&expected)
    {
        assert_eq!(g["related"], e["related"]);
        assert_eq!(g["must_apply"], e["must_apply"]);
        assert_eq!(g["role"], "legal_rep");
    }
}

// ---------------------------------------------------------------------------
// Rule 6: callers without person permission
// ---------------------------------------------------------------------------

#[test]
fn without_person_permission_persons_never_show_in_related() {
    let open = Daemon::with_relations().clients(&client(true)).start();
    let closed = Daemon::with_relations().clients(&client(false)).start();

    // (a) 恒通物流's legal representative is black-listed: seen with
    // person permission, not without.
    let item = one(&open, MARKET, HENGTONG);
    assert_eq!(related_codes(&item), vec![PERSON_CODE.to_string()]);
    let item = one(&closed, MARKET, HENGTONG);
    assert_eq!(item["related"], json!([]), "{item}");
    assert_eq!(item["status"], "black", "its own status is still answered");

    // (c) An organisation that is a shareholder is shown, both ways round.
    let item = one(&closed, MARKET, HAIXIA);
    let rel = item["related"].as_array().unwrap();
    assert!(
        rel.iter().any(|r| r["code"] == RONGHUI
            && r["side"] == "party"
            && r["role"] == "shareholder"
            && r["status"] == "watch"),
        "{item}"
    );
    let item = one(&closed, MARKET, RONGHUI);
    assert_eq!(
        item["related"],
        one(&open, MARKET, RONGHUI)["related"],
        "an organisation's organisations are the same for both callers"
    );
    assert_eq!(related_codes(&item), vec![HAIXIA.to_string()]);

    // Persons themselves, and (d) an all-digit code valid both ways, are
    // forbidden items: no related at all.
    for code in [LEGAL_REP, PERSON_CODE, BOTH_WAYS] {
        let item = one(&closed, MARKET, code);
        assert_eq!(
            item,
            json!({"code": code, "valid": true, "error": "forbidden"}),
            "{code}"
        );
    }
    let mut b = Batch::connect(&closed.batch_sock());
    assert_eq!(
        b.flags_v2(1, MARKET, &[LEGAL_REP, BOTH_WAYS, HENGTONG])[..2],
        [1, 1]
    );

    // No person code anywhere in the answers to every organisation of the
    // fixtures, on every matter with measures through relations.
    let expected = read_jsonl(EXPECTED_MARKET);
    let persons: Vec<String> = expected
        .iter()
        .chain(read_jsonl("fixtures/expected/check-honours-relations-2026-11-20.jsonl").iter())
        .flat_map(|i| {
            related_codes(i)
                .into_iter()
                .chain(std::iter::once(i["code"].as_str().unwrap().to_string()))
        })
        .filter(|c| is_person(c))
        .collect();
    assert!(persons.contains(&PERSON_CODE.to_string()) && persons.contains(&LEGAL_REP.to_string()));
    let orgs = [
        BLACK_CODE,
        HENGTONG,
        HAIXIA,
        RONGHUI,
        UNLISTED_ORG,
        "91350121MA2XJ6LA6E",
        "91350121MA2XQ7D554",
        "91350104MA32HB6T2C",
        "91350102MA2YN8KC7D",
        "91350181MA2XU4PD04",
        "123501004880123464",
        "91350102MA2Y20029Q",
        "91350100M0001TGQXM",
    ];
    for matter in [MARKET, HONOURS] {
        let text = serde_json::to_string(&results(&closed, matter, &orgs)).unwrap();
        for p in &persons {
            assert!(
                !text.contains(p.as_str()),
                "{p} in an answer on {matter}: {text}"
            );
        }
    }
}

#[test]
fn without_person_permission_organisations_answer_the_same_whether_their_persons_are_listed() {
    // (b) The same lists without 陈某某's black entry.
    let scratch = tempfile::tempdir_in("/tmp").unwrap();
    let lists = lists_without(scratch.path(), &[CHEN_ENTRY]);
    let with_chen = Daemon::with_relations().clients(&client(false)).start();
    let without_chen = Daemon::empty().clients(&client(false));
    build_snapshot_with(
        &without_chen.path("current.snap"),
        &[&lists],
        &[DEMO_RELATIONS],
    );
    let without_chen = without_chen.start();
    let orgs = [HENGTONG, BLACK_CODE, HAIXIA, UNLISTED_ORG];
    for matter in [MARKET, HONOURS, MATTER] {
        let a = serde_json::to_string(&results(&with_chen, matter, &orgs)).unwrap();
        let b = serde_json::to_string(&results(&without_chen, matter, &orgs)).unwrap();
        assert_eq!(a, b, "answers on {matter} differ");
        let mut ba = Batch::connect(&with_chen.batch_sock());
        let mut bb = Batch::connect(&without_chen.batch_sock());
        assert_eq!(ba.flags_v2(1, matter, &orgs), bb.flags_v2(1, matter, &orgs));
        assert_eq!(ba.flags(2, matter, &orgs), bb.flags(2, matter, &orgs));
    }
    // The test has teeth: with person permission the two differ.
    let mut open_with = with_chen;
    let mut open_without = without_chen;
    for d in [&mut open_with, &mut open_without] {
        d.kill9();
        d.clients = client(true);
        d.spawn();
    }
    let a = one(&open_with, MARKET, HENGTONG);
    let b = one(&open_without, MARKET, HENGTONG);
    assert_eq!(related_codes(&a), vec![PERSON_CODE.to_string()]);
    assert_eq!(b["related"], json!([]), "{b}");
    let mut ba = Batch::connect(&open_with.batch_sock());
    let mut bb = Batch::connect(&open_without.batch_sock());
    assert_eq!(
        ba.flags_v2(1, MARKET, &[HENGTONG])[0] >> 8,
        1,
        "RELATED_BLACK"
    );
    assert_eq!(bb.flags_v2(1, MARKET, &[HENGTONG])[0] >> 8, 0);
}

#[test]
fn no_measure_fires_through_an_organisation_code_that_counts_as_a_person() {
    // (e) The all-digit organisation put on the black list, with an
    // organisation as its shareholder: P-HON-02 (applies to shareholders)
    // reaches the shareholder only for a caller with person permission.
    let scratch = tempfile::tempdir_in("/tmp").unwrap();
    let extra_rel = scratch.path().join("relations");
    std::fs::create_dir_all(&extra_rel).unwrap();
    std::fs::write(
        extra_rel.join("both-ways.csv"),
        format!("relation_id,org,party,role,from,until\nREL-T-01,{BOTH_WAYS},{UNLISTED_ORG},shareholder,2020-01-01,\n"),
    )
    .unwrap();
    let extra_list = scratch.path().join("extra-list");
    std::fs::create_dir_all(&extra_list).unwrap();
    std::fs::write(
        extra_list.join("both-ways.csv"),
        format!(
            "entry_id,code,name,kind,domain,authority,basis,listed_on,valid_until,status,exited_on,watch_until\n\
             FY-T-0001,{BOTH_WAYS},,black,court,shi-fayuan,,2024-01-01,,active,,\n"
        ),
    )
    .unwrap();
    let rels = [DEMO_RELATIONS, s(&extra_rel)];
    let start = |listed: bool, persons: bool| {
        let d = Daemon::empty().clients(&client(persons));
        let mut inputs = vec!["fixtures/lists"];
        if listed {
            inputs.push(s(&extra_list));
        }
        build_snapshot_with(&d.path("current.snap"), &inputs, &rels);
        d.start()
    };
    let open = start(true, true);
    let item = one(&open, HONOURS, UNLISTED_ORG);
    assert_eq!(ids(&item, "must_apply"), vec!["P-HON-02"], "{item}");
    assert_eq!(item["must_apply"][0]["via"][0]["code"], BOTH_WAYS);
    assert_eq!(related_codes(&item), vec![BOTH_WAYS.to_string()]);
    let mut b = Batch::connect(&open.batch_sock());
    let w = b.flags_v2(1, HONOURS, &[UNLISTED_ORG])[0];
    assert_eq!(
        (w & 32, w >> 8),
        (32, 1),
        "MUST_APPLY and RELATED_BLACK: {w:#x}"
    );

    let closed = start(true, false);
    let item = one(&closed, HONOURS, UNLISTED_ORG);
    assert_eq!(item["must_apply"], json!([]), "{item}");
    assert_eq!(item["related"], json!([]), "{item}");
    let mut b = Batch::connect(&closed.batch_sock());
    assert_eq!(b.flags_v2(1, HONOURS, &[UNLISTED_ORG]), vec![0]);
    assert_eq!(b.flags(2, HONOURS, &[UNLISTED_ORG]), vec![0]);
    // And the same answer as when the code is on no list.
    let closed_unlisted = start(false, false);
    for matter in [HONOURS, MARKET] {
        assert_eq!(
            serde_json::to_string(&results(&closed, matter, &[UNLISTED_ORG])).unwrap(),
            serde_json::to_string(&results(&closed_unlisted, matter, &[UNLISTED_ORG])).unwrap(),
        );
    }
}

// ---------------------------------------------------------------------------
// Holds
// ---------------------------------------------------------------------------

#[test]
fn a_hold_on_the_organisations_entry_suspends_measures_for_its_legal_representative() {
    let d = Daemon::with_relations().start();
    let before = one(&d, MARKET, LEGAL_REP);
    assert_eq!(ids(&before, "must_apply"), vec!["P-MKT-01"]);
    assert_eq!(ids(&before, "may_apply"), vec!["P-MKT-02"]);
    let mut b = Batch::connect(&d.batch_sock());
    let v1 = b.flags(1, MARKET, &[LEGAL_REP])[0];
    assert_eq!(v1 & (32 | 64), 32 | 64, "{v1:#x}");

    let r = d.admin(
        "POST",
        "/v1/admin/holds",
        Some(&json!({"entry_id": BLACK_ENTRY, "reason": "objection 2026-88"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let held = one(&d, MARKET, LEGAL_REP);
    assert_eq!(held["must_apply"], json!([]), "{held}");
    assert_eq!(held["may_apply"], json!([]), "{held}");
    // The organisation is still black and the relation still binds its
    // entry: a hold suspends measures, not the listing.
    assert_eq!(held["related"], before["related"]);
    assert_eq!(held["status"], "clear");
    let former = one(&d, MARKET, "350102197503150028");
    assert_eq!(former["must_apply"], json!([]), "{former}");
    let f = b.flags(2, MARKET, &[LEGAL_REP])[0];
    assert_eq!(f & (32 | 64), 0, "{f:#x}");
    let w = b.flags_v2(3, MARKET, &[LEGAL_REP])[0];
    assert_eq!((w & 0xff) as u8, f);
    assert_ne!(w & (1 << 8), 0, "still RELATED_BLACK: {w:#x}");
    // The organisation's own item shows the hold.
    let org = one(&d, MARKET, BLACK_CODE);
    let h = org["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["entry_id"] == BLACK_ENTRY)
        .unwrap()
        .clone();
    assert_eq!(h["suspended"], true);

    let r = d.admin("DELETE", &format!("/v1/admin/holds/{BLACK_ENTRY}"), None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(one(&d, MARKET, LEGAL_REP), before);
    assert_eq!(b.flags(4, MARKET, &[LEGAL_REP])[0], v1);
}

// ---------------------------------------------------------------------------
// Batch version 2
// ---------------------------------------------------------------------------

fn market_codes() -> Vec<String> {
    read_jsonl(EXPECTED_MARKET)
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

/// Version 1 and 2 frames of the market_entry codes agree with each other
/// and with the daemon's HTTP answers to the same caller.
fn v2_agrees_with_v1_and_http(d: &Daemon) -> Vec<u16> {
    let codes = market_codes();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    let items = results(d, MARKET, &codes);
    let mut b = Batch::connect(&d.batch_sock());
    // Frames of both versions in flight together, answered in order.
    let c18 = codes18(&codes);
    let mut frames = Vec::new();
    frames.extend(encode_request(10, DATA_DAY, MARKET, &c18));
    frames.extend(encode_request_in(Version::V2, 11, DATA_DAY, MARKET, &c18));
    frames.extend(encode_request_in(Version::V2, 12, DATA_DAY, "", &c18));
    frames.extend(encode_request(13, DATA_DAY, "", &c18));
    b.send(&frames);
    let (v, r) = b.recv_versioned();
    assert_eq!(v, 1);
    let v1 = flags_of(r, 10);
    let (v, r) = b.recv_versioned();
    assert_eq!(v, 2);
    let Response::FlagsV2 {
        request_id: 11,
        flags: v2,
    } = r
    else {
        panic!("expected version-2 flags for frame 11, got {r:?}");
    };
    let (v, r) = b.recv_versioned();
    assert_eq!(v, 2);
    let Response::FlagsV2 {
        request_id: 12,
        flags: v2_lists,
    } = r
    else {
        panic!("expected version-2 flags for frame 12, got {r:?}");
    };
    let v1_lists = flags_of(b.recv(), 13);
    assert_eq!(v2.len(), codes.len());
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(v2[i] as u8, v1[i], "{code}: low byte of v2 = v1");
        assert_eq!(v2_lists[i] as u8, v1_lists[i], "{code}: lists only");
        assert_eq!(v2[i] & !0x07ff, 0, "{code}: bits 11-15 are clear");
        assert_eq!(v1[i], expected_flags(&items[i]), "{code}: {}", items[i]);
        assert_eq!(
            v2[i] & 0x0700,
            expected_related_bits(&items[i]),
            "{code}: RELATED bits against {}",
            items[i]
        );
        // The RELATED bits do not depend on the matter.
        assert_eq!(v2_lists[i] & 0x0700, v2[i] & 0x0700, "{code}");
        assert_eq!(v1_lists[i] & 0xe0, 0);
    }
    v2
}

#[test]
fn batch_version_2_over_the_socket() {
    let d = Daemon::with_relations().clients(&client(true)).start();
    let v2 = v2_agrees_with_v1_and_http(&d);
    // The HTTP answers equal the expected file, so the frames agree with
    // it too; spot checks of measures through relations.
    let codes = market_codes();
    let at = |c: &str| codes.iter().position(|x| x == c).unwrap();
    let expected = read_jsonl(EXPECTED_MARKET);
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(v2[i] as u8, expected_flags(e), "{}", e["code"]);
    }
    let w = v2[at(LEGAL_REP)];
    assert_eq!(w & (1 | 32 | 64 | 128), 32 | 64, "{w:#x}");
    assert_eq!(w >> 8, 0b011, "RELATED_BLACK and RELATED_WATCH: {w:#x}");
    let w = v2[at(PRINCIPAL_OF_RED)];
    assert_eq!(w & (1 | 32 | 64 | 128), 128, "{w:#x}");
    assert_eq!(w >> 8, 0b100, "RELATED_RED: {w:#x}");
    assert_eq!(v2[at(PERSON_CODE)] >> 8, 0b001);
    assert_eq!(v2[at(HENGTONG)] >> 8, 0b001);

    // Errors of a version-2 frame come back in version 2; the connection
    // stays open after an unknown matter.
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request_in(
        Version::V2,
        21,
        DATA_DAY,
        "no_such_matter",
        &codes18(&[LEGAL_REP]),
    ));
    let raw = b.recv_raw();
    assert_eq!((raw[4], raw[5]), (2, 4), "version 2, status 4");
    assert_eq!(u64::from_le_bytes(raw[6..14].try_into().unwrap()), 21);
    b.send(&encode_request(
        22,
        DATA_DAY,
        "no_such_matter",
        &codes18(&[LEGAL_REP]),
    ));
    let (v, r) = b.recv_versioned();
    assert_eq!((v, error_of(r).0), (1, 4));
    assert_eq!(
        b.flags_v2(23, MARKET, &[LEGAL_REP]),
        vec![v2[at(LEGAL_REP)]]
    );
    // A version-2 frame over the limit: status 2 in version 2, closed.
    let small = Daemon::with_relations()
        .limits("max_batch_codes = 2")
        .start();
    let mut big = Batch::connect(&small.batch_sock());
    big.send(&encode_request_in(
        Version::V2,
        31,
        DATA_DAY,
        MARKET,
        &codes18(&[LEGAL_REP, LEGAL_REP, LEGAL_REP]),
    ));
    let raw = big.recv_raw();
    assert_eq!((raw[4], raw[5]), (2, 2), "version 2, status 2");
    assert!(big.closed());
}

#[test]
fn batch_version_2_without_person_permission() {
    let d = Daemon::with_relations().clients(&client(false)).start();
    let v2 = v2_agrees_with_v1_and_http(&d);
    let codes = market_codes();
    for (i, code) in codes.iter().enumerate() {
        if is_person(code) {
            assert_eq!(v2[i], 1, "{code}: UNANSWERED and nothing else");
        }
    }
    let at = |c: &str| codes.iter().position(|x| x == c).unwrap();
    assert_eq!(
        v2[at(HENGTONG)] >> 8,
        0,
        "its black legal representative is not shown"
    );
    assert_eq!(v2[at(RONGHUI)] >> 8, 0b001, "an organisation is shown");
}
