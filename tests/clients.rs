//! The integrators' clients in other languages, against a real daemon:
//! `tests/clients/java` (JDK 17: `java.net.http` over the loopback TCP
//! listener with a Bearer token, `SocketChannel` on the batch socket) and
//! `tests/clients/go` (HTTP over the check socket, the batch socket, in
//! protocol versions 1 and 2). Each
//! is compiled and run, and its output must equal what the daemon answers
//! the project's own clients. Without `javac`/`go` a test says so and
//! passes, except under CI (`CI` set), whose `.ci/run` installs them.

mod support;

use credlist::wire::batch::{encode_request, encode_request_in, Version};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use support::*;

const TOKEN: &str = "java-portal-token-0123456789";
/// Listed, clear, invalid and person codes (all 18 bytes, normalised).
const CODES: [&str; 5] = [
    BLACK_CODE,
    "91350100MA2YLK0R1F",
    "91350100MA2YLK0R1G",
    PERSON_CODE,
    UNLISTED_PERSON,
];

/// Is `tool` runnable? Under CI a missing tool fails the test.
fn have(tool: &str, version_arg: &str) -> bool {
    let ok = Command::new(tool)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is needed under CI (.ci/run installs it)"
        );
        eprintln!(
            "skipped: {tool} is not installed (apt-get install openjdk-17-jdk-headless golang-go)"
        );
    }
    ok
}

/// A daemon on the fixtures with the demo relations (so that version-2
/// frames carry RELATED bits).
fn daemon(port: u16) -> Daemon {
    Daemon::with_relations()
        .check_extra(&format!("tcp = \"127.0.0.1:{port}\""))
        .clients(&format!(
            "[[client]]\nname = \"java-portal\"\ntoken = \"{TOKEN}\"\nmatters = [\"*\"]\npersons = true\n\
             [[client]]\nname = \"go-service\"\nuid = {uid}\nmatters = [\"*\"]\npersons = true\n",
            uid = our_uid()
        ))
        .start()
}

/// The lines a client must print, from the daemon's answers to the
/// project's own HTTP and batch clients.
fn expected(d: &Daemon) -> String {
    let subjects: Vec<Value> = CODES.iter().map(|c| json!({"code": c})).collect();
    let r = d.check(&json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": subjects}));
    assert_eq!(r.status, 200, "{}", r.body);
    let mut out = String::new();
    let mut feedback = false;
    for it in r.json()["results"].as_array().unwrap() {
        let state = if it.get("error").is_some() {
            "error"
        } else {
            it["status"].as_str().unwrap()
        };
        let must: Vec<&str> = it["must_apply"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        feedback |= !must.is_empty();
        let ids = if must.is_empty() {
            "-".to_string()
        } else {
            must.join(",")
        };
        out += &format!("check {} {state} {ids}\n", it["code"].as_str().unwrap());
    }
    assert!(feedback, "some subject has a must_apply measure");
    out += "feedback 204\n";
    let mut b = Batch::connect(&d.batch_sock());
    for (rid, matter) in [(1, MATTER), (2, "")] {
        let f = b.flags(rid, matter, &CODES);
        let f: Vec<String> = f.iter().map(u8::to_string).collect();
        out += &format!("batch {rid} {}\n", f.join(","));
    }
    b.send(&encode_request(
        3,
        DATA_DAY,
        "no_such_matter",
        &codes18(&CODES),
    ));
    let (status, rid, message) = error_of(b.recv());
    out += &format!("batch-error {rid} {status} {message}\n");
    // Version 2: u16 flags with the RELATED bits; errors in version 2.
    let f = b.flags_v2(4, MATTER, &CODES);
    assert!(
        f.iter().any(|w| w >> 8 != 0),
        "some code has RELATED bits: {f:?}"
    );
    let f: Vec<String> = f.iter().map(u16::to_string).collect();
    out += &format!("batch2 4 {}\n", f.join(","));
    b.send(&encode_request_in(
        Version::V2,
        5,
        DATA_DAY,
        "no_such_matter",
        &codes18(&CODES),
    ));
    let (version, r) = b.recv_versioned();
    assert_eq!(version, 2);
    let (status, rid, message) = error_of(r);
    out += &format!("batch2-error {rid} {status} {message}\n");
    out
}

fn run(cmd: &mut Command, what: &str) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Feedback reached the audit register with the client's note.
fn feedback_recorded(d: &Daemon, note: &str) {
    let found = poll(200, || {
        let text = d.audit_text();
        if text.contains(note) {
            return Some(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        None
    });
    assert!(
        found.is_some(),
        "feedback {note:?} not in the audit register"
    );
}

#[test]
fn java_client_over_tcp_and_the_batch_socket() {
    if !have("javac", "-version") || !have("java", "-version") {
        return;
    }
    let port = free_port();
    let d = daemon(port);
    let out = d.path("java");
    run(
        Command::new("javac")
            .args(["-Xlint:all", "-Werror", "-d", s(&out)])
            .arg(repo("tests/clients/java/CredlistClient.java")),
        "javac",
    );
    let got = run(
        Command::new("java")
            .args(["-cp", s(&out), "CredlistClient"])
            .args(["--tcp", &format!("127.0.0.1:{port}"), "--token", TOKEN])
            .args(["--batch-socket", s(&d.batch_sock())])
            .args(["--matter", MATTER, "--as-of", DATA_DATE])
            .args(CODES),
        "the Java client",
    );
    assert_eq!(got, expected(&d));
    feedback_recorded(&d, "applied by the Java client");
}

#[test]
fn go_client_over_the_unix_sockets() {
    if !have("go", "version") {
        return;
    }
    let d = daemon(free_port());
    let bin = d.path("credlist-client");
    let src = repo("tests/clients/go");
    run(
        Command::new("go")
            .args(["build", "-o", s(&bin), "."])
            .current_dir(&src)
            // Standard library only: nothing is ever downloaded.
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GO111MODULE", "on"),
        "go build",
    );
    let got = run(
        Command::new(&bin)
            .args(["-check-socket", s(&d.check_sock())])
            .args(["-batch-socket", s(&d.batch_sock())])
            .args(["-matter", MATTER, "-as-of", DATA_DATE])
            .args(CODES)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR"))),
        "the Go client",
    );
    assert_eq!(got, expected(&d));
    feedback_recorded(&d, "applied by the Go client");
}
