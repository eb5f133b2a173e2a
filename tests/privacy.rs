//! Access and privacy against the real daemon: socket modes and owners,
//! unknown peers, callers without person permission (identical answers for
//! listed and unlisted ID numbers), the audit register's mode, no names,
//! ID numbers or codes in the logs even at debug level, and the TCP
//! listener's loopback rule.

mod support;

use credlist::wire::batch::encode_request;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use support::*;

fn client(uid: u32, persons: bool) -> String {
    format!(
        "[[client]]\nname = \"approvals\"\nuid = {uid}\nmatters = [\"*\"]\npersons = {persons}\n"
    )
}

#[test]
fn sockets_have_their_configured_modes_and_owner_and_the_audit_register_is_0640() {
    let d = Daemon::new();
    // A register that exists with a wide mode is tightened at start.
    std::fs::create_dir_all(d.path("log")).unwrap();
    std::fs::write(d.audit_path(), "").unwrap();
    std::fs::set_permissions(d.audit_path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut d = d;
    d.write_config();
    // The check socket as 0640, the batch socket as 0660.
    let cfg = std::fs::read_to_string(d.config_path()).unwrap();
    std::fs::write(
        d.config_path(),
        cfg.replacen("mode = \"0660\"", "mode = \"0640\"", 1),
    )
    .unwrap();
    d.spawn_as_is();
    let meta = |p: &Path| std::fs::metadata(p).unwrap();
    let mode = |p: &Path| meta(p).permissions().mode() & 0o777;
    assert_eq!(mode(&d.admin_sock()), 0o600);
    assert_eq!(mode(&d.check_sock()), 0o640);
    assert_eq!(mode(&d.batch_sock()), 0o660);
    for p in [d.check_sock(), d.batch_sock(), d.admin_sock()] {
        assert_eq!(meta(&p).uid(), our_uid(), "{}", p.display());
    }
    assert_eq!(d.black_status(), "black");
    let m = mode(&d.audit_path());
    assert_eq!(m & !0o640, 0, "audit register mode {m:o}");
    assert_eq!(mode(&d.holds_log()) & 0o077, 0);
}

#[test]
fn unknown_peers_are_refused_on_every_socket() {
    let d = Daemon::new()
        .clients(&client(our_uid() + 4242, true))
        .start();
    let r = d.check(&json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}));
    assert_eq!((r.status, r.error_kind().as_str()), (403, "forbidden"));
    let fb = json!({"receipt": "x", "code": BLACK_CODE, "measure": "P-PROC-01", "applied": true});
    let r = http(
        &d.check_sock(),
        "POST",
        "/v1/feedback",
        Some(&fb.to_string()),
    );
    assert_eq!(r.status, 403);
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(5, DATA_DAY, "", &codes18(&[BLACK_CODE])));
    let (st, rid, _) = error_of(b.recv());
    assert_eq!((st, rid), (3, 5));
    assert!(b.closed(), "an unknown batch caller is disconnected");
    assert!(!d.audit_text().contains(BLACK_CODE));
}

/// An item with its code fields removed: what a caller learns besides
/// the code it sent.
fn without_code(item: &Value) -> Value {
    let mut v = item.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("code");
    o.remove("input");
    v
}

