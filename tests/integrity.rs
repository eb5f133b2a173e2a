//! Snapshot integrity on a snapshot built by the real `credlist build` from
//! the fixtures: truncation at every section boundary and at sampled
//! offsets, bit flips in every section (with the checksum left as it is,
//! and resealed as a hostile writer would), and the served file being
//! replaced by rename or written and truncated in place while mapped.

mod support;

use credlist::check::{self, Ctx, Holds};
use credlist::date::Day;
use credlist::snapshot::guard::{self, Protection};
use credlist::snapshot::{Snapshot, SnapshotError};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const HEADER: usize = 32;
const TABLE_ENTRY: usize = 24;
const FOOTER: usize = 16;

fn built() -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fixtures.snap");
    build_snapshot(&p, &["fixtures/lists"]);
    let b = std::fs::read(&p).unwrap();
    (dir, b)
}

/// `(name, offset, length)` of every section, from the section table.
fn sections(b: &[u8]) -> Vec<(String, usize, usize)> {
    let n = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| {
            let e = HEADER + i * TABLE_ENTRY;
            let off = u64::from_le_bytes(b[e + 8..e + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(b[e + 16..e + 24].try_into().unwrap()) as usize;
            (format!("section {i}"), off, len)
        })
        .collect()
}

fn reseal(b: &mut [u8]) {
    let len = b.len() as u64;
    b[16..24].copy_from_slice(&len.to_le_bytes());
    let n = b.len() - FOOTER;
    let h = xxhash_rust::xxh3::xxh3_128(&b[..n]);
    b[n..].copy_from_slice(&h.to_le_bytes());
}

fn day() -> Day {
    Day::parse(DATA_DATE).unwrap()
}

/// Every subject code of `snap` and a few unlisted ones.
fn codes_of(snap: &Snapshot) -> Vec<[u8; 18]> {
    let mut v: Vec<[u8; 18]> = (0..snap.subjects())
        .map(|s| snap.subject_key(s).to_code().0)
        .collect();
    v.push(*b"91350100MA2Y3K8L5H");
    v.push(UNLISTED_PERSON.as_bytes().try_into().unwrap());
    v
}

/// What a snapshot answers for `codes`: the full check items (JSON) and
/// the batch flags, for every matter and none.
fn answers(snap: &Snapshot, codes: &[[u8; 18]]) -> Vec<String> {
    let holds = Holds::default();
    let mut out = Vec::new();
    let matters: Vec<Option<usize>> = std::iter::once(None)
        .chain((0..snap.catalog.matters.len()).map(Some))
        .collect();
    for matter in matters {
        let ctx = Ctx {
            snap,
            holds: &holds,
            day: day(),
            matter,
            persons: true,
        };
        for c in codes {
            let item = check::check_one(&ctx, std::str::from_utf8(c).unwrap(), None);
            out.push(serde_json::to_string(&item).unwrap());
        }
        let flat: Vec<u8> = codes.iter().flatten().copied().collect();
        let mut flags = vec![0u8; codes.len()];
        check::batch_flags(&ctx, &flat, &mut flags);
        out.push(format!("{flags:?}"));
    }
    out
}

/// Reads every part of an accepted snapshot (must not panic).
fn read_all(snap: &Snapshot, codes: &[[u8; 18]]) {
    let _ = answers(snap, codes);
    for e in snap.entries_by_id() {
        let v = snap.entry(e);
        let _ = snap.find_entry(v.entry_id);
    }
    let _ = credlist::inspect::inspect(snap);
    let _ = credlist::sweep::sweep(snap, day(), &Holds::default());
}

#[test]
fn truncation_at_every_section_boundary_and_sampled_offsets_is_refused() {
    let (dir, bytes) = built();
    let len = bytes.len();
    let secs = sections(&bytes);
    assert_eq!(secs.len(), 12);
    let mut cuts: Vec<usize> = vec![0, 1, 7, 8, 12, 16, 24, 31, HEADER, HEADER + 1];
    let table_end = HEADER + secs.len() * TABLE_ENTRY;
    cuts.extend([table_end - 1, table_end, table_end + 1]);
    let mut boundaries = Vec::new();
    for (_, off, slen) in &secs {
        for c in [
            off.saturating_sub(1),
            *off,
            off + 1,
            off + slen - 1,
            off + slen,
            off + slen + 1,
        ] {
            boundaries.push(c);
        }
    }
    boundaries.extend([len - FOOTER - 1, len - FOOTER, len - FOOTER + 1, len - 1]);
    cuts.extend(&boundaries);
    cuts.extend((0..len).step_by(61));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c < len);

    let original = Snapshot::from_bytes(bytes.clone()).unwrap();
    let codes = codes_of(&original);
    let want = answers(&original, &codes);
    for &n in &cuts {
        match Snapshot::from_bytes(bytes[..n].to_vec()) {
            Err(SnapshotError::Truncated { len: got, .. }) => assert_eq!(got, n as u64),
            Err(e) => panic!("truncated to {n} bytes: refused, but not as truncated: {e}"),
            Ok(_) => panic!("truncated to {n} bytes was accepted"),
        }
        // A hostile writer fixes the length and the checksum: the section
        // table must still refuse it, or (cut in padding only) it must read
        // exactly as the original.
        if n >= HEADER + FOOTER + 8 {
            let mut b = bytes[..n].to_vec();
            reseal(&mut b);
            if let Ok(s) = Snapshot::from_bytes(b) {
                assert_eq!(
                    answers(&s, &codes),
                    want,
                    "resealed cut at {n} reads differently"
                );
            }
        }
    }
    // The files themselves, at the section boundaries, through the CLI:
    // refused with a clear error naming the file.
    let p = dir.path().join("cut.snap");
    for &n in boundaries.iter().filter(|&&n| n < len) {
        std::fs::write(&p, &bytes[..n]).unwrap();
        // SAFETY: the file is rewritten only after this open returned, and
        // it refuses the file (nothing stays mapped).
        assert!(unsafe { Snapshot::open(&p) }.is_err());
        let o = credlist()
            .args(["check", "--snapshot", s(&p), BLACK_CODE])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "cut at {n}: {err}");
        assert!(
            err.contains("cut.snap") && err.contains("truncated"),
            "{err}"
        );
    }
}

