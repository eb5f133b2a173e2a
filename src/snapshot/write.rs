//! Turning accepted entries into the sections of a snapshot file and
//! writing it (layout in [`super::format`]).

use super::format::*;
use super::rows::{Arena, EntryRec};
use super::SnapshotError;
use crate::catalog::Catalog;
use crate::date::Day;
use crate::entry::Kind;
use crate::rules;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::io::Write;
use std::path::Path;

/// The sections of a snapshot, in memory, ready to be written.
pub struct Sections {
    pub data_date: Day,
    pub parts: Vec<Vec<u8>>,
}

/// Per-subject summary precomputed at the data date.
struct Summary {
    info: u8,
    from: u32,
    to: u32,
    profile: Profile,
}

/// A subject's active (kind, domain) pairs: packed into a `u64` (16 bits a
/// pair) when there are at most four and domains fit in 14 bits, which is
/// nearly always, so that millions of subjects need no allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Profile {
    Packed(u64),
    Long(Vec<(Kind, u16)>),
}

impl Profile {
    fn new(pairs: Vec<(Kind, u16)>) -> Profile {
        if pairs.len() <= 4 && pairs.iter().all(|&(_, d)| d < 1 << 14) {
            let packed = pairs.iter().fold(0u64, |acc, &(k, d)| {
                acc << 16 | (k as u64 + 1) << 14 | d as u64
            });
            Profile::Packed(packed)
        } else {
            Profile::Long(pairs)
        }
    }

    fn pairs(&self) -> Vec<(Kind, u16)> {
        match self {
            Profile::Long(v) => v.clone(),
            Profile::Packed(p) => {
                let mut v = Vec::new();
                let mut p = *p;
                while p != 0 {
                    let pair = (p & 0xFFFF) as u16;
                    v.push((
                        Kind::from_u8((pair >> 14) as u8 - 1).unwrap_or(Kind::Watch),
                        pair & 0x3FFF,
                    ));
                    p >>= 16;
                }
                v.reverse();
                v
            }
        }
    }
}

/// Builds every section from the accepted entries, one step per section in
/// the order of [`super::format`].
pub(crate) fn assemble(
    mut entries: Vec<EntryRec>,
    arena: Arena,
    authorities: Vec<String>,
    catalog: &Catalog,
    data_date: Day,
    mut meta: Meta,
) -> Result<Sections, SnapshotError> {
    sort_entries(&mut entries, &arena);
    if entries.len() >= u32::MAX as usize {
        return Err(SnapshotError::TooLarge("more than 4 294 967 294 entries"));
    }
    let first = subject_starts(&entries);
    let summaries = summarize(&entries, &first, catalog, data_date);
    let (subject_profile, profiles) = intern_profiles(&summaries);

    let table = table_section(&entries, &first, &summaries, &subject_profile);
    let subjects = subjects_section(&entries, &first);
    let recs = entries_section(&entries, &first);
    let entry_index = entry_index_section(&entries, &arena);
    let prof = profiles_section(&profiles);
    let bitmaps = bitmaps_section(&entries, &first, catalog.domains.len());

    meta.data_date = data_date.to_u32();
    meta.entries = entries.len() as u64;
    meta.subjects = (first.len() - 1) as u64;
    meta.authorities = authorities;
    let meta_bytes = bincode::serialize(&meta).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    let catalog_bytes =
        bincode::serialize(catalog).map_err(|e| SnapshotError::Encode(e.to_string()))?;
    // STRINGS is the arena as ingest filled it: each entry's name and basis
    // directly follow its entry_id there.
    let strings = arena.bytes;
    Ok(Sections {
        data_date,
        parts: vec![
            meta_bytes,
            catalog_bytes,
            table,
            subjects,
            recs,
            strings,
            entry_index,
            prof,
            bitmaps,
        ],
    })
}

/// Entries sorted by (subject key, entry_id): subjects get ids in key order.
fn sort_entries(entries: &mut [EntryRec], arena: &Arena) {
    entries.par_sort_unstable_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then_with(|| arena.bytes_of(a.entry_id).cmp(arena.bytes_of(b.entry_id)))
    });
}

/// The first entry of every subject, then the entry count: subject `s` owns
/// entries `first[s] .. first[s + 1]`.
fn subject_starts(entries: &[EntryRec]) -> Vec<u32> {
    let mut first: Vec<u32> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i == 0 || entries[i - 1].key != e.key {
            first.push(i as u32);
        }
    }
    first.push(entries.len() as u32);
    first
}

