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

use credlist::server::http::{self, Api, Ident};
use credlist::server::metrics::Listener;
use credlist::server::state::State;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn world() -> &'static (tokio::runtime::Runtime, Arc<State>) {
    static W: OnceLock<(tokio::runtime::Runtime, Arc<State>)> = OnceLock::new();
    W.get_or_init(|| {
        credlist_fuzz::daemon_state("http", |c| {
            c.limits.max_body_bytes = 64 * 1024;
            c.limits.max_subjects = 50;
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let (rt, st) = world();
    let api = if mode & 1 == 0 {
        Api::Check
    } else {
        Api::Admin
    };
    let caller = credlist_fuzz::caller(st, mode & 2 != 0);
    let input = input.to_vec();
    let st = st.clone();
    rt.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let listener = if api == Api::Admin {
            Listener::Admin
        } else {
            Listener::Check
        };
        let place = credlist_fuzz::place().await;
        let conn = tokio::spawn(http::serve(
            st,
            server,
            listener,
            api,
            Ident::Unix(caller),
            place.slot.clone(),
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
        drop(place);
    });
});
