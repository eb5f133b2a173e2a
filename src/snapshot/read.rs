//! Opening and reading a snapshot file (layout in [`super::format`]).
//!
//! Every accessor works on the verified bytes with bounds-checked reads:
//! whatever the file holds, reading it is never undefined behaviour and
//! never panics.

use super::format::*;
use super::SnapshotError;
use crate::catalog::Catalog;
use crate::codes::Key;
use crate::date::Day;
use crate::entry::{Facts, Kind, Status};
use crate::related::{ProfileItem, RelationFacts, Role, VIA_PERSON};
use crate::rules::{self, Evaluation, MeasureTable, ProfileFlags};
use rayon::prelude::*;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

enum Backing {
    Mapped(memmap2::Mmap),
    /// The daemon's mapping, guarded against changes to the file.
    Guarded(std::sync::Arc<super::guard::Mapping>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Guarded(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// An open, verified snapshot.
pub struct Snapshot {
    bytes: Backing,
    /// The TABLE section copied into anonymous memory backed by huge pages
    /// (mapped snapshots only): random lookups then miss the TLB far less,
    /// which is most of their cost. About 37 bytes an entry.
    table_copy: Option<memmap2::Mmap>,
    /// The probe filter of the table (see `tags`): built at open.
    tags: Option<memmap2::Mmap>,
    sections: [Range<usize>; 12],
    pub meta: Meta,
    pub catalog: Catalog,
    pub measures: MeasureTable,
    /// Hex of the footer digest.
    pub id: String,
    pub data_date: Day,
    capacity: u64,
    nsub: u32,
    nent: u32,
    nrel: u32,
    profiles: Vec<Vec<ProfileItem>>,
    /// Measure bits by `matter * profiles + profile`.
    profile_flags: Vec<ProfileFlags>,
    bitmaps: HashMap<(Kind, u16), RoaringBitmap>,
    watch_days: Vec<u32>,
    /// One bit per subject: in any relation, on either side (empty when
    /// the snapshot has none). A subject without one is answered without
    /// reading the two relation indexes, 40 MB each at 10 M subjects,
    /// where each look is a cache miss, and a costly one on a quiet
    /// daemon (see [`Snapshot::in_relations`]).
    in_relations: Vec<u64>,
}

/// A dictionary hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub sid: u32,
    pub info: u8,
    /// RELATED bits (shifted down by 8) of related codes shown to every
    /// caller, and of those that count as natural persons.
    pub related: u8,
    pub related_person: u8,
    pub profile: u32,
    pub from: u32,
    pub to: u32,
}

impl Slot {
    pub fn person(&self) -> bool {
        self.info & INFO_PERSON != 0
    }

    /// Whether the subject's own status is black or watch (no reward then
    /// reaches it through a relation).
    pub fn black_or_watch(&self) -> bool {
        self.info & (rules::flags::BLACK | rules::flags::WATCH) != 0
    }
}

/// One stored relation, borrowed from the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelationView<'a> {
    /// Relation number in the snapshot.
    pub index: u32,
    /// Subject ids.
    pub org: u32,
    pub party: u32,
    pub org_person: bool,
    pub party_person: bool,
    pub facts: RelationFacts,
    pub relation_id: &'a str,
}

/// One stored entry, borrowed from the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryView<'a> {
    /// Entry number in the snapshot.
    pub index: u32,
    pub sid: u32,
    pub facts: Facts,
    pub entry_id: &'a str,
    pub name: &'a str,
    pub authority: &'a str,
    pub basis: &'a str,
    /// §10: the day the listing reached the platform, if known.
    pub reported_on: Option<Day>,
}

/// Opens a snapshot file, refusing one too short to hold a header and a
/// footer; also returns the mapper of I/O errors to errors naming the path.
fn open_file(
    path: &Path,
) -> Result<(std::fs::File, impl Fn(std::io::Error) -> SnapshotError + '_), SnapshotError> {
    let io = move |source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < (HEADER_LEN + FOOTER_LEN) as u64 {
        return Err(SnapshotError::Truncated {
            len,
            expected: None,
        });
    }
    Ok((file, io))
}

fn corrupt(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt(what.into())
}