#[test]
fn without_person_permission_listed_and_unlisted_id_numbers_look_the_same() {
    let d = Daemon::new().clients(&client(our_uid(), false)).start();
    // Listed: PERSON_CODE (black), the 15-digit ID upgraded to a listed
    // 18-digit one, a lower-case x. Unlisted: valid ID numbers on no list.
    let listed = [PERSON_CODE, "350103720528151", "35012119790412118x"];
    let unlisted = [UNLISTED_PERSON, "110105850101002", "110101198001010010"];
    let mut subjects: Vec<Value> = listed
        .iter()
        .chain(unlisted.iter())
        .map(|c| json!({"code": c}))
        .collect();
    subjects.push(json!({"code": BLACK_CODE}));
    let r = d.check(&json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": subjects}));
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.json()["results"].as_array().unwrap().clone();
    let shapes: BTreeSet<String> = results[..6]
        .iter()
        .map(|i| without_code(i).to_string())
        .collect();
    assert_eq!(
        shapes,
        BTreeSet::from([json!({"valid": true, "error": "forbidden"}).to_string()]),
        "{results:?}"
    );
    for i in &results[..6] {
        assert!(i.get("hits").is_none() && i.get("status").is_none(), "{i}");
    }
    assert_eq!(results[6]["status"], "black", "organisations are answered");
    // Batch: UNANSWERED, and nothing else, for all of them.
    let mut b = Batch::connect(&d.batch_sock());
    let codes18_listed = [PERSON_CODE, "35010319720528151X"];
    let f = b.flags(
        1,
        MATTER,
        &[
            codes18_listed[0],
            codes18_listed[1],
            unlisted[0],
            BLACK_CODE,
        ],
    );
    assert_eq!(&f[..3], &[1, 1, 1], "{f:?}");
    assert!(is_black_flag(f[3]));
    let f = b.flags(2, "", &[PERSON_CODE, UNLISTED_PERSON]);
    assert_eq!(f, vec![1, 1]);
    // The same caller with person permission sees the hit.
    let d2 = Daemon::new().clients(&client(our_uid(), true)).start();
    let r = d2
        .check(&json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": PERSON_CODE}]}));
    assert_eq!(r.json()["results"][0]["status"], "black");
}

/// Codes, names and upgraded ID numbers of every fixture list row.
fn fixture_secrets() -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut codes, mut names) = (BTreeSet::new(), BTreeSet::new());
    let mut add = |code: &str, name: &str| {
        let c = credlist::codes::normalize(code);
        if let Ok(p) = credlist::codes::parse(&c, credlist::date::Day::parse(DATA_DATE).unwrap()) {
            codes.insert(p.code.as_str().to_string());
        }
        if c.len() >= 15 {
            codes.insert(c);
        }
        if !name.trim().is_empty() {
            names.insert(name.trim().to_string());
        }
    };
    let mut files = Vec::new();
    for dir in ["fixtures/lists", "fixtures/lists/market"] {
        for e in std::fs::read_dir(repo(dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    for f in files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("csv") => {
                let mut r = csv::Reader::from_path(&f).unwrap();
                let h = r.headers().unwrap().clone();
                let ci = h.iter().position(|x| x == "code").unwrap();
                let ni = h.iter().position(|x| x == "name").unwrap();
                for rec in r.records() {
                    let rec = rec.unwrap();
                    add(&rec[ci], &rec[ni]);
                }
            }
            Some("jsonl") => {
                for l in std::fs::read_to_string(&f).unwrap().lines() {
                    let v: Value = serde_json::from_str(l).unwrap();
                    add(
                        v["code"].as_str().unwrap_or(""),
                        v["name"].as_str().unwrap_or(""),
                    );
                }
            }
            _ => {}
        }
    }
    (codes, names)
}

#[test]
fn names_id_numbers_and_codes_never_appear_in_the_logs_even_at_debug_level() {
    let (codes, names) = fixture_secrets();
    assert!(
        codes.len() >= 20 && names.len() >= 20,
        "{codes:?} {names:?}"
    );
    let mut d = Daemon::new().log_level("debug").start();
    // A full scenario: every code checked (valid, invalid, persons), by
    // HTTP and batch, feedback, holds, reloads, refusals of every kind.
    let subjects: Vec<Value> = codes
        .iter()
        .map(|c| json!({"code": c, "role": "applicant"}))
        .collect();
    let r = d.check(
        &json!({"matter": MATTER, "as_of": DATA_DATE, "request_id": "P-1", "subjects": subjects}),
    );
    assert_eq!(r.status, 200);
    let receipt = r.json()["receipt"].as_str().unwrap().to_string();
    for c in &codes {
        let lower = c.to_lowercase();
        let r = d.check(
            &json!({"matter": MATTER, "subjects": [{"code": lower}, {"code": format!("{c}9")}]}),
        );
        assert_eq!(r.status, 200);
    }
    let fb = json!({"receipt": receipt, "code": BLACK_CODE, "measure": "P-PROC-01", "applied": true, "note": names.iter().next().unwrap()});
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
    let r = d.check(&json!({"matter": "no-such-matter", "subjects": [{"code": PERSON_CODE}]}));
    assert_eq!(r.status, 400);
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"code": PERSON_CODE})).collect();
    assert_eq!(
        d.check(&json!({"matter": MATTER, "subjects": too_many}))
            .status,
        400
    );
    let r = http(
        &d.check_sock(),
        "POST",
        "/v1/check",
        Some(&format!(
            "{{\"matter\": \"{MATTER}\", \"subjects\": [{{\"code\": \"{PERSON_CODE}\""
        )),
    );
    assert_eq!(r.status, 400);
    let batch18: Vec<&str> = codes
        .iter()
        .filter(|c| c.len() == 18)
        .map(|s| s.as_str())
        .collect();
    let mut b = Batch::connect(&d.batch_sock());
    b.flags(1, MATTER, &batch18);
    b.flags(2, "", &batch18);
    b.send(&encode_request(
        3,
        DATA_DAY,
        "unknown-matter",
        &codes18(&batch18),
    ));
    assert_eq!(error_of(b.recv()).0, 4);
    let mut bad = encode_request(4, DATA_DAY, MATTER, &codes18(&batch18));
    bad[4] = 9;
    b.send(&bad);
    assert_eq!(error_of(b.recv()).0, 1);
    for id in [BLACK_ENTRY, "GL-2026-0214"] {
        let r = d.admin("POST", "/v1/admin/holds", Some(&json!({"entry_id": id, "reason": format!("objection by {}", names.iter().next().unwrap())})));
        assert_eq!(r.status, 201);
    }
    assert_eq!(d.admin("GET", "/v1/admin/holds", None).status, 200);
    assert_eq!(
        d.admin("DELETE", &format!("/v1/admin/holds/{BLACK_ENTRY}"), None)
            .status,
        204
    );
    assert_eq!(d.admin("POST", "/v1/admin/reload", None).status, 200);
    let r = d.admin(
        "POST",
        "/v1/admin/reload",
        Some(&json!({"path": s(&d.path("nothing.snap"))})),
    );
    assert_eq!(r.status, 422);
    d.signal(libc::SIGHUP);
    let _ = poll(100, || {
        (http(&d.check_sock(), "GET", "/v1/health", None).json()["generation"] == 3).then_some(())
    });
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));

    let log = d.log();
    assert!(log.contains("DEBUG"), "debug logging was not on:\n{log}");
    assert!(log.contains("hold placed"));
    for c in &codes {
        assert!(!log.contains(c.as_str()), "code {c} in the log:\n{log}");
        assert!(!log.contains(&c.to_lowercase()), "code {c} in the log");
    }
    for n in &names {
        assert!(!log.contains(n.as_str()), "name {n} in the log");
    }
    // The audit register does have them (that is its job).
    assert!(d.audit_text().contains(PERSON_CODE));
}

