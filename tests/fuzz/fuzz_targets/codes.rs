//! Subject codes: `codes::parse` never panics; it agrees with
//! `normalize` + `parse_normalized`; canonical codes re-parse to
//! themselves and pack into keys that unpack to them; and `classify` (the
//! batch fast path) agrees with the full parser on every 18-byte input.
//!
//! Input: 2 bytes (evaluation date offset), then the code.
#![no_main]

use credlist::codes::{self, Key};
use credlist::date::Day;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // Evaluation dates from 1900 to 2079: birth-date bounds move with it.
    let as_of = Day(Day::MIN_BIRTH.0 + (u16::from_le_bytes([data[0], data[1]]) as i32));
    let raw = &data[2..];

    if let Ok(b18) = <&[u8; 18]>::try_from(raw) {
        let full = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| codes::parse_normalized(s, as_of).ok())
            .map(|p| p.kind);
        assert_eq!(
            codes::classify(b18, as_of),
            full,
            "classify disagrees with parse_normalized on {raw:?} as of {as_of}"
        );
        if let Some(k) = Key::from_bytes(b18) {
            assert_eq!(&k.to_code().0, b18, "key round trip of {raw:?}");
        }
    }

    let Ok(s) = std::str::from_utf8(raw) else {
        return;
    };
    let norm = codes::normalize(s);
    assert_eq!(
        codes::normalize(&norm),
        norm,
        "normalize is idempotent on {s:?}"
    );
    let parsed = codes::parse(s, as_of);
    assert_eq!(parsed, codes::parse_normalized(&norm, as_of), "{s:?}");
    match parsed {
        Ok(p) => {
            // The canonical code is valid on its own and names itself.
            let again = codes::parse(p.code.as_str(), as_of).expect("canonical code re-parses");
            assert_eq!(again.code, p.code);
            assert_eq!(again.kind, p.kind);
            let key = p.code.key().expect("canonical codes are in the alphabet");
            assert_eq!(key.to_code(), p.code);
            assert_eq!(Key::from_le_bytes(&key.to_le_bytes()), key);
            assert_eq!(codes::classify(&p.code.0, as_of), Some(p.kind));
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