impl Snapshot {
    /// Maps and verifies a snapshot file, unguarded: the command line's
    /// open.
    ///
    /// The command line maps its snapshot, like the daemon, and takes the
    /// file's stability on trust instead of guarding it: a command runs
    /// for seconds, and of the two safe ways, reading the file into memory
    /// ([`Snapshot::from_bytes`]) costs about a second and the file's size
    /// in memory for a 10-million-entry snapshot, and the guarded mapping
    /// ([`Snapshot::open_guarded`]) needs a thread handling `SIGIO` and
    /// copies the whole file at once whenever it cannot take a lease (an
    /// operator reading the daemon's snapshot, owned by another user, has
    /// none). Snapshots are installed by renaming a complete file over
    /// the path (what `credlist build` does), which leaves a mapped file
    /// intact.
    ///
    /// # Safety
    ///
    /// The file must not be modified or truncated while the snapshot is
    /// alive (replacing it by a rename is fine). Otherwise verified bytes
    /// change under the borrowed slices the accessors hand out, and
    /// reading a page past a truncated end raises `SIGBUS`.
    pub unsafe fn open(path: &Path) -> Result<Snapshot, SnapshotError> {
        let (file, io) = open_file(path)?;
        // SAFETY: the mapping is read-only and private to this process; the
        // caller guarantees that the file is neither modified nor truncated
        // while it is mapped. Every byte is verified below before any of it
        // is used.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(io)?;
        let mut snap = Snapshot::from_backing(Backing::Mapped(map))?;
        snap.copy_table_to_huge_pages();
        snap.build_probe_filter();
        Ok(snap)
    }

    /// Maps and verifies a snapshot file for the daemon, guarded against
    /// the file being written or truncated in place while it is served
    /// (see [`super::guard`]). The caller must handle `SIGIO` (with
    /// [`super::guard::on_lease_break`]) before calling this.
    pub fn open_guarded(path: &Path) -> Result<Snapshot, SnapshotError> {
        let (file, io) = open_file(path)?;
        let map = super::guard::Mapping::new(path, file).map_err(io)?;
        let mut snap = Snapshot::from_backing(Backing::Guarded(map))?;
        snap.copy_table_to_huge_pages();
        snap.build_probe_filter();
        Ok(snap)
    }

    /// How the snapshot is protected from its file: `None` unless opened
    /// with [`Snapshot::open_guarded`].
    pub fn protection(&self) -> Option<super::guard::Protection> {
        match &self.bytes {
            Backing::Guarded(m) => Some(m.protection()),
            _ => None,
        }
    }