#[test]
fn a_flip_in_every_section_is_refused_and_resealed_flips_never_panic() {
    let (dir, bytes) = built();
    let original = Snapshot::from_bytes(bytes.clone()).unwrap();
    let codes = codes_of(&original);
    let secs = sections(&bytes);
    let mut offsets: Vec<(String, usize)> = (0..HEADER + secs.len() * TABLE_ENTRY)
        .map(|o| ("header".to_string(), o))
        .collect();
    for (name, off, slen) in &secs {
        let step = (slen / 24).max(1);
        offsets.extend((*off..off + slen).step_by(step).map(|o| (name.clone(), o)));
        offsets.push((name.clone(), off + slen - 1));
    }
    offsets.extend((bytes.len() - FOOTER..bytes.len()).map(|o| ("footer".to_string(), o)));
    let mut accepted_resealed = 0;
    for (name, off) in &offsets {
        for bit in [0x01u8, 0x10, 0x80] {
            let mut b = bytes.clone();
            b[*off] ^= bit;
            assert!(
                Snapshot::from_bytes(b.clone()).is_err(),
                "{name}: flip {bit:#x} at {off} was accepted"
            );
            if *off >= 24 && *off < bytes.len() - FOOTER {
                reseal(&mut b);
                if let Ok(s) = Snapshot::from_bytes(b) {
                    accepted_resealed += 1;
                    read_all(&s, &codes);
                }
            }
        }
    }
    // The reader refuses most resealed damage outright.
    assert!(
        accepted_resealed * 2 < offsets.len() * 3,
        "{accepted_resealed}"
    );
    // On disk too.
    let p = dir.path().join("flipped.snap");
    let (_, off, slen) = &secs[4];
    let mut b = bytes.clone();
    b[off + slen / 2] ^= 0x04;
    std::fs::write(&p, &b).unwrap();
    // SAFETY: nothing writes the file any more.
    let err = unsafe { Snapshot::open(&p) }
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("checksum"), "{err}");
}

// ---------------------------------------------------------------------------
// The file under a served snapshot (see credlist::snapshot::guard)
// ---------------------------------------------------------------------------

static SIGIO_SEEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigio(_: libc::c_int) {
    SIGIO_SEEN.store(true, Ordering::SeqCst);
}

/// Handles SIGIO in this test process the way the daemon does: a thread
/// answers lease breaks with `guard::on_lease_break`.
fn handle_sigio() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(libc::SIGIO, on_sigio as *const () as libc::sighandler_t) };
        std::thread::spawn(|| loop {
            if SIGIO_SEEN.swap(false, Ordering::SeqCst) {
                for d in guard::on_lease_break() {
                    d.result.unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        });
    });
}

#[test]
fn a_snapshot_whose_file_is_open_for_writing_is_copied_and_survives_truncation() {
    let (dir, _) = built();
    let p = dir.path().join("fixtures.snap");
    let mut writer = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    let snap = Snapshot::open_guarded(&p).unwrap();
    assert_eq!(snap.protection(), Some(Protection::Copied));
    let codes = codes_of(&snap);
    let want = answers(&snap, &codes);
    writer.set_len(0).unwrap();
    writer.write_all(&[0xAB; 4096]).unwrap();
    writer.sync_all().unwrap();
    assert_eq!(answers(&snap, &codes), want);
    read_all(&snap, &codes);
}

