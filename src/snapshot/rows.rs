//! The compact records a [`super::Builder`] holds until it writes the
//! file: tens of millions of them during a big build, so every byte counts.

use crate::codes::Key;
use crate::date::Day;
use crate::entry::{Facts, Kind, Status};
use crate::related::RelationFacts;
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

/// All strings of the accepted entries, back to back: the bytes of
/// earlier builders moved in whole ([`Arena::append`]), then those pushed
/// here. Moving them in rather than copying them keeps a big build from
/// writing hundreds of megabytes of fresh memory; the snapshot's STRINGS
/// section is written from the pieces.
#[derive(Default, Debug)]
pub struct Arena {
    /// Pieces appended whole, and the offset each starts at.
    sealed: Vec<Vec<u8>>,
    starts: Vec<u64>,
    /// Bytes in `sealed`; `bytes` starts at this offset.
    sealed_len: u64,
    pub(crate) bytes: Vec<u8>,
}

impl Arena {
    pub(crate) fn push(&mut self, s: &str) -> Str {
        let off = self.len();
        self.bytes.extend_from_slice(s.as_bytes());
        Str::new(off, s.len())
    }
    /// Bytes held.
    pub(crate) fn len(&self) -> u64 {
        self.sealed_len + self.bytes.len() as u64
    }
    /// Appends `other`'s bytes after these, without copying them.
    pub(crate) fn append(&mut self, other: Arena) {
        for piece in other.sealed.into_iter().chain(std::iter::once(other.bytes)) {
            self.seal();
            self.bytes = piece;
        }
        self.seal();
    }
    /// Moves `bytes` to the sealed pieces.
    fn seal(&mut self) {
        if !self.bytes.is_empty() {
            self.starts.push(self.sealed_len);
            self.sealed_len += self.bytes.len() as u64;
            self.sealed.push(std::mem::take(&mut self.bytes));
        }
    }
    /// The pieces that make up the bytes, in order.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.sealed
            .iter()
            .map(Vec::as_slice)
            .chain(std::iter::once(self.bytes.as_slice()))
    }
    /// The pieces, owned.
    pub(crate) fn into_pieces(mut self) -> Vec<Vec<u8>> {
        self.seal();
        self.sealed
    }
    /// All bytes in one vector (a copy when held in pieces).
    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces().flatten().copied().collect()
    }
    /// The bytes of a string (UTF-8 by construction); for comparisons.
    #[inline]
    pub(crate) fn bytes_of(&self, s: Str) -> &[u8] {
        let off = s.off();
        if off >= self.sealed_len {
            let o = (off - self.sealed_len) as usize;
            return &self.bytes[o..o + s.len()];
        }
        // A string lies within one piece: each was pushed whole.
        let i = self.starts.partition_point(|&b| b <= off) - 1;
        let o = (off - self.starts[i]) as usize;
        &self.sealed[i][o..o + s.len()]
    }
    pub fn get(&self, s: Str) -> &str {
        std::str::from_utf8(self.bytes_of(s)).unwrap_or("")
    }
}

/// Values that repeat (authorities across entries, measure profiles
/// across subjects), stored once and referred to by index, numbered in
/// the order they are first met.
#[derive(Debug)]
pub(crate) struct Interner<T = String> {
    pub(crate) values: Vec<T>,
    index: FxHashMap<T, u32>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            values: Vec::new(),
            index: FxHashMap::default(),
        }
    }
}

impl<T: Eq + std::hash::Hash> Interner<T> {
    /// The number of `v`, given it the first time (owned only then).
    pub(crate) fn intern<Q>(&mut self, v: &Q) -> u32
    where
        T: std::borrow::Borrow<Q>,
        Q: ?Sized + Eq + std::hash::Hash + ToOwned<Owned = T>,
    {
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v.to_owned());
        self.index.insert(v.to_owned(), i);
        i
    }
}