    /// Verifies a snapshot held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Snapshot, SnapshotError> {
        Snapshot::from_backing(Backing::Owned(bytes))
    }

    /// Verifies the bytes (header, digest, section table, metadata,
    /// section lengths, then every record) and builds the lookup tables.
    fn from_backing(bytes: Backing) -> Result<Snapshot, SnapshotError> {
        let b: &[u8] = &bytes;
        let footer = check_header_and_digest(b)?;
        let sections = section_table(b)?;
        let sec = |s: Section| &b[sections[s as usize].clone()];
        let meta: Meta = decode(sec(Section::Meta)).map_err(|e| corrupt(format!("META: {e}")))?;
        let catalog: Catalog =
            decode(sec(Section::Catalog)).map_err(|e| corrupt(format!("CATALOG: {e}")))?;
        catalog
            .validate("(snapshot)")
            .map_err(|e| corrupt(format!("CATALOG: {e}")))?;
        let data_date = Day::from_u32(u32_at(b, 24));
        if meta.data_date != data_date.to_u32() {
            return Err(corrupt("META: data date differs from the header"));
        }
        let (nsub, nent, nrel) = (meta.subjects, meta.entries, meta.relations);
        if nsub >= u32::MAX as u64 || nent >= u32::MAX as u64 || nrel >= u32::MAX as u64 {
            return Err(corrupt("META: counts out of range"));
        }
        let (nsub, nent, nrel) = (nsub as u32, nent as u32, nrel as u32);
        let capacity = check_section_lengths(&sec, nsub, nent, nrel)?;
        let profiles = parse_profiles(sec(Section::Profiles), catalog.domains.len())?;
        let bitmaps = parse_bitmaps(sec(Section::Bitmaps), catalog.domains.len(), nsub)?;

        let measures = MeasureTable::new(&catalog);
        let profile_flags = profile_flag_table(&measures, catalog.matters.len(), &profiles);
        let watch_days = catalog
            .domains
            .iter()
            .map(|d| d.watch_after_exit_days)
            .collect();
        let mut snap = Snapshot {
            sections,
            meta,
            catalog,
            measures,
            id: format!("{footer:032x}"),
            data_date,
            capacity,
            nsub,
            nent,
            nrel,
            profiles,
            profile_flags,
            bitmaps,
            watch_days,
            bytes,
            table_copy: None,
            tags: None,
            in_relations: Vec::new(),
        };
        snap.in_relations = snap.check_structure()?;
        Ok(snap)
    }

    fn sec(&self, s: Section) -> &[u8] {
        &self.bytes[self.sections[s as usize].clone()]
    }

    /// Checks the invariants the accessors rely on (in parallel: it reads
    /// every record once); gives the bits of [`Snapshot::in_relations`],
    /// made while the relation indexes are read.
    fn check_structure(&self) -> Result<Vec<u64>, SnapshotError> {
        let subjects = self.sec(Section::Subjects);
        let mut prev = 0u32;
        for s in 0..=self.nsub as usize {
            let f = u32_at(subjects, s * SUBJECT_LEN + 12);
            if f < prev || (s == 0 && f != 0) || f > self.nent {
                return Err(corrupt(format!("SUBJECTS: entry range of subject {s}")));
            }
            prev = f;
        }
        if prev != self.nent {
            return Err(corrupt("SUBJECTS: entry ranges do not cover the entries"));
        }
        let nstr = self.sec(Section::Strings).len() as u64;
        let ndom = self.catalog.domains.len();
        let nauth = self.meta.authorities.len();
        let entries = self.sec(Section::Entries);
        entries
            .par_chunks(ENTRY_LEN * 4096)
            .enumerate()
            .try_for_each(|(c, chunk)| {
                for (j, r) in chunk.chunks_exact(ENTRY_LEN).enumerate() {
                    let i = c * 4096 + j;
                    let ok = u32_at(r, 0) < self.nsub
                        && Kind::from_u8(r[4]).is_some()
                        && Status::from_u8(r[5]).is_some()
                        && (u16_at(r, 6) as usize) < ndom
                        && (u32_at(r, 24) as usize) < nauth
                        && u64_at(r, 32)
                            .checked_add(
                                u16_at(r, 40) as u64 + u16_at(r, 42) as u64 + u16_at(r, 44) as u64,
                            )
                            .is_some_and(|e| e <= nstr);
                    if !ok {
                        return Err(corrupt(format!("ENTRIES: record {i}")));
                    }
                }
                Ok(())
            })?;
        let index = self.sec(Section::EntryIndex);
        if index.par_chunks(4).any(|c| u32_at(c, 0) >= self.nent) {
            return Err(corrupt("ENTRY_INDEX: entry number out of range"));
        }
        let nprof = self.profiles.len() as u32;
        let table = &self.sec(Section::Table)[16..];
        let used = table
            .par_chunks(SLOT_LEN * 4096)
            .map(|chunk| {
                let mut used = 0u64;
                for s in chunk.chunks_exact(SLOT_LEN) {
                    if s[..12].iter().any(|&b| b != 0) {
                        if u32_at(s, 12) >= self.nsub || u32_at(s, 20) >= nprof {
                            return None;
                        }
                        used += 1;
                    }
                }
                Some(used)
            })
            .try_reduce(|| 0u64, |a, b| Some(a + b));
        if used != Some(self.nsub as u64) {
            return Err(corrupt("TABLE: slots do not match the subjects"));
        }
        self.check_relations()
    }

    /// The relation sections: records in range and in organisation order,
    /// both indexes consistent with them. Gives a bit per subject, set
    /// when it is in a relation on either side (none without relations).
    fn check_relations(&self) -> Result<Vec<u64>, SnapshotError> {
        let nstr = self.sec(Section::Strings).len() as u64;
        let recs = self.sec(Section::Relations);
        let org_first = self.sec(Section::OrgRelations);
        let party = self.sec(Section::PartyRelations);
        let n = self.nsub as usize;
        let mut bits = if self.nrel == 0 {
            Vec::new()
        } else {
            vec![0u64; n.div_ceil(64)]
        };
        let mut monotonic = |b: &[u8], what: &str| -> Result<(), SnapshotError> {
            let mut prev = 0;
            for s in 0..=n {
                let f = u32_at(b, s * 4);
                if f < prev || (s == 0 && f != 0) || f > self.nrel {
                    return Err(corrupt(format!("{what}: range of subject {s}")));
                }
                if f > prev {
                    // Subject s - 1's range is not empty (s > 0 here).
                    if let Some(w) = bits.get_mut((s - 1) / 64) {
                        *w |= 1 << ((s - 1) % 64);
                    }
                }
                prev = f;
            }
            if prev != self.nrel {
                return Err(corrupt(format!(
                    "{what}: ranges do not cover the relations"
                )));
            }
            Ok(())
        };
        monotonic(org_first, "ORG_RELATIONS")?;
        monotonic(party, "PARTY_RELATIONS")?;
        let mut org = 0usize;
        for i in 0..self.nrel as usize {
            let r = &recs[i * RELATION_LEN..(i + 1) * RELATION_LEN];
            while org < n && u32_at(org_first, (org + 1) * 4) as usize <= i {
                org += 1;
            }
            let ok = u32_at(r, 0) as usize == org
                && u32_at(r, 4) < self.nsub
                && Role::from_u8(r[8]).is_some()
                && u64_at(r, 24)
                    .checked_add(u16_at(r, 10) as u64)
                    .is_some_and(|e| e <= nstr);
            if !ok {
                return Err(corrupt(format!("RELATIONS: record {i}")));
            }
        }
        let numbers = &party[(n + 1) * 4..];
        let mut p = 0usize;
        for j in 0..self.nrel as usize {
            while p < n && u32_at(party, (p + 1) * 4) as usize <= j {
                p += 1;
            }
            let i = u32_at(numbers, j * 4);
            if i >= self.nrel || u32_at(recs, i as usize * RELATION_LEN + 4) as usize != p {
                return Err(corrupt(format!("PARTY_RELATIONS: number {j}")));
            }
        }
        Ok(bits)
    }

    pub fn subjects(&self) -> u32 {
        self.nsub
    }

    pub fn entries(&self) -> u32 {
        self.nent
    }

    pub fn relations(&self) -> u32 {
        self.nrel
    }

    pub fn relation(&self, index: u32) -> RelationView<'_> {
        let recs = self.sec(Section::Relations);
        let off = index as usize * RELATION_LEN;
        let r = recs
            .get(off..off + RELATION_LEN)
            .unwrap_or(&[0u8; RELATION_LEN]);
        let so = u64_at(r, 24) as usize;
        let id = self.text_at(so, u16_at(r, 10) as usize);
        RelationView {
            index,
            org: u32_at(r, 0),
            party: u32_at(r, 4),
            org_person: r[9] & 1 != 0,
            party_person: r[9] & 2 != 0,
            facts: RelationFacts {
                role: Role::from_u8(r[8]).unwrap_or(Role::LegalRep),
                from: Day::from_u32(u32_at(r, 12)),
                until: match u32_at(r, 16) {
                    NONE_DAY => None,
                    v => Some(Day::from_u32(v)),
                },
            },
            relation_id: id,
        }
    }

    /// Numbers of the relations in which `sid` is the organisation (§8
    /// rule 2: the parties that hold a role in it).
    pub fn relations_as_org(&self, sid: u32) -> Range<u32> {
        if !self.in_relations(sid) {
            return 0..0;
        }
        let b = self.sec(Section::OrgRelations);
        let a = u32_at(b, sid as usize * 4);
        let z = u32_at(b, (sid as usize + 1) * 4);
        a..z.max(a)
    }

    /// Numbers of the relations in which `sid` is the party (§8 rule 1: the
    /// organisations it holds a role in).
    pub fn relations_as_party(&self, sid: u32) -> impl Iterator<Item = u32> + '_ {
        let b = self.sec(Section::PartyRelations);
        let n = self.nsub as usize + 1;
        let (a, z) = if self.in_relations(sid) {
            let a = u32_at(b, sid as usize * 4) as usize;
            (a, (u32_at(b, (sid as usize + 1) * 4) as usize).max(a))
        } else {
            (0, 0)
        };
        (a..z).map(move |j| u32_at(b, (n + j) * 4))
    }

    /// Is subject `sid` in any relation, as organisation or as party? A
    /// bit in a table of 1.2 MB at 10 M subjects, that a daemon's lookups
    /// keep in the caches.
    ///
    /// Measured on a 2-vCPU KVM guest: 15 reads of random lines of the
    /// 1.8 GB snapshot mapping, made after the thread slept 20-1 000 µs as
    /// a daemon does between requests, cost 6-21 µs each (2.7-10 µs in
    /// anonymous memory), against 0.1 µs in a busy loop, although the 15
    /// did not depend on each other; each read a lookup skips counts.
    #[inline]
    pub fn in_relations(&self, sid: u32) -> bool {
        self.in_relations
            .get(sid as usize / 64)
            .is_some_and(|w| w >> (sid % 64) & 1 != 0)
    }

    pub fn file_len(&self) -> usize {
        self.bytes.len()
    }

    /// Finds a subject by key: linear probing in the mapped table.
    #[inline]
    pub fn lookup(&self, key: Key) -> Option<Slot> {
        let (table, capacity) = self.table();
        lookup_in(table, capacity, key)
    }

    /// The table's slots (without the section's 16-byte header) and its
    /// capacity, for batch lookups.
    #[inline]
    pub fn table(&self) -> (&[u8], u64) {
        match &self.table_copy {
            Some(t) => (t, self.capacity),
            None => (&self.sec(Section::Table)[16..], self.capacity),
        }
    }

    /// Copies the verified TABLE section into huge-page-backed anonymous
    /// memory (see `table_copy`). Best effort: on any failure lookups keep
    /// reading the mapping.
    ///
    /// Only the slots are copied, to the start of the page-aligned copy:
    /// every 32-byte slot then sits within one cache line. In the file the
    /// slots follow a 16-byte header, so half of them straddle two lines
    /// and a lookup of those costs two cache misses.
    fn copy_table_to_huge_pages(&mut self) {
        let src = &self.sec(Section::Table)[16..];
        let Ok(mut anon) = memmap2::MmapOptions::new().len(src.len().max(1)).map_anon() else {
            return;
        };
        #[cfg(target_os = "linux")]
        let _ = anon.advise(memmap2::Advice::HugePage);
        anon[..src.len()].copy_from_slice(src);
        self.table_copy = anon.make_read_only().ok();
    }

    /// Builds the probe filter batch lookups scan before the table (see
    /// `tags`). Best effort: without it they probe the table directly.
    pub fn build_probe_filter(&mut self) {
        let (slots, _) = self.table();
        self.tags = super::tags::build(slots, SLOT_LEN);
    }

    /// The probe filter, one byte a slot, when built.
    #[inline]
    pub fn probe_filter(&self) -> Option<&[u8]> {
        self.tags
            .as_deref()
            .and_then(|t| t.get(..self.capacity as usize))
    }

    /// Measure bits for a matter index and profile id.
    #[inline]
    pub fn profile_flags(&self, matter: usize, profile: u32) -> ProfileFlags {
        self.profile_flags
            .get(matter * self.profiles.len() + profile as usize)
            .copied()
            .unwrap_or_default()
    }

    pub fn profile(&self, id: u32) -> &[ProfileItem] {
        self.profiles.get(id as usize).map_or(&[], |p| p)
    }

    pub fn subject_key(&self, sid: u32) -> Key {
        let s = self.sec(Section::Subjects);
        let off = sid as usize * SUBJECT_LEN;
        s.get(off..off + 12).map_or(Key(0), |b| {
            Key::from_le_bytes(b.try_into().expect("12 bytes"))
        })
    }

    /// Entry numbers of a subject.
    pub fn subject_entries(&self, sid: u32) -> Range<u32> {
        let s = self.sec(Section::Subjects);
        let a = u32_at(s, sid as usize * SUBJECT_LEN + 12);
        let b = u32_at(s, (sid as usize + 1) * SUBJECT_LEN + 12);
        a..b.max(a)
    }

    /// Entry `index`'s ENTRIES record; zeros past the end (an index from
    /// a verified section is in range, so that is never reached).
    #[inline]
    fn entry_rec(&self, index: u32) -> &[u8] {
        let off = index as usize * ENTRY_LEN;
        self.sec(Section::Entries)
            .get(off..off + ENTRY_LEN)
            .unwrap_or(&[0u8; ENTRY_LEN])
    }

    /// `len` bytes of STRINGS from `at` as text; empty when out of range or
    /// not UTF-8 (whatever the file's bytes, reading never fails).
    #[inline]
    fn text_at(&self, at: usize, len: usize) -> &str {
        self.sec(Section::Strings)
            .get(at..at.saturating_add(len))
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or("")
    }

    pub fn entry(&self, index: u32) -> EntryView<'_> {
        let r = self.entry_rec(index);
        let so = u64_at(r, 32) as usize;
        let (il, nl, bl) = (
            u16_at(r, 40) as usize,
            u16_at(r, 42) as usize,
            u16_at(r, 44) as usize,
        );
        EntryView {
            index,
            sid: u32_at(r, 0),
            facts: self.entry_facts(index),
            entry_id: self.text_at(so, il),
            name: self.text_at(so.saturating_add(il), nl),
            authority: self
                .meta
                .authorities
                .get(u32_at(r, 24) as usize)
                .map_or("", |s| s),
            basis: self.text_at(so.saturating_add(il + nl), bl),
            reported_on: match u32_at(r, 28) {
                NONE_DAY => None,
                v => Some(Day::from_u32(v)),
            },
        }
    }

    /// Hints the CPU to fetch what reading subject `sid`'s entries will need,
    /// a step at a time, so that a loop over subjects in no particular order
    /// can overlap the cache misses of several: step 0 its SUBJECTS record,
    /// step 1 its ENTRIES records (reads the SUBJECTS record), step 2 the
    /// start of each entry's strings (reads the ENTRIES records).
    pub fn prefetch_subject(&self, sid: u32, step: u8) {
        match step {
            0 => {
                let s = self.sec(Section::Subjects);
                prefetch(s, sid as usize * SUBJECT_LEN);
            }
            1 => {
                let e = self.sec(Section::Entries);
                for i in self.subject_entries(sid) {
                    prefetch(e, i as usize * ENTRY_LEN);
                }
            }
            _ => {
                let (e, strings) = (self.sec(Section::Entries), self.sec(Section::Strings));
                for i in self.subject_entries(sid) {
                    prefetch(strings, u64_at(e, i as usize * ENTRY_LEN + 32) as usize);
                }
            }
        }
    }

    /// An entry's entry_id and authority: [`Snapshot::entry`] without the
    /// other strings, for those who read many entries.
    pub fn entry_id_authority(&self, index: u32) -> (&str, &str) {
        let r = self.entry_rec(index);
        let entry_id = self.text_at(u64_at(r, 32) as usize, u16_at(r, 40) as usize);
        let authority = self
            .meta
            .authorities
            .get(u32_at(r, 24) as usize)
            .map_or("", |s| s);
        (entry_id, authority)
    }

    /// Finds an entry number by entry_id (binary search in ENTRY_INDEX).
    pub fn find_entry(&self, entry_id: &str) -> Option<u32> {
        let index = self.sec(Section::EntryIndex);
        let (mut lo, mut hi) = (0usize, self.nent as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = u32_at(index, mid * 4);
            match self.entry(e).entry_id.as_bytes().cmp(entry_id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(e),
            }
        }
        None
    }

    /// Entry numbers in entry_id order.
    pub fn entries_by_id(&self) -> impl Iterator<Item = u32> + '_ {
        self.sec(Section::EntryIndex)
            .chunks_exact(4)
            .map(|c| u32_at(c, 0))
    }

    pub fn watch_days(&self, domain: u16) -> u32 {
        self.watch_days
            .get(domain as usize)
            .copied()
            .unwrap_or(crate::catalog::DEFAULT_WATCH_AFTER_EXIT_DAYS)
    }

    /// Evaluates a subject's rules on `day`; `held(entry number)` says which
    /// entries carry a hold. Returns the entries (hit indices refer to them).
    /// The rule facts of an entry, without touching its strings.
    #[inline]
    pub fn entry_facts(&self, index: u32) -> Facts {
        let r = self.entry_rec(index);
        let day = |o: usize| match u32_at(r, o) {
            NONE_DAY => None,
            v => Some(Day::from_u32(v)),
        };
        Facts {
            kind: Kind::from_u8(r[4]).unwrap_or(Kind::Watch),
            status: Status::from_u8(r[5]).unwrap_or(Status::Active),
            domain: u16_at(r, 6),
            listed_on: Day::from_u32(u32_at(r, 8)),
            valid_until: day(12),
            exited_on: day(16),
            watch_until: day(20),
        }
    }

    /// Evaluates a subject's rules from its facts only (`buf` is reused
    /// across calls); hit indices are relative to `subject_entries(sid)`.
    pub fn evaluate_facts(
        &self,
        sid: u32,
        day: Day,
        held: &dyn Fn(u32) -> bool,
        buf: &mut Vec<Facts>,
    ) -> Evaluation {
        let range = self.subject_entries(sid);
        let first = range.start;
        buf.clear();
        buf.extend(range.map(|i| self.entry_facts(i)));
        rules::evaluate(buf, day, &|i| held(first + i as u32), &|d| {
            self.watch_days(d)
        })
    }

    pub fn evaluate(
        &self,
        sid: u32,
        day: Day,
        held: &dyn Fn(u32) -> bool,
    ) -> (Evaluation, Vec<EntryView<'_>>) {
        let views: Vec<EntryView> = self.subject_entries(sid).map(|i| self.entry(i)).collect();
        let facts: Vec<Facts> = views.iter().map(|v| v.facts).collect();
        let ev = rules::evaluate(&facts, day, &|i| held(views[i].index), &|d| {
            self.watch_days(d)
        });
        (ev, views)
    }

    pub fn domain_id(&self, domain: u16) -> &str {
        self.catalog
            .domains
            .get(domain as usize)
            .map_or("?", |d| &d.id)
    }

    /// Subjects with any stored entry of `kind` (in `domain`, or any).
    pub fn bitmap(&self, kind: Kind, domain: Option<u16>) -> Option<&RoaringBitmap> {
        self.bitmaps.get(&(kind, domain.unwrap_or(ALL_DOMAINS)))
    }

    pub fn header_version(&self) -> u32 {
        VERSION
    }
}

