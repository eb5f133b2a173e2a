//! The snapshot file format, version 2.
//!
//! One immutable file, little-endian throughout, every section 8-byte
//! aligned. Written by [`super::write`], read by [`super::read`]; both
//! probe the key dictionary from [`slot_of`].
//!
//! ```text
//! offset  size  field
//! 0       8     magic "CREDLIST"
//! 8       4     format version (u32) = 2
//! 12      4     number of sections S (u32) = 12
//! 16      8     file length in bytes (u64), footer included
//! 24      4     data date (u32 days since 1970-01-01)
//! 28      4     reserved, 0
//! 32      24×S  section table: kind u32, reserved u32, offset u64, length u64
//! …             sections, in table order, each at an 8-byte aligned offset,
//!               zero padding between them
//! len-16  16    footer: XXH3-128 of bytes [0, len-16), little-endian
//! ```
//!
//! The footer is the whole-file checksum and, in hex, the snapshot id: the
//! same content always has the same id. No wall-clock time is stored.
//!
//! Sections (kind = position in the table, all present, in this order):
//!
//! 0. `META` — bincode of [`Meta`]: data date, input digests, counts, the
//!    the interned authority strings.
//! 1. `CATALOG` — bincode of the [`crate::catalog::Catalog`].
//! 2. `TABLE` — the key dictionary: `u64 capacity`, `u64 reserved`, then
//!    `capacity` slots of 32 bytes, open addressing with linear probing from
//!    slot [`slot_of`] `= (hash(key) × capacity) >> 64` (see
//!    [`crate::codes::Key::hash`]):
//!    ```text
//!    0  12  key (packed code, all zero = empty slot)
//!    12 4   subject id (u32)
//!    16 1   info: bit0 natural person; bits 1-4 the list flags
//!           (BLACK, WATCH, RED, SUSPENDED) valid for days [from, to)
//!    17 1   related: bits 0-2 RELATED_BLACK, _WATCH, _RED (§8) of the
//!           related codes shown to every caller, valid for [from, to)
//!    18 1   the same bits for related codes that count as natural persons
//!           (shown only to callers with person permission)
//!    19 1   reserved, 0
//!    20 4   profile id (u32): the subject's measure profile
//!    24 4   from (u32 day, inclusive)
//!    28 4   to (u32 day, exclusive)
//!    ```
//!    A lookup on a day outside `[from, to)`, or of a subject with a hold
//!    (or a party of an organisation with a hold), evaluates the rules on
//!    the entries instead. `[from, to)` is cut by the boundaries of the
//!    subject's entries, of its relations and of the related subjects'
//!    entries, so that everything precomputed holds on every day of it.
//! 3. `SUBJECTS` — `n + 1` records of 16 bytes, by subject id (subjects are
//!    numbered in the byte order of their packed keys): `key` (12 bytes),
//!    `first entry` (u32); the last record holds only the entry count.
//!    Entries of subject `s` are
//!    `first(s) .. first(s+1)`.
//! 4. `ENTRIES` — fixed 48-byte records sorted by (subject, entry_id):
//!    ```text
//!    0  4  subject id          4  1  kind (0 black, 1 watch, 2 red)
//!    5  1  status (0 active, 1 objection, 2 revoked, 3 repaired, 4 expired)
//!    6  2  domain index in the catalog
//!    8  4  listed_on           12 4  valid_until (u32::MAX = none)
//!    16 4  exited_on (MAX=none) 20 4 watch_until (MAX = none)
//!    24 4  authority index (into META's table)
//!    28 4  reported_on (u32 day, MAX = none; version 2, reserved 0 in 1)
//!    32 8  offset in STRINGS of entry_id, immediately followed by name
//!          and basis
//!    40 2  entry_id length     42 2  name length
//!    44 2  basis length        46 2  reserved, 0
//!    ```
//! 5. `STRINGS` — UTF-8 bytes of entry ids, names, bases and relation ids.
//! 6. `ENTRY_INDEX` — u32 entry numbers sorted by entry_id bytes (holds and
//!    diffs find entries by id with a binary search).
//! 7. `PROFILES` — `u32 count`, `u32 reserved`, `count + 1` u32 offsets,
//!    then 4-byte items `kind u8, via u8, domain u16`: an active hit that
//!    can trigger measures, `via` 0 for the subject's own hit, else
//!    `1 + role` of a relation through which an organisation's hit binds
//!    the subject, plus 0x80 when that organisation's code counts as a
//!    natural person (see [`crate::related::ProfileItem`]).
//! 8. `BITMAPS` — `u32 count`, `u32 reserved`, then per bitmap: `kind u8`,
//!    `reserved u8`, `domain u16` (0xFFFF = every domain), `u32 reserved`,
//!    `u64 length`, the portable roaring serialization, padding to 8.
//!    One bitmap per kind and per (kind, domain), over the subject ids of
//!    all stored entries of that kind whatever their status.
//! 9. `RELATIONS` — fixed 32-byte records sorted by (organisation, party,
//!    relation_id bytes):
//!    ```text
//!    0  4  organisation subject id   4  4  party subject id
//!    8  1  role (0 legal_rep, 1 principal, 2 manager, 3 director,
//!          4 shareholder, 5 professional)
//!    9  1  bit0 the organisation's code counts as a natural person,
//!          bit1 the party's
//!    10 2  relation_id length   12 4  from   16 4  until (MAX = none)
//!    20 4  reserved, 0          24 8  offset in STRINGS of relation_id
//!    ```
//! 10. `ORG_RELATIONS` — `n + 1` u32: the relations of organisation `s` are
//!     records `[s] .. [s + 1]`.
//! 11. `PARTY_RELATIONS` — `n + 1` u32 offsets, then one u32 relation number
//!     per relation sorted by (party, organisation, number): the relations
//!     of party `s` are the numbers at `[s] .. [s + 1]`.
//!
//! A reader refuses a file whose magic, version, length, section table or
//! footer does not match, then checks every structural invariant it relies
//! on, so that no byte pattern can make it read out of bounds or panic.

