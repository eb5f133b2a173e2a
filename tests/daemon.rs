//! End-to-end tests of the daemon: the real `credlist serve` binary on Unix
//! sockets in a temporary folder, serving a snapshot built from
//! `fixtures/` as of 2026-11-20.
//!
//! No test asserts on timing: readiness and audit records are waited for by
//! bounded polling, every loop is bounded, and only processes started here
//! are signalled.

use credlist::wire::batch::encode_request;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::*;

// ---------------------------------------------------------------------------
// Expected results from the command line
// ---------------------------------------------------------------------------

/// The codes of the gov_procurement fixture, as callers spell them.
fn fixture_inputs() -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/expected/check-gov_procurement-2026-11-20.jsonl"),
    )
    .unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v.get("input")
                .unwrap_or(&v["code"])
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// `credlist check` on the daemon's snapshot.
fn cli_check(d: &Daemon, matter: Option<&str>, codes: &[String]) -> Vec<Value> {
    let mut c = credlist();
    c.args([
        "check",
        "--snapshot",
        s(&d.path("current.snap")),
        "--as-of",
        DATA_DATE,
    ]);
    if let Some(m) = matter {
        c.args(["--matter", m]);
    }
    let o = c.args(codes).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The batch flags a `credlist check` item implies (SPEC §6 flag bits).
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
    let nonempty = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty())
    };
    if nonempty("must_apply") {
        f |= 32;
    }
    if nonempty("may_apply") {
        f |= 64;
    }
    if nonempty("rewards") {
        f |= 128;
    }
    f
}

/// Fixture codes that are 18 upper-case ASCII characters (batch codes).
fn batch_codes(d: &Daemon) -> Vec<String> {
    let items = cli_check(d, None, &fixture_inputs());
    let mut v: Vec<String> = items
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .filter(|c| {
            c.len() == 18
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
        .collect();
    v.dedup();
    v
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn check_answers_exactly_as_the_command_line() {
    let d = Daemon::new().start();
    let inputs = fixture_inputs();
    let subjects: Vec<Value> = inputs.iter().map(|c| json!({"code": c})).collect();
    let r = d.check(
        &json!({"matter": MATTER, "as_of": DATA_DATE, "request_id": "APP-1", "subjects": subjects}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let expected = cli_check(&d, Some(MATTER), &inputs);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    for (got, want) in results.iter().zip(&expected) {
        assert_eq!(got, want, "daemon and CLI disagree");
    }
    assert!(results
        .iter()
        .any(|i| i["valid"] == json!(false) && i["error"].as_str().is_some_and(|e| !e.is_empty())));
    assert_eq!(v["request_id"], "APP-1");
    assert_eq!(v["as_of"], DATA_DATE);
    assert_eq!(v["snapshot"]["data_date"], DATA_DATE);
    assert_eq!(v["snapshot"]["id"].as_str().unwrap().len(), 32);
    assert_eq!(v["matter"], json!({"id": MATTER, "must_query": true}));
    assert!(v["receipt"].as_str().is_some_and(|r| !r.is_empty()));

    // role is echoed; as_of defaults to today; request_id may be absent.
    let r = d
        .check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE, "role": "applicant"}]}))
        .json();
    assert_eq!(r["results"][0]["role"], "applicant");
    assert_eq!(r["results"][0]["status"], "black");
    assert_eq!(r["request_id"], Value::Null);
    assert_eq!(r["as_of"].as_str().unwrap().len(), 10);

    // Receipts are unique.
    let a = d
        .check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}))
        .json();
    assert_ne!(a["receipt"], r["receipt"]);
}

#[test]
fn bad_requests_get_400_with_their_kind() {
    let d = Daemon::new()
        .limits("max_subjects = 3\nmax_body_bytes = 2048")
        .start();
    let post = |path: &str, body: &str| http(&d.check_sock(), "POST", path, Some(body));
    let cases: Vec<(&str, String, &str)> = vec![
        ("/v1/check", "{".into(), "bad_json"),
        ("/v1/check", "[1, 2]".into(), "bad_json"),
        ("/v1/check", json!({"matter": 5, "subjects": []}).to_string(), "bad_json"),
        ("/v1/check", json!({"subjects": [{"code": BLACK_CODE}]}).to_string(), "missing_field"),
        ("/v1/check", json!({"matter": MATTER}).to_string(), "missing_field"),
        ("/v1/check", json!({"matter": MATTER, "subjects": [{"role": "x"}]}).to_string(), "missing_field"),
        ("/v1/check", json!({"matter": "no_such_matter", "subjects": [{"code": BLACK_CODE}]}).to_string(), "unknown_matter"),
        (
            "/v1/check",
            json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}, {"code": BLACK_CODE}, {"code": BLACK_CODE}, {"code": BLACK_CODE}]}).to_string(),
            "too_many_subjects",
        ),
        ("/v1/check", json!({"matter": MATTER, "as_of": "2026-02-30", "subjects": [{"code": BLACK_CODE}]}).to_string(), "bad_date"),
        ("/v1/check", json!({"matter": MATTER, "as_of": "20261120", "subjects": [{"code": BLACK_CODE}]}).to_string(), "bad_date"),
        ("/v1/check", json!({"matter": MATTER, "note": "x".repeat(3000), "subjects": [{"code": BLACK_CODE}]}).to_string(), "too_large"),
        ("/v1/feedback", "{}".into(), "missing_field"),
        (
            "/v1/feedback",
            json!({"receipt": "0000000000000000-1", "code": BLACK_CODE, "measure": "P-PROC-01", "applied": true}).to_string(),
            "unknown_receipt",
        ),
    ];
    for (path, body, kind) in cases {
        let r = post(path, &body);
        assert_eq!(r.status, 400, "{path} {body:.80}: {}", r.body);
        assert_eq!(r.error_kind(), kind, "{path} {body:.80}");
        assert!(r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let r = http(&d.check_sock(), "GET", "/v1/nothing", None);
    assert_eq!((r.status, r.error_kind().as_str()), (404, "not_found"));
    let r = http(&d.check_sock(), "GET", "/v1/check", None);
    assert_eq!(r.status, 405);
    let r = http(&d.admin_sock(), "GET", "/v1/admin/nothing", None);
    assert_eq!((r.status, r.error_kind().as_str()), (404, "not_found"));
}

#[test]
fn feedback_is_accepted_for_issued_receipts_and_counted() {
    let d = Daemon::new().start();
    let receipt = d
        .check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}))
        .json()["receipt"]
        .clone();
    let fb = json!({"receipt": receipt, "code": BLACK_CODE, "measure": "P-PROC-01", "applied": true, "note": "bid refused"});
    let r = http(
        &d.check_sock(),
        "POST",
        "/v1/feedback",
        Some(&fb.to_string()),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let bad =
        json!({"receipt": receipt, "code": BLACK_CODE, "measure": "NO-SUCH", "applied": true});
    assert_eq!(
        http(
            &d.check_sock(),
            "POST",
            "/v1/feedback",
            Some(&bad.to_string())
        )
        .error_kind(),
        "unknown_measure"
    );
    let m = metrics(&d);
    assert_eq!(
        m.get("credlist_feedback_total{measure=\"P-PROC-01\",applied=\"true\"}"),
        Some(&1.0)
    );
    let stats = d.admin("GET", "/v1/admin/stats", None).json();
    assert_eq!(
        stats["feedback"],
        json!([{"measure": "P-PROC-01", "applied": true, "count": 1}])
    );
}

