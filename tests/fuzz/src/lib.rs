//! Shared set-up of the fuzz targets: the fixtures, a snapshot built from
//! them once per process, and a routine that reads every part of a
//! snapshot that opened, so that a structurally wrong but accepted file is
//! exercised the way the daemon and the commands would read it.

use credlist::catalog::Catalog;
use credlist::check::{self, Ctx, Holds};
use credlist::date::Day;
use credlist::entry::Kind;
use credlist::server::config::{ClientConfig, Config};
use credlist::server::state::State;
use credlist::snapshot::Snapshot;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The repository's `fixtures/` folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The fixtures' data date.
pub fn as_of() -> Day {
    Day::parse("2026-11-20").expect("a date")
}

/// `fixtures/catalog.toml`, parsed once.
pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::load(&fixtures().join("catalog.toml")).expect("fixture catalog"))
}

/// A scratch folder for the whole process (left behind when libFuzzer
/// exits: it holds a few small files).
pub fn scratch() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("credlist-fuzz-")
            .tempdir_in(base)
            .expect("scratch folder")
            .keep()
    })
}

/// Builds `fixtures/lists` with the demo relations (SPEC §8) into `out` as
/// of the data date (the real build).
pub fn build_fixture_snapshot(out: &Path) {
    let opts = credlist::build::BuildOptions {
        catalog: fixtures().join("catalog.toml"),
        out: out.to_path_buf(),
        as_of: as_of(),
        encoding: Default::default(),
        legacy_codes: Some(fixtures().join("legacy-codes.txt")),
        max_reject_ratio: credlist::build::DEFAULT_MAX_REJECT_RATIO,
        rejects: Some(out.with_extension("rejects.csv")),
        inputs: vec![fixtures().join("lists")],
        relations: vec![fixtures().join("relations/demo")],
    };
    let r = credlist::build::run(&opts, &credlist::build::NoProgress).expect("fixture build");
    assert!(r.snapshot_id.is_some(), "fixture build wrote no snapshot");
}

/// The bytes of the fixture snapshot, built once.
pub fn fixture_snapshot() -> &'static [u8] {
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    B.get_or_init(|| {
        let p = scratch().join("fixture.snap");
        build_fixture_snapshot(&p);
        std::fs::read(&p).expect("fixture snapshot")
    })
}

/// The 18-character codes of the fixture snapshot's subjects, plus a few
/// that are not listed.
pub fn fixture_codes() -> &'static [[u8; 18]] {
    static C: OnceLock<Vec<[u8; 18]>> = OnceLock::new();
    C.get_or_init(|| {
        let snap = Snapshot::from_bytes(fixture_snapshot().to_vec()).expect("fixture snapshot");
        let mut v: Vec<[u8; 18]> = (0..snap.subjects())
            .map(|s| snap.subject_key(s).to_code().0)
            .collect();
        v.push(*b"91350100MA2Y3K8L5H");
        v.push(*b"110101199003071234");
        v.push(*b"000000000000000000");
        v
    })
}

/// Reads everything a reader of `snap` would: lookups, entries, indexes,
/// bitmaps, checks (with and without person permission, so relations are
/// read both ways), batch flags of both versions, inspect and sweep. Must
/// never panic.
pub fn exercise(snap: &Snapshot) {
    let codes = fixture_codes();
    let holds_all = Holds::new(snap, 0..snap.entries().min(64));
    let none = Holds::default();
    // The last matter of the fixture catalog has measures through
    // relations (`market_entry`).
    let last = snap.catalog.matters.len().checked_sub(1);
    for (day, holds, matter, persons) in [
        (as_of(), &none, Some(0usize), true),
        (as_of(), &none, last, false),
        (Day(as_of().0 + 400), &holds_all, None, true),
        (as_of(), &holds_all, last, true),
    ] {
        let ctx = Ctx {
            snap,
            holds,
            day,
            matter: matter.filter(|&m| m < snap.catalog.matters.len()),
            persons,
        };
        for c in codes {
            let s = std::str::from_utf8(c).unwrap_or("");
            let _ = check::check_one(&ctx, s, None);
            let f = check::flags_of(&ctx, c);
            let w = check::flags_v2_of(&ctx, c);
            assert_eq!(
                w as u8, f,
                "the low byte of the version-2 flags is version 1"
            );
        }
        let flat: Vec<u8> = codes.iter().flatten().copied().collect();
        let mut out = vec![0u8; codes.len()];
        check::batch_flags(&ctx, &flat, &mut out);
        let mut words = vec![0u16; codes.len()];
        check::batch_flags(&ctx, &flat, &mut words);
        for (w, f) in words.iter().zip(&out) {
            assert_eq!(*w as u8, *f);
        }
    }
    for s in 0..snap.subjects().min(256) {
        let _ = snap.subject_key(s);
        let _ = snap.evaluate(s, as_of(), &|e| e % 3 == 0);
    }
    for e in snap.entries_by_id().take(256) {
        let v = snap.entry(e);
        let _ = snap.find_entry(v.entry_id);
    }
    for k in [Kind::Black, Kind::Watch, Kind::Red] {
        let _ = snap.bitmap(k, None).map(|b| b.len());
        let _ = snap.bitmap(k, Some(0)).map(|b| b.len());
    }
    let _ = credlist::inspect::inspect(snap);
    let _ = credlist::sweep::sweep(snap, as_of(), &none);
}

