//! Turning accepted entries into the sections of a snapshot file and
//! writing it (layout in [`super::format`]).

use super::format::*;
use super::rows::{Arena, EntryRec, RelationRec};
use super::summary::{summarize, Endpoints, Profile, Relations, Subjects, Summaries, Summary};
use super::SnapshotError;
use crate::catalog::Catalog;
use crate::date::Day;
use crate::related::ProfileItem;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// The sections of a snapshot, ready to be written: small or irregular
/// sections as bytes, the big fixed-record ones as the data they are
/// generated from while the file is written (so that they never take
/// memory of their own).
pub struct Sections {
    pub data_date: Day,
    parts: Vec<Part>,
    built: Built,
}

/// One section's content.
enum Part {
    Bytes(Vec<u8>),
    /// Bytes in pieces, back to back.
    Pieces(Vec<Vec<u8>>),
    Gen(Gen),
}

/// A section generated record by record from [`Built`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gen {
    /// `u64 capacity`, `u64 reserved`, then the slots.
    Table,
    Subjects,
    Entries,
    Relations,
}

/// What the generated sections are made of.
#[derive(Default)]
struct Built {
    entries: Vec<EntryRec>,
    subjects: Option<Subjects>,
    relations: Option<Relations>,
    summaries: Vec<Summary>,
    subject_profile: Vec<u32>,
    /// TABLE slot `i` holds subject `slot_sid[i]`, `u32::MAX` when empty.
    slot_sid: Vec<u32>,
}

/// Records generated at a time while writing: 4 MiB of the longest.
const GEN_RECORDS: usize = (4 << 20) / SLOT_LEN;

impl Gen {
    fn record_len(self) -> usize {
        match self {
            Gen::Table => SLOT_LEN,
            Gen::Subjects => SUBJECT_LEN,
            Gen::Entries => ENTRY_LEN,
            Gen::Relations => RELATION_LEN,
        }
    }

    /// Bytes before the records.
    fn head(self, b: &Built) -> Vec<u8> {
        match self {
            Gen::Table => {
                let mut h = vec![0u8; 16];
                h[..8].copy_from_slice(&(b.slot_sid.len() as u64).to_le_bytes());
                h
            }
            _ => Vec::new(),
        }
    }

    fn records(self, b: &Built) -> usize {
        match self {
            Gen::Table => b.slot_sid.len(),
            Gen::Subjects => b.subjects().len() + 1,
            Gen::Entries => b.entries.len(),
            Gen::Relations => b.relations().recs.len(),
        }
    }

    fn len(self, b: &Built) -> usize {
        self.head(b).len() + self.records(b) * self.record_len()
    }

    /// Writes records `from .. from + out.len() / record_len` into `out`.
    fn fill(self, b: &Built, from: usize, out: &mut [u8]) {
        match self {
            Gen::Table => table_slots(b, from, out),
            Gen::Subjects => subject_records(b.subjects(), from, out),
            Gen::Entries => entry_records(&b.entries, &b.subjects().first, from, out),
            Gen::Relations => relation_records(b.relations(), from, out),
        }
    }
}

impl Built {
    fn subjects(&self) -> &Subjects {
        self.subjects.as_ref().expect("set by assemble")
    }
    fn relations(&self) -> &Relations {
        self.relations.as_ref().expect("set by assemble")
    }
}