#[test]
fn an_unknown_caller_is_refused() {
    let other = our_uid().wrapping_add(1);
    let d = Daemon::new()
        .clients(&format!("[[client]]\nname = \"someone-else\"\nuid = {other}\nmatters = [\"*\"]\npersons = true\n"))
        .start();
    let r = d.check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}));
    assert_eq!(
        (r.status, r.error_kind().as_str()),
        (403, "forbidden"),
        "{}",
        r.body
    );
    // unknown_matter is checked before permissions.
    let r = d.check(&json!({"matter": "nope", "subjects": [{"code": BLACK_CODE}]}));
    assert_eq!((r.status, r.error_kind().as_str()), (400, "unknown_matter"));
    // Health needs no client.
    assert_eq!(http(&d.check_sock(), "GET", "/v1/health", None).status, 200);
    // Batch: status 3, then the connection is closed.
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        42,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    let (st, rid, msg) = error_of(b.recv());
    assert_eq!((st, rid), (3, 42), "{msg}");
    assert!(b.closed());
}

#[test]
fn client_permissions_on_matters_and_persons() {
    let me = our_uid();
    let d = Daemon::new()
        .clients(&format!("[[client]]\nname = \"procurement-system\"\nuid = {me}\nmatters = [\"{MATTER}\"]\npersons = false\n"))
        .start();
    let r = d.check(&json!({"matter": "admin_licence", "subjects": [{"code": BLACK_CODE}]}));
    assert_eq!((r.status, r.error_kind().as_str()), (403, "forbidden"));
    let r = d.check(&json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}, {"code": PERSON_CODE}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["results"][0]["status"], "black");
    assert_eq!(
        v["results"][1],
        json!({"code": PERSON_CODE, "valid": true, "error": "forbidden"})
    );

    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        1,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE, PERSON_CODE]),
    ));
    let (_, flags) = id_and_flags(b.recv());
    assert_eq!(
        flags[1], 1,
        "a person the caller may not query is UNANSWERED"
    );
    assert_ne!(flags[0] & 2, 0);
    // A matter the client may not check: status 3, connection stays open.
    b.send(&encode_request(
        2,
        DATA_DAY,
        "admin_licence",
        &codes18(&[BLACK_CODE]),
    ));
    assert_eq!(error_of(b.recv()).0, 3);
    b.send(&encode_request(
        3,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    assert_eq!(id_and_flags(b.recv()).0, 3);
    // The audit register names the client.
    wait_for_audit(&d, |t| t.contains("\"client\":\"procurement-system\""));
}

/// Parses Prometheus text: every sample `name{labels} value` of a declared
/// metric; returns samples by `name{labels}`.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (what, name, tail) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap_or(""),
            );
            match what {
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram"].contains(&tail),
                        "type {tail}"
                    );
                    assert!(
                        types.insert(name.to_string(), tail.to_string()).is_none(),
                        "{name} declared twice"
                    );
                }
                "HELP" => assert!(!tail.is_empty()),
                _ => panic!("unexpected comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad name {name:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}'),
                    "bad labels {labels:?}"
                );
                for pair in labels[1..labels.len() - 1].split("\",") {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label {pair:?}"));
                    assert!(!k.is_empty() && !v.contains('\n'));
                }
            }
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| {
                name.strip_suffix(suf)
                    .filter(|b| types.get(*b).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(base),
            "sample of undeclared metric {name}"
        );
        samples.insert(series.to_string(), value);
    }
    samples
}

