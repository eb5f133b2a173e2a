//! A batch connection: arbitrary bytes sent on one connection of the
//! batch socket of an in-memory daemon (the real `server::batch::serve`
//! over a `tokio::io::duplex` pair, serving the fixture snapshot with its
//! relations). Never a panic; everything the daemon writes is a sequence of
//! well-formed response frames (status 0 with one flag byte per code in
//! version 1, a u16 in version 2 with only bits 0–10 set, or an error
//! status 1–5), answered in order, each complete request frame in its own
//! version; the connection always ends.
//!
//! Input: 1 byte (bit 0: the restricted client instead of full rights),
//! then the bytes the client sends.
#![no_main]

use credlist::server::batch;
use credlist::server::state::State;
use credlist::wire::batch::{parse_frame, parse_response, Response, Version};
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
    // The versions of the complete frames the daemon will answer, in order
    // (up to the first refused or incomplete one).
    let mut versions: Vec<Version> = Vec::new();
    let mut rest = &input[..];
    while let Ok(Some((frame, used))) = parse_frame(rest, 64) {
        versions.push(frame.version);
        rest = &rest[used..];
    }
    rt.block_on(async move {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let place = credlist_fuzz::place().await;
        let conn = tokio::spawn(batch::serve(st, server, caller, place.slot.clone(), rx));
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
            let mut k = 0;
            while !rest.is_empty() {
                let (r, used) = parse_response(rest)
                    .expect("a well-formed response frame")
                    .expect("a whole response frame");
                let version = rest[4];
                if let Some(v) = versions.get(k) {
                    assert_eq!(version, v.byte(), "frame {k} answered in its version");
                }
                match r {
                    Response::Flags { flags, .. } => {
                        assert_eq!(version, 1);
                        assert!(flags.len() <= 64)
                    }
                    Response::FlagsV2 { flags, .. } => {
                        assert_eq!(version, 2);
                        assert!(flags.len() <= 64);
                        assert!(flags.iter().all(|w| w & !0x07ff == 0), "{flags:?}");
                    }
                    Response::Error { status, .. } => assert!((1..=5).contains(&status)),
                }
                rest = &rest[used..];
                k += 1;
            }
        }
        tokio::time::timeout(Duration::from_secs(20), conn)
            .await
            .expect("the connection task ended")
            .expect("the connection task did not panic");
        drop(place);
    });
});