/// Builds every section from the accepted entries, one step per section in
/// the order of [`super::format`].
pub(crate) fn assemble(
    entries: Vec<EntryRec>,
    relations: Vec<RelationRec>,
    arena: Arena,
    authorities: Vec<String>,
    catalog: &Catalog,
    data_date: Day,
    mut meta: Meta,
) -> Result<Sections, SnapshotError> {
    if entries.len() >= u32::MAX as usize || relations.len() >= u32::MAX as usize {
        return Err(SnapshotError::TooLarge(
            "more than 4 294 967 294 entries or relations",
        ));
    }
    // The relations' endpoints do not depend on the entries' order.
    let ((entries, entry_index), ends) = rayon::join(
        || order_entries(entries, &arena),
        || Endpoints::new(&relations),
    );
    let subjects = Subjects::new(&entries, &relations, &ends);
    if subjects.len() >= u32::MAX as usize {
        return Err(SnapshotError::TooLarge("more than 4 294 967 294 subjects"));
    }
    let relations = Relations::new(relations, &subjects, &ends, &arena);
    drop(ends);
    let Summaries {
        of: summaries,
        profile_of: subject_profile,
        profiles,
    } = summarize(&entries, &subjects, &relations, catalog, data_date);
    let prof = profiles_section(&profiles);
    drop(profiles);
    let (slot_sid, bitmaps) = rayon::join(
        || table_slots_of(&subjects),
        || bitmaps_section(&entries, &subjects.first, catalog.domains.len()),
    );
    let org_relations = u32s_section(&relations.org_first);
    let party_relations = party_relations_section(&relations);

    meta.data_date = data_date.to_u32();
    meta.entries = entries.len() as u64;
    meta.subjects = subjects.len() as u64;
    meta.relations = relations.recs.len() as u64;
    meta.authorities = authorities;
    let meta_bytes = bincode::serialize(&meta).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    let catalog_bytes =
        bincode::serialize(catalog).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    // STRINGS is the arena as ingest filled it: each entry's name and basis
    // directly follow its entry_id there; relation ids lie in between.
    let strings = arena.into_pieces();
    Ok(Sections {
        data_date,
        parts: vec![
            Part::Bytes(meta_bytes),
            Part::Bytes(catalog_bytes),
            Part::Gen(Gen::Table),
            Part::Gen(Gen::Subjects),
            Part::Gen(Gen::Entries),
            Part::Pieces(strings),
            Part::Bytes(entry_index),
            Part::Bytes(prof),
            Part::Bytes(bitmaps),
            Part::Gen(Gen::Relations),
            Part::Bytes(org_relations),
            Part::Bytes(party_relations),
        ],
        built: Built {
            entries,
            subjects: Some(subjects),
            relations: Some(relations),
            summaries,
            subject_profile,
            slot_sid,
        },
    })
}

/// The entries sorted by (subject key, entry_id), so that subjects get ids
/// in key order, and ENTRY_INDEX: their numbers in that order, listed by
/// entry_id. Fewer than `u32::MAX` entries.
///
/// Both orders come from sorts of integers. First each entry's rank by
/// entry_id: the first 12 bytes of the entry_id (big-endian, zero-padded)
/// above the entry's position, compared as one integer, by full bytes only
/// where those 12 bytes tie. Then (subject key, rank) as one integer. The
/// ranks are taken while the entries are in the order ingest wrote their
/// strings, so the entry_ids are read in order; sorting the records
/// themselves compared entry_ids at random, on every tie of subject keys.
fn order_entries(entries: Vec<EntryRec>, arena: &Arena) -> (Vec<EntryRec>, Vec<u8>) {
    let bytes = |x: u128| arena.bytes_of(entries[x as u32 as usize].entry_id);
    let mut by_id: Vec<u128> = (0..entries.len() as u32)
        .into_par_iter()
        .map(|i| {
            let b = bytes(i as u128);
            let mut p = [0u8; 16];
            let n = b.len().min(12);
            p[..n].copy_from_slice(&b[..n]);
            u128::from_be_bytes(p) | i as u128
        })
        .collect();
    by_id.par_sort_unstable_by(|&a, &b| {
        (a >> 32)
            .cmp(&(b >> 32))
            .then_with(|| bytes(a).cmp(bytes(b)))
    });
    // The subject key's 12 bytes as one big-endian integer (the order of
    // comparing the bytes) above the rank: no two are equal.
    let mut by_key: Vec<u128> = by_id
        .par_iter()
        .enumerate()
        .map(|(rank, &x)| {
            let mut b = [0u8; 16];
            b[..12].copy_from_slice(&entries[x as u32 as usize].key.0);
            u128::from_be_bytes(b) | rank as u128
        })
        .collect();
    // Only the positions of by_id are read from here on.
    let by_id: Vec<u32> = by_id.par_iter().map(|&x| x as u32).collect();
    by_key.par_sort_unstable();
    rayon::join(
        || {
            by_key
                .par_iter()
                .map(|&x| entries[by_id[x as u32 as usize] as usize])
                .collect()
        },
        || {
            let mut entry_index = vec![0u8; by_key.len() * 4];
            for (number, &x) in by_key.iter().enumerate() {
                let rank = x as u32 as usize;
                entry_index[rank * 4..rank * 4 + 4].copy_from_slice(&(number as u32).to_le_bytes());
            }
            entry_index
        },
    )
}

