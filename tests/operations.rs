//! The command line as operators meet it: output piped into `head`, error
//! messages, help, version, completions, man pages, environment variables.

mod support;

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::{build_snapshot, credlist, s};

/// A pipe whose reading end is already closed: every write to the other end
/// fails with EPIPE, as when `head` has exited.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) returned these two descriptors; each is owned once.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

fn into_closed_pipe(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdout(closed_pipe()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        // The command may stop reading once its output is gone.
        let _ = child.stdin.take().unwrap().write_all(input);
    }
    child.wait_with_output().unwrap()
}

fn snapshots(dir: &Path) -> (String, String) {
    let a = dir.join("a.snap");
    let b = dir.join("b.snap");
    build_snapshot(&a, &["fixtures/lists"]);
    build_snapshot(&b, &["fixtures/lists/court.csv", "fixtures/lists/market"]);
    (s(&a).to_string(), s(&b).to_string())
}

#[test]
fn broken_pipe_ends_quietly_with_status_0_on_every_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = snapshots(dir.path());
    let audit = dir.path().join("audit.log");
    let o = credlist()
        .args([
            "gen",
            "--audit",
            s(&audit),
            "--checks",
            "200",
            "--feedback",
            "20",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let audit = s(&audit).to_string();
    let codes = "91350100MA2Y3K8L5G\n".repeat(500);
    let cases: Vec<(Vec<&str>, Option<&[u8]>)> = vec![
        (
            vec!["check", "--snapshot", &a, "--matter", "gov_procurement"],
            Some(codes.as_bytes()),
        ),
        (vec!["check", "--snapshot", &a, "91350100MA2Y3K8L5G"], None),
        (
            vec![
                "screen",
                "--snapshot",
                &a,
                "--as",
                "red",
                "fixtures/lists/court.csv",
            ],
            None,
        ),
        (vec!["sweep", "--snapshot", &a], None),
        (vec!["sweep", "--snapshot", &a, "--format", "jsonl"], None),
        (vec!["inspect", &a], None),
        (vec!["inspect", &a, "--json"], None),
        (vec!["diff", &a, &b], None),
        (vec!["diff", &a, &b, "--json"], None),
        (vec!["publish", "--snapshot", &a], None),
        (vec!["publish", "--snapshot", &a, "--format", "jsonl"], None),
        (vec!["notices", &a, &b], None),
        (vec!["notices", &a, &b, "--json"], None),
        (vec!["report", "--audit", &audit], None),
        (vec!["report", "--audit", &audit, "--json"], None),
        (vec!["completions", "bash"], None),
        (vec!["--version"], None),
        (vec!["--help"], None),
    ];
    for (args, stdin) in cases {
        let o = into_closed_pipe(credlist().args(&args), stdin);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "credlist {args:?}: {stderr}");
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "credlist {args:?}: {stderr}"
        );
    }
    // A build's summary too: its snapshot is written all the same.
    let out = dir.path().join("c.snap");
    let o = into_closed_pipe(
        credlist().args([
            "build",
            "--catalog",
            "fixtures/catalog.toml",
            "--legacy-codes",
            "fixtures/legacy-codes.txt",
            "--out",
            s(&out),
            "fixtures/lists",
        ]),
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.exists());
}

/// The message and every cause appear once: no `: X: X`.
fn assert_each_cause_once(args: &[&str], stderr: &str) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("credlist: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "credlist {args:?}: {stderr}");
    let msg = lines[0].trim_start_matches("credlist: error: ");
    let parts: Vec<&str> = msg.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        if p.len() >= 8 {
            assert!(
                !parts[i + 1..].contains(p),
                "credlist {args:?}: {p:?} printed twice in {msg:?}"
            );
        }
    }
    assert!(
        !msg.contains("(os error 2)") || msg.matches("(os error").count() == 1,
        "{msg}"
    );
}

