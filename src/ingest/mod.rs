//! Reading list files (SPEC §2): CSV (UTF-8 or GBK) and JSON Lines, from
//! files and folders in path-byte order, one row at a time.
//!
//! Every row is either accepted into a [`crate::snapshot::Builder`] or
//! rejected with its file, physical line and the first reason kind that
//! applies ([`Reason`]). Memory grows with the accepted entries only: rows
//! are streamed, strings go into the builder's arena, authorities are
//! interned.
//!
//! - `files`: finding input files and their order;
//! - `decode`: CSV / JSON Lines / GBK / `.xlsx` decoding into rows of
//!   named fields (their aliases and required header columns given per kind
//!   of row file), with physical line numbers, for any kind of row file;
//! - `row`: one list-entry row checked against §1/§2;
//! - `reject`: the reject report's rows and reasons;
//! - `legacy`: the `--legacy-codes` file;
//! - this module: the driver, reading files in parallel and merging them
//!   in path order.

mod decode;
mod error;
mod files;
mod legacy;
mod reject;
mod row;

pub use decode::Encoding;
pub use error::IngestError;
pub(crate) use files::list_inputs;
pub use legacy::LegacyCodes;
pub use reject::{Reason, Reject};

use crate::catalog::Catalog;
use crate::codes::CodeKind;
use crate::date::Day;
use crate::snapshot::{Builder, InputDigest, Row};
use decode::RowSink;
use row::{RawRow, ENTRY_FIELDS, F_AUTHORITY, F_BASIS, F_ENTRY_ID, F_NAME, NFIELDS};
use rustc_hash::FxHashSet;
use std::collections::HashMap;
use std::path::Path;

/// Settings of one ingest run.
pub struct Options<'a> {
    pub catalog: &'a Catalog,
    pub as_of: Day,
    pub encoding: Encoding,
    pub legacy: &'a LegacyCodes,
}

/// Counters for the build summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: HashMap<&'static str, u64>,
    /// GB 11714 organisation-code check mismatches accepted.
    pub org_code_warnings: u64,
    /// Pilot-era legacy codes accepted through `--legacy-codes`.
    pub legacy_codes: u64,
    /// 15-digit ID numbers upgraded to 18.
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
}

/// Reads all files into `acc`: each file on its own ([`Ingest::read_file`],
/// in parallel), then merged in path order ([`Ingest::merge`]), where
/// duplicate entry ids are found across files.
pub struct Ingest<'a> {
    opts: Options<'a>,
    pub acc: Builder,
    pub stats: Stats,
    /// XXH3-128 of every accepted entry_id: 16 bytes an entry instead of
    /// the string (a collision is a 2^-128 event per pair).
    seen_ids: FxHashSet<u128>,
}

