//! Crash safety: `kill -9` during `credlist build`, during reloads and
//! hold writes; a full disk under the hold log and the audit register; a
//! torn last record in the hold log.
//!
//! The kill points are pseudo-random (seeded from the clock; the seed is
//! printed, and `CRASH_SEED=<n>` replays a run).

mod support;

use credlist::snapshot::Snapshot;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::*;

/// A small xorshift generator: kill points, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(what: &str) -> Rng {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{what}: CRASH_SEED={seed}");
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// 300 000 generated entries and their snapshot, made once per run.
struct Generated {
    _dir: tempfile::TempDir,
    data: PathBuf,
    snap: PathBuf,
    bytes: Vec<u8>,
    build_time: Duration,
}

fn build_cmd(data: &Path, out: &Path) -> std::process::Command {
    let mut c = credlist();
    c.args(["build", "--catalog"])
        .arg(data.join("catalog.toml"))
        .args(["--as-of", DATA_DATE, "--max-reject-ratio", "1", "--out"])
        .arg(out)
        .arg(data.join("lists"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn generated() -> &'static Generated {
    static G: OnceLock<Generated> = OnceLock::new();
    G.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("clr")
            .tempdir_in("/tmp")
            .unwrap();
        let data = dir.path().join("data");
        let o = credlist()
            .args(["gen", "--entries", "300000", "--out", s(&data)])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let snap = dir.path().join("reference.snap");
        let t = Instant::now();
        assert!(build_cmd(&data, &snap).status().unwrap().success());
        let build_time = t.elapsed();
        let bytes = std::fs::read(&snap).unwrap();
        Generated {
            _dir: dir,
            data,
            snap,
            bytes,
            build_time,
        }
    })
}

#[test]
fn kill_9_during_build_never_leaves_an_incomplete_snapshot_at_the_out_path() {
    let g = generated();
    let mut rng = Rng::new("build kills");
    let dir = tempfile::Builder::new()
        .prefix("clr")
        .tempdir_in("/tmp")
        .unwrap();
    let out = dir.path().join("current.snap");
    // A snapshot that is already there (the fixtures) must survive intact
    // unless a complete new one replaced it.
    let old_path = dir.path().join("old.snap");
    build_snapshot(&old_path, &["fixtures/lists"]);
    let old = std::fs::read(&old_path).unwrap();
    let span = (g.build_time.as_micros() as u64 * 12 / 10).max(1000);
    let (mut absent, mut kept_old, mut complete) = (0, 0, 0);
    for round in 0..16 {
        let with_old = round % 2 == 1;
        if with_old {
            std::fs::write(&out, &old).unwrap();
        } else {
            let _ = std::fs::remove_file(&out);
        }
        let mut child = build_cmd(&g.data, &out).spawn().unwrap();
        let at = Duration::from_micros(rng.below(span));
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().unwrap();
        match std::fs::read(&out) {
            Err(_) => {
                assert!(!with_old, "round {round}: the old snapshot vanished");
                absent += 1;
            }
            Ok(b) if with_old && b == old => kept_old += 1,
            Ok(b) => {
                assert!(
                    b == g.bytes,
                    "round {round} (killed after {at:?}): {} bytes at the out path, neither the old nor the complete new snapshot",
                    b.len()
                );
                // And a reload would accept it.
                // SAFETY: the killed build no longer writes, and the
                // snapshot is dropped at once.
                unsafe { Snapshot::open(&out) }.unwrap();
                complete += 1;
            }
        }
        // Whatever is at the path verifies, or nothing is.
        if out.exists() {
            // SAFETY: as above.
            unsafe { Snapshot::open(&out) }.unwrap();
        }
    }
    eprintln!(
        "16 builds killed: {absent} left no file, {kept_old} left the old snapshot, {complete} completed"
    );
    // Temp files of killed builds are never at the out path; they are
    // dot-files beside it, named *.tmp.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            name == "current.snap"
                || name == "old.snap"
                || name.ends_with(".rejects.csv")
                || (name.starts_with('.') && name.ends_with(".tmp")),
            "unexpected file {name}"
        );
    }
}

