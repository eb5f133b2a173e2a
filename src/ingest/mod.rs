//! Reading list files (SPEC §2) and relation files (§8): CSV (UTF-8 or
//! GBK) and JSON Lines, from files and folders in path-byte order, one row
//! at a time.
//!
//! Every row is either accepted into a [`crate::snapshot::Builder`] or
//! rejected with its file, physical line and the first reason kind that
//! applies ([`Reason`]). Memory grows with the accepted rows only: rows
//! are streamed, strings go into the builder's arena, authorities are
//! interned. Entry ids and relation ids are separate namespaces, each
//! checked for duplicates across all files of its kind.
//!
//! - `files`: finding input files and their order;
//! - `decode`: CSV / JSON Lines / GBK / `.xlsx` decoding into rows of
//!   named fields (their aliases and required header columns given per kind
//!   of row file), with physical line numbers, for any kind of row file;
//! - `row`: one list-entry row checked against §1/§2;
//! - `relation`: one relation row checked against §1/§8;
//! - `reject`: the reject report's rows and reasons;
//! - `legacy`: the `--legacy-codes` file;
//! - this module: the driver, reading files in parallel and merging them
//!   in path order.

mod decode;
mod error;
mod files;
mod legacy;
mod reject;
mod relation;
mod row;

pub use decode::Encoding;
pub use error::IngestError;
pub(crate) use files::list_inputs;
pub use legacy::LegacyCodes;
pub use reject::{Reason, Reject};

use crate::catalog::Catalog;
use crate::codes::CodeKind;
use crate::date::Day;
use crate::snapshot::{Builder, EntryRec, InputDigest, Part, RelationRow, Row, SlabRows, SLAB_RUN};
use decode::RowSink;
use rayon::prelude::*;
use relation::{F_RELATION_ID, RELATION_FIELDS};
use row::{RawRow, ENTRY_FIELDS, F_AUTHORITY, F_BASIS, F_ENTRY_ID, F_NAME, NFIELDS};
use rustc_hash::FxHashSet;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Settings of one ingest run.
pub struct Options<'a> {
    pub catalog: &'a Catalog,
    pub as_of: Day,
    pub encoding: Encoding,
    pub legacy: &'a LegacyCodes,
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// List entries (SPEC §2), the INPUT arguments.
    Entries,
    /// Relations (SPEC §8), the `--relations` arguments.
    Relations,
}

/// Counters for the build summary. Files, bytes, rows and rejects count
/// both kinds of file (the reject ratio is over all rows); the
/// `relation_*` counters are the relation files' share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    /// Rows read: entry rows and relation rows.
    pub rows: u64,
    /// Entry rows accepted.
    pub accepted: u64,
    /// Rejected rows of both kinds, by reason.
    pub rejected: HashMap<&'static str, u64>,
    /// Relation files read, and their rows.
    pub relation_files: u64,
    pub relation_rows: u64,
    /// Relation rows accepted, by role ([`crate::related::Role`] order).
    pub relations_by_role: [u64; 6],
    /// Rejected relation rows by reason (also counted in `rejected`).
    pub relations_rejected: HashMap<&'static str, u64>,
    /// GB 11714 organisation-code check mismatches accepted (rows whose
    /// code, or a relation's org or party code, has one).
    pub org_code_warnings: u64,
    /// Rows accepted with a pilot-era legacy code (`--legacy-codes`).
    pub legacy_codes: u64,
    /// Rows accepted with a 15-digit ID number, upgraded to 18.
    pub upgraded_ids: u64,
    /// Columns of CSV headers that are not §2 fields (ignored), as `file: column`.
    pub ignored_columns: Vec<String>,
    /// Files inside input folders skipped for their extension.
    pub skipped_files: Vec<String>,
}

impl Stats {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Relation rows accepted.
    pub fn relations(&self) -> u64 {
        self.relations_by_role.iter().sum()
    }

    /// Relation rows rejected.
    pub fn relations_rejected_total(&self) -> u64 {
        self.relations_rejected.values().sum()
    }
}