use crate::codes::Key;
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"CREDLIST";
/// Bumped on any change of layout. A reader refuses other versions with
/// [`super::SnapshotError::Version`]: rebuild the snapshot with the matching
/// `credlist build`.
///
/// History: 1, the first; 2 stores `reported_on` (SPEC §10) at offset 28 of
/// an ENTRIES record, reserved (0) in version 1, where 0 would read as
/// 1970-01-01: hence the bump rather than a silent reinterpretation. Version 2
/// also adds the relation sections (SPEC §8) and the related bytes of a
/// TABLE slot.
pub const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 32;
pub const SECTION_ENTRY_LEN: usize = 24;
pub const FOOTER_LEN: usize = 16;

pub const SLOT_LEN: usize = 32;
pub const SUBJECT_LEN: usize = 16;
pub const ENTRY_LEN: usize = 48;
pub const RELATION_LEN: usize = 32;
pub const NONE_DAY: u32 = u32::MAX;
pub const ALL_DOMAINS: u16 = 0xFFFF;

/// Dictionary load factor: capacity = subjects / LOAD (at least 16).
pub const LOAD_NUM: u64 = 5;
pub const LOAD_DEN: u64 = 10;

/// First probe slot of a key in a TABLE of `capacity` slots: the high 64
/// bits of hash × capacity, which spreads over any capacity without a
/// power of two.
#[inline]
pub fn slot_of(key: Key, capacity: u64) -> u64 {
    slot_of_hash(key.hash(), capacity)
}

/// [`slot_of`] for a key whose hash is known.
#[inline]
pub fn slot_of_hash(hash: u64, capacity: u64) -> u64 {
    ((hash as u128 * capacity as u128) >> 64) as u64
}

/// Info byte of a slot: bit 0.
pub const INFO_PERSON: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Section {
    Meta = 0,
    Catalog = 1,
    Table = 2,
    Subjects = 3,
    Entries = 4,
    Strings = 5,
    EntryIndex = 6,
    Profiles = 7,
    Bitmaps = 8,
    Relations = 9,
    OrgRelations = 10,
    PartyRelations = 11,
}

impl Section {
    pub const ALL: [Section; 12] = [
        Section::Meta,
        Section::Catalog,
        Section::Table,
        Section::Subjects,
        Section::Entries,
        Section::Strings,
        Section::EntryIndex,
        Section::Profiles,
        Section::Bitmaps,
        Section::Relations,
        Section::OrgRelations,
        Section::PartyRelations,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Section::Meta => "META",
            Section::Catalog => "CATALOG",
            Section::Table => "TABLE",
            Section::Subjects => "SUBJECTS",
            Section::Entries => "ENTRIES",
            Section::Strings => "STRINGS",
            Section::EntryIndex => "ENTRY_INDEX",
            Section::Profiles => "PROFILES",
            Section::Bitmaps => "BITMAPS",
            Section::Relations => "RELATIONS",
            Section::OrgRelations => "ORG_RELATIONS",
            Section::PartyRelations => "PARTY_RELATIONS",
        }
    }
}

/// Digest of one input file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDigest {
    /// Path as found by the build.
    pub path: String,
    pub bytes: u64,
    /// XXH3-128 of the file's bytes, hex.
    pub xxh3: String,
}

/// Build-time facts stored in the META section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub data_date: u32,
    pub inputs: Vec<InputDigest>,
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub entries: u64,
    pub subjects: u64,
    pub authorities: Vec<String>,
    pub relations: u64,
}

#[inline]
pub fn u16_at(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

#[inline]
pub fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
pub fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}
