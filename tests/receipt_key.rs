//! A shared receipt key (`[receipts] key_file`, SPEC §11): daemons behind a
//! balancer accept each other's receipts in `/v1/feedback`; a receipt made
//! with another key gets 400; a key file others may read refuses the start.

mod support;

use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use support::*;

fn write_key(path: &Path, byte: u8, mode: u32) {
    std::fs::write(path, [byte; 32]).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn with_key(path: &Path) -> Daemon {
    Daemon::new().extra(&format!("[receipts]\nkey_file = \"{}\"", s(path)))
}

fn receipt_of(d: &Daemon) -> String {
    let r =
        d.check(&json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}]}));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["receipt"].as_str().unwrap().to_string()
}

fn feedback(d: &Daemon, receipt: &str) -> Reply {
    let body =
        json!({"receipt": receipt, "code": BLACK_CODE, "measure": "P-PROC-01", "applied": true});
    http(
        &d.check_sock(),
        "POST",
        "/v1/feedback",
        Some(&body.to_string()),
    )
}

#[test]
fn daemons_with_one_key_accept_each_others_receipts() {
    let keys = tempfile::tempdir().unwrap();
    let shared = keys.path().join("shared.key");
    let other = keys.path().join("other.key");
    write_key(&shared, 0x5a, 0o600);
    write_key(&other, 0xa5, 0o400);
    let a = with_key(&shared).start();
    let b = with_key(&shared).start();
    let c = with_key(&other).start();
    let plain = Daemon::new().start();

    let ra = receipt_of(&a);
    let rb = receipt_of(&b);
    for (d, r, name) in [
        (&b, &ra, "b takes a's"),
        (&a, &rb, "a takes b's"),
        (&a, &ra, "a takes its own"),
    ] {
        let reply = feedback(d, r);
        assert_eq!(reply.status, 204, "{name}: {}", reply.body);
    }
    for (d, name) in [(&c, "another key"), (&plain, "no key")] {
        let reply = feedback(d, &ra);
        assert_eq!(
            (reply.status, reply.error_kind().as_str()),
            (400, "unknown_receipt"),
            "{name}: {}",
            reply.body
        );
    }
    // A forged tag, or a number with a copied tag, is refused.
    let (body, tag) = ra.rsplit_once('-').unwrap();
    let forged = format!("{body}-{}", "0".repeat(tag.len()));
    assert_eq!(feedback(&b, &forged).status, 400);
    let (boot, _) = body.split_once('-').unwrap();
    assert_eq!(feedback(&b, &format!("{boot}-999-{tag}")).status, 400);
    // A daemon without a key knows only its own receipts.
    let rp = receipt_of(&plain);
    assert_eq!(feedback(&plain, &rp).status, 204);
    assert_eq!(feedback(&a, &rp).status, 400);
}

/// Starts `serve` on `d`'s config and waits (bounded) for it to exit.
fn refused_start(d: &Daemon) -> String {
    d.write_config();
    let mut child = credlist()
        .args(["serve", "--config", s(&d.config_path())])
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = poll(600, || {
        let st = child.try_wait().unwrap();
        if st.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        st
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the daemon started with a bad key file");
    };
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[test]
fn a_key_file_others_may_read_refuses_the_start() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("group.key");
    write_key(&key, 1, 0o640);
    let err = refused_start(&with_key(&key));
    assert!(
        err.contains(s(&key)) && err.contains("mode 0640") && err.contains("chmod 600"),
        "{err}"
    );
    let short = keys.path().join("short.key");
    std::fs::write(&short, b"too short").unwrap();
    std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = refused_start(&with_key(&short));
    assert!(
        err.contains("has 9 bytes") && err.contains("32 to 4096"),
        "{err}"
    );
}