fn metrics(d: &Daemon) -> BTreeMap<String, f64> {
    let r = http(&d.check_sock(), "GET", "/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    parse_prometheus(&r.body)
}

#[test]
fn metrics_are_prometheus_text() {
    let d = Daemon::new().start();
    for _ in 0..3 {
        assert_eq!(
            d.check(
                &json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}, {"code": "123"}]})
            )
            .status,
            200
        );
    }
    assert_eq!(
        d.check(&json!({"matter": "nope", "subjects": [{"code": BLACK_CODE}]}))
            .status,
        400
    );
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        1,
        0,
        MATTER,
        &codes18(&[BLACK_CODE, "91350100MA2Y3K8L5H"]),
    ));
    id_and_flags(b.recv());
    let m = metrics(&d);
    assert_eq!(
        m["credlist_requests_total{endpoint=\"check\",outcome=\"ok\"}"],
        3.0
    );
    assert_eq!(
        m["credlist_requests_total{endpoint=\"check\",outcome=\"unknown_matter\"}"],
        1.0
    );
    assert_eq!(
        m["credlist_requests_total{endpoint=\"batch\",outcome=\"ok\"}"],
        1.0
    );
    assert_eq!(
        m["credlist_lookups_total{endpoint=\"check\",result=\"listed\"}"],
        3.0
    );
    assert_eq!(
        m["credlist_lookups_total{endpoint=\"check\",result=\"invalid\"}"],
        3.0
    );
    assert_eq!(
        m["credlist_lookups_total{endpoint=\"batch\",result=\"listed\"}"],
        1.0
    );
    assert_eq!(
        m["credlist_lookups_total{endpoint=\"batch\",result=\"unanswered\"}"],
        1.0
    );
    assert_eq!(
        m["credlist_request_duration_seconds_count{endpoint=\"check\"}"],
        4.0
    );
    assert_eq!(
        m["credlist_request_duration_seconds_bucket{endpoint=\"check\",le=\"+Inf\"}"],
        4.0
    );
    assert_eq!(m["credlist_snapshot_generation"], 1.0);
    assert!(m["credlist_snapshot_age_seconds"] > 0.0);
    assert_eq!(m["credlist_reload_failures_total"], 0.0);
    assert_eq!(m["credlist_holds"], 0.0);
    assert_eq!(m["credlist_audit_errors_total"], 0.0);
    assert_eq!(m["credlist_connections_open{listener=\"batch\"}"], 1.0);
    // Buckets are cumulative.
    let buckets: Vec<f64> = m
        .iter()
        .filter(|(k, _)| {
            k.starts_with("credlist_request_duration_seconds_bucket{endpoint=\"check\"")
        })
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 2);
}

#[test]
fn batch_flags_agree_with_the_command_line() {
    let d = Daemon::new().limits("max_batch_codes = 64").start();
    let codes = batch_codes(&d);
    assert!(codes.len() > 20);
    let expected: Vec<u8> = cli_check(&d, Some(MATTER), &codes)
        .iter()
        .map(expected_flags)
        .collect();
    let lists_only: Vec<u8> = cli_check(&d, None, &codes)
        .iter()
        .map(expected_flags)
        .collect();
    let c18: Vec<&str> = codes.iter().map(String::as_str).collect();
    let c18 = codes18(&c18);

    // Several frames in flight on one connection, answered in order.
    let mut b = Batch::connect(&d.batch_sock());
    let mut frames = Vec::new();
    for rid in [10u64, 11, 12] {
        frames.extend(encode_request(rid, DATA_DAY, MATTER, &c18));
    }
    frames.extend(encode_request(13, DATA_DAY, "", &c18));
    b.send(&frames);
    for rid in [10u64, 11, 12] {
        assert_eq!(id_and_flags(b.recv()), (rid, expected.clone()));
    }
    assert_eq!(id_and_flags(b.recv()), (13, lists_only.clone()));
    assert!(expected.iter().any(|f| f & 32 != 0) && expected.contains(&1));
    assert!(lists_only.iter().all(|f| f & 0xe0 == 0));

    // Unknown matter: status 4, the connection stays open.
    b.send(&encode_request(14, DATA_DAY, "nope", &c18));
    let (st, rid, msg) = error_of(b.recv());
    assert_eq!((st, rid), (4, 14), "{msg}");
    // as_of 0 = today.
    b.send(&encode_request(15, 0, MATTER, &c18));
    assert_eq!(id_and_flags(b.recv()).0, 15);
    // A frame split across writes.
    let f = encode_request(16, DATA_DAY, MATTER, &c18);
    b.send(&f[..7]);
    b.send(&f[7..]);
    assert_eq!(id_and_flags(b.recv()), (16, expected.clone()));

    // Another connection sends garbage: status 1, request_id 0, closed...
    let mut bad = Batch::connect(&d.batch_sock());
    bad.send(b"GARBAGE GARBAGE GARBAGE GARBAGE");
    let (st, rid, _) = error_of(bad.recv());
    assert_eq!((st, rid), (1, 0));
    assert!(bad.closed());
    // ...an unknown op: status 1 with its request_id...
    let mut op = Batch::connect(&d.batch_sock());
    let mut f = encode_request(77, 0, "", &c18[..1]);
    f[5] = 9;
    op.send(&f);
    assert_eq!(error_of(op.recv()).0, 1);
    assert!(op.closed());
    // ...a frame over max_batch_codes: status 2 and closed...
    let mut big = Batch::connect(&d.batch_sock());
    big.send(&encode_request(99, 0, "", &vec![c18[0]; 65]));
    let (st, rid, _) = error_of(big.recv());
    assert_eq!((st, rid), (2, 99));
    assert!(big.closed());
    // ...a declared length far past the limit is refused from its header.
    let mut huge = Batch::connect(&d.batch_sock());
    let mut head = encode_request(98, 0, "", &c18[..1])[..24].to_vec();
    head[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    huge.send(&head);
    assert_eq!(error_of(huge.recv()).0, 2);
    assert!(huge.closed());
    // ...while the first connection keeps working.
    b.send(&encode_request(17, DATA_DAY, MATTER, &c18));
    assert_eq!(id_and_flags(b.recv()), (17, expected));
}

/// Frames long enough to be spread over the cores (answered off the
/// connection's lane) give the same flags as short ones, in both protocol
/// versions; another connection is answered while one is sent.
#[test]
fn large_frames_agree_with_short_ones() {
    let d = Daemon::new().start();
    let codes = batch_codes(&d);
    let c18: Vec<&str> = codes.iter().map(String::as_str).collect();
    let mut short = Batch::connect(&d.batch_sock());
    let expected = short.flags(1, MATTER, &c18);
    let expected_v2 = short.flags_v2(2, MATTER, &c18);
    // Past credlist::check::PARALLEL_MIN_CODES (16384), in a varied order.
    let n = 40_000;
    let order: Vec<usize> = (0..n).map(|i| (i * 7 + i / 3) % c18.len()).collect();
    let big: Vec<&str> = order.iter().map(|&i| c18[i]).collect();
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(3, DATA_DAY, MATTER, &codes18(&big)));
    // Another connection is answered while the large frame is in.
    let r = http_eventually(&d.check_sock(), "GET", "/v1/health", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let got = flags_of(b.recv(), 3);
    assert_eq!(got.len(), n);
    for (k, &i) in order.iter().enumerate() {
        assert_eq!(got[k], expected[i], "code {} at {k}", c18[i]);
    }
    let got_v2 = b.flags_v2(4, MATTER, &big);
    for (k, &i) in order.iter().enumerate() {
        assert_eq!(got_v2[k], expected_v2[i], "code {} at {k}", c18[i]);
    }
}

#[test]
fn batch_from_python() {
    let d = Daemon::new().start();
    let codes = batch_codes(&d);
    let expected: Vec<u8> = cli_check(&d, Some(MATTER), &codes)
        .iter()
        .map(expected_flags)
        .collect();
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/batch_client.py"))
        .args([
            "--socket",
            s(&d.batch_sock()),
            "--matter",
            MATTER,
            "--as-of",
            DATA_DATE,
            "--frames",
            "3",
            "--request-id",
            "500",
        ])
        .args(&codes)
        .output()
        .expect("python3 is needed for this test");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["request_id"], 500 + i as u64);
        assert_eq!(l["status"], 0);
        let flags: Vec<u8> = l["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(flags, expected);
    }
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/batch_client.py"))
        .args([
            "--socket",
            s(&d.batch_sock()),
            "--matter",
            "nope",
            BLACK_CODE,
        ])
        .output()
        .unwrap();
    let l: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l["status"], 4);
}