#[test]
fn the_tcp_listener_is_off_by_default_and_only_binds_loopback() {
    let d = Daemon::new().start();
    // No TCP socket at all by default: none of the daemon's descriptors
    // is in the kernel's TCP tables.
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    assert!(!inodes.is_empty());
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let inode = line.split_whitespace().nth(9).unwrap_or("");
            assert!(
                !inodes.contains(inode),
                "a TCP socket of the daemon: {line}"
            );
        }
    }
    // A non-loopback address is refused by configuration.
    for addr in ["0.0.0.0:7420", "[::]:7420", "192.168.1.5:7420"] {
        let d = Daemon::new().check_extra(&format!("tcp = \"{addr}\""));
        d.write_config();
        let o = credlist()
            .args(["serve", "--config", s(&d.config_path()), "--check-config"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{addr}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("loopback"),
            "{addr}"
        );
    }
}

#[test]
fn bearer_tokens_are_compared_in_constant_time_and_wrong_ones_refused() {
    use credlist::server::access::{constant_time_eq, Access};
    use credlist::server::config::ClientConfig;
    let token = "s3cret-token-0123456789";
    let a = Access::new(&[ClientConfig {
        name: "portal".into(),
        uid: None,
        gid: None,
        token: Some(token.into()),
        matters: vec!["*".into()],
        persons: false,
    }]);
    assert_eq!(
        a.tcp(Some(format!("Bearer {token}").as_bytes()))
            .client_name(),
        Some("portal")
    );
    for wrong in [
        "",
        "Bearer ",
        "Bearer s3cret-token-012345678",
        "Bearer s3cret-token-01234567890",
        "bearer s3cret-token-0123456789",
    ] {
        assert!(a.tcp(Some(wrong.as_bytes())).client.is_none(), "{wrong:?}");
    }
    assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
}