/// Hints the CPU to fetch the first two probe slots of `key` (`table` as
/// from [`Snapshot::table`]), so that a batch can overlap the cache misses
/// of many lookups. Two, because at load 0.5 a code that is not in the
/// table is probed 2.5 slots deep on average.
#[inline]
pub fn prefetch_slot(table: &[u8], capacity: u64, key: Key) {
    let off = slot_of(key, capacity) as usize * SLOT_LEN;
    prefetch(table, off);
    prefetch(table, off + SLOT_LEN);
}

/// Slot `i` of `table` (as from [`Snapshot::table`]) when its key is
/// `want`.
#[inline]
pub fn slot_if(table: &[u8], i: u64, want: &[u8; 12]) -> Option<Slot> {
    let off = i as usize * SLOT_LEN;
    let s = table.get(off..off + SLOT_LEN)?;
    (s[..12] == *want).then(|| slot_from(s))
}

/// The fields of a 32-byte slot (its key in bytes 0..12).
#[inline]
fn slot_from(s: &[u8]) -> Slot {
    Slot {
        sid: u32_at(s, 12),
        info: s[16],
        related: s[17],
        related_person: s[18],
        profile: u32_at(s, 20),
        from: u32_at(s, 24),
        to: u32_at(s, 28),
    }
}