/// `batch_client.py --version 2` on a snapshot with the demo relations:
/// the u16 flags equal what the project's codec gets, their low bytes the
/// version-1 flags, and errors come back in version 2.
#[test]
fn batch_version_2_from_python() {
    let d = Daemon::with_relations().start();
    let codes = batch_codes(&d);
    let c: Vec<&str> = codes.iter().map(String::as_str).collect();
    let mut b = Batch::connect(&d.batch_sock());
    let v1 = b.flags(1, "market_entry", &c);
    let v2 = b.flags_v2(2, "market_entry", &c);
    assert!(v2.iter().any(|w| w >> 8 != 0), "some code has RELATED bits");
    let python = |version: &str, matter: &str| -> Vec<Value> {
        let o = Command::new("python3")
            .arg(repo("tests/batch_client.py"))
            .args(["--socket", s(&d.batch_sock()), "--matter", matter])
            .args(["--as-of", DATA_DATE, "--frames", "2", "--request-id", "700"])
            .args(["--version", version])
            .args(&codes)
            .output()
            .expect("python3 is needed for this test");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let flags = |l: &Value| -> Vec<u64> {
        l["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap())
            .collect()
    };
    let lines = python("2", "market_entry");
    assert_eq!(lines.len(), 2);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(
            (l["request_id"].as_u64(), l["version"].as_u64()),
            (Some(700 + i as u64), Some(2))
        );
        let got = flags(l);
        assert_eq!(got, v2.iter().map(|&w| w as u64).collect::<Vec<_>>());
        assert_eq!(
            got.iter().map(|&w| w as u8).collect::<Vec<_>>(),
            v1,
            "the low bytes are the version-1 flags"
        );
    }
    let lines = python("1", "market_entry");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(
        flags(&lines[0]),
        v1.iter().map(|&f| f as u64).collect::<Vec<_>>()
    );
    let lines = python("2", "nope");
    assert_eq!(
        (lines[0]["version"].as_u64(), lines[0]["status"].as_u64()),
        (Some(2), Some(4))
    );
}

/// Sends checks from `threads` threads, `per_thread` each; returns the
/// failures (anything but a complete 200 answer).
fn hammer(
    sock: PathBuf,
    threads: usize,
    per_thread: usize,
    done: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..threads)
        .map(|t| {
            let (sock, done) = (sock.clone(), done.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for i in 0..per_thread {
                    let body = json!({"matter": MATTER, "as_of": DATA_DATE, "request_id": format!("{t}-{i}"),
                                      "subjects": [{"code": BLACK_CODE}, {"code": PERSON_CODE}, {"code": "91350100MA2Y3K8L5H"}]});
                    match try_http(&sock, "POST", "/v1/check", Some(&body.to_string())) {
                        Ok(r) if r.status == 200 && r.json()["results"][0]["status"] == "black" => {}
                        Ok(r) => failures.push(format!("{}: {}", r.status, r.body)),
                        Err(e) => failures.push(e),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                failures
            })
        })
        .collect()
}

#[test]
fn reload_under_load_fails_nothing_and_refuses_a_bad_snapshot() {
    let d = Daemon::new().start();
    let other = d.path("other.snap");
    build_snapshot(&other, &["fixtures/lists"]);
    let truncated = d.path("truncated.snap");
    let bytes = std::fs::read(d.path("current.snap")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let done = Arc::new(AtomicUsize::new(0));
    let workers = hammer(d.check_sock(), 4, 150, done.clone());
    let mut generation = 1;
    let mut reloads = 0;
    // Reload while the workers run (bounded: 40 reloads at most).
    while reloads < 40 && (reloads < 6 || done.load(Ordering::SeqCst) < 600) {
        let body = if reloads % 2 == 0 {
            None
        } else {
            Some(json!({"path": s(&other)}))
        };
        let r = d.admin("POST", "/v1/admin/reload", body.as_ref());
        assert_eq!(r.status, 200, "{}", r.body);
        let g = r.json()["generation"].as_u64().unwrap();
        assert!(g > generation);
        generation = g;
        reloads += 1;
    }
    let bad = d.admin(
        "POST",
        "/v1/admin/reload",
        Some(&json!({"path": s(&truncated)})),
    );
    assert_eq!(
        (bad.status, bad.error_kind().as_str()),
        (422, "snapshot_refused"),
        "{}",
        bad.body
    );
    assert!(bad.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    let failures: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(done.load(Ordering::SeqCst), 600);

    // The old snapshot keeps serving; the refusal is counted.
    let h = http(&d.check_sock(), "GET", "/v1/health", None).json();
    assert_eq!(h["generation"], generation);
    assert_eq!(h["status"], "serving");
    let m = metrics(&d);
    assert_eq!(m["credlist_reload_failures_total"], 1.0);
    assert_eq!(m["credlist_snapshot_generation"], generation as f64);
    assert_eq!(generation, 1 + reloads);
    // SIGHUP reloads too.
    d.signal(libc::SIGHUP);
    let mut seen = false;
    for _ in 0..500 {
        if http(&d.check_sock(), "GET", "/v1/health", None).json()["generation"] == generation + 1 {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen, "SIGHUP did not reload:\n{}", d.log());
}

#[test]
fn a_truncated_snapshot_refuses_start() {
    let d = Daemon::new();
    let bytes = std::fs::read(d.path("current.snap")).unwrap();
    std::fs::write(d.path("current.snap"), &bytes[..bytes.len() - 100]).unwrap();
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path())])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("current.snap") && err.contains("truncated"),
        "{err}"
    );
}