/// Reads all files into `acc`: each file on its own ([`Ingest::read_file`],
/// [`Ingest::read_relation_file`], in parallel), then merged in path order
/// ([`Ingest::merge`]), where duplicate ids are found across files.
pub struct Ingest<'a> {
    opts: Options<'a>,
    pub acc: Builder,
    pub stats: Stats,
    /// XXH3-128 of every accepted entry_id: 16 bytes an entry instead of
    /// the string (a collision is a 2^-128 event per pair).
    /// Sharded by [`shard_of`].
    seen_ids: Vec<FxHashSet<u128>>,
    /// The same for relation ids, a namespace of their own.
    seen_relation_ids: Vec<FxHashSet<u128>>,
}

/// One file read and validated, before the duplicate check.
pub struct FileRead {
    kind: FileKind,
    /// The file's entries, or its relations.
    acc: Builder,
    /// Per accepted row (entry or relation, as the file's kind): its
    /// physical line, id hash and warning bits.
    lines: Vec<u64>,
    id_hashes: Vec<u128>,
    warnings: Vec<u8>,
    rejects: Vec<Reject>,
    stats: Stats,
    pub digest: InputDigest,
    /// The file's first entries, written into the slab of [`Ingest::read_all`].
    slab: SlabRows,
}

/// Files read by [`Ingest::read_all`], in order, and the slab holding the
/// first entries of the list files.
pub struct Reads {
    pub files: Vec<FileRead>,
    slab: Vec<EntryRec>,
}

/// Room for entry records shared by the readers of the list files: each
/// claims runs of [`SLAB_RUN`] records and writes its entries there, so
/// that the merge keeps them in place rather than copying them all (a copy
/// writes as much fresh memory, which costs more than the copying).
struct Slab<'s> {
    /// The next run's index and the room left.
    rest: Mutex<(usize, &'s mut [MaybeUninit<EntryRec>])>,
}

impl<'s> Slab<'s> {
    /// The next run: its index and its room, if there is a whole one left.
    fn claim(&self) -> Option<(usize, &'s mut [MaybeUninit<EntryRec>])> {
        let mut rest = self.rest.lock().unwrap_or_else(|e| e.into_inner());
        let (next, room) = &mut *rest;
        if room.len() < SLAB_RUN {
            return None;
        }
        let (run, left) = std::mem::take(room).split_at_mut(SLAB_RUN);
        *room = left;
        let start = *next;
        *next += SLAB_RUN;
        Some((start, run))
    }

    /// Slab elements handed out: all runs, from index 0.
    fn claimed(self) -> usize {
        self.rest.into_inner().unwrap_or_else(|e| e.into_inner()).0
    }
}

/// A claimed run being written. Dropped, it fills its unused room with
/// copies of its first record, so that every claimed run is written whole.
struct Run<'s> {
    room: &'s mut [MaybeUninit<EntryRec>],
    used: usize,
    filler: EntryRec,
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        for r in &mut self.room[self.used..] {
            r.write(self.filler);
        }
    }
}

const WARN_ORG: u8 = 1;
const WARN_LEGACY: u8 = 2;
const WARN_UPGRADED: u8 = 4;

