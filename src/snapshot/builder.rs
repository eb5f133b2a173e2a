//! Building a snapshot: accepted entries are pushed as they are read, then
//! `Builder::finish` indexes them into the file's sections, which
//! [`Sections::write_file`] writes durably.
//!
//! A build that reads files in parallel gives each file a builder of its
//! own and `Builder::append`s them, in input order, into one.

use super::format::{Meta, NONE_DAY};
use super::rows::{Arena, EntryRec, Interner};
use super::write::{assemble, Sections};
use super::SnapshotError;
use crate::catalog::Catalog;
use crate::codes::Key;
use crate::date::Day;
use crate::entry::Facts;

/// One accepted entry, as pushed; its strings are copied into the builder.
pub(crate) struct Row<'a> {
    pub(crate) key: Key,
    /// The code counts as a natural person (§1).
    pub(crate) person: bool,
    pub(crate) facts: Facts,
    /// §10: the day the listing reached the platform.
    pub(crate) reported_on: Option<Day>,
    pub(crate) entry_id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) authority: &'a str,
    pub(crate) basis: &'a str,
}

/// The accepted entries of a build and their strings, in push order.
#[derive(Default, Debug)]
pub struct Builder {
    pub entries: Vec<EntryRec>,
    /// Each entry's entry_id, name and basis, back to back.
    pub arena: Arena,
    pub(crate) authorities: Interner,
}

impl Builder {
    /// Room for about `rows` entries and `string_bytes` of their strings.
    pub(crate) fn with_capacity(rows: usize, string_bytes: usize) -> Builder {
        let mut b = Builder::default();
        b.reserve(rows, string_bytes);
        b
    }

    /// Reserves room so that the big vectors do not grow by copying.
    pub(crate) fn reserve(&mut self, rows: usize, string_bytes: usize) {
        self.entries.reserve(rows);
        self.arena.bytes.reserve(string_bytes);
    }

    pub(crate) fn push(&mut self, row: &Row) {
        let rec = EntryRec {
            key: row.key.into(),
            person: row.person,
            facts: row.facts,
            reported_on: row.reported_on.map_or(NONE_DAY, Day::to_u32),
            entry_id: self.arena.push(row.entry_id),
            name: self.arena.push(row.name),
            authority: self.authorities.intern(row.authority),
            // Decision numbers are mostly unique: stored, not interned.
            basis: self.arena.push(row.basis),
        };
        self.entries.push(rec);
    }

    /// Moves the entries of `part` after this builder's, in order, keeping
    /// those for which `keep(index in part, entry_id bytes)` is true.
    pub(crate) fn append(&mut self, part: Builder, mut keep: impl FnMut(usize, &[u8]) -> bool) {
        let base = self.arena.bytes.len() as u64;
        self.arena.bytes.extend_from_slice(&part.arena.bytes);
        let auth: Vec<u32> = part
            .authorities
            .values
            .iter()
            .map(|v| self.authorities.intern(v))
            .collect();
        for (i, mut e) in part.entries.into_iter().enumerate() {
            if !keep(i, part.arena.bytes_of(e.entry_id)) {
                continue;
            }
            e.entry_id = e.entry_id.shifted(base);
            e.name = e.name.shifted(base);
            e.authority = auth[e.authority as usize];
            e.basis = e.basis.shifted(base);
            self.entries.push(e);
        }
    }

    /// Indexes the entries into the sections of a snapshot as of
    /// `data_date`, ready to be written. `meta` carries the input digests
    /// and row counts; entry and subject counts are filled in here.
    pub(crate) fn finish(
        self,
        catalog: &Catalog,
        data_date: Day,
        meta: Meta,
    ) -> Result<Sections, SnapshotError> {
        let Builder {
            entries,
            arena,
            authorities,
        } = self;
        assemble(entries, arena, authorities.values, catalog, data_date, meta)
    }
}
