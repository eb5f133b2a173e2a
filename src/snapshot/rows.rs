//! The compact records a [`super::Builder`] holds until it writes the
//! file: tens of millions of them during a big build, so every byte counts.

use crate::codes::Key;
use crate::entry::Facts;
use rustc_hash::FxHashMap;

/// A string stored in the [`Arena`]: a 48-bit offset and a 16-bit length
/// in 8 bytes (the snapshot stores string lengths as u16, and ingest limits
/// field values to 4096 bytes), so that an entry record stays small when
/// there are tens of millions of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Str {
    off_lo: u32,
    off_hi: u16,
    len: u16,
}

impl Str {
    fn new(off: u64, len: usize) -> Str {
        Str {
            off_lo: off as u32,
            off_hi: (off >> 32) as u16,
            len: len as u16,
        }
    }
    #[inline]
    pub(crate) fn off(self) -> u64 {
        self.off_lo as u64 | (self.off_hi as u64) << 32
    }
    #[inline]
    pub(crate) fn len(self) -> usize {
        self.len as usize
    }
    /// The same string in an arena appended after `base` bytes.
    pub(crate) fn shifted(self, base: u64) -> Str {
        Str::new(self.off() + base, self.len())
    }
}

/// A packed [`Key`] in 12 bytes, 4-byte aligned (a `u128` would make every
/// entry record 16-byte aligned). Ordered by its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeyBytes(pub(crate) [u8; 12]);

impl KeyBytes {
    pub(crate) fn key(self) -> Key {
        Key::from_le_bytes(&self.0)
    }
}

impl From<Key> for KeyBytes {
    fn from(k: Key) -> KeyBytes {
        KeyBytes(k.to_le_bytes())
    }
}

/// All strings of the accepted entries, back to back.
#[derive(Default, Debug)]
pub struct Arena {
    pub(crate) bytes: Vec<u8>,
}

impl Arena {
    pub(crate) fn push(&mut self, s: &str) -> Str {
        let off = self.bytes.len() as u64;
        self.bytes.extend_from_slice(s.as_bytes());
        Str::new(off, s.len())
    }
    /// The bytes of a string (UTF-8 by construction); for comparisons.
    #[inline]
    pub(crate) fn bytes_of(&self, s: Str) -> &[u8] {
        &self.bytes[s.off() as usize..s.off() as usize + s.len()]
    }
    pub fn get(&self, s: Str) -> &str {
        std::str::from_utf8(self.bytes_of(s)).unwrap_or("")
    }
}

/// Strings that repeat across entries (authorities), stored
/// once and referred to by index.
#[derive(Default, Debug)]
pub(crate) struct Interner {
    pub(crate) values: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

/// An accepted entry, compact.
#[derive(Clone, Copy, Debug)]
pub struct EntryRec {
    pub(crate) key: KeyBytes,
    pub(crate) person: bool,
    pub(crate) facts: Facts,
    /// §10: the day the listing reached the platform, as stored in the
    /// snapshot (u32 day, `NONE_DAY` = none: 4 bytes, where an
    /// `Option<Day>` would take 8).
    pub(crate) reported_on: u32,
    pub entry_id: Str,
    pub(crate) name: Str,
    pub(crate) authority: u32,
    /// Stored right after `name` in the arena (entry_id, name, basis).
    pub(crate) basis: Str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_records_stay_small() {
        // Tens of millions of these are held during a build. 76 bytes, and
        // 4 more for reported_on (§10).
        assert!(
            std::mem::size_of::<EntryRec>() <= 80,
            "{}",
            std::mem::size_of::<EntryRec>()
        );
    }
}