impl<'a> Ingest<'a> {
    pub fn new(opts: Options<'a>) -> Ingest<'a> {
        Ingest {
            opts,
            acc: Builder::default(),
            stats: Stats::default(),
            seen_ids: vec![FxHashSet::default(); ID_SHARDS],
            seen_relation_ids: vec![FxHashSet::default(); ID_SHARDS],
        }
    }

    /// The accepted rows and the counts, once every file is merged. The
    /// duplicate check's id sets (16 bytes an accepted row, and more for
    /// the table's spare room) go now, before indexing allocates its own.
    pub fn finish(self) -> (Builder, Stats) {
        (self.acc, self.stats)
    }

    /// Reserves room for about `rows` entries (from the input size), so
    /// that the big vectors do not grow by copying.
    pub(crate) fn reserve(&mut self, rows: usize, string_bytes: usize) {
        self.acc.reserve(rows, string_bytes);
        for s in &mut self.seen_ids {
            s.reserve(rows / ID_SHARDS + rows / 64);
        }
    }

    /// Reserves room for about `rows` relations.
    pub(crate) fn reserve_relations(&mut self, rows: usize) {
        self.acc.relations.reserve(rows);
        for s in &mut self.seen_relation_ids {
            s.reserve(rows / ID_SHARDS + rows / 64);
        }
    }

    /// Reads and validates one list file (no shared state: files can be
    /// read in parallel). `progress(bytes)` is called as the file is read.
    pub fn read_file(
        &self,
        path: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<FileRead, IngestError> {
        self.read(path, FileKind::Entries, progress, None)
    }

    /// Reads and validates the list files, then the relation files, in
    /// parallel, for [`Ingest::merge_reads`]. When no entry has been merged
    /// yet, the list files' entries are written into the room reserved for
    /// them ([`Ingest::reserve`]) as far as it goes, so that the merge need
    /// not copy them.
    pub fn read_all(
        &mut self,
        files: &[PathBuf],
        relation_files: &[PathBuf],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Reads, IngestError> {
        let mut slab = Vec::new();
        if self.acc.entries.is_empty() {
            std::mem::swap(&mut slab, &mut self.acc.entries);
        }
        let room = Slab {
            rest: Mutex::new((0, slab.spare_capacity_mut())),
        };
        let this = &*self;
        let reads: Vec<Result<FileRead, IngestError>> = files
            .par_iter()
            .map(|f| this.read(f, FileKind::Entries, progress, Some(&room)))
            .chain(
                relation_files
                    .par_iter()
                    .map(|f| this.read(f, FileKind::Relations, progress, None)),
            )
            .collect();
        let claimed = room.claimed();
        // SAFETY: the slab handed out its first `claimed` elements as runs,
        // each to one reader, which wrote it whole: its entries in order,
        // then, when its `Run` was dropped (all are, with the readers, by
        // now), copies of the first. The capacity covers them: runs are
        // split off the spare capacity.
        unsafe { slab.set_len(claimed) };
        let files = reads.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(Reads { files, slab })
    }

    /// Reads and validates one relation file, like [`Ingest::read_file`].
    pub fn read_relation_file(
        &self,
        path: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<FileRead, IngestError> {
        self.read(path, FileKind::Relations, progress, None)
    }

    fn read(
        &self,
        path: &Path,
        kind: FileKind,
        progress: &(dyn Fn(u64) + Sync),
        slab: Option<&Slab>,
    ) -> Result<FileRead, IngestError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| IngestError::Io {
            path: name.clone(),
            source,
        })?;
        // Reserve from the file size (entry rows are rarely under 100
        // bytes, at most half of a row is entry id, name and basis; relation
        // rows rarely under 60, a sixth of one its id) so vectors do not
        // regrow: a regrown vector is copied into fresh memory, while room
        // reserved and never used costs no memory.
        let size = file.metadata().map_or(0, |m| m.len()) as usize;
        let (rows, string_bytes) = match kind {
            FileKind::Entries => (size / 100, size / 2),
            FileKind::Relations => (size / 60, size / 6),
        };
        let mut acc = Builder::with_capacity(0, string_bytes);
        match kind {
            FileKind::Entries => acc.entries.reserve(rows),
            FileKind::Relations => acc.relations.reserve(rows),
        }
        let mut fr = FileReader {
            opts: &self.opts,
            file: name,
            slab,
            run: None,
            out: FileRead {
                kind,
                acc,
                lines: Vec::with_capacity(rows),
                id_hashes: Vec::with_capacity(rows),
                warnings: Vec::with_capacity(rows),
                rejects: Vec::new(),
                stats: Stats::default(),
                digest: Default::default(),
                slab: SlabRows::default(),
            },
        };
        let encoding = self.opts.encoding;
        let digest = match kind {
            FileKind::Entries => {
                decode::read_file(path, file, encoding, &ENTRY_FIELDS, progress, &mut fr)?
            }
            FileKind::Relations => {
                let mut rr = RelationReader(fr);
                let d =
                    decode::read_file(path, file, encoding, &RELATION_FIELDS, progress, &mut rr)?;
                fr = rr.0;
                d
            }
        };
        drop(fr.run.take());
        let mut out = fr.out;
        out.stats.files = 1;
        out.stats.bytes = digest.bytes;
        if kind == FileKind::Relations {
            out.stats.relation_files = 1;
            out.stats.relation_rows = out.stats.rows;
        }
        out.digest = digest;
        Ok(out)
    }

    /// Adds a file's entries or relations in order, rejecting ids already
    /// accepted in the file kind's namespace; `on_reject` receives the
    /// file's rejected rows in line order.
    pub fn merge(
        &mut self,
        f: FileRead,
        on_reject: &mut dyn FnMut(Reject) -> std::io::Result<()>,
    ) -> Result<(), IngestError> {
        self.merge_all(vec![f], on_reject)
    }

    /// [`Ingest::merge`] of every file in order, with the same result: the
    /// duplicate check runs on shards of the id hashes in parallel, and the
    /// rows are copied into the builder in parallel.
    pub fn merge_all(
        &mut self,
        files: Vec<FileRead>,
        on_reject: &mut dyn FnMut(Reject) -> std::io::Result<()>,
    ) -> Result<(), IngestError> {
        self.merge_reads(
            Reads {
                files,
                slab: Vec::new(),
            },
            on_reject,
        )
    }

    /// [`Ingest::merge_all`] of the files of [`Ingest::read_all`]; the
    /// entries come in no particular order then (see
    /// [`Builder::append_all_with`]).
    pub fn merge_reads(
        &mut self,
        reads: Reads,
        on_reject: &mut dyn FnMut(Reject) -> std::io::Result<()>,
    ) -> Result<(), IngestError> {
        let Reads { files, slab } = reads;
        let of_kind = |kind: FileKind| -> Vec<(usize, &[u128])> {
            files
                .iter()
                .enumerate()
                .filter(|(_, f)| f.kind == kind)
                .map(|(i, f)| (i, &f.id_hashes[..]))
                .collect()
        };
        let mut dups: Vec<Vec<u32>> = vec![Vec::new(); files.len()];
        for (kind, seen) in [
            (FileKind::Entries, &mut self.seen_ids),
            (FileKind::Relations, &mut self.seen_relation_ids),
        ] {
            let lists = of_kind(kind);
            for ((i, _), d) in lists.iter().zip(find_duplicates(seen, &lists)) {
                dups[*i] = d;
            }
        }
        let mut parts = Vec::with_capacity(files.len());
        for (f, dups) in files.into_iter().zip(dups) {
            parts.push(self.account(f, &dups, &slab, on_reject)?);
        }
        self.acc.append_all_with(parts, slab);
        Ok(())
    }

    /// Counts one file's rows and reports its rejects (those of the row
    /// checks and the duplicates, at indices `dups`, in line order); returns
    /// its rows to append.
    fn account(
        &mut self,
        f: FileRead,
        dups: &[u32],
        slab: &[EntryRec],
        on_reject: &mut dyn FnMut(Reject) -> std::io::Result<()>,
    ) -> Result<Part, IngestError> {
        let FileRead {
            kind,
            acc,
            lines,
            id_hashes: _,
            warnings,
            mut rejects,
            stats,
            digest,
            slab: slab_rows,
        } = f;
        let st = &mut self.stats;
        st.files += stats.files;
        st.bytes += stats.bytes;
        st.rows += stats.rows;
        st.relation_files += stats.relation_files;
        st.relation_rows += stats.relation_rows;
        for (k, n) in stats.rejected {
            *st.rejected.entry(k).or_default() += n;
        }
        for (k, n) in stats.relations_rejected {
            *st.relations_rejected.entry(k).or_default() += n;
        }
        st.ignored_columns.extend(stats.ignored_columns);
        let (reason, id_name) = match kind {
            FileKind::Entries => (Reason::DuplicateEntryId, "entry_id"),
            FileKind::Relations => (Reason::DuplicateRelationId, "relation_id"),
        };
        for &i in dups {
            let i = i as usize;
            let id_str = match kind {
                FileKind::Entries if i < slab_rows.rows => slab[slab_rows.at(i)].entry_id,
                FileKind::Entries => acc.entries[i - slab_rows.rows].entry_id,
                FileKind::Relations => acc.relations[i].relation_id,
            };
            let id = String::from_utf8_lossy(acc.arena.bytes_of(id_str)).into_owned();
            let message = format!("{id_name} {id:?} was already used by an accepted row");
            *st.rejected.entry(reason.as_str()).or_default() += 1;
            if kind == FileKind::Relations {
                *st.relations_rejected.entry(reason.as_str()).or_default() += 1;
            }
            rejects.push(Reject {
                file: digest.path.clone(),
                line: lines[i],
                entry_id: id,
                reason,
                message,
            });
        }
        let mut warned = [0u64; 3];
        let mut d = dups.iter().peekable();
        for (i, w) in warnings.iter().enumerate() {
            if d.peek().is_some_and(|&&x| x as usize == i) {
                d.next();
                continue;
            }
            warned[0] += (w & WARN_ORG != 0) as u64;
            warned[1] += (w & WARN_LEGACY != 0) as u64;
            warned[2] += (w & WARN_UPGRADED != 0) as u64;
        }
        st.org_code_warnings += warned[0];
        st.legacy_codes += warned[1];
        st.upgraded_ids += warned[2];
        let (drop_entries, drop_relations) = match kind {
            FileKind::Entries => {
                st.accepted += (slab_rows.rows + acc.entries.len() - dups.len()) as u64;
                (dups.to_vec(), Vec::new())
            }
            FileKind::Relations => {
                let mut d = dups.iter().peekable();
                for (i, r) in acc.relations.iter().enumerate() {
                    if d.peek().is_some_and(|&&x| x as usize == i) {
                        d.next();
                        continue;
                    }
                    st.relations_by_role[r.facts.role as usize] += 1;
                }
                (Vec::new(), dups.to_vec())
            }
        };
        if !dups.is_empty() {
            rejects.sort_by_key(|r| r.line);
        }
        for r in rejects {
            on_reject(r).map_err(|source| IngestError::Io {
                path: "reject report".into(),
                source,
            })?;
        }
        Ok(Part {
            acc,
            drop_entries,
            drop_relations,
            slab: slab_rows,
        })
    }
}

/// Shards of the id-hash set: a hash's shard is its top bits, so each shard
/// sees its ids in file and row order, and the first of an id is kept
/// whatever the number of shards or threads.
const ID_SHARDS: usize = 4;

fn shard_of(h: u128) -> usize {
    (h >> 126) as usize % ID_SHARDS
}

/// Row indices, per list of `lists` (id hashes of files in merge order),
/// whose id was seen before (in `seen` or earlier in `lists`), sorted; the
/// new ids are added to `seen`.
fn find_duplicates(seen: &mut [FxHashSet<u128>], lists: &[(usize, &[u128])]) -> Vec<Vec<u32>> {
    let found: Vec<Vec<(u32, u32)>> = seen
        .par_iter_mut()
        .enumerate()
        .map(|(shard, set)| {
            let mut found = Vec::new();
            for (l, (_, hashes)) in lists.iter().enumerate() {
                for (i, &h) in hashes.iter().enumerate() {
                    if shard_of(h) == shard && !set.insert(h) {
                        found.push((l as u32, i as u32));
                    }
                }
            }
            found
        })
        .collect();
    let mut out = vec![Vec::new(); lists.len()];
    for (l, i) in found.into_iter().flatten() {
        out[l as usize].push(i);
    }
    out.iter_mut().for_each(|d| d.sort_unstable());
    out
}

/// Reads one file's list-entry rows into a [`FileRead`].
struct FileReader<'o, 'a, 's> {
    opts: &'o Options<'a>,
    /// The file's path as found.
    file: String,
    /// Where entries go while there is room (then into `out.acc`).
    slab: Option<&'o Slab<'s>>,
    run: Option<Run<'s>>,
    out: FileRead,
}

impl FileReader<'_, '_, '_> {
    /// Keeps an accepted entry: in the current run of the slab, or a new
    /// one; once the slab is full, in the file's own vector.
    fn keep(&mut self, rec: EntryRec) {
        if let Some(run) = &mut self.run {
            if run.used < run.room.len() {
                run.room[run.used].write(rec);
                run.used += 1;
                self.out.slab.rows += 1;
                return;
            }
        }
        if let Some(slab) = self.slab {
            if let Some((start, room)) = slab.claim() {
                room[0].write(rec);
                self.run = Some(Run {
                    room,
                    used: 1,
                    filler: rec,
                });
                self.out.slab.runs.push(start);
                self.out.slab.rows += 1;
                return;
            }
            self.slab = None;
        }
        self.out.acc.entries.push(rec);
    }