/// TABLE: the subject in each slot of the key dictionary, inserted in
/// subject order with linear probing (the slot layout depends on that
/// order).
fn table_slots_of(subjects: &Subjects) -> Vec<u32> {
    let nsub = subjects.len();
    let capacity = ((nsub as u64 * LOAD_DEN).div_ceil(LOAD_NUM)).max(16);
    let mut slots = vec![u32::MAX; capacity as usize];
    for s in 0..nsub {
        let mut i = slot_of(subjects.keys[s].key(), capacity) as usize;
        while slots[i] != u32::MAX {
            i = if i + 1 == slots.len() { 0 } else { i + 1 };
        }
        slots[i] = s as u32;
    }
    slots
}

/// TABLE slots `from ..`: key, subject id and summary of the subject in each
/// (all zero when empty).
fn table_slots(b: &Built, from: usize, out: &mut [u8]) {
    let subjects = b.subjects();
    for (slot, &sid) in out.chunks_exact_mut(SLOT_LEN).zip(&b.slot_sid[from..]) {
        slot.fill(0);
        if sid == u32::MAX {
            continue;
        }
        let s = sid as usize;
        let sum = &b.summaries[s];
        slot[..12].copy_from_slice(&subjects.keys[s].key().to_le_bytes());
        slot[12..16].copy_from_slice(&sid.to_le_bytes());
        slot[16] = sum.info;
        slot[17] = sum.related;
        slot[18] = sum.related_person;
        slot[20..24].copy_from_slice(&b.subject_profile[s].to_le_bytes());
        slot[24..28].copy_from_slice(&sum.from.to_le_bytes());
        slot[28..32].copy_from_slice(&sum.to.to_le_bytes());
    }
}

/// SUBJECTS records `from ..`: each subject's key and first entry, then the
/// entry count.
fn subject_records(subjects: &Subjects, from: usize, out: &mut [u8]) {
    for (s, r) in (from..).zip(out.chunks_exact_mut(SUBJECT_LEN)) {
        let key = subjects.keys.get(s).map_or([0; 12], |k| k.0);
        r[..12].copy_from_slice(&key);
        r[12..16].copy_from_slice(&subjects.first[s].to_le_bytes());
    }
}

/// ENTRIES records `from ..`: one fixed record per entry.
fn entry_records(entries: &[EntryRec], first: &[u32], from: usize, out: &mut [u8]) {
    let opt = |d: Option<Day>| d.map_or(NONE_DAY, Day::to_u32);
    // The subject of entry i: the last subject starting at or before it
    // (subjects without entries share its start).
    let mut s = first.partition_point(|&f| f as usize <= from) - 1;
    for (i, r) in (from..).zip(out.chunks_exact_mut(ENTRY_LEN)) {
        while first[s + 1] as usize <= i {
            s += 1;
        }
        let e = &entries[i];
        let f = e.facts.unpack();
        r[0..4].copy_from_slice(&(s as u32).to_le_bytes());
        r[4] = f.kind as u8;
        r[5] = f.status as u8;
        r[6..8].copy_from_slice(&f.domain.to_le_bytes());
        r[8..12].copy_from_slice(&f.listed_on.to_u32().to_le_bytes());
        r[12..16].copy_from_slice(&opt(f.valid_until).to_le_bytes());
        r[16..20].copy_from_slice(&opt(f.exited_on).to_le_bytes());
        r[20..24].copy_from_slice(&opt(f.watch_until).to_le_bytes());
        r[24..28].copy_from_slice(&e.authority.to_le_bytes());
        r[28..32].copy_from_slice(&e.reported_on.to_le_bytes());
        r[32..40].copy_from_slice(&e.entry_id.off().to_le_bytes());
        r[40..42].copy_from_slice(&(e.entry_id.len() as u16).to_le_bytes());
        r[42..44].copy_from_slice(&e.name_len.to_le_bytes());
        r[44..46].copy_from_slice(&e.basis_len.to_le_bytes());
        r[46..48].fill(0);
    }
}

