//! The snapshot reader on arbitrary bytes: `Snapshot::from_bytes` refuses
//! or accepts, never panics; whatever it accepts can be read in full.
#![no_main]

use credlist::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snap) = Snapshot::from_bytes(data.to_vec()) {
        credlist_fuzz::exercise(&snap);
    }
});