/// Hints the CPU to fetch slot `i` of `table`.
#[inline]
pub fn prefetch_slot_at(table: &[u8], i: u64) {
    prefetch(table, i as usize * SLOT_LEN);
}

/// Hints the CPU to fetch the cache line where `items[i]` starts (for
/// bytes: the line holding `items[i]`), if any.
#[inline]
pub fn prefetch<T>(items: &[T], i: usize) {
    if let Some(x) = items.get(i) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is only a hint: it never faults and has no
        // effect on memory; the pointer is into a live slice anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                x as *const T as *const i8,
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = x;
    }
}

/// Linear probing over the slots of a TABLE section (as from
/// [`Snapshot::table`]).
#[inline]
pub fn lookup_in(table: &[u8], capacity: u64, key: Key) -> Option<Slot> {
    let want = key.to_le_bytes();
    let mut i = slot_of(key, capacity);
    // At most `capacity` probes: a corrupt full table cannot loop forever.
    for _ in 0..capacity {
        let off = i as usize * SLOT_LEN;
        let s = table.get(off..off + SLOT_LEN)?;
        if s[..12] == want {
            return Some(slot_from(s));
        }
        if s[..12] == [0u8; 12] {
            return None;
        }
        i += 1;
        if i == capacity {
            i = 0;
        }
    }
    None
}