/// Every subject's flags and profile at the data date, and the days
/// `[from, to)` they hold for.
fn summarize(
    entries: &[EntryRec],
    first: &[u32],
    catalog: &Catalog,
    data_date: Day,
) -> Vec<Summary> {
    let watch_days: Vec<u32> = catalog
        .domains
        .iter()
        .map(|d| d.watch_after_exit_days)
        .collect();
    let wd = |dom: u16| {
        watch_days
            .get(dom as usize)
            .copied()
            .unwrap_or(crate::catalog::DEFAULT_WATCH_AFTER_EXIT_DAYS)
    };
    (0..first.len() - 1)
        .into_par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(bounds, facts), s| {
                let range = first[s] as usize..first[s + 1] as usize;
                facts.clear();
                facts.extend(entries[range.clone()].iter().map(|e| e.facts));
                let ev = rules::evaluate(facts, data_date, &|_| false, &wd);
                rules::boundaries(facts, &wd, bounds);
                let from = bounds
                    .iter()
                    .rev()
                    .find(|&&b| b <= data_date)
                    .map_or(0, |b| b.to_u32());
                let to = bounds
                    .iter()
                    .find(|&&b| b > data_date)
                    .map_or(NONE_DAY, |b| b.to_u32());
                let person = entries[range.start].person;
                Summary {
                    info: ev.flags() | if person { INFO_PERSON } else { 0 },
                    from,
                    to,
                    profile: Profile::new(rules::profile(&ev)),
                }
            },
        )
        .collect()
}

/// Profiles, interned in subject order (deterministic): each subject's
/// profile id, and the distinct profiles by id.
fn intern_profiles(summaries: &[Summary]) -> (Vec<u32>, Vec<&Profile>) {
    let mut profile_ids: FxHashMap<&Profile, u32> = FxHashMap::default();
    let mut profiles: Vec<&Profile> = Vec::new();
    let subject_profile: Vec<u32> = summaries
        .iter()
        .map(|s| {
            *profile_ids.entry(&s.profile).or_insert_with(|| {
                profiles.push(&s.profile);
                (profiles.len() - 1) as u32
            })
        })
        .collect();
    (subject_profile, profiles)
}

/// TABLE: the key dictionary.
fn table_section(
    entries: &[EntryRec],
    first: &[u32],
    summaries: &[Summary],
    subject_profile: &[u32],
) -> Vec<u8> {
    let nsub = first.len() - 1;
    let capacity = ((nsub as u64 * LOAD_DEN).div_ceil(LOAD_NUM)).max(16);
    let mut table = vec![0u8; 16 + capacity as usize * SLOT_LEN];
    table[..8].copy_from_slice(&capacity.to_le_bytes());
    for s in 0..nsub {
        let key = entries[first[s] as usize].key.key();
        let mut i = slot_of(key, capacity);
        loop {
            let off = 16 + i as usize * SLOT_LEN;
            if table[off..off + 12].iter().all(|&b| b == 0) {
                let sum = &summaries[s];
                let slot = &mut table[off..off + SLOT_LEN];
                slot[..12].copy_from_slice(&key.to_le_bytes());
                slot[12..16].copy_from_slice(&(s as u32).to_le_bytes());
                slot[16] = sum.info;
                slot[20..24].copy_from_slice(&subject_profile[s].to_le_bytes());
                slot[24..28].copy_from_slice(&sum.from.to_le_bytes());
                slot[28..32].copy_from_slice(&sum.to.to_le_bytes());
                break;
            }
            i = if i + 1 == capacity { 0 } else { i + 1 };
        }
    }
    table
}

/// SUBJECTS: each subject's key and first entry, then the entry count.
fn subjects_section(entries: &[EntryRec], first: &[u32]) -> Vec<u8> {
    let nsub = first.len() - 1;
    let mut subjects = Vec::with_capacity((nsub + 1) * SUBJECT_LEN);
    for (s, &f) in first.iter().enumerate() {
        let key = if s < nsub {
            entries[f as usize].key.0
        } else {
            [0; 12]
        };
        subjects.extend_from_slice(&key);
        subjects.extend_from_slice(&f.to_le_bytes());
    }
    subjects
}

/// ENTRIES: one fixed record per entry.
fn entries_section(entries: &[EntryRec], first: &[u32]) -> Vec<u8> {
    let mut recs = vec![0u8; entries.len() * ENTRY_LEN];
    let opt = |d: Option<Day>| d.map_or(NONE_DAY, Day::to_u32);
    recs.par_chunks_mut(ENTRY_LEN * 4096)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (j, r) in chunk.chunks_exact_mut(ENTRY_LEN).enumerate() {
                let i = c * 4096 + j;
                let e = &entries[i];
                // The subject of entry i: the last subject starting at or before it.
                let s = first.partition_point(|&f| f as usize <= i) - 1;
                debug_assert_eq!(e.name.off(), e.entry_id.off() + e.entry_id.len() as u64);
                debug_assert_eq!(e.basis.off(), e.name.off() + e.name.len() as u64);
                let f = &e.facts;
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
                r[42..44].copy_from_slice(&(e.name.len() as u16).to_le_bytes());
                r[44..46].copy_from_slice(&(e.basis.len() as u16).to_le_bytes());
            }
        });
    recs
}