/// PROFILES: offsets, then the items of every profile.
fn profiles_section(profiles: &[Profile]) -> Vec<u8> {
    let mut prof = Vec::new();
    prof.extend_from_slice(&(profiles.len() as u32).to_le_bytes());
    prof.extend_from_slice(&0u32.to_le_bytes());
    let profiles: Vec<Vec<ProfileItem>> = profiles.iter().map(|p| p.items()).collect();
    let mut off = 0u32;
    prof.extend_from_slice(&off.to_le_bytes());
    for p in &profiles {
        off += p.len() as u32;
        prof.extend_from_slice(&off.to_le_bytes());
    }
    for p in &profiles {
        for it in p.iter() {
            prof.extend_from_slice(&[it.kind as u8, it.via]);
            prof.extend_from_slice(&it.domain.to_le_bytes());
        }
    }
    prof
}

/// The subjects with an entry of each kind, and of each (kind, domain)
/// (index `kind * ndom + domain`).
fn member_bitmaps(
    entries: &[EntryRec],
    first: &[u32],
    ndom: usize,
) -> (Vec<roaring::RoaringBitmap>, Vec<roaring::RoaringBitmap>) {
    let mut by_kind: Vec<roaring::RoaringBitmap> = vec![Default::default(); 3];
    let mut by_kd: Vec<roaring::RoaringBitmap> = vec![Default::default(); 3 * ndom];
    // Subjects come in increasing order. They are gathered a container's
    // range (2^16 subjects) at a time, each subject once per bitmap, and
    // appended to each bitmap in one call: `RoaringBitmap::push` asks a
    // dense container for its maximum, which scans the container's words
    // from the top, for every value pushed.
    let mut kind_members: Vec<Vec<u32>> = vec![Vec::new(); by_kind.len()];
    let mut kd_members: Vec<Vec<u32>> = vec![Vec::new(); by_kd.len()];
    let add = |v: &mut Vec<u32>, s: u32| {
        if v.last() != Some(&s) {
            v.push(s);
        }
    };
    let flush = |bitmaps: &mut [roaring::RoaringBitmap], members: &mut [Vec<u32>]| {
        for (bm, v) in bitmaps.iter_mut().zip(members) {
            bm.append(v.drain(..))
                .expect("subjects are appended in increasing order");
        }
    };
    let nsub = first.len() - 1;
    for block in (0..nsub).step_by(1 << 16) {
        for s in block..nsub.min(block + (1 << 16)) {
            for e in &entries[first[s] as usize..first[s + 1] as usize] {
                let k = e.facts.kind as usize;
                add(&mut kind_members[k], s as u32);
                if let Some(v) = kd_members.get_mut(k * ndom + e.facts.domain as usize) {
                    add(v, s as u32);
                }
            }
        }
        flush(&mut by_kind, &mut kind_members);
        flush(&mut by_kd, &mut kd_members);
    }
    (by_kind, by_kd)
}

/// BITMAPS: subjects by kind, then by (kind, domain) where not empty.
fn bitmaps_section(entries: &[EntryRec], first: &[u32], ndom: usize) -> Vec<u8> {
    let (by_kind, by_kd) = member_bitmaps(entries, first, ndom);
    let mut bitmaps = Vec::new();
    let total = 3 + by_kd.iter().filter(|b| !b.is_empty()).count();
    bitmaps.extend_from_slice(&(total as u32).to_le_bytes());
    bitmaps.extend_from_slice(&0u32.to_le_bytes());
    let mut put = |kind: usize, domain: u16, bm: &roaring::RoaringBitmap| {
        bitmaps.extend_from_slice(&[kind as u8, 0]);
        bitmaps.extend_from_slice(&domain.to_le_bytes());
        bitmaps.extend_from_slice(&0u32.to_le_bytes());
        let mut ser = Vec::with_capacity(bm.serialized_size());
        bm.serialize_into(&mut ser)
            .expect("writing to a Vec cannot fail");
        bitmaps.extend_from_slice(&(ser.len() as u64).to_le_bytes());
        bitmaps.extend_from_slice(&ser);
        while bitmaps.len() % 8 != 0 {
            bitmaps.push(0);
        }
    };
    for (k, bm) in by_kind.iter().enumerate() {
        put(k, ALL_DOMAINS, bm);
    }
    for (i, bm) in by_kd.iter().enumerate() {
        if !bm.is_empty() {
            put(i / ndom, (i % ndom) as u16, bm);
        }
    }
    bitmaps
}