/// Checks the header (length, magic, version, declared length, section
/// count) and the footer's digest of the body; returns the digest.
fn check_header_and_digest(b: &[u8]) -> Result<u128, SnapshotError> {
    let len = b.len() as u64;
    if b.len() < HEADER_LEN + FOOTER_LEN {
        return Err(SnapshotError::Truncated {
            len,
            expected: None,
        });
    }
    if &b[..8] != MAGIC {
        return Err(SnapshotError::Magic);
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(SnapshotError::Version {
            expected: VERSION,
            got: version,
        });
    }
    let declared = u64_at(b, 16);
    if declared != len {
        return Err(SnapshotError::Truncated {
            len,
            expected: Some(declared),
        });
    }
    let nsec = u32_at(b, 12) as usize;
    if nsec != Section::ALL.len() {
        return Err(corrupt(format!(
            "header: {nsec} sections, expected {}",
            Section::ALL.len()
        )));
    }
    let body_end = b.len() - FOOTER_LEN;
    let footer = u128::from_le_bytes(b[body_end..].try_into().expect("16 bytes"));
    let digest = xxhash_rust::xxh3::xxh3_128(&b[..body_end]);
    if digest != footer {
        return Err(SnapshotError::Checksum {
            expected: format!("{footer:032x}"),
            got: format!("{digest:032x}"),
        });
    }
    Ok(footer)
}