fn hit<'a>(item: &'a Value, entry: &str) -> &'a Value {
    item["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["entry_id"] == entry)
        .unwrap_or_else(|| panic!("no hit {entry} in {item}"))
}

fn measures_name(item: &Value, entry: &str) -> bool {
    ["must_apply", "may_apply", "rewards"]
        .iter()
        .flat_map(|k| item[*k].as_array().unwrap().iter())
        .any(|m| m["entries"].as_array().unwrap().iter().any(|e| e == entry))
}

fn black_item(d: &Daemon) -> Value {
    let r =
        d.check(&json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["results"][0].clone()
}

#[test]
fn holds_survive_kill_restart_and_reload_until_released() {
    let mut d = Daemon::new().start();
    let before = black_item(&d);
    assert_eq!(hit(&before, BLACK_ENTRY)["suspended"], false);
    assert!(measures_name(&before, BLACK_ENTRY));

    let r = d.admin(
        "POST",
        "/v1/admin/holds",
        Some(&json!({"entry_id": "NO-SUCH-ENTRY", "reason": "x"})),
    );
    assert_eq!((r.status, r.error_kind().as_str()), (404, "not_found"));
    let r = d.admin(
        "POST",
        "/v1/admin/holds",
        Some(&json!({"entry_id": BLACK_ENTRY})),
    );
    assert_eq!((r.status, r.error_kind().as_str()), (400, "missing_field"));
    // Placed with the admin command.
    let o = credlist()
        .args([
            "hold",
            BLACK_ENTRY,
            "--reason",
            "异议核实中 objection 2026-77",
            "--config",
            s(&d.config_path()),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let held = |d: &Daemon| {
        let item = black_item(d);
        assert_eq!(hit(&item, BLACK_ENTRY)["suspended"], true, "{item}");
        assert!(
            !measures_name(&item, BLACK_ENTRY),
            "a held entry triggers no measure: {item}"
        );
        assert_eq!(item["status"], "black");
    };
    held(&d);
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        1,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    assert_ne!(id_and_flags(b.recv()).1[0] & 16, 0, "SUSPENDED flag");
    drop(b);

    // kill -9 and restart: the hold is still there.
    d.kill9();
    d.spawn();
    held(&d);
    let list = d.admin("GET", "/v1/admin/holds", None).json();
    let holds = list["holds"].as_array().unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0]["entry_id"], BLACK_ENTRY);
    assert_eq!(holds[0]["reason"], "异议核实中 objection 2026-77");
    assert_eq!(holds[0]["dormant"], false);
    let o = credlist()
        .args(["holds", "--admin-socket", s(&d.admin_sock())])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains(BLACK_ENTRY));

    // A reload keeps it.
    assert_eq!(d.admin("POST", "/v1/admin/reload", None).status, 200);
    held(&d);
    // A snapshot without the entry: the hold is dormant, not lost.
    let market = d.path("market.snap");
    build_snapshot(&market, &["fixtures/lists/market"]);
    assert_eq!(
        d.admin(
            "POST",
            "/v1/admin/reload",
            Some(&json!({"path": s(&market)}))
        )
        .status,
        200
    );
    let list = d.admin("GET", "/v1/admin/holds", None).json();
    assert_eq!(list["holds"][0]["dormant"], true);
    assert_eq!(metrics(&d)["credlist_holds_dormant"], 1.0);
    assert_eq!(d.admin("POST", "/v1/admin/reload", None).status, 200);
    assert_eq!(
        d.admin("GET", "/v1/admin/holds", None).json()["holds"][0]["dormant"],
        false
    );
    held(&d);

    // Released: measures apply again.
    let r = d.admin("DELETE", &format!("/v1/admin/holds/{BLACK_ENTRY}"), None);
    assert_eq!(r.status, 204, "{}", r.body);
    let after = black_item(&d);
    assert_eq!(hit(&after, BLACK_ENTRY)["suspended"], false);
    assert!(measures_name(&after, BLACK_ENTRY));
    assert_eq!(
        d.admin("DELETE", &format!("/v1/admin/holds/{BLACK_ENTRY}"), None)
            .status,
        404
    );
    let o = credlist()
        .args(["release", BLACK_ENTRY, "--config", s(&d.config_path())])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "releasing twice is an error");
    // And it stays released after a restart.
    d.kill9();
    d.spawn();
    assert_eq!(hit(&black_item(&d), BLACK_ENTRY)["suspended"], false);
    assert_eq!(
        d.admin("GET", "/v1/admin/holds", None).json()["holds"],
        json!([])
    );
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_0() {
    let mut d = Daemon::new().start();
    // A check and a batch frame that are half sent when SIGTERM arrives.
    let body = json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}]})
        .to_string();
    let req = request_bytes("POST", "/v1/check", Some(&body));
    let mut slow = UnixStream::connect(d.check_sock()).unwrap();
    slow.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    slow.write_all(&req[..req.len() - 10]).unwrap();
    let frame = encode_request(5, DATA_DAY, MATTER, &codes18(&[BLACK_CODE]));
    let mut slow_batch = Batch::connect(&d.batch_sock());
    slow_batch.send(&frame[..30]);
    // Wait until both are in flight (bounded); the metrics request itself
    // is one of the check socket's.
    let mut in_flight = false;
    for _ in 0..500 {
        let m = metrics(&d);
        if m["credlist_requests_in_flight{listener=\"batch\"}"] >= 1.0
            && m["credlist_requests_in_flight{listener=\"check\"}"] >= 2.0
        {
            in_flight = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        in_flight,
        "the half-sent requests never showed as in flight"
    );
    // Load from other threads.
    let done = Arc::new(AtomicUsize::new(0));
    let sock = d.check_sock();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (sock, done, body) = (sock.clone(), done.clone(), body.clone());
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                for _ in 0..400 {
                    let Ok(mut s) = UnixStream::connect(&sock) else {
                        break;
                    };
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    if s.write_all(&request_bytes("POST", "/v1/check", Some(&body)))
                        .is_err()
                    {
                        continue;
                    }
                    let mut raw = Vec::new();
                    let _ = s.read_to_end(&mut raw);
                    if raw.is_empty() {
                        continue; // never accepted: the listener closed first
                    }
                    match parse_reply(&raw) {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => bad.push(format!("{} {}", r.status, r.body)),
                        Err(e) => bad.push(e),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                bad
            })
        })
        .collect();
    for _ in 0..1000 {
        if done.load(Ordering::SeqCst) >= 30 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    d.signal(libc::SIGTERM);
    // Once new connections are refused the daemon is draining.
    for _ in 0..1000 {
        if UnixStream::connect(d.check_sock()).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The in-flight requests finish and are answered.
    slow.write_all(&req[req.len() - 10..]).unwrap();
    let mut raw = Vec::new();
    slow.read_to_end(&mut raw).unwrap();
    let r = parse_reply(&raw).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"][0]["status"], "black");
    slow_batch.send(&frame[30..]);
    assert_eq!(id_and_flags(slow_batch.recv()).0, 5);
    let bad: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(bad.is_empty(), "answers cut short or failed: {bad:?}");
    let st = d.wait_exit();
    assert_eq!(st.code(), Some(0), "{}", d.log());
    assert!(!d.check_sock().exists(), "the socket file is removed");
    // The final receipt count is recorded.
    let receipts = std::fs::read_to_string(d.path("state/receipts")).unwrap();
    assert!(receipts.contains("\"final\""));
}

/// Waits (bounded) until the audit register satisfies `ok`.
fn wait_for_audit(d: &Daemon, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..500 {
        let t = d.audit_text();
        if ok(&t) {
            return t;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("audit register incomplete:\n{}", d.audit_text());
}

#[test]
fn every_check_is_in_the_audit_register_and_files_are_private() {
    let d = Daemon::new().start();
    let mut receipts = HashSet::new();
    for i in 0..20 {
        let r = d.check(&json!({"matter": MATTER, "request_id": format!("R-{i}"), "subjects": [{"code": BLACK_CODE}, {"code": "123"}]}));
        receipts.insert(r.json()["receipt"].as_str().unwrap().to_string());
    }
    assert_eq!(receipts.len(), 20, "receipts are unique");
    let receipt = receipts.iter().next().unwrap().clone();
    let fb =
        json!({"receipt": receipt, "code": BLACK_CODE, "measure": "P-PROC-01", "applied": false});
    assert_eq!(
        http(
            &d.check_sock(),
            "POST",
            "/v1/feedback",
            Some(&fb.to_string())
        )
        .status,
        204
    );
    let codes = [BLACK_CODE, "91350111MA2Y7W3Q9J", "91350100MA2Y3K8L5H"];
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(9, DATA_DAY, MATTER, &codes18(&codes)));
    id_and_flags(b.recv());

    let text = wait_for_audit(&d, |t| {
        t.contains("\"endpoint\":\"batch\"")
            && t.contains("\"endpoint\":\"feedback\"")
            && t.lines().count() >= 22
    });
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seen = HashSet::new();
    for r in &records {
        assert_eq!(r["v"], 3, "every record carries its version");
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(r["caller"]["uid"], our_uid());
        assert!(r["caller"]["pid"].as_i64().unwrap() > 0);
        if r["endpoint"] == "check" {
            seen.insert(r["receipt"].as_str().unwrap().to_string());
            assert_eq!(r["matter"], MATTER);
            assert!(r["request_id"].as_str().unwrap().starts_with("R-"));
            // Record version 2: each measure named with its entries and
            // their authorities (SPEC §9).
            assert_eq!(
                r["items"],
                json!([{"code": BLACK_CODE, "status": "black",
                        "must_apply": [{"id": "P-PROC-01", "entries": {"FY-2025-0312": "shi-fayuan"}}],
                        "may_apply": [{"id": "P-LIC-02", "entries": {"CG-2025-1219": "finance-bureau", "FY-2025-0312": "shi-fayuan"}},
                                      {"id": "P-PROC-02", "entries": {"CG-2025-1219": "finance-bureau"}}]},
                       {"code": "123", "status": "invalid"}])
            );
        }
    }
    assert_eq!(seen, receipts, "every receipt has its audit record");
    let fbr = records
        .iter()
        .find(|r| r["endpoint"] == "feedback")
        .unwrap();
    assert_eq!(
        (&fbr["receipt"], &fbr["applied"]),
        (&json!(receipt), &json!(false))
    );
    let br = records.iter().find(|r| r["endpoint"] == "batch").unwrap();
    assert_eq!(br["count"], 3);
    assert_eq!(br["request_id"], 9);
    assert_eq!(br["rest_count"], 1, "{br}");
    // Record version 3: the hits' codes concatenated by flag value.
    let mut hits: Vec<(&str, &str)> = br["hits"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(f, codes)| {
            let codes = codes.as_str().unwrap();
            assert_eq!(codes.len() % 18, 0, "{br}");
            (0..codes.len() / 18).map(move |i| (&codes[i * 18..(i + 1) * 18], f.as_str()))
        })
        .collect();
    hits.sort();
    let flags_of = |code: &str| hits.iter().find(|h| h.0 == code).map(|h| h.1);
    assert_eq!(hits.len(), 2, "{br}");
    assert!(
        flags_of(BLACK_CODE).is_some() && flags_of("91350100MA2Y3K8L5H").is_some(),
        "{br}"
    );
    assert!(br.get("hex_hits").is_none(), "{br}");
    assert_eq!(br["rest_digest"].as_str().unwrap().len(), 16);

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&d.path("log/audit.log")) & !0o640,
        0,
        "audit register mode {:o}",
        mode(&d.path("log/audit.log"))
    );
    assert_eq!(mode(&d.admin_sock()), 0o600);
    assert_eq!(mode(&d.check_sock()), 0o660);
    assert_eq!(mode(&d.path("state/holds.log")) & 0o077, 0);
}

