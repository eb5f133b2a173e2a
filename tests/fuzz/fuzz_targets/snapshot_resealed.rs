//! The snapshot reader's structural checks: a valid snapshot (the fixtures,
//! built by the real build) is changed by a list of edits, then its length
//! field and footer checksum are fixed up, as a hostile or buggy writer
//! would, so that every check after the checksum is reached. The reader
//! refuses, or accepts a file that can then be read in full without a
//! panic or an out-of-bounds read.
//!
//! Input: edits of 6 bytes: op, offset (u32 LE, modulo the length), value.
//! op % 6: 0 set byte, 1 xor byte, 2 write the value as a u32, 3 write
//! u32::MAX, 4 write the value as a u64, 5 truncate to the offset.
#![no_main]

use credlist::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = credlist_fuzz::fixture_snapshot().to_vec();
    for e in data.chunks_exact(6).take(64) {
        let len = b.len();
        if len < 48 {
            break;
        }
        let off = u32::from_le_bytes([e[1], e[2], e[3], e[4]]) as usize % len;
        let v = e[5];
        let put = |b: &mut Vec<u8>, bytes: &[u8]| {
            let n = bytes.len().min(b.len() - off);
            b[off..off + n].copy_from_slice(&bytes[..n]);
        };
        match e[0] % 6 {
            0 => b[off] = v,
            1 => b[off] ^= v,
            2 => put(&mut b, &(v as u32).to_le_bytes()),
            3 => put(&mut b, &u32::MAX.to_le_bytes()),
            4 => put(&mut b, &(v as u64).to_le_bytes()),
            _ => b.truncate(off.max(48)),
        }
    }
    // Fix the header's length field and the footer, as a resealer would.
    let len = b.len() as u64;
    b[16..24].copy_from_slice(&len.to_le_bytes());
    credlist_fuzz::reseal(&mut b);
    if let Ok(snap) = Snapshot::from_bytes(b) {
        credlist_fuzz::exercise(&snap);
    }
});
