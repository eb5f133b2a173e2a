//! A batch connection: arbitrary bytes sent on one connection of the
//! batch socket of an in-memory daemon (the real `server::batch::serve`
//! over a `tokio::io::duplex` pair, serving the fixture snapshot). Never a
//! panic; everything the daemon writes is a sequence of well-formed
//! response frames (status 0 with one flag byte per code, or an error
//! status 1–5), answered in order; the connection always ends.
//!
//! Input: 1 byte (bit 0: the restricted client instead of full rights),
//! then the bytes the client sends.
#![no_main]

use credlist::server::batch;
use credlist::wire::batch::{parse_response, Response};
use credlist::server::state::State;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn world() -> &'static (tokio::runtime::Runtime, Arc<State>) {
    static W: OnceLock<(tokio::runtime::Runtime, Arc<State>)> = OnceLock::new();
    W.get_or_init(|| {
        credlist_fuzz::daemon_state("batch", |c| {
            c.limits.max_batch_codes = 64;
            c.limits.max_frames_in_flight = 3;
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let (rt, st) = world();
    let caller = credlist_fuzz::caller(st, mode & 1 != 0);
    let input = input.to_vec();
    let st = st.clone();
    rt.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let conn = tokio::spawn(batch::serve(st, server, caller, rx));
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
            let mut rest = &out[..];
            while !rest.is_empty() {
                let (r, used) = parse_response(rest)
                    .expect("a well-formed response frame")
                    .expect("a whole response frame");
                match r {
                    Response::Flags { flags, .. } => assert!(flags.len() <= 64),
                    Response::Error { status, .. } => assert!((1..=5).contains(&status)),
                }
                rest = &rest[used..];
            }
        }
        tokio::time::timeout(Duration::from_secs(20), conn)
            .await
            .expect("the connection task ended")
            .expect("the connection task did not panic");
    });
});