#[test]
fn configs_are_validated_and_admin_commands_report_an_absent_daemon() {
    let d = Daemon::new().limits("max_subjects = 0");
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path()), "--check-config"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("limits.max_subjects"));
    let d = Daemon::new().limits("max_subjets = 3");
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path())])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("max_subjets"));
    let o = credlist()
        .args(["serve", "--config", s(&d.path("nothing.toml"))])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));

    let o = credlist()
        .args(["holds", "--admin-socket", s(&d.path("absent.sock"))])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("absent.sock"));
    let o = credlist().args(["hold", BLACK_ENTRY]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "--reason is required");
}

#[test]
fn demo_mode_serves_the_embedded_fixtures() {
    let cwd = tempfile::Builder::new()
        .prefix("cld")
        .tempdir_in("/tmp")
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_credlist"))
        .arg("serve")
        .current_dir(cwd.path())
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = cwd.path().join("credlist-demo/check.sock");
    let mut ready = false;
    for _ in 0..1500 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if try_http(&sock, "GET", "/v1/health", None).is_ok_and(|r| r.status == 200) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the demo did not start");
    }
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}).to_string();
    let r = http(&sock, "POST", "/v1/check", Some(&body));
    assert_eq!(r.json()["results"][0]["status"], "black");
    // The demo relations: the organisation's legal representative is
    // answered with it in `related` and measures through it.
    let body =
        json!({"matter": "market_entry", "subjects": [{"code": "350102198001010011"}]}).to_string();
    let r = http(&sock, "POST", "/v1/check", Some(&body));
    let item = &r.json()["results"][0];
    assert!(
        item["related"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == BLACK_CODE && x["role"] == "legal_rep"),
        "{item}"
    );
    assert_eq!(
        item["must_apply"][0]["via"][0]["code"], BLACK_CODE,
        "{item}"
    );
    // SAFETY: kill signals the demo daemon this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let banner = String::from_utf8_lossy(&out.stdout);
    assert!(
        banner.contains("curl --unix-socket ./credlist-demo/check.sock")
            && banner.contains(BLACK_CODE)
            && banner.contains("market_entry")
            && banner.contains("350102198001010011"),
        "{banner}"
    );
}