/// ENTRY_INDEX: entry numbers by entry_id.
fn entry_index_section(entries: &[EntryRec], arena: &Arena) -> Vec<u8> {
    // Sorted on (first 16 bytes big-endian, entry number), then full
    // bytes: most comparisons are one integer compare.
    let prefix = |i: u32| {
        let b = arena.bytes_of(entries[i as usize].entry_id);
        let mut p = [0u8; 16];
        let n = b.len().min(16);
        p[..n].copy_from_slice(&b[..n]);
        u128::from_be_bytes(p)
    };
    let mut keyed: Vec<(u128, u32)> = (0..entries.len() as u32)
        .into_par_iter()
        .map(|i| (prefix(i), i))
        .collect();
    keyed.par_sort_unstable_by(|&(pa, a), &(pb, b)| {
        pa.cmp(&pb).then_with(|| {
            arena
                .bytes_of(entries[a as usize].entry_id)
                .cmp(arena.bytes_of(entries[b as usize].entry_id))
        })
    });
    let mut entry_index = Vec::with_capacity(keyed.len() * 4);
    keyed
        .iter()
        .for_each(|(_, i)| entry_index.extend_from_slice(&i.to_le_bytes()));
    entry_index
}

/// PROFILES: offsets, then the (kind, domain) pairs of every profile.
fn profiles_section(profiles: &[&Profile]) -> Vec<u8> {
    let mut prof = Vec::new();
    prof.extend_from_slice(&(profiles.len() as u32).to_le_bytes());
    prof.extend_from_slice(&0u32.to_le_bytes());
    let profiles: Vec<Vec<(Kind, u16)>> = profiles.iter().map(|p| p.pairs()).collect();
    let mut off = 0u32;
    prof.extend_from_slice(&off.to_le_bytes());
    for p in &profiles {
        off += p.len() as u32;
        prof.extend_from_slice(&off.to_le_bytes());
    }
    for p in &profiles {
        for &(k, d) in p.iter() {
            prof.extend_from_slice(&[k as u8, 0]);
            prof.extend_from_slice(&d.to_le_bytes());
        }
    }
    prof
}

/// BITMAPS: subjects by kind, then by (kind, domain) where not empty.
fn bitmaps_section(entries: &[EntryRec], first: &[u32], ndom: usize) -> Vec<u8> {
    let mut by_kind: Vec<roaring::RoaringBitmap> = vec![Default::default(); 3];
    let mut by_kd: Vec<roaring::RoaringBitmap> = vec![Default::default(); 3 * ndom];
    for s in 0..first.len() - 1 {
        for e in &entries[first[s] as usize..first[s + 1] as usize] {
            let k = e.facts.kind as usize;
            by_kind[k].insert(s as u32);
            if let Some(b) = by_kd.get_mut(k * ndom + e.facts.domain as usize) {
                b.insert(s as u32);
            }
        }
    }
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

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

impl Sections {
    /// The header and section table for these sections.
    fn header(&self) -> (Vec<u8>, u64) {
        let n = self.parts.len();
        let mut off = pad8(HEADER_LEN + n * SECTION_ENTRY_LEN);
        let mut table = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            table.extend_from_slice(&(i as u32).to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&(off as u64).to_le_bytes());
            table.extend_from_slice(&(p.len() as u64).to_le_bytes());
            off = pad8(off + p.len());
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

    /// Writes the file to `w`, returning the snapshot id (hex of the footer).
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
        put(w, &header)?;
        for p in &self.parts {
            put(w, p)?;
            put(w, &[0u8; 8][..pad8(p.len()) - p.len()])?;
        }
        let digest = hasher.digest128();
        w.write_all(&digest.to_le_bytes())?;
        Ok(format!("{digest:032x}"))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.header().1 as usize);
        self.write_to(&mut v).expect("writing to a Vec cannot fail");
        v
    }

    /// Writes the file durably (temp file, fsync, rename, fsync of the
    /// folder): a crash leaves either the old file or the new one.
    pub fn write_file(&self, path: &Path) -> Result<String, SnapshotError> {
        crate::durable::write_file(path, |w| self.write_to(w)).map_err(|source| SnapshotError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}