/// One file read and validated, before the duplicate check.
pub struct FileRead {
    acc: Builder,
    /// Per accepted entry: its physical line, entry_id hash and warning bits.
    lines: Vec<u64>,
    id_hashes: Vec<u128>,
    warnings: Vec<u8>,
    rejects: Vec<Reject>,
    stats: Stats,
    pub digest: InputDigest,
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
            seen_ids: FxHashSet::default(),
        }
    }

    /// Reserves room for about `rows` entries (from the input size), so
    /// that the big vectors do not grow by copying.
    pub(crate) fn reserve(&mut self, rows: usize, string_bytes: usize) {
        self.acc.reserve(rows, string_bytes);
        self.seen_ids.reserve(rows);
    }

    /// Reads and validates one file (no shared state: files can be read in
    /// parallel). `progress(bytes)` is called as the file is read.
    pub fn read_file(
        &self,
        path: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<FileRead, IngestError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| IngestError::Io {
            path: name.clone(),
            source,
        })?;
        // Reserve from the file size (rows are rarely under 100 bytes, a
        // third of a row is entry id and name) so vectors do not regrow.
        let size = file.metadata().map_or(0, |m| m.len()) as usize;
        let rows = size / 100;
        let mut fr = FileReader {
            opts: &self.opts,
            file: name,
            out: FileRead {
                acc: Builder::with_capacity(rows, size / 3),
                lines: Vec::with_capacity(rows),
                id_hashes: Vec::with_capacity(rows),
                warnings: Vec::with_capacity(rows),
                rejects: Vec::new(),
                stats: Stats::default(),
                digest: Default::default(),
            },
        };
        let digest = decode::read_file(
            path,
            file,
            self.opts.encoding,
            &ENTRY_FIELDS,
            progress,
            &mut fr,
        )?;
        let mut out = fr.out;
        out.stats.files = 1;
        out.stats.bytes = digest.bytes;
        out.digest = digest;
        Ok(out)
    }

    /// Adds a file's entries in order, rejecting entry ids already accepted;
    /// `on_reject` receives the file's rejected rows in line order.
    pub fn merge(
        &mut self,
        f: FileRead,
        on_reject: &mut dyn FnMut(Reject) -> std::io::Result<()>,
    ) -> Result<(), IngestError> {
        let FileRead {
            acc,
            lines,
            id_hashes,
            warnings,
            mut rejects,
            stats,
            digest,
        } = f;
        let st = &mut self.stats;
        st.files += stats.files;
        st.bytes += stats.bytes;
        st.rows += stats.rows;
        for (k, n) in stats.rejected {
            *st.rejected.entry(k).or_default() += n;
        }
        st.ignored_columns.extend(stats.ignored_columns);
        let seen_ids = &mut self.seen_ids;
        let mut dups = false;
        self.acc.append(acc, |i, entry_id| {
            if !seen_ids.insert(id_hashes[i]) {
                let entry_id = String::from_utf8_lossy(entry_id).into_owned();
                let message = format!("entry_id {entry_id:?} was already used by an accepted row");
                *st.rejected
                    .entry(Reason::DuplicateEntryId.as_str())
                    .or_default() += 1;
                rejects.push(Reject {
                    file: digest.path.clone(),
                    line: lines[i],
                    entry_id,
                    reason: Reason::DuplicateEntryId,
                    message,
                });
                dups = true;
                return false;
            }
            st.accepted += 1;
            st.org_code_warnings += (warnings[i] & WARN_ORG != 0) as u64;
            st.legacy_codes += (warnings[i] & WARN_LEGACY != 0) as u64;
            st.upgraded_ids += (warnings[i] & WARN_UPGRADED != 0) as u64;
            true
        });
        if dups {
            rejects.sort_by_key(|r| r.line);
        }
        for r in rejects {
            on_reject(r).map_err(|source| IngestError::Io {
                path: "reject report".into(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Reads one file's list-entry rows into a [`FileRead`].
struct FileReader<'o, 'a> {
    opts: &'o Options<'a>,
    /// The file's path as found.
    file: String,
    out: FileRead,
}

impl FileReader<'_, '_> {
    fn reject(&mut self, line: u64, entry_id: &str, reason: Reason, message: String) {
        *self.out.stats.rejected.entry(reason.as_str()).or_default() += 1;
        self.out.rejects.push(Reject {
            file: self.file.clone(),
            line,
            entry_id: entry_id.to_string(),
            reason,
            message,
        });
    }
}

impl RowSink<NFIELDS> for FileReader<'_, '_> {
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
        self.out.acc.push(&Row {
            key: v.code.key().expect("validated codes are in the alphabet"),
            person: v.kind_of_code == CodeKind::Person,
            facts: v.facts,
            reported_on: v.reported_on,
            entry_id,
            name: fields[F_NAME],
            authority: fields[F_AUTHORITY],
            basis: fields[F_BASIS],
        });
        self.out.lines.push(line);
        self.out
            .id_hashes
            .push(xxhash_rust::xxh3::xxh3_128(entry_id.as_bytes()));
        self.out.warnings.push(
            if v.org_warning { WARN_ORG } else { 0 }
                | if v.legacy { WARN_LEGACY } else { 0 }
                | if v.upgraded { WARN_UPGRADED } else { 0 },
        );
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

#[cfg(test)]
mod tests;