/// An entry's [`Facts`] in 20 bytes instead of 32: each optional day is a
/// day or [`PackedFacts::NONE`] (an `Option<Day>` takes 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedFacts {
    pub(crate) kind: Kind,
    pub(crate) status: Status,
    pub(crate) domain: u16,
    listed_on: i32,
    valid_until: i32,
    exited_on: i32,
    watch_until: i32,
}

impl PackedFacts {
    /// No day: far before any date a list can hold (ingest takes
    /// four-digit years).
    const NONE: i32 = i32::MIN;

    pub(crate) fn unpack(self) -> Facts {
        let day = |d: i32| (d != Self::NONE).then_some(Day(d));
        Facts {
            kind: self.kind,
            status: self.status,
            domain: self.domain,
            listed_on: Day(self.listed_on),
            valid_until: day(self.valid_until),
            exited_on: day(self.exited_on),
            watch_until: day(self.watch_until),
        }
    }
}

impl From<Facts> for PackedFacts {
    fn from(f: Facts) -> PackedFacts {
        let day = |d: Option<Day>| d.map_or(Self::NONE, |d| d.0);
        PackedFacts {
            kind: f.kind,
            status: f.status,
            domain: f.domain,
            listed_on: f.listed_on.0,
            valid_until: day(f.valid_until),
            exited_on: day(f.exited_on),
            watch_until: day(f.watch_until),
        }
    }
}

/// An accepted entry, compact.
#[derive(Clone, Copy, Debug)]
pub struct EntryRec {
    pub(crate) key: KeyBytes,
    pub(crate) person: bool,
    pub(crate) facts: PackedFacts,
    /// §10: the day the listing reached the platform, as stored in the
    /// snapshot (u32 day, `NONE_DAY` = none: 4 bytes, where an
    /// `Option<Day>` would take 8).
    pub(crate) reported_on: u32,
    pub entry_id: Str,
    /// The name and the basis follow the entry_id in the arena, in that
    /// order: only their lengths are kept.
    pub(crate) name_len: u16,
    pub(crate) basis_len: u16,
    pub(crate) authority: u32,
}

impl EntryRec {
    pub(crate) fn name(&self) -> Str {
        Str::new(
            self.entry_id.off() + self.entry_id.len() as u64,
            self.name_len as usize,
        )
    }
    pub(crate) fn basis(&self) -> Str {
        let name = self.name();
        Str::new(name.off() + name.len() as u64, self.basis_len as usize)
    }
}

/// An accepted relation (SPEC §8), compact. Its relation_id lives in the
/// same arena as the entries' strings.
#[derive(Clone, Copy, Debug)]
pub struct RelationRec {
    pub(crate) org: KeyBytes,
    pub(crate) party: KeyBytes,
    /// The organisation's code counts as a natural person (§1: an all-digit
    /// code valid both ways).
    pub(crate) org_person: bool,
    pub(crate) party_person: bool,
    pub(crate) facts: RelationFacts,
    pub relation_id: Str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_facts_give_back_the_facts() {
        let d = |s| Day::parse(s).unwrap();
        for (valid_until, exited_on, watch_until) in [
            (None, None, None),
            (Some(d("2027-01-31")), None, None),
            (None, Some(d("2026-03-01")), Some(d("2029-03-01"))),
            (
                Some(d("9999-12-31")),
                Some(d("1970-01-01")),
                Some(d("0001-01-01")),
            ),
        ] {
            let f = Facts {
                kind: Kind::Watch,
                status: Status::Repaired,
                domain: 65_535,
                listed_on: d("1900-01-01"),
                valid_until,
                exited_on,
                watch_until,
            };
            assert_eq!(PackedFacts::from(f).unpack(), f);
        }
    }

    #[test]
    fn entry_records_stay_small() {
        // Tens of millions of these are held during a build.
        assert!(
            std::mem::size_of::<EntryRec>() <= 56,
            "{}",
            std::mem::size_of::<EntryRec>()
        );
        assert!(
            std::mem::size_of::<RelationRec>() <= 52,
            "{}",
            std::mem::size_of::<RelationRec>()
        );
    }
}
