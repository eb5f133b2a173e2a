//! The probe filter: one byte for each slot of the TABLE section, built in
//! memory when a snapshot is opened (it is not in the file). `0` marks an
//! empty slot; an occupied slot holds `0x80` and seven bits of its key's
//! hash (bits the slot position does not depend on).
//!
//! Batch lookups scan the filter first. A code that is not in the table,
//! half of a typical bulk check, is answered from the filter alone, about
//! 127 times in 128: the filter is 32 times smaller than the table (a
//! byte for a 32-byte slot), so its lines stay in the processor's caches
//! and its pages in the TLB where the table's do not. A listed code costs
//! one filter byte more and reads its slot as before.

use crate::codes::Key;
use rayon::prelude::*;

/// The filter byte of an empty slot.
pub const EMPTY: u8 = 0;

/// The filter byte of an occupied slot whose key hashes to `hash`.
#[inline]
pub fn tag_of(hash: u64) -> u8 {
    0x80 | (hash as u8 & 0x7f)
}

/// Builds the filter of a table's slots (`slot_len` bytes each, the key in
/// the first 12, all zero when empty), in huge-page-backed memory when it
/// can be had. `None` when no memory could be mapped.
pub fn build(slots: &[u8], slot_len: usize) -> Option<memmap2::Mmap> {
    let n = slots.len() / slot_len;
    let mut tags = memmap2::MmapOptions::new().len(n.max(1)).map_anon().ok()?;
    #[cfg(target_os = "linux")]
    let _ = tags.advise(memmap2::Advice::HugePage);
    const CHUNK: usize = 1 << 16;
    tags[..n]
        .par_chunks_mut(CHUNK)
        .zip(slots.par_chunks(CHUNK * slot_len))
        .for_each(|(t, s)| {
            for (t, slot) in t.iter_mut().zip(s.chunks_exact(slot_len)) {
                let key: &[u8; 12] = slot[..12].try_into().expect("12 bytes");
                *t = if *key == [0u8; 12] {
                    EMPTY
                } else {
                    tag_of(Key::from_le_bytes(key).hash())
                };
            }
        });
    tags.make_read_only().ok()
}

/// The first slot at or after `from` (going round) whose filter byte is
/// `tag`: the next one that may hold the key. `None` at an empty slot
/// first: the key is not in the table.
#[inline]
pub fn next_candidate(tags: &[u8], from: u64, tag: u8) -> Option<u64> {
    let cap = tags.len();
    let mut i = from as usize;
    if i >= cap {
        i = 0;
    }
    // At most one round: a filter without an empty byte cannot loop.
    for _ in 0..cap {
        let t = tags[i];
        if t == tag {
            return Some(i as u64);
        }
        if t == EMPTY {
            return None;
        }
        i += 1;
        if i == cap {
            i = 0;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_stop_at_the_first_empty_slot_and_wrap_round() {
        let t = [0x81, EMPTY, 0x82, 0x81, 0x83];
        assert_eq!(next_candidate(&t, 0, 0x81), Some(0));
        assert_eq!(next_candidate(&t, 1, 0x81), None);
        assert_eq!(next_candidate(&t, 2, 0x81), Some(3));
        assert_eq!(next_candidate(&t, 4, 0x81), Some(0));
        assert_eq!(next_candidate(&t, 4, 0x82), None);
        // No empty byte and no match: one round, then none.
        assert_eq!(next_candidate(&[0x81, 0x82], 1, 0x83), None);
        assert_eq!(next_candidate(&[], 0, 0x83), None);
    }

    #[test]
    fn the_filter_marks_occupied_slots_with_their_hash_bits() {
        let k = Key(12345 << 40 | 77);
        let mut slots = vec![0u8; 32 * 3];
        slots[32..44].copy_from_slice(&k.to_le_bytes());
        let f = build(&slots, 32).unwrap();
        assert_eq!(&f[..3], &[EMPTY, tag_of(k.hash()), EMPTY]);
        assert!(f[1] & 0x80 != 0);
    }
}