/// Sends raw request bytes on a stream and reads the whole reply.
fn exchange<S: Read + Write>(mut s: S, request: &[u8]) -> Result<Reply, String> {
    s.write_all(request).map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    parse_reply(&raw)
}

#[test]
fn an_unwritable_audit_register_fails_closed() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full to make audit writes fail");
        return;
    }
    let d = Daemon::new().audit("path = \"/dev/full\"").start();
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]});
    // Checks are answered until the writer has failed once, then refused.
    let mut refused = None;
    for _ in 0..500 {
        let r = d.check(&body);
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = refused.expect("checks were never refused");
    assert_eq!(r.error_kind(), "unavailable");
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        3,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    assert_eq!(error_of(b.recv()).0, 5);
    b.send(&encode_request(
        4,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    assert_eq!(error_of(b.recv()).0, 5, "the connection stays open");
    let m = metrics(&d);
    assert!(m["credlist_audit_errors_total"] >= 1.0);
    assert_eq!(m["credlist_audit_healthy"], 0.0);
    assert_eq!(m["credlist_audit_outages_total"], 1.0);
    // Health says so, and why (SPEC §11).
    let h = http(&d.check_sock(), "GET", "/v1/health", None);
    assert_eq!(h.status, 503, "{}", h.body);
    assert_eq!(h.error_kind(), "unavailable");
    let why = h.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(why.contains("write failed"), "{why}");
}

#[test]
fn an_unwritable_audit_register_with_continue_keeps_answering() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full to make audit writes fail");
        return;
    }
    let d = Daemon::new()
        .audit("path = \"/dev/full\"\non_error = \"continue\"")
        .start();
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]});
    let mut failed = false;
    for _ in 0..500 {
        assert_eq!(d.check(&body).status, 200);
        if metrics(&d)["credlist_audit_errors_total"] >= 1.0 {
            failed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(failed, "the audit write never failed");
    assert_eq!(d.check(&body).status, 200);
}

#[test]
fn the_tcp_listener_needs_a_bearer_token() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = "s3cret-token-0123456789";
    let d = Daemon::new()
        .check_extra(&format!("tcp = \"127.0.0.1:{port}\""))
        .clients(&format!("[[client]]\nname = \"web-portal\"\ntoken = \"{token}\"\nmatters = [\"*\"]\npersons = true\n"))
        .start();
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}).to_string();
    let call = |auth: Option<&str>| {
        let mut req = format!(
            "POST /v1/check HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(a) = auth {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        exchange(s, req.as_bytes()).unwrap()
    };
    let ok = call(Some(&format!("Bearer {token}")));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["results"][0]["status"], "black");
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(token)] {
        let r = call(auth);
        assert_eq!(
            (r.status, r.error_kind().as_str()),
            (403, "forbidden"),
            "{auth:?}"
        );
    }
    // Token clients do not match Unix-socket peers.
    assert_eq!(
        d.check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}))
            .status,
        403
    );
    wait_for_audit(&d, |t| t.contains("\"client\":\"web-portal\""));
}

