//! HTTP request handling: arbitrary bytes sent on one connection of the
//! check socket (or the admin socket) of an in-memory daemon: the real
//! `server::http::serve` over a `tokio::io::duplex` pair, on a state
//! serving the fixture snapshot. Never a panic (libFuzzer turns a panic in
//! any thread into a crash); every answer the daemon writes is an HTTP/1.x
//! response and the connection always ends.
//!
//! Input: 1 byte (bit 0: admin socket; bit 1: a client without person
//! permission and limited matters instead of the open configuration),
//! then the bytes the client sends.
#![no_main]

use credlist::server::access::{Caller, Peer};
use credlist::server::config::{ClientConfig, Config};
use credlist::server::http::{self, Api, Ident};
use credlist::server::metrics::Listener;
use credlist::server::state::State;
use credlist::server::{audit::Audit, holds::HoldRegistry, receipts::Receipts};
use credlist::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    rt: tokio::runtime::Runtime,
    st: Arc<State>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = credlist_fuzz::scratch().join("http");
        std::fs::create_dir_all(&dir).unwrap();
        let snap_path = dir.join("current.snap");
        credlist_fuzz::build_fixture_snapshot(&snap_path);
        let mut c = Config::demo(&dir);
        c.snapshot.path = snap_path.clone();
        // The register goes to /dev/null through a link in the scratch
        // folder (a rotation renames the link, never the device).
        let audit = dir.join("audit.log");
        let _ = std::os::unix::fs::symlink("/dev/null", &audit);
        c.audit.path = audit;
        c.audit.max_bytes = u64::MAX;
        c.limits.read_timeout_ms = 50;
        c.limits.idle_timeout_ms = 50;
        c.limits.max_body_bytes = 64 * 1024;
        c.limits.max_subjects = 50;
        c.clients = vec![ClientConfig {
            name: "limited".into(),
            uid: Some(4242),
            gid: None,
            token: None,
            matters: vec!["gov_procurement".into()],
            persons: false,
        }];
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let st = rt.block_on(async {
            let snap = Snapshot::open(&snap_path).unwrap();
            let registry = HoldRegistry::open(&dir).unwrap();
            let receipts = Receipts::start(&dir).unwrap();
            let audit = Audit::start(&c.audit).unwrap();
            Arc::new(State::new(c, snap, registry, audit, receipts))
        });
        World { rt, st }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let w = world();
    let api = if mode & 1 == 0 {
        Api::Check
    } else {
        Api::Admin
    };
    let peer = Peer {
        uid: Some(if mode & 2 == 0 { 0 } else { 4242 }),
        gid: Some(0),
        pid: Some(1),
    };
    let caller: Caller = if mode & 2 == 0 {
        // The open configuration: full rights.
        credlist::server::access::Access::new(&[]).unix(peer)
    } else {
        w.st.access.unix(peer)
    };
    let input = input.to_vec();
    let st = w.st.clone();
    w.rt.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let listener = if api == Api::Admin {
            Listener::Admin
        } else {
            Listener::Check
        };
        let conn = tokio::spawn(http::serve(
            st,
            server,
            listener,
            api,
            Ident::Unix(caller),
            rx,
        ));
        let talk = async {
            client.write_all(&input).await?;
            client.shutdown().await?;
            let mut out = Vec::new();
            client.read_to_end(&mut out).await?;
            Ok::<_, std::io::Error>(out)
        };
        let out = tokio::time::timeout(Duration::from_secs(20), talk)
            .await
            .expect("the connection ended");
        if let Ok(out) = out {
            if !out.is_empty() {
                assert!(
                    out.starts_with(b"HTTP/1."),
                    "not a response: {:?}",
                    &out[..out.len().min(64)]
                );
            }
        }
        tokio::time::timeout(Duration::from_secs(20), conn)
            .await
            .expect("the connection task ended")
            .expect("the connection task did not panic");
    });
});