/// The holds the daemon lists.
fn listed_holds(d: &Daemon) -> BTreeSet<String> {
    let r = d.admin("GET", "/v1/admin/holds", None);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["entry_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn kill_9_during_reloads_and_hold_writes_loses_no_acknowledged_hold() {
    let g = generated();
    let mut rng = Rng::new("daemon kills");
    // SAFETY: the generated snapshot is never rewritten (the daemon only
    // reads it).
    let snap = unsafe { Snapshot::open(&g.snap) }.unwrap();
    let ids: Vec<String> = snap
        .entries_by_id()
        .step_by(997)
        .take(200)
        .map(|e| snap.entry(e).entry_id.to_string())
        .collect();
    drop(snap);
    let mut d = Daemon::empty();
    std::fs::copy(&g.snap, d.path("current.snap")).unwrap();
    let other = d.path("other.snap");
    std::fs::copy(&g.snap, &other).unwrap();
    d.spawn();

    // What must be true after any crash: acknowledged holds are there,
    // acknowledged releases are gone. The one operation in flight when the
    // daemon died may have gone either way.
    let mut held: BTreeSet<String> = BTreeSet::new();
    for round in 0..6 {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Vec<(bool, String)>>> = Arc::default();
        let in_flight: Arc<Mutex<Option<String>>> = Arc::default();
        let admin = d.admin_sock();
        let writer = {
            let (stop, acked, in_flight, ids, admin) = (
                stop.clone(),
                acked.clone(),
                in_flight.clone(),
                ids.clone(),
                admin.clone(),
            );
            let mut local = held.clone();
            let mut rng = Rng(rng.next() | 1);
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = ids[rng.below(ids.len() as u64) as usize].clone();
                    *in_flight.lock().unwrap() = Some(id.clone());
                    let place = !local.contains(&id);
                    let r = if place {
                        let body =
                            json!({"entry_id": id, "reason": "objection under review"}).to_string();
                        try_http(&admin, "POST", "/v1/admin/holds", Some(&body))
                    } else {
                        try_http(&admin, "DELETE", &format!("/v1/admin/holds/{id}"), None)
                    };
                    match r {
                        Ok(r) if r.status == 201 || r.status == 204 => {
                            if place {
                                local.insert(id.clone());
                            } else {
                                local.remove(&id);
                            }
                            acked.lock().unwrap().push((place, id));
                            *in_flight.lock().unwrap() = None;
                        }
                        Ok(r) => panic!("hold write refused: {} {}", r.status, r.body),
                        // The daemon died under this request.
                        Err(_) => break,
                    }
                }
            })
        };
        let reloader = {
            let (stop, admin, other) = (stop.clone(), admin.clone(), other.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) && n < 10_000 {
                    let body = if n % 2 == 0 {
                        None
                    } else {
                        Some(json!({"path": s(&other)}).to_string())
                    };
                    match try_http(&admin, "POST", "/v1/admin/reload", body.as_deref()) {
                        Ok(r) => assert_eq!(r.status, 200, "{}", r.body),
                        Err(_) => break,
                    }
                    n += 1;
                }
                n
            })
        };
        std::thread::sleep(Duration::from_millis(150 + rng.below(600)));
        d.kill9();
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        let reloads = reloader.join().unwrap();
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        for (place, id) in &acked {
            if *place {
                held.insert(id.clone());
            } else {
                held.remove(id);
            }
        }
        d.spawn();
        let after = listed_holds(&d);
        if let Some(id) = in_flight.lock().unwrap().take() {
            // Either outcome of the interrupted operation is allowed.
            if after.contains(&id) {
                held.insert(id);
            } else {
                held.remove(&id);
            }
        }
        assert_eq!(
            after,
            held,
            "round {round}: {} acknowledged operations, {reloads} reloads",
            acked.len()
        );
        assert!(!d.log().contains("damaged"), "{}", d.log());
    }
}

// ---------------------------------------------------------------------------
// Full disks
// ---------------------------------------------------------------------------

/// A small tmpfs mounted at a folder (root only); unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        if our_uid() != 0 {
            return None;
        }
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Fills the file system with a filler file; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.0.join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&block[..1]).is_ok() {}
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Every line of a journal is `JSON \t checksum`.
fn journal_lines_are_whole(p: &Path) -> usize {
    let text = std::fs::read_to_string(p).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a torn last line in {}",
        p.display()
    );
    for l in text.lines() {
        let (j, sum) = l.rsplit_once('\t').expect("a checksum");
        assert_eq!(sum.len(), 16);
        let _: Value = serde_json::from_str(j).unwrap_or_else(|e| panic!("{e}: {l:?}"));
    }
    text.lines().count()
}