    fn reject(&mut self, line: u64, entry_id: &str, reason: Reason, message: String) {
        *self.out.stats.rejected.entry(reason.as_str()).or_default() += 1;
        if self.out.kind == FileKind::Relations {
            *self
                .out
                .stats
                .relations_rejected
                .entry(reason.as_str())
                .or_default() += 1;
        }
        self.out.rejects.push(Reject {
            file: self.file.clone(),
            line,
            entry_id: entry_id.to_string(),
            reason,
            message,
        });
    }
}

impl RowSink<NFIELDS> for FileReader<'_, '_, '_> {
    fn row(&mut self, line: u64, fields: &[&str; NFIELDS]) -> Result<(), IngestError> {
        self.out.stats.rows += 1;
        let entry_id = fields[F_ENTRY_ID];
        let opts = self.opts;
        let v = match row::validate(
            &RawRow { fields: *fields },
            opts.catalog,
            opts.as_of,
            opts.legacy,
        ) {
            Ok(v) => v,
            Err((reason, message)) => {
                self.reject(line, entry_id, reason, message);
                return Ok(());
            }
        };
        let rec = self.out.acc.record(&Row {
            key: v.code.key().expect("validated codes are in the alphabet"),
            person: v.kind_of_code == CodeKind::Person,
            facts: v.facts,
            reported_on: v.reported_on,
            entry_id,
            name: fields[F_NAME],
            authority: fields[F_AUTHORITY],
            basis: fields[F_BASIS],
        });
        self.keep(rec);
        self.accepted(line, entry_id, v.org_warning, v.legacy, v.upgraded);
        Ok(())
    }

    /// Counted and rejected without its fields.
    fn malformed(&mut self, line: u64, message: String) {
        self.out.stats.rows += 1;
        self.reject(line, "", Reason::MalformedRow, message);
    }

    fn ignored_column(&mut self, column: String) {
        self.out.stats.ignored_columns.push(column);
    }
}

