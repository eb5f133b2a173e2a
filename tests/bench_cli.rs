//! `credlist bench` against a real daemon: the `credlist serve` binary on
//! Unix sockets in a temporary folder, serving a snapshot built from
//! `fixtures/` plus a small generated data set (the load generator's codes
//! come from the generator) as of 2026-11-20.
//!
//! No test asserts on timing: the runs must end by themselves with zero
//! failures and a RESULT line that parses. Only processes started here are
//! signalled.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const DATA_DATE: &str = "2026-11-20";
const SEED: &str = "1";
const ENTRIES: &str = "3000";

fn credlist() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_credlist"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn run_ok(c: &mut Command) -> Output {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A daemon serving the fixtures and a generated data set.
struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("clb")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        run_ok(
            credlist()
                .args(["gen", "--entries", ENTRIES, "--seed", SEED])
                .args([
                    "--as-of",
                    DATA_DATE,
                    "--files",
                    "2",
                    "--out",
                    s(&d.join("data")),
                ]),
        );
        run_ok(
            credlist()
                .args([
                    "build",
                    "--catalog",
                    "fixtures/catalog.toml",
                    "--legacy-codes",
                    "fixtures/legacy-codes.txt",
                ])
                .args(["--as-of", DATA_DATE, "--out", s(&d.join("current.snap"))])
                .args(["fixtures/lists", s(&d.join("data/lists"))]),
        );
        let config = format!(
            "[snapshot]\npath = \"{}\"\n[state]\ndir = \"{}\"\n[audit]\npath = \"{}\"\n\
             [check]\nsocket = \"{}\"\n[batch]\nsocket = \"{}\"\n[admin]\nsocket = \"{}\"\n",
            s(&d.join("current.snap")),
            s(&d.join("state")),
            s(&d.join("log/audit.log")),
            s(&d.join("check.sock")),
            s(&d.join("batch.sock")),
            s(&d.join("admin.sock")),
        );
        std::fs::write(d.join("credlist.toml"), config).unwrap();
        let log = std::fs::File::create(d.join("daemon.log")).unwrap();
        let child = credlist()
            .args(["serve", "--config", s(&d.join("credlist.toml"))])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            dir,
            child: Some(child),
        };
        daemon.wait_ready();
        daemon
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        for _ in 0..1000 {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the daemon exited with {st} before serving:\n{}",
                    self.log()
                );
            }
            if health(&self.path("check.sock")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not become ready:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether `GET /v1/health` answers 200.
fn health(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    r.starts_with("HTTP/1.1 200")
}

/// The fields of the last `RESULT` line of `stdout`; panics when there is
/// none or a field is not `key=value`.
fn result_fields(stdout: &str) -> BTreeMap<String, String> {
    let line = stdout
        .lines()
        .last()
        .filter(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("the last line is not a RESULT line:\n{stdout}"));
    line.split_whitespace()
        .skip(1)
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("{kv:?} is not key=value in {line:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn number(f: &BTreeMap<String, String>, k: &str) -> f64 {
    let v = f.get(k).unwrap_or_else(|| panic!("no {k} in {f:?}"));
    v.parse()
        .unwrap_or_else(|_| panic!("{k}={v} is not a number"))
}

/// Runs a bench and returns its exit success, stdout and RESULT fields.
fn bench(args: &[&str]) -> (bool, String, BTreeMap<String, String>) {
    let o = credlist().arg("bench").args(args).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.lines().last().is_some_and(|l| l.starts_with("RESULT ")),
        "no RESULT line; stdout:\n{out}\nstderr:\n{err}"
    );
    let fields = result_fields(&out);
    (o.status.success(), out, fields)
}

#[test]
fn batch_and_check_runs_end_with_no_failures() {
    let d = Daemon::start();
    let snap = d.path("current.snap");
    let sock = d.path("batch.sock");
    let (ok, out, f) = bench(&[
        "batch",
        "--socket",
        s(&sock),
        "--snapshot-seed",
        SEED,
        "--entries",
        ENTRIES,
        "--frames",
        "20",
        "--as-of",
        DATA_DATE,
    ]);
    assert!(ok, "bench batch failed:\n{out}");
    assert_eq!(f["mode"], "batch");
    assert_eq!(number(&f, "failures"), 0.0, "{out}");
    assert_eq!(number(&f, "frames"), 20.0, "{out}");
    assert_eq!(number(&f, "codes"), 20.0 * 4096.0, "{out}");
    for k in ["codes_per_s", "frames_per_s", "p50_us", "p99_us", "max_us"] {
        assert!(number(&f, k) >= 0.0, "{k}");
    }
    assert!(number(&f, "listed_pct") > 50.0, "{out}");

    // Every answer compared with the flags computed from the snapshot, with
    // a matter: measure flags included.
    let (ok, out, f) = bench(&[
        "batch",
        "--socket",
        s(&sock),
        "--snapshot-seed",
        SEED,
        "--entries",
        ENTRIES,
        "--frames",
        "20",
        "--frame",
        "500",
        "--connections",
        "3",
        "--in-flight",
        "2",
        "--matter",
        "gov_procurement",
        "--snapshot",
        s(&snap),
    ]);
    assert!(ok, "bench batch --snapshot failed:\n{out}");
    assert_eq!(number(&f, "failures"), 0.0, "{out}");
    assert_eq!(number(&f, "frames"), 20.0, "{out}");

    let (ok, out, f) = bench(&[
        "check",
        "--socket",
        s(&d.path("check.sock")),
        "--snapshot-seed",
        SEED,
        "--entries",
        ENTRIES,
        "--duration",
        "1s",
        "--rate",
        "200",
        "--as-of",
        DATA_DATE,
    ]);
    assert!(ok, "bench check failed:\n{out}");
    assert_eq!(f["mode"], "check");
    assert_eq!(number(&f, "failures"), 0.0, "{out}");
    assert!(number(&f, "requests") > 0.0, "{out}");
    assert_eq!(number(&f, "codes_per_request"), 3.0);
    for k in [
        "achieved_rps",
        "p50_us",
        "p90_us",
        "p99_us",
        "p999_us",
        "max_us",
    ] {
        assert!(number(&f, k) >= 0.0, "{k}");
    }
}

#[test]
fn a_wrong_data_set_or_no_daemon_is_a_failure() {
    let d = Daemon::start();
    // The daemon serves seed 1: seed 2's codes are all unlisted there.
    let (ok, out, f) = bench(&[
        "batch",
        "--socket",
        s(&d.path("batch.sock")),
        "--snapshot-seed",
        "2",
        "--entries",
        ENTRIES,
        "--frames",
        "2",
        "--as-of",
        DATA_DATE,
    ]);
    assert!(!ok, "{out}");
    assert!(number(&f, "failures") >= 1.0, "{out}");
    assert!(out.contains("hits not listed"), "{out}");

    // No daemon on the socket: a failure, reported and bounded.
    let (ok, out, f) = bench(&[
        "batch",
        "--socket",
        s(&d.path("nothing.sock")),
        "--entries",
        ENTRIES,
        "--frames",
        "2",
    ]);
    assert!(!ok, "{out}");
    assert!(number(&f, "failures") >= 1.0, "{out}");
    assert!(out.contains("cannot connect"), "{out}");
}

#[test]
fn codes_lists_the_listed_codes_of_the_data_set() {
    let o = run_ok(credlist().args([
        "bench",
        "codes",
        "--snapshot-seed",
        SEED,
        "--entries",
        ENTRIES,
    ]));
    let text = String::from_utf8(o.stdout).unwrap();
    let codes: Vec<&str> = text.lines().collect();
    // subjects_for(3000) = 2400.
    assert_eq!(codes.len(), 2400);
    let unique: std::collections::HashSet<&&str> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len());
    assert!(codes.iter().all(|c| c.len() == 18));
    // Every code is one `credlist check` answers as valid.
    let dir = tempfile::Builder::new()
        .prefix("clc")
        .tempdir_in("/tmp")
        .unwrap();
    let snap = dir.path().join("s.snap");
    run_ok(
        credlist()
            .args(["build", "--catalog", "fixtures/catalog.toml"])
            .args(["--legacy-codes", "fixtures/legacy-codes.txt"])
            .args(["--as-of", DATA_DATE, "--out", s(&snap), "fixtures/lists"]),
    );
    let mut child = credlist()
        .args(["check", "--snapshot", s(&snap), "--as-of", DATA_DATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = codes[..200].join("\n");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let items: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 200);
    assert!(items.iter().all(|i| i["valid"] == true), "{items:?}");
}