/// Replaces the footer of a snapshot body with its checksum, as a writer
/// that means harm (or a bug in a writer) would.
pub fn reseal(b: &mut [u8]) {
    let footer = credlist::snapshot::format::FOOTER_LEN;
    if b.len() < footer {
        return;
    }
    let n = b.len() - footer;
    let h = xxhash_rust::xxh3::xxh3_128(&b[..n]);
    b[n..].copy_from_slice(&h.to_le_bytes());
}

/// An in-memory daemon: the real `State` serving the fixture snapshot from
/// a scratch folder `name`, with short timeouts and a client "limited"
/// (uid 4242: gov_procurement only, no natural persons). The audit
/// register goes to `/dev/null` through a link in the scratch folder (a
/// rotation renames the link, never the device).
pub fn daemon_state(
    name: &str,
    tweak: impl FnOnce(&mut Config),
) -> (tokio::runtime::Runtime, Arc<State>) {
    use credlist::server::{audit::Audit, holds::HoldRegistry, receipts::Receipts};
    let dir = scratch().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let snap_path = dir.join("current.snap");
    build_fixture_snapshot(&snap_path);
    let mut c = Config::demo(&dir);
    c.snapshot.path = snap_path.clone();
    let audit = dir.join("audit.log");
    let _ = std::os::unix::fs::symlink("/dev/null", &audit);
    c.audit.path = audit;
    c.audit.max_bytes = u64::MAX;
    c.limits.read_timeout_ms = 50;
    c.limits.idle_timeout_ms = 50;
    c.clients = vec![ClientConfig {
        name: "limited".into(),
        uid: Some(4242),
        gid: None,
        token: None,
        matters: vec!["gov_procurement".into()],
        persons: false,
    }];
    tweak(&mut c);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let st = rt.block_on(async {
        // SAFETY: the harness's snapshot file is written once, above, and
        // never again.
        let snap = unsafe { Snapshot::open(&snap_path) }.unwrap();
        let registry = HoldRegistry::open(&dir).unwrap();
        let receipts = Receipts::start(&dir, None).unwrap();
        let audit = Audit::start(&c.audit).unwrap();
        Arc::new(State::new(c, snap, registry, audit, receipts))
    });
    (rt, st)
}

/// A place in a connection table of its own for one fuzzed connection, as
/// the daemon's listeners take one for every connection they accept (keep
/// it until the connection ends).
pub async fn place() -> credlist::server::conns::Place {
    use credlist::server::conns::{Conns, PeerKey};
    Conns::new(16, 16)
        .admit(PeerKey::Pid(1))
        .await
        .expect("a place for the connection")
}

/// The caller of a fuzzed connection: root with full rights (the open
/// configuration), or the restricted client.
pub fn caller(st: &State, restricted: bool) -> credlist::server::access::Caller {
    use credlist::server::access::{Access, Peer};
    let peer = Peer {
        uid: Some(if restricted { 4242 } else { 0 }),
        gid: Some(0),
        pid: Some(1),
    };
    if restricted {
        st.access.unix(peer)
    } else {
        Access::new(&[]).unix(peer)
    }
}