#[test]
fn systemd_is_notified_of_readiness_reload_and_stop() {
    let d = Daemon::new();
    let path = d.path("notify");
    let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut d = d.env("NOTIFY_SOCKET", s(&path)).start();
    let mut buf = vec![0u8; 4096];
    let mut next = || {
        let n = rx.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    let ready = next();
    assert!(
        ready.contains("READY=1") && ready.contains("STATUS=serving"),
        "{ready}"
    );
    d.signal(libc::SIGHUP);
    let reloading = next();
    assert!(
        reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(next().contains("READY=1"));
    d.signal(libc::SIGTERM);
    assert!(next().contains("STOPPING=1"));
    assert_eq!(d.wait_exit().code(), Some(0));
}

#[test]
fn sockets_can_come_from_systemd() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let mut d = Daemon::new();
    d.write_config();
    let names = ["check", "batch", "admin"];
    let listeners: Vec<_> = names
        .iter()
        .map(|n| std::os::unix::net::UnixListener::bind(d.path(&format!("act-{n}.sock"))).unwrap())
        .collect();
    let fds: Vec<i32> = listeners.iter().map(|l| l.as_raw_fd()).collect();
    let log = std::fs::File::create(d.path("daemon.log")).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("export LISTEN_PID=$$ LISTEN_FDS=3 LISTEN_FDNAMES=check:batch:admin; exec \"$0\" serve --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_credlist"))
        .arg(d.config_path())
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: between fork and exec only async-signal-safe calls (fcntl,
    // dup2) move the listeners to descriptors 3, 4 and 5.
    unsafe {
        cmd.pre_exec(move || {
            let mut high = [0i32; 3];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    d.child = Some(cmd.spawn().unwrap());
    let check = d.path("act-check.sock");
    let mut ready = false;
    for _ in 0..1000 {
        assert!(
            d.child.as_mut().unwrap().try_wait().unwrap().is_none(),
            "exited:\n{}",
            d.log()
        );
        if try_http(&check, "GET", "/v1/health", None).is_ok_and(|r| r.status == 200) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready, "not serving on the passed sockets:\n{}", d.log());
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}).to_string();
    assert_eq!(
        http(&check, "POST", "/v1/check", Some(&body)).json()["results"][0]["status"],
        "black"
    );
    let mut b = Batch::connect(&d.path("act-batch.sock"));
    b.send(&encode_request(
        1,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    assert_eq!(id_and_flags(b.recv()).0, 1);
    drop(b);
    assert_eq!(
        http(&d.path("act-admin.sock"), "GET", "/v1/admin/holds", None).status,
        200
    );
    assert!(!d.check_sock().exists(), "the configured path is not bound");
    drop(listeners);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    assert!(
        d.path("act-check.sock").exists(),
        "systemd's sockets are left to systemd"
    );
}

#[test]
fn idle_slow_and_oversized_requests_are_cut_off() {
    let d = Daemon::new()
        .limits("idle_timeout_ms = 300\nread_timeout_ms = 300")
        .start();
    let eof = |mut s: UnixStream| {
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).is_ok()
    };
    // Idle connections are closed by the daemon.
    assert!(eof(UnixStream::connect(d.check_sock()).unwrap()));
    assert!(eof(UnixStream::connect(d.batch_sock()).unwrap()));
    // So is a request head that stops half way...
    let mut head = UnixStream::connect(d.check_sock()).unwrap();
    head.write_all(b"POST /v1/check HTTP/1.1\r\nHost: loc")
        .unwrap();
    assert!(eof(head));
    // ...and a batch frame that stops half way.
    let mut half = UnixStream::connect(d.batch_sock()).unwrap();
    half.write_all(&encode_request(1, 0, "", &codes18(&[BLACK_CODE]))[..25])
        .unwrap();
    assert!(eof(half));
    // Headers over max_header_bytes: 431.
    let big = format!(
        "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20_000)
    );
    let s = UnixStream::connect(d.check_sock()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match exchange(s, big.as_bytes()) {
        Ok(r) => assert_eq!(r.status, 431),
        Err(e) => assert!(e.contains("reset") || e.contains("write"), "{e}"),
    }
    assert_eq!(http(&d.check_sock(), "GET", "/v1/health", None).status, 200);
}