#[test]
fn every_error_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = snapshots(dir.path());
    let missing_dir = dir.path().join("no/such/folder/x.snap");
    let missing = dir.path().join("missing");
    let missing = s(&missing);
    let bad_snap = dir.path().join("bad.snap");
    std::fs::write(&bad_snap, b"not a snapshot").unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["serve", "--config", "/nonexistent", "--check-config"],
        vec!["reload", "--config", "/nonexistent"],
        vec!["reload", "--admin-socket", missing],
        vec![
            "build",
            "--catalog",
            "fixtures/catalog.toml",
            "--out",
            s(&missing_dir),
            "fixtures/lists",
        ],
        vec![
            "build",
            "--catalog",
            missing,
            "--out",
            s(&missing_dir),
            "fixtures/lists",
        ],
        vec![
            "build",
            "--catalog",
            "fixtures/catalog.toml",
            "--out",
            "x.snap",
            missing,
        ],
        vec!["check", "--snapshot", missing, "91350100MA2Y3K8L5G"],
        vec!["check", "--snapshot", s(&bad_snap), "91350100MA2Y3K8L5G"],
        vec![
            "check",
            "--snapshot",
            &a,
            "--matter",
            "nope",
            "91350100MA2Y3K8L5G",
        ],
        vec!["inspect", missing],
        vec!["inspect", &a, "--calendar", missing],
        vec!["diff", &a, missing],
        vec!["sweep", "--snapshot", missing],
        vec!["screen", "--snapshot", &a, "--as", "red", missing],
        vec!["publish", "--snapshot", &a, "--out", s(&missing_dir)],
        vec!["notices", missing, &a],
        vec!["report", "--audit", missing],
        vec!["man", "/proc/no-such-folder/man"],
    ];
    for args in cases {
        let o = credlist().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "credlist {args:?}: {stderr}");
        assert_each_cause_once(&args, &stderr);
    }
}

#[test]
fn gbk_file_read_as_utf8_hints_at_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.snap");
    let o = credlist()
        .args([
            "build",
            "--catalog",
            "fixtures/catalog.toml",
            "--out",
            s(&out),
        ])
        .args(["--max-reject-ratio", "1", "fixtures/gbk/list.csv"])
        .output()
        .unwrap();
    let rejects =
        std::fs::read_to_string(dir.path().join("g.snap.rejects.csv")).unwrap_or_default();
    assert!(
        rejects.contains("--encoding gbk"),
        "{}\n{rejects}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn check_on_stdin_skips_comments_and_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = snapshots(dir.path());
    let mut child = credlist()
        .args(["check", "--snapshot", &a])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"# nightly list\n\n91350100MA2Y3K8L5G  # a comment\n   \n110101199003071233\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["code"], "91350100MA2Y3K8L5G");
    assert_eq!(lines[0]["valid"], true);
}

#[test]
fn snapshot_and_admin_socket_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = snapshots(dir.path());
    let o = credlist()
        .env("CREDLIST_SNAPSHOT", &a)
        .args(["check", "91350100MA2Y3K8L5G"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sock = dir.path().join("nobody.sock");
    let o = credlist()
        .env("CREDLIST_ADMIN_SOCKET", &sock)
        .arg("holds")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(s(&sock)));
}

#[test]
fn version_help_completions_and_man_pages() {
    let o = credlist().arg("--version").output().unwrap();
    let v = String::from_utf8(o.stdout).unwrap();
    assert!(v.starts_with("credlist "), "{v}");
    assert!(
        v.contains("commit ") && v.contains("snapshot format "),
        "{v}"
    );

    let o = credlist().arg("--help").output().unwrap();
    let help = String::from_utf8(o.stdout).unwrap();
    for shown in ["build", "check", "serve", "reload", "completions"] {
        assert!(help.contains(&format!("  {shown} ")), "{help}");
    }
    for hidden in ["  gen ", "  bench "] {
        assert!(!help.contains(hidden), "{help}");
    }
    let o = credlist().args(["gen", "--help"]).output().unwrap();
    assert!(o.status.success());

    for shell in ["bash", "zsh", "fish"] {
        let o = credlist().args(["completions", shell]).output().unwrap();
        assert!(o.status.success());
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.contains("check-config"), "{shell}");
    }

    let dir = tempfile::tempdir().unwrap();
    let o = credlist().args(["man", s(dir.path())]).output().unwrap();
    assert!(o.status.success());
    let page = std::fs::read_to_string(dir.path().join("credlist.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH credlist"),
        "{page}"
    );
    let serve = std::fs::read_to_string(dir.path().join("credlist-serve.1")).unwrap();
    assert!(serve.contains("check\\-config"), "{serve}");
}