#[test]
fn a_leased_snapshot_is_detached_before_its_file_is_truncated() {
    handle_sigio();
    let (dir, _) = built();
    let p = dir.path().join("fixtures.snap");
    let snap = Snapshot::open_guarded(&p).unwrap();
    if snap.protection() != Some(Protection::Lease) {
        eprintln!("skipped: no lease on this file system; the copy is tested above");
        return;
    }
    let codes = codes_of(&snap);
    let want = answers(&snap, &codes);
    // Readers keep going while the file is truncated and overwritten.
    let snap = Arc::new(snap);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (snap, stop, rounds, codes, want) = (
            snap.clone(),
            stop.clone(),
            rounds.clone(),
            codes.clone(),
            want.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                assert_eq!(answers(&snap, &codes), want);
                rounds.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // This open blocks until the lease holder has let go: by then the
    // snapshot is in anonymous memory.
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    assert_eq!(snap.protection(), Some(Protection::Copied));
    w.write_all(&[0x5A; 10_000]).unwrap();
    w.sync_all().unwrap();
    drop(w);
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(100)
        .unwrap();
    poll(500, || (rounds.load(Ordering::SeqCst) >= 3).then_some(())).expect("reader rounds");
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    assert_eq!(answers(&snap, &codes), want);
    read_all(&snap, &codes);
}

/// Checks in a loop until stopped; returns (answered, failures).
fn hammer(d: &Daemon, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    let sock = d.check_sock();
    std::thread::spawn(move || {
        let (mut n, mut failures) = (0usize, Vec::new());
        let body = json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}, {"code": PERSON_CODE}]}).to_string();
        while !stop.load(Ordering::SeqCst) && n < 100_000 {
            match try_http(&sock, "POST", "/v1/check", Some(&body)) {
                Ok(r) if r.status == 200 => {
                    let st = r.json()["results"][0]["status"].clone();
                    if st != "black" && st != "red" {
                        failures.push(format!("status {st}"));
                    }
                }
                Ok(r) => failures.push(format!("{}: {}", r.status, r.body)),
                Err(e) => failures.push(e),
            }
            n += 1;
        }
        (n, failures)
    })
}

#[test]
fn replacing_the_served_file_by_rename_keeps_serving() {
    let d = Daemon::new().start();
    let market = d.path("market.snap");
    build_snapshot(&market, &["fixtures/lists/market"]);
    let stop = Arc::new(AtomicBool::new(false));
    let h = hammer(&d, stop.clone());
    assert_eq!(d.black_status(), "black");
    std::fs::rename(&market, d.path("current.snap")).unwrap();
    // Still the snapshot it verified, until a reload.
    for _ in 0..20 {
        assert_eq!(d.black_status(), "black");
    }
    let r = d.admin("POST", "/v1/admin/reload", None);
    assert_eq!(r.status, 200, "{}", r.body);
    // The market-only snapshot has only the subject's red entry.
    assert_eq!(d.black_status(), "red");
    stop.store(true, Ordering::SeqCst);
    let (n, failures) = h.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {n} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(d.log().contains("protection"));
}

#[test]
fn writing_the_served_file_in_place_keeps_serving_the_verified_snapshot() {
    let mut d = Daemon::new().start();
    let log = d.log().replace('"', "");
    let protection = if log.contains("protection=lease") {
        "lease"
    } else {
        assert!(log.contains("protection=copied"), "{log}");
        "copied"
    };
    let stop = Arc::new(AtomicBool::new(false));
    let h = hammer(&d, stop.clone());
    // `cp other.snap current.snap`: truncate, then write other bytes. With
    // a lease this open waits until the daemon has detached its mapping.
    let path = d.path("current.snap");
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    w.write_all(b"not a snapshot any more").unwrap();
    w.sync_all().unwrap();
    drop(w);
    for _ in 0..50 {
        assert_eq!(d.black_status(), "black");
    }
    let mut b = Batch::connect(&d.batch_sock());
    let flags = b.flags(7, MATTER, &[BLACK_CODE]);
    assert!(is_black_flag(flags[0]), "{flags:?}");
    // A reload of the damaged file is refused; the verified copy serves on.
    let r = d.admin("POST", "/v1/admin/reload", None);
    assert_eq!(
        (r.status, r.error_kind().as_str()),
        (422, "snapshot_refused"),
        "{}",
        r.body
    );
    assert_eq!(d.black_status(), "black");
    stop.store(true, Ordering::SeqCst);
    let (n, failures) = h.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {n} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(d.alive(), "the daemon died:\n{}", d.log());
    if protection == "lease" {
        assert!(
            d.log()
                .contains("now serving the verified snapshot from memory"),
            "{}",
            d.log()
        );
    }
    // Truncated to nothing as well, then a good snapshot renamed in.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_eq!(d.black_status(), "black");
    let fresh = d.path("fresh.snap");
    build_snapshot(&fresh, &["fixtures/lists"]);
    std::fs::rename(&fresh, &path).unwrap();
    assert_eq!(d.admin("POST", "/v1/admin/reload", None).status, 200);
    assert_eq!(d.black_status(), "black");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
}