/// Reads the section table of a checked header: every section of its kind,
/// in order, 8-aligned, not overlapping, inside the body.
fn section_table(b: &[u8]) -> Result<[Range<usize>; 12], SnapshotError> {
    let body_end = b.len() - FOOTER_LEN;
    let mut sections: [Range<usize>; 12] = Default::default();
    let mut prev_end = HEADER_LEN + Section::ALL.len() * SECTION_ENTRY_LEN;
    for (i, s) in Section::ALL.iter().enumerate() {
        let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let (kind, off, slen) = (u32_at(b, e), u64_at(b, e + 8), u64_at(b, e + 16));
        let end = off.checked_add(slen).filter(|&end| end <= body_end as u64);
        match end {
            Some(end) if kind == *s as u32 && off % 8 == 0 && off >= prev_end as u64 => {
                sections[i] = off as usize..end as usize;
                prev_end = end as usize;
            }
            _ => return Err(corrupt(format!("section table entry {} ({})", i, s.name()))),
        }
    }
    Ok(sections)
}

/// Checks the lengths of the fixed-size sections against the counts;
/// returns the table's capacity.
fn check_section_lengths<'a>(
    sec: &impl Fn(Section) -> &'a [u8],
    nsub: u32,
    nent: u32,
    nrel: u32,
) -> Result<u64, SnapshotError> {
    let table = sec(Section::Table);
    let capacity = u64_at(table, 0);
    if capacity == 0
        || capacity
            .checked_mul(SLOT_LEN as u64)
            .and_then(|n| n.checked_add(16))
            != Some(table.len() as u64)
        || capacity < nsub as u64
    {
        return Err(corrupt("TABLE: length does not match its capacity"));
    }
    if sec(Section::Subjects).len() as u64 != (nsub as u64 + 1) * SUBJECT_LEN as u64 {
        return Err(corrupt("SUBJECTS: length does not match the subject count"));
    }
    if sec(Section::Entries).len() as u64 != nent as u64 * ENTRY_LEN as u64 {
        return Err(corrupt("ENTRIES: length does not match the entry count"));
    }
    if sec(Section::EntryIndex).len() as u64 != nent as u64 * 4 {
        return Err(corrupt(
            "ENTRY_INDEX: length does not match the entry count",
        ));
    }
    if sec(Section::Relations).len() as u64 != nrel as u64 * RELATION_LEN as u64 {
        return Err(corrupt(
            "RELATIONS: length does not match the relation count",
        ));
    }
    if sec(Section::OrgRelations).len() as u64 != (nsub as u64 + 1) * 4 {
        return Err(corrupt(
            "ORG_RELATIONS: length does not match the subject count",
        ));
    }
    if sec(Section::PartyRelations).len() as u64 != (nsub as u64 + 1 + nrel as u64) * 4 {
        return Err(corrupt("PARTY_RELATIONS: length does not match the counts"));
    }
    Ok(capacity)
}