#[test]
fn a_full_disk_refuses_new_holds_with_a_clear_error_and_never_corrupts_the_hold_log() {
    let d = Daemon::new();
    let Some(fs) = Tmpfs::mount(&d.path("state"), "256k") else {
        eprintln!("skipped: needs root and mount for a small tmpfs");
        return;
    };
    let state = d.path("state");
    let mut d = d.state_dir(&state).start();
    let ids = [
        "FY-2025-0312",
        "FY-2024-0901",
        "HB-2025-0701",
        "SW-2026-0315",
        "CG-2026-0108",
    ];
    let place = |d: &Daemon, id: &str| {
        d.admin(
            "POST",
            "/v1/admin/holds",
            Some(&json!({"entry_id": id, "reason": "objection under review ".repeat(8)})),
        )
    };
    assert_eq!(place(&d, ids[0]).status, 201);
    let filler = fs.fill();
    // Hold writes now fail: refused with a clear error, never acknowledged.
    let mut acked = BTreeSet::from([ids[0].to_string()]);
    let mut refused = 0;
    for round in 0..40 {
        let id = ids[round % ids.len()];
        let r = place(&d, id);
        match r.status {
            201 => {
                acked.insert(id.to_string());
            }
            503 => {
                refused += 1;
                assert_eq!(r.error_kind(), "unavailable");
                let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
                assert!(
                    msg.contains("hold registry cannot be written") && msg.contains("space"),
                    "{msg}"
                );
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    assert!(refused > 0, "no hold write failed on a full disk");
    assert_eq!(listed_holds(&d), acked);
    journal_lines_are_whole(&d.holds_log());
    // Space again: holds work, and everything replays after a kill -9.
    std::fs::remove_file(&filler).unwrap();
    let r = place(&d, ids[4]);
    assert_eq!(r.status, 201, "{}", r.body);
    acked.insert(ids[4].to_string());
    d.kill9();
    d.spawn();
    assert_eq!(listed_holds(&d), acked);
    journal_lines_are_whole(&d.holds_log());
    assert!(!d.log().contains("damaged"), "{}", d.log());
    drop(d);
    drop(fs);
}

/// Every line of the audit register is a whole JSON record.
fn audit_lines_are_whole(text: &str) -> usize {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "torn last audit line ({} bytes in all): {:?}",
        text.len(),
        &text[text.len().saturating_sub(300)..]
    );
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
        assert!(v["endpoint"].is_string());
    }
    text.lines().count()
}

fn full_audit_disk(on_error: &str) {
    let d = Daemon::new();
    let Some(fs) = Tmpfs::mount(&d.path("log"), "128k") else {
        eprintln!("skipped: needs root and mount for a small tmpfs");
        return;
    };
    let audit = format!(
        "path = \"{}\"\non_error = \"{on_error}\"",
        s(&d.audit_path())
    );
    let mut d = d.audit(&audit).start();
    let body = json!({"matter": MATTER, "as_of": DATA_DATE, "request_id": "X".repeat(200),
                      "subjects": [{"code": BLACK_CODE}, {"code": PERSON_CODE}, {"code": "91350100MA2Y3K8L5H"}]});
    assert_eq!(d.check(&body).status, 200);
    let filler = fs.fill();
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..600 {
        let r = d.check(&body);
        match r.status {
            200 => {
                assert_eq!(r.json()["results"][0]["status"], "black");
                answered += 1;
            }
            503 => {
                assert_eq!(r.error_kind(), "unavailable");
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            other => panic!("{other}: {}", r.body),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&credlist::wire::batch::encode_request(
        5,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    let batch = b.recv();
    if on_error == "fail_closed" {
        assert!(
            refused >= 5,
            "checks were never refused ({answered} answered)"
        );
        assert_eq!(error_of(batch).0, 5, "batch status 5 (unavailable)");
    } else {
        assert_eq!(refused, 0);
        assert!(is_black_flag(flags_of(batch, 5)[0]));
    }
    // Space again: answered again, and the register holds whole lines.
    std::fs::remove_file(&filler).unwrap();
    let ok = poll(500, || (d.check(&body).status == 200).then_some(()));
    assert!(
        ok.is_some(),
        "checks not answered again after space came back"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    let n = audit_lines_are_whole(&d.audit_text());
    assert!(n >= 2, "{n} audit records");
    eprintln!("{on_error}: {answered} answered, {refused} refused while full; {n} audit records");
    drop(fs);
}

#[test]
fn a_full_disk_under_the_audit_register_fails_closed_and_keeps_whole_lines() {
    full_audit_disk("fail_closed");
}

#[test]
fn a_record_torn_by_a_full_disk_never_stays_in_the_audit_register() {
    full_audit_disk("continue");
}

#[test]
fn a_torn_last_hold_record_is_ignored_with_a_warning_and_later_holds_append_cleanly() {
    let mut d = Daemon::new().start();
    for id in ["FY-2025-0312", "HB-2025-0701"] {
        let r = d.admin(
            "POST",
            "/v1/admin/holds",
            Some(&json!({"entry_id": id, "reason": "r"})),
        );
        assert_eq!(r.status, 201);
    }
    for torn in [
        &b"{\"op\":\"hold\",\"entry_id\":\"SW-2026-0315\",\"reas"[..],
        &b"{\"op\":\"release\",\"entry_id\":\"FY-2025-0312\"}\t0123456789abcdef\n"[..],
    ] {
        d.kill9();
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(d.holds_log())
            .unwrap()
            .write_all(torn)
            .unwrap();
        d.spawn();
        assert!(
            d.log()
                .contains("ignoring the damaged last line of a journal"),
            "{}",
            d.log()
        );
        assert_eq!(
            listed_holds(&d),
            BTreeSet::from(["FY-2025-0312".to_string(), "HB-2025-0701".to_string()])
        );
    }
    let r = d.admin(
        "POST",
        "/v1/admin/holds",
        Some(&json!({"entry_id": "CG-2026-0108", "reason": "r"})),
    );
    assert_eq!(r.status, 201);
    d.kill9();
    d.spawn();
    assert_eq!(listed_holds(&d).len(), 3);
    assert_eq!(journal_lines_are_whole(&d.holds_log()), 3);
}