/// RELATIONS records `from ..`: one fixed record per relation, by
/// (organisation, party, relation_id).
fn relation_records(rels: &Relations, from: usize, out: &mut [u8]) {
    let opt = |d: Option<Day>| d.map_or(NONE_DAY, Day::to_u32);
    for (r, x) in out.chunks_exact_mut(RELATION_LEN).zip(&rels.recs[from..]) {
        let f = &x.rec.facts;
        r[0..4].copy_from_slice(&x.org.to_le_bytes());
        r[4..8].copy_from_slice(&x.party.to_le_bytes());
        r[8] = f.role as u8;
        r[9] = x.rec.org_person as u8 | (x.rec.party_person as u8) << 1;
        r[10..12].copy_from_slice(&(x.rec.relation_id.len() as u16).to_le_bytes());
        r[12..16].copy_from_slice(&f.from.to_u32().to_le_bytes());
        r[16..20].copy_from_slice(&opt(f.until).to_le_bytes());
        r[20..24].fill(0);
        r[24..32].copy_from_slice(&x.rec.relation_id.off().to_le_bytes());
    }
}

fn u32s_section(v: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    v.iter()
        .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
    out
}

/// PARTY_RELATIONS: each party's range, then relation numbers by party.
fn party_relations_section(rels: &Relations) -> Vec<u8> {
    let mut out = u32s_section(&rels.party_first);
    out.extend_from_slice(&u32s_section(&rels.by_party));
    out
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl Part {
    fn len(&self, b: &Built) -> usize {
        match self {
            Part::Bytes(v) => v.len(),
            Part::Pieces(v) => v.iter().map(Vec::len).sum(),
            Part::Gen(g) => g.len(b),
        }
    }
}

/// A piece of the file on its way to be hashed and written.
enum Piece<'a> {
    Borrowed(&'a [u8]),
    /// Generated into a buffer that goes back for reuse once written.
    Owned(Vec<u8>),
}

impl Sections {
    /// The header and section table for these sections.
    fn header(&self) -> (Vec<u8>, u64) {
        let n = self.parts.len();
        let mut off = pad8(HEADER_LEN + n * SECTION_ENTRY_LEN);
        let mut table = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            let len = p.len(&self.built);
            table.extend_from_slice(&(i as u32).to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&(off as u64).to_le_bytes());
            table.extend_from_slice(&(len as u64).to_le_bytes());
            off = pad8(off + len);
        }
        let len = (off + FOOTER_LEN) as u64;
        let mut h = Vec::with_capacity(pad8(HEADER_LEN + table.len()));
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&(n as u32).to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&self.data_date.to_u32().to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&table);
        h.resize(pad8(h.len()), 0);
        (h, len)
    }

    /// Sends the file's pieces in order (without the footer), generating
    /// the generated sections into buffers from `spare` or new ones; stops
    /// early when the receiver is gone.
    fn produce<'a>(
        &'a self,
        header: &'a [u8],
        tx: &std::sync::mpsc::SyncSender<Piece<'a>>,
        spare: &std::sync::mpsc::Receiver<Vec<u8>>,
    ) {
        const ZEROS: [u8; 8] = [0; 8];
        let send = |p: Piece<'a>| tx.send(p).is_ok();
        if !send(Piece::Borrowed(header)) {
            return;
        }
        for p in &self.parts {
            match p {
                Part::Bytes(v) => {
                    if !send(Piece::Borrowed(v)) {
                        return;
                    }
                }
                Part::Pieces(v) => {
                    for v in v {
                        if !send(Piece::Borrowed(v)) {
                            return;
                        }
                    }
                }
                Part::Gen(g) => {
                    let head = g.head(&self.built);
                    if !head.is_empty() && !send(Piece::Owned(head)) {
                        return;
                    }
                    let (n, rl) = (g.records(&self.built), g.record_len());
                    let mut from = 0;
                    while from < n {
                        let k = GEN_RECORDS.min(n - from);
                        let mut buf = spare.try_recv().unwrap_or_default();
                        // Every byte is written by `fill`: no need to clear.
                        buf.truncate(k * rl);
                        buf.resize(k * rl, 0);
                        g.fill(&self.built, from, &mut buf);
                        if !send(Piece::Owned(buf)) {
                            return;
                        }
                        from += k;
                    }
                }
            }
            let len = p.len(&self.built);
            if !send(Piece::Borrowed(&ZEROS[..pad8(len) - len])) {
                return;
            }
        }
    }

    /// Writes the file to `w`, returning the snapshot id (hex of the footer).
    ///
    /// A second thread generates the generated sections piece by piece
    /// while this one hashes and writes the pieces in order.
    pub fn write_to(&self, w: &mut dyn Write) -> std::io::Result<String> {
        let (header, _) = self.header();
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        // Hashed and written in 4 MiB pieces: the hash reads data still in
        // cache, and the kernel copes far better with moderate writes than
        // with one write of hundreds of megabytes.
        let mut put = |w: &mut dyn Write, b: &[u8]| -> std::io::Result<()> {
            for piece in b.chunks(4 << 20) {
                hasher.update(piece);
                w.write_all(piece)?;
            }
            Ok(())
        };
        std::thread::scope(|scope| -> std::io::Result<()> {
            // Two pieces ready ahead of the writer at most.
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            let (back, spare) = std::sync::mpsc::channel();
            let header = &header;
            scope.spawn(move || self.produce(header, &tx, &spare));
            // On an error `rx` is dropped here, which stops the producer.
            for piece in rx {
                match piece {
                    Piece::Borrowed(b) => put(w, b)?,
                    Piece::Owned(b) => {
                        put(w, &b)?;
                        let _ = back.send(b);
                    }
                }
            }
            Ok(())
        })?;
        let digest = hasher.digest128();
        w.write_all(&digest.to_le_bytes())?;
        Ok(format!("{digest:032x}"))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.header().1 as usize);
        self.write_to(&mut v).expect("writing to a Vec cannot fail");
        v
    }

    /// Writes the file durably (temp file written around the page cache
    /// where the file system allows, fsync, rename, fsync of the folder):
    /// a crash leaves either the old file or the new one.
    pub fn write_file(&self, path: &Path) -> Result<String, SnapshotError> {
        crate::durable::write_file_direct(path, |w| self.write_to(w)).map_err(|source| {
            SnapshotError::Io {
                path: path.display().to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::builder::{Builder, RelationRow, Row};

    /// A build of `n` subjects with entries and relations.
    fn sections(n: u32) -> Sections {
        let catalog = Catalog::from_toml(
            "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
            "t",
        )
        .unwrap();
        let day = Day::parse("2026-11-20").unwrap();
        let mut b = Builder::default();
        let code = |i: u32| crate::gen::subject_code(5, i as u64).key().unwrap();
        for i in 0..n {
            for k in 0..(i % 3) {
                b.push(&Row {
                    key: code(i),
                    person: false,
                    facts: crate::entry::Facts {
                        kind: crate::entry::Kind::from_u8(k as u8).unwrap(),
                        status: crate::entry::Status::Active,
                        domain: (i % 2) as u16,
                        listed_on: day.plus(-(i as i32)),
                        valid_until: None,
                        exited_on: None,
                        watch_until: None,
                    },
                    reported_on: None,
                    entry_id: &format!("E{i}-{k}"),
                    name: "n",
                    authority: "a",
                    basis: "b",
                });
            }
            if i % 4 == 0 {
                b.push_relation(&RelationRow {
                    org: code(i),
                    org_person: false,
                    party: code(n + i),
                    party_person: false,
                    relation_id: &format!("R{i}"),
                    facts: crate::related::RelationFacts {
                        role: crate::related::Role::LegalRep,
                        from: day.plus(-10),
                        until: None,
                    },
                });
            }
        }
        b.finish(&catalog, day, Meta::default()).unwrap()
    }

    #[test]
    fn generated_sections_do_not_depend_on_the_pieces() {
        let s = sections(300);
        for g in [Gen::Table, Gen::Subjects, Gen::Entries, Gen::Relations] {
            let (n, rl) = (g.records(&s.built), g.record_len());
            assert!(n > 10, "{g:?}");
            let mut whole = vec![0xAAu8; n * rl];
            g.fill(&s.built, 0, &mut whole);
            for piece in [1, 7, 64] {
                // Stale bytes in the buffer must not show through.
                let mut parts = vec![0x55u8; n * rl];
                for (c, out) in parts.chunks_mut(piece * rl).enumerate() {
                    g.fill(&s.built, c * piece, out);
                }
                assert_eq!(whole, parts, "{g:?} in pieces of {piece}");
            }
        }
    }

    #[test]
    fn the_file_is_the_header_then_each_section_padded_then_the_digest() {
        let s = sections(50);
        let bytes = s.to_bytes();
        let (header, len) = s.header();
        assert_eq!(bytes.len() as u64, len);
        let mut expect = header.clone();
        for p in &s.parts {
            match p {
                Part::Bytes(v) => expect.extend_from_slice(v),
                Part::Pieces(v) => v.iter().for_each(|v| expect.extend_from_slice(v)),
                Part::Gen(g) => {
                    expect.extend_from_slice(&g.head(&s.built));
                    let mut v = vec![0u8; g.records(&s.built) * g.record_len()];
                    g.fill(&s.built, 0, &mut v);
                    expect.extend_from_slice(&v);
                }
            }
            expect.resize(pad8(expect.len()), 0);
        }
        let digest = xxhash_rust::xxh3::xxh3_128(&expect);
        expect.extend_from_slice(&digest.to_le_bytes());
        assert_eq!(bytes, expect);
    }

    #[test]
    fn member_bitmaps_are_those_of_inserting_every_entry() {
        // Enough subjects for several containers (2^16 values each).
        let s = sections(200_000);
        let (entries, first) = (&s.built.entries, &s.built.subjects().first);
        assert!(first.len() > 2 << 16, "{} subjects", first.len());
        let ndom = 2;
        let mut by_kind = vec![roaring::RoaringBitmap::new(); 3];
        let mut by_kd = vec![roaring::RoaringBitmap::new(); 3 * ndom];
        for sid in 0..first.len() - 1 {
            for e in &entries[first[sid] as usize..first[sid + 1] as usize] {
                let k = e.facts.kind as usize;
                by_kind[k].insert(sid as u32);
                by_kd[k * ndom + e.facts.domain as usize].insert(sid as u32);
            }
        }
        // The helper lists kinds 0 and 1 (each subject i has i % 3 entries).
        assert!(by_kind[..2].iter().all(|b| b.len() > 1000) && by_kind[2].is_empty());
        assert_eq!(member_bitmaps(entries, first, ndom), (by_kind, by_kd));
    }

    #[test]
    fn profiles_in_the_file_are_distinct_and_numbered_by_first_use() {
        // Subjects over several chunks of the summary (see `summarize`).
        let n = 3 * (1 << 14) + 1000;
        let s = sections(n as u32);
        let ids = &s.built.subject_profile;
        assert!(ids.len() > 3 << 14);
        // Each id is either one already used or the next one.
        let mut next = 0u32;
        for &id in ids {
            assert!(id <= next, "id {id} before {next}");
            next += u32::from(id == next);
        }
        // PROFILES: count, 0, count + 1 offsets, then 4-byte items.
        let Part::Bytes(prof) = &s.parts[7] else {
            panic!("PROFILES is the eighth part")
        };
        let u32_at = |i: usize| u32::from_le_bytes(prof[i..i + 4].try_into().unwrap()) as usize;
        let count = u32_at(0);
        assert_eq!(count, next as usize);
        assert!(count > 2, "{count} profiles");
        let items = 8 + 4 * (count + 1);
        let lists: Vec<&[u8]> = (0..count)
            .map(|p| &prof[items + 4 * u32_at(8 + 4 * p)..items + 4 * u32_at(12 + 4 * p)])
            .collect();
        let distinct: std::collections::HashSet<&[u8]> = lists.iter().copied().collect();
        assert_eq!(distinct.len(), count, "a profile numbered twice");
    }
}