/// Measure bits of every matter and profile, by `matter * profiles +
/// profile`.
fn profile_flag_table(
    measures: &MeasureTable,
    matters: usize,
    profiles: &[Vec<ProfileItem>],
) -> Vec<ProfileFlags> {
    let mut flags = vec![ProfileFlags::default(); matters * profiles.len()];
    for m in 0..matters {
        for (p, prof) in profiles.iter().enumerate() {
            flags[m * profiles.len() + p] = measures.item_flags(m, prof);
        }
    }
    flags
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(b.len() as u64)
        .deserialize(b)
        .map_err(|e| e.to_string())
}

fn parse_profiles(b: &[u8], ndom: usize) -> Result<Vec<Vec<ProfileItem>>, SnapshotError> {
    let count = u32_at(b, 0) as usize;
    let offs_end = 8usize.checked_add(
        count
            .checked_add(1)
            .and_then(|c| c.checked_mul(4))
            .ok_or_else(|| corrupt("PROFILES: count"))?,
    );
    if offs_end.is_none_or(|e| e > b.len()) {
        return Err(corrupt("PROFILES: offsets past the end"));
    }
    let offs_end = offs_end.expect("checked");
    let pairs = &b[offs_end..];
    let mut out = Vec::with_capacity(count);
    for p in 0..count {
        let (a, z) = (
            u32_at(b, 8 + p * 4) as usize,
            u32_at(b, 12 + p * 4) as usize,
        );
        if a > z || z * 4 > pairs.len() {
            return Err(corrupt(format!("PROFILES: profile {p}")));
        }
        let mut v = Vec::with_capacity(z - a);
        for q in a..z {
            let kind = Kind::from_u8(pairs[q * 4])
                .ok_or_else(|| corrupt(format!("PROFILES: kind in profile {p}")))?;
            let via = pairs[q * 4 + 1];
            let role = via & !VIA_PERSON;
            if role != 0 && Role::from_u8(role - 1).is_none() {
                return Err(corrupt(format!("PROFILES: via in profile {p}")));
            }
            let dom = u16_at(pairs, q * 4 + 2);
            if dom as usize >= ndom {
                return Err(corrupt(format!("PROFILES: domain in profile {p}")));
            }
            v.push(ProfileItem {
                kind,
                via,
                domain: dom,
            });
        }
        out.push(v);
    }
    if out.is_empty() {
        // Every table slot refers to a profile; an empty snapshot has none.
        out.push(Vec::new());
    }
    Ok(out)
}

fn parse_bitmaps(
    b: &[u8],
    ndom: usize,
    nsub: u32,
) -> Result<HashMap<(Kind, u16), RoaringBitmap>, SnapshotError> {
    let count = u32_at(b, 0) as usize;
    let mut off = 8usize;
    let mut out = HashMap::new();
    for i in 0..count {
        let head = b
            .get(off..off + 16)
            .ok_or_else(|| corrupt(format!("BITMAPS: bitmap {i} past the end")))?;
        let kind = Kind::from_u8(head[0])
            .ok_or_else(|| corrupt(format!("BITMAPS: kind of bitmap {i}")))?;
        let dom = u16_at(head, 2);
        if dom != ALL_DOMAINS && dom as usize >= ndom {
            return Err(corrupt(format!("BITMAPS: domain of bitmap {i}")));
        }
        let len = u64_at(head, 8) as usize;
        let body = off
            .checked_add(16)
            .and_then(|s| b.get(s..s.checked_add(len)?))
            .ok_or_else(|| corrupt(format!("BITMAPS: bitmap {i} past the end")))?;
        let bm = RoaringBitmap::deserialize_from(body)
            .map_err(|e| corrupt(format!("BITMAPS: bitmap {i}: {e}")))?;
        if bm.max().is_some_and(|m| m >= nsub) {
            return Err(corrupt(format!(
                "BITMAPS: bitmap {i} names a subject out of range"
            )));
        }
        out.insert((kind, dom), bm);
        off = (off + 16 + len).div_ceil(8) * 8;
    }
    Ok(out)
}