impl FileReader<'_, '_, '_> {
    /// Notes an accepted row's line, id hash and warning bits.
    fn accepted(&mut self, line: u64, id: &str, org_warning: bool, legacy: bool, upgraded: bool) {
        self.out.lines.push(line);
        self.out
            .id_hashes
            .push(xxhash_rust::xxh3::xxh3_128(id.as_bytes()));
        self.out.warnings.push(
            if org_warning { WARN_ORG } else { 0 }
                | if legacy { WARN_LEGACY } else { 0 }
                | if upgraded { WARN_UPGRADED } else { 0 },
        );
    }
}

/// Reads one file's relation rows (SPEC §8) into a [`FileRead`].
struct RelationReader<'o, 'a, 's>(FileReader<'o, 'a, 's>);

impl RowSink<6> for RelationReader<'_, '_, '_> {
    fn row(&mut self, line: u64, fields: &[&str; 6]) -> Result<(), IngestError> {
        let fr = &mut self.0;
        fr.out.stats.rows += 1;
        let relation_id = fields[F_RELATION_ID];
        let v = match relation::validate(fields, fr.opts.as_of, fr.opts.legacy) {
            Ok(v) => v,
            Err((reason, message)) => {
                fr.reject(line, relation_id, reason, message);
                return Ok(());
            }
        };
        fr.out.acc.push_relation(&RelationRow {
            org: v.org.key().expect("validated codes are in the alphabet"),
            org_person: v.org_person,
            party: v.party.key().expect("validated codes are in the alphabet"),
            party_person: v.party_person,
            relation_id,
            facts: v.facts,
        });
        fr.accepted(line, relation_id, v.org_warning, v.legacy, v.upgraded);
        Ok(())
    }

    fn malformed(&mut self, line: u64, message: String) {
        self.0.malformed(line, message);
    }

    fn ignored_column(&mut self, column: String) {
        self.0.ignored_column(column);
    }
}

#[cfg(test)]
mod tests;
