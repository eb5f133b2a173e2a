//! Transient faults under the audit register, injected with an
//! `LD_PRELOAD` shim (`tests/fault_shim.c`, built here with gcc) that
//! fails fsync/fdatasync with EIO (and optionally write with ENOSPC) of the
//! register while a flag file exists. Checks are refused and `/v1/health`
//! says why while the fault lasts; both recover by themselves once it
//! clears; every answered check is in the register, whole. Waits are
//! bounded polls; nothing asserts on timing.

mod support;

use credlist::wire::batch::encode_request;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// Builds the shim into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let out = dir.join("fault_shim.so");
    let o = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(repo("tests/fault_shim.c"))
        .arg("-ldl")
        .output()
        .expect("gcc is needed to build the fault shim (.ci/run installs it)");
    assert!(
        o.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A daemon under the shim: faults on while `flag` exists.
fn faulty_daemon(write_too: bool) -> (Daemon, PathBuf) {
    let d = Daemon::new();
    let shim = build_shim(d.dir.path());
    let flag = d.path("fault.on");
    let mut d = d
        .env("LD_PRELOAD", s(&shim))
        .env("CREDLIST_FAULT_FLAG", s(&flag))
        .env("CREDLIST_FAULT_MATCH", "audit.log");
    if write_too {
        d = d.env("CREDLIST_FAULT_WRITE", "1");
    }
    (d.start(), flag)
}

fn metrics(d: &Daemon) -> BTreeMap<String, f64> {
    let r = http(&d.check_sock(), "GET", "/metrics", None);
    assert_eq!(r.status, 200);
    r.body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn body(id: &str) -> Value {
    json!({"matter": MATTER, "as_of": DATA_DATE, "request_id": id,
           "subjects": [{"code": BLACK_CODE}]})
}

/// The request ids of the `/v1/check` records in the register; asserts
/// every line is a whole JSON record.
fn recorded_ids(d: &Daemon) -> BTreeSet<String> {
    let text = d.audit_text();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last audit line"
    );
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .filter_map(|v| v["request_id"].as_str().map(str::to_string))
        .collect()
}

/// Checks every 50 ms through an outage: answered before it, refused
/// during it (HTTP 503, batch status 5, health 503 with `reason`), and
/// answered again after it by itself. Every answered check is recorded.
fn outage_and_recovery(write_too: bool, reason: &str) {
    let (mut d, flag) = faulty_daemon(write_too);
    let mut answered = BTreeSet::new();
    let mut n = 0;
    let mut check = |d: &Daemon, answered: &mut BTreeSet<String>| {
        n += 1;
        let id = format!("F-{n}");
        let r = d.check(&body(&id));
        match r.status {
            200 => {
                assert_eq!(r.json()["results"][0]["status"], "black");
                answered.insert(id);
                true
            }
            503 => {
                assert_eq!(r.error_kind(), "unavailable");
                false
            }
            other => panic!("{other}: {}", r.body),
        }
    };
    for _ in 0..5 {
        assert!(check(&d, &mut answered));
    }
    // The fault: checks are refused once the register fails (at its next
    // fsync, within a second, or at the next write).
    std::fs::write(&flag, "").unwrap();
    let refused = poll(1000, || (!check(&d, &mut answered)).then_some(()));
    assert!(refused.is_some(), "checks never refused during the fault");
    let h = http(&d.check_sock(), "GET", "/v1/health", None);
    assert_eq!(h.status, 503, "{}", h.body);
    assert_eq!(h.error_kind(), "unavailable");
    let why = h.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(why.contains(reason), "health gives its reason: {why}");
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        7,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    assert_eq!(error_of(b.recv()).0, 5, "batch status 5 (unavailable)");
    let m = metrics(&d);
    assert_eq!(m["credlist_audit_healthy"], 0.0);
    assert_eq!(m["credlist_audit_outages_total"], 1.0);
    // Still refused a while later, probes failing (bounded, no timing
    // claim: the fault is still on).
    for _ in 0..10 {
        assert!(!check(&d, &mut answered));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The fault clears: answered again without a restart or SIGHUP.
    std::fs::remove_file(&flag).unwrap();
    let back = poll(1500, || check(&d, &mut answered).then_some(()));
    assert!(
        back.is_some(),
        "checks not answered after the fault cleared"
    );
    assert_eq!(http(&d.check_sock(), "GET", "/v1/health", None).status, 200);
    for _ in 0..5 {
        assert!(check(&d, &mut answered));
    }
    let m = metrics(&d);
    assert_eq!(m["credlist_audit_healthy"], 1.0);
    assert_eq!(m["credlist_audit_outages_total"], 1.0);
    assert!(m["credlist_audit_unhealthy_seconds_total"] > 0.0);
    assert!(m["credlist_audit_errors_total"] >= 1.0);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    // Every answered check is in the register.
    let recorded = recorded_ids(&d);
    let missing: Vec<_> = answered.difference(&recorded).collect();
    assert!(missing.is_empty(), "answered, not recorded: {missing:?}");
    // One error when it started, one info when it ended.
    let log = d.log();
    let started = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("audit register"))
        .count();
    let ended = log
        .lines()
        .filter(|l| l.contains("audit register writable again"))
        .count();
    assert_eq!((started, ended), (1, 1), "{log}");
    eprintln!(
        "{reason}: {} answered, {} recorded; {} checks made",
        answered.len(),
        recorded.len(),
        n
    );
}

#[test]
fn a_transient_fsync_error_refuses_checks_until_the_disk_recovers_then_answers_by_itself() {
    outage_and_recovery(false, "fsync failed");
}

#[test]
fn a_transient_full_disk_refuses_checks_until_writes_succeed_then_answers_by_itself() {
    outage_and_recovery(true, "failed");
}

#[test]
fn a_daemon_whose_audit_register_cannot_be_opened_starts_and_answers_503_until_it_can() {
    let mut d = Daemon::new();
    // The register's folder is a file: it cannot be opened, even by root.
    let blocker = d.path("blocked");
    std::fs::write(&blocker, "not a folder").unwrap();
    let audit = blocker.join("audit.log");
    d = d.audit(&format!("path = \"{}\"", s(&audit)));
    d.write_config();
    d.launch();
    let health = poll(1500, || {
        try_http(&d.check_sock(), "GET", "/v1/health", None).ok()
    })
    .expect("the daemon serves health");
    assert_eq!(health.status, 503, "{}", health.body);
    let why = health.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("open failed"), "{why}");
    let r = d.check(&body("OPEN-1"));
    assert_eq!(r.status, 503);
    assert_eq!(r.error_kind(), "unavailable");
    // The folder appears: the daemon opens the register by itself.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    let ok = poll(1500, || {
        (http(&d.check_sock(), "GET", "/v1/health", None).status == 200).then_some(())
    });
    assert!(
        ok.is_some(),
        "health not 200 after the register could be opened"
    );
    assert_eq!(d.check(&body("OPEN-2")).status, 200);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(text.contains("\"OPEN-2\""), "{text}");
    assert!(
        !text.contains("\"OPEN-1\""),
        "a refused check is not recorded"
    );
}
