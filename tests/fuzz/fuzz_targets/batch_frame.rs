//! The batch protocol's frame parser: any bytes give "need more", a frame,
//! or an error with status 1 or 2, never a panic; a parsed frame is
//! within its limits, re-encodes to the same bytes, and every shorter
//! prefix of it is incomplete.
//!
//! Frames of both protocol versions (1 and 2) re-encode in their own
//! version; a refused frame is answered in its own version when it names a
//! known one.
//!
//! Input: 1 byte (max codes per frame, 0..=255), then the stream bytes.
#![no_main]

use credlist::wire::batch::{encode_request_in, parse_frame, refusal_version, FrameError, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&max, buf)) = data.split_first() else {
        return;
    };
    let max = max as u32;
    let mut rest = buf;
    // Walk the stream frame by frame, as a connection would.
    for _ in 0..64 {
        match parse_frame(rest, max) {
            Ok(None) => {
                // Incomplete: adding bytes may complete it, never a panic.
                break;
            }
            Ok(Some((frame, used))) => {
                assert!(used >= 24 && used <= rest.len());
                assert_eq!(
                    used as u64,
                    4 + u32::from_le_bytes(rest[..4].try_into().unwrap()) as u64
                );
                assert!(frame.n() <= max as usize);
                assert_eq!(frame.codes.len(), 18 * frame.n());
                let codes: Vec<[u8; 18]> = frame
                    .codes
                    .chunks_exact(18)
                    .map(|c| c.try_into().unwrap())
                    .collect();
                assert_eq!(frame.version.byte(), rest[4]);
                assert_eq!(refusal_version(rest), frame.version);
                let again = encode_request_in(
                    frame.version,
                    frame.request_id,
                    frame.as_of,
                    frame.matter,
                    &codes,
                );
                assert_eq!(&again[..], &rest[..used]);
                assert_eq!(parse_frame(&rest[..used - 1], max), Ok(None));
                rest = &rest[used..];
            }
            Err(e) => {
                assert!(matches!(e.status(), 1 | 2));
                if let FrameError::TooLarge { len, .. } = e {
                    assert!(len >= 20);
                }
                assert!(!e.message(max).is_empty());
                let v = refusal_version(rest);
                assert!(v == Version::V1 || rest[4] == v.byte());
                break;
            }
        }
    }
});
