//! Reading list files (SPEC §2): CSV (UTF-8 or GBK) and JSON Lines, from
//! files and folders in path-byte order, one row at a time.
//!
//! Every row is either accepted into [`Accepted`] or rejected with its file,
//! physical line and the first reason kind that applies ([`Reason`]). Memory
//! grows with the accepted entries only: rows are streamed, strings go into
//! one arena, authorities are interned.

use crate::catalog::Catalog;
use crate::codes::{self, Code, CodeError, CodeKind, Key};
use crate::date::Day;
use crate::entry::{Facts, Kind, Status};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Reason kinds of the reject report, in precedence order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    BadCode,
    MissingField,
    UnknownKind,
    UnknownDomain,
    UnknownStatus,
    BadDate,
    DateOrder,
    DuplicateEntryId,
    MalformedRow,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::BadCode,
        Reason::MissingField,
        Reason::UnknownKind,
        Reason::UnknownDomain,
        Reason::UnknownStatus,
        Reason::BadDate,
        Reason::DateOrder,
        Reason::DuplicateEntryId,
        Reason::MalformedRow,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadCode => "bad_code",
            Reason::MissingField => "missing_field",
            Reason::UnknownKind => "unknown_kind",
            Reason::UnknownDomain => "unknown_domain",
            Reason::UnknownStatus => "unknown_status",
            Reason::BadDate => "bad_date",
            Reason::DateOrder => "date_order",
            Reason::DuplicateEntryId => "duplicate_entry_id",
            Reason::MalformedRow => "malformed_row",
        }
    }
}

/// Input text encoding of CSV files (JSON Lines are always UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Gbk,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "utf8" | "utf-8" => Ok(Encoding::Utf8),
            "gbk" | "gb18030" => Ok(Encoding::Gbk),
            _ => Err(format!("unknown encoding {s:?} (expected utf8 or gbk)")),
        }
    }
}

/// The §2 fields, in the order raw rows carry them.
pub const FIELDS: [&str; NFIELDS] = [
    "entry_id",
    "code",
    "name",
    "kind",
    "domain",
    "authority",
    "basis",
    "listed_on",
    "valid_until",
    "status",
    "exited_on",
    "watch_until",
    "reported_on",
];
/// Number of §2 fields.
pub const NFIELDS: usize = 13;
/// Longest field value accepted; the snapshot stores string lengths as u16.
pub const MAX_FIELD_BYTES: usize = 4096;
const F_ENTRY_ID: usize = 0;
const F_CODE: usize = 1;
const F_NAME: usize = 2;
const F_KIND: usize = 3;
const F_DOMAIN: usize = 4;
const F_AUTHORITY: usize = 5;
const F_BASIS: usize = 6;
const F_LISTED_ON: usize = 7;
const F_VALID_UNTIL: usize = 8;
const F_STATUS: usize = 9;
const F_EXITED_ON: usize = 10;
const F_WATCH_UNTIL: usize = 11;
const F_REPORTED_ON: usize = 12;

/// One rejected row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub entry_id: String,
    pub reason: Reason,
    pub message: String,
}

/// A string stored in the [`Arena`]: a 48-bit offset and a 16-bit length
/// in 8 bytes (field values are at most [`MAX_FIELD_BYTES`]), so that an
/// entry record stays small when there are tens of millions of them.
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
    pub fn off(self) -> u64 {
        self.off_lo as u64 | (self.off_hi as u64) << 32
    }
    #[inline]
    pub fn len(self) -> usize {
        self.len as usize
    }
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
    /// The same string in an arena appended after `base` bytes.
    fn shifted(self, base: u64) -> Str {
        Str::new(self.off() + base, self.len())
    }
}

/// A packed [`Key`] in 12 bytes, 4-byte aligned (a `u128` would make every
/// entry record 16-byte aligned). Ordered by its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyBytes(pub [u8; 12]);

impl KeyBytes {
    pub fn key(self) -> Key {
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
    pub bytes: Vec<u8>,
}

impl Arena {
    pub fn push(&mut self, s: &str) -> Str {
        let off = self.bytes.len() as u64;
        self.bytes.extend_from_slice(s.as_bytes());
        Str::new(off, s.len())
    }
    /// The bytes of a string (UTF-8 by construction); for comparisons.
    #[inline]
    pub fn bytes_of(&self, s: Str) -> &[u8] {
        &self.bytes[s.off() as usize..s.off() as usize + s.len()]
    }
    pub fn get(&self, s: Str) -> &str {
        std::str::from_utf8(self.bytes_of(s)).unwrap_or("")
    }
}

/// Strings that repeat across entries (authorities), stored
/// once and referred to by index.
#[derive(Default, Debug)]
pub struct Interner {
    pub values: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> u32 {
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
    pub key: KeyBytes,
    pub person: bool,
    pub facts: Facts,
    /// §10: the day the listing reached the platform, as stored in the
    /// snapshot (u32 day, `NONE_DAY` = none: 4 bytes, where an
    /// `Option<Day>` would take 8).
    pub reported_on: u32,
    pub entry_id: Str,
    pub name: Str,
    pub authority: u32,
    /// Stored right after `name` in the arena (entry_id, name, basis).
    pub basis: Str,
}

/// What ingest produced: accepted entries and their strings.
#[derive(Default, Debug)]
pub struct Accepted {
    pub entries: Vec<EntryRec>,
    pub arena: Arena,
    pub authorities: Interner,
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

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a .csv or .jsonl file")]
    Extension { path: String },
    #[error("{path}:{line}: {message}")]
    Legacy {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}:1: header: {message}")]
    Header { path: String, message: String },
}

/// The pilot-era codes a build may accept despite a failing check character.
#[derive(Default, Debug, Clone)]
pub struct LegacyCodes(HashSet<[u8; 18]>);

impl LegacyCodes {
    /// Reads one code per line; text after `#` and blank lines are ignored.
    /// Each code must be structurally valid (length, alphabet, division).
    pub fn load(path: &Path) -> Result<LegacyCodes, IngestError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io {
            path: p.clone(),
            source,
        })?;
        LegacyCodes::parse(&text, &p)
    }

    pub fn parse(text: &str, origin: &str) -> Result<LegacyCodes, IngestError> {
        let mut set = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let norm = codes::normalize(line);
            if norm.is_empty() {
                continue;
            }
            let err = |message: String| IngestError::Legacy {
                path: origin.to_string(),
                line: i as u64 + 1,
                message,
            };
            let b: [u8; 18] = norm.as_bytes().try_into().map_err(|_| {
                err(format!(
                    "legacy code {norm:?}: {}",
                    CodeError::Length {
                        got: norm.chars().count()
                    }
                ))
            })?;
            codes::check_uscc_structure(&b)
                .map_err(|e| err(format!("legacy code {norm:?}: {e}")))?;
            set.insert(b);
        }
        Ok(LegacyCodes(set))
    }

    pub fn contains(&self, code: &[u8]) -> bool {
        <&[u8; 18]>::try_from(code).is_ok_and(|c| self.0.contains(c))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Settings of one ingest run.
pub struct Options<'a> {
    pub catalog: &'a Catalog,
    pub as_of: Day,
    pub encoding: Encoding,
    pub legacy: &'a LegacyCodes,
}

/// Expands INPUT arguments: files as given, folders recursively (only
/// `.csv`/`.jsonl` files; others are listed in `skipped`), all sorted by the
/// bytes of their paths.
pub fn list_inputs(
    inputs: &[PathBuf],
    skipped: &mut Vec<String>,
) -> Result<Vec<PathBuf>, IngestError> {
    fn walk(
        dir: &Path,
        out: &mut Vec<PathBuf>,
        skipped: &mut Vec<String>,
    ) -> Result<(), IngestError> {
        let io = |source| IngestError::Io {
            path: dir.display().to_string(),
            source,
        };
        for ent in std::fs::read_dir(dir).map_err(io)? {
            let path = ent.map_err(io)?.path();
            if path.is_dir() {
                walk(&path, out, skipped)?;
            } else if is_list_file(&path) {
                out.push(path);
            } else {
                skipped.push(path.display().to_string());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in inputs {
        let meta = std::fs::metadata(p).map_err(|source| IngestError::Io {
            path: p.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out, skipped)?;
        } else if is_list_file(p) {
            out.push(p.clone());
        } else {
            return Err(IngestError::Extension {
                path: p.display().to_string(),
            });
        }
    }
    use std::os::unix::ffi::OsStrExt;
    out.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    out.dedup();
    skipped.sort();
    Ok(out)
}

fn is_list_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("csv") | Some("jsonl")
    )
}

/// A row as read: field values (trimmed; empty = absent) and its place.
pub struct RawRow<'r> {
    pub fields: [&'r str; NFIELDS],
}

/// A validated row, before the duplicate check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valid {
    pub code: Code,
    pub kind_of_code: CodeKind,
    pub facts: Facts,
    /// The day the listing reached the platform (§10), if given.
    pub reported_on: Option<Day>,
    /// Warnings counted in the summary: org-code mismatch, legacy code, 15→18.
    pub org_warning: bool,
    pub legacy: bool,
    pub upgraded: bool,
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{3000}')
}

/// Checks one row against §1/§2 in the reason order of the reject report
/// (all but the duplicate check, which needs the run's state).
pub fn validate(row: &RawRow, opts: &Options) -> Result<Valid, (Reason, String)> {
    let f = |i: usize| row.fields[i];
    if let Some(i) = (0..FIELDS.len()).find(|&i| f(i).len() > MAX_FIELD_BYTES) {
        return Err((
            Reason::MalformedRow,
            format!("field {} is longer than {MAX_FIELD_BYTES} bytes", FIELDS[i]),
        ));
    }
    // bad_code: a present code that fails §1 and is not a named legacy code.
    let raw_code = f(F_CODE);
    let mut legacy = false;
    let parsed = if raw_code.is_empty() {
        None
    } else {
        match codes::parse(raw_code, opts.as_of) {
            Ok(p) => Some(p),
            Err(e) => {
                let norm = codes::normalize(raw_code);
                let structural = <[u8; 18]>::try_from(norm.as_bytes())
                    .ok()
                    .filter(|b| codes::check_uscc_structure(b).is_ok() && opts.legacy.contains(b));
                match structural {
                    Some(b) => {
                        legacy = true;
                        Some(codes::Parsed {
                            code: Code(b),
                            kind: CodeKind::Org,
                            warning: Some(format!("legacy code: {e}")),
                        })
                    }
                    None => return Err((Reason::BadCode, format!("code: {e}"))),
                }
            }
        }
    };
    let status_raw = f(F_STATUS);
    let mut required = vec![
        F_ENTRY_ID,
        F_CODE,
        F_KIND,
        F_DOMAIN,
        F_AUTHORITY,
        F_LISTED_ON,
    ];
    match status_raw {
        "repaired" => required.push(F_EXITED_ON),
        "expired" => required.push(F_VALID_UNTIL),
        _ => {}
    }
    if let Some(&i) = required.iter().find(|&&i| f(i).is_empty()) {
        let why = match (i, status_raw) {
            (F_EXITED_ON, _) => " (required for status repaired)",
            (F_VALID_UNTIL, _) => " (required for status expired)",
            _ => "",
        };
        return Err((
            Reason::MissingField,
            format!("missing required field {}{why}", FIELDS[i]),
        ));
    }
    let parsed = parsed.expect("code is present: checked above");
    let kind = Kind::parse(f(F_KIND)).ok_or_else(|| {
        (
            Reason::UnknownKind,
            format!(
                "unknown kind {:?} (expected red, black or watch)",
                f(F_KIND)
            ),
        )
    })?;
    let domain = opts.catalog.domain_index(f(F_DOMAIN)).ok_or_else(|| {
        (
            Reason::UnknownDomain,
            format!("unknown domain {:?} (not in the catalog)", f(F_DOMAIN)),
        )
    })?;
    let status = if status_raw.is_empty() {
        Status::Active
    } else {
        Status::parse(status_raw).ok_or_else(|| {
            (Reason::UnknownStatus, format!("unknown status {status_raw:?} (expected active, objection, revoked, repaired or expired)"))
        })?
    };
    let date = |i: usize| -> Result<Option<Day>, (Reason, String)> {
        let s = f(i);
        if s.is_empty() {
            return Ok(None);
        }
        let d = Day::parse(s).map_err(|e| (Reason::BadDate, format!("{}: {e}", FIELDS[i])))?;
        if d < Day(0) {
            return Err((
                Reason::BadDate,
                format!("{}: {s} is before 1970-01-01", FIELDS[i]),
            ));
        }
        Ok(Some(d))
    };
    let listed_on = date(F_LISTED_ON)?.expect("required");
    let valid_until = date(F_VALID_UNTIL)?;
    let exited_on = date(F_EXITED_ON)?;
    let watch_until = date(F_WATCH_UNTIL)?;
    let reported_on = date(F_REPORTED_ON)?;
    for (i, d) in [
        (F_VALID_UNTIL, valid_until),
        (F_EXITED_ON, exited_on),
        (F_WATCH_UNTIL, watch_until),
        (F_REPORTED_ON, reported_on),
    ] {
        if let Some(d) = d {
            if d < listed_on {
                return Err((
                    Reason::DateOrder,
                    format!("{} {d} is before listed_on {listed_on}", FIELDS[i]),
                ));
            }
        }
    }
    let facts = Facts {
        kind,
        status,
        domain,
        listed_on,
        valid_until,
        exited_on,
        watch_until,
    };
    if let (Some(w), Some(x)) = (watch_until, crate::rules::exit_day(&facts)) {
        if w < x {
            return Err((
                Reason::DateOrder,
                format!("watch_until {w} is before the exit day {x}"),
            ));
        }
    }
    let upgraded = parsed.kind == CodeKind::Person && raw_code.chars().count() == 15;
    Ok(Valid {
        code: parsed.code,
        kind_of_code: parsed.kind,
        facts,
        reported_on,
        org_warning: parsed.warning.is_some() && !legacy,
        legacy,
        upgraded,
    })
}

/// Reads all files into `acc`: each file on its own ([`Ingest::read_file`],
/// in parallel), then merged in path order ([`Ingest::merge`]), where
/// duplicate entry ids are found across files.
pub struct Ingest<'a> {
    opts: Options<'a>,
    pub acc: Accepted,
    pub stats: Stats,
    /// XXH3-128 of every accepted entry_id: 16 bytes an entry instead of
    /// the string (a collision is a 2^-128 event per pair).
    seen_ids: FxHashSet<u128>,
}

/// One file read and validated, before the duplicate check.
pub struct FileRead {
    acc: Accepted,
    /// Per accepted entry: its physical line, entry_id hash and warning bits.
    lines: Vec<u64>,
    id_hashes: Vec<u128>,
    warnings: Vec<u8>,
    rejects: Vec<Reject>,
    stats: Stats,
    pub digest: crate::snapshot::InputDigest,
}

const WARN_ORG: u8 = 1;
const WARN_LEGACY: u8 = 2;
const WARN_UPGRADED: u8 = 4;

impl<'a> Ingest<'a> {
    pub fn new(opts: Options<'a>) -> Ingest<'a> {
        Ingest {
            opts,
            acc: Accepted::default(),
            stats: Stats::default(),
            seen_ids: FxHashSet::default(),
        }
    }

    /// Reserves room for about `rows` entries (from the input size), so
    /// that the big vectors do not grow by copying.
    pub fn reserve(&mut self, rows: usize, string_bytes: usize) {
        self.acc.entries.reserve(rows);
        self.acc.arena.bytes.reserve(string_bytes);
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
        let io = |source| IngestError::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // Reserve from the file size (rows are rarely under 100 bytes, a
        // third of a row is entry id and name) so vectors do not regrow.
        let size = file.metadata().map_or(0, |m| m.len()) as usize;
        let rows = size / 100;
        let mut fr = FileReader {
            opts: &self.opts,
            out: FileRead {
                acc: Accepted {
                    entries: Vec::with_capacity(rows),
                    arena: Arena {
                        bytes: Vec::with_capacity(size / 3),
                    },
                    ..Accepted::default()
                },
                lines: Vec::with_capacity(rows),
                id_hashes: Vec::with_capacity(rows),
                warnings: Vec::with_capacity(rows),
                rejects: Vec::new(),
                stats: Stats::default(),
                digest: Default::default(),
            },
        };
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut counting = CountingReader {
            inner: file,
            count: 0,
            reported: 0,
            progress,
            hasher: &mut hasher,
        };
        if path.extension().and_then(|e| e.to_str()) == Some("jsonl") {
            fr.read_jsonl(&name, &mut counting)?;
        } else {
            fr.read_csv(&name, &mut counting)?;
        }
        // Readers may stop early (a CSV with no header): hash the rest too.
        std::io::copy(&mut counting, &mut std::io::sink()).map_err(io)?;
        let bytes = counting.count;
        let mut out = fr.out;
        out.stats.files = 1;
        out.stats.bytes = bytes;
        out.digest = crate::snapshot::InputDigest {
            path: name,
            bytes,
            xxh3: format!("{:032x}", hasher.digest128()),
        };
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
        let base = self.acc.arena.bytes.len() as u64;
        self.acc.arena.bytes.extend_from_slice(&acc.arena.bytes);
        let auth: Vec<u32> = acc
            .authorities
            .values
            .iter()
            .map(|v| self.acc.authorities.intern(v))
            .collect();
        let mut dups = false;
        for (i, mut e) in acc.entries.into_iter().enumerate() {
            if !self.seen_ids.insert(id_hashes[i]) {
                let entry_id = acc.arena.get(e.entry_id).to_string();
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
                continue;
            }
            st.accepted += 1;
            st.org_code_warnings += (warnings[i] & WARN_ORG != 0) as u64;
            st.legacy_codes += (warnings[i] & WARN_LEGACY != 0) as u64;
            st.upgraded_ids += (warnings[i] & WARN_UPGRADED != 0) as u64;
            e.entry_id = e.entry_id.shifted(base);
            e.name = e.name.shifted(base);
            e.authority = auth[e.authority as usize];
            e.basis = e.basis.shifted(base);
            self.acc.entries.push(e);
        }
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

/// Reads one file into a [`FileRead`].
struct FileReader<'o, 'a> {
    opts: &'o Options<'a>,
    out: FileRead,
}

impl FileReader<'_, '_> {
    fn accept_or_reject(&mut self, file: &str, line: u64, row: &RawRow) -> Result<(), IngestError> {
        self.out.stats.rows += 1;
        let entry_id = row.fields[F_ENTRY_ID];
        match validate(row, self.opts) {
            Ok(v) => {
                let acc = &mut self.out.acc;
                let rec = EntryRec {
                    key: v
                        .code
                        .key()
                        .expect("validated codes are in the alphabet")
                        .into(),
                    person: v.kind_of_code == CodeKind::Person,
                    facts: v.facts,
                    reported_on: v
                        .reported_on
                        .map_or(crate::snapshot::format::NONE_DAY, Day::to_u32),
                    entry_id: acc.arena.push(entry_id),
                    name: acc.arena.push(row.fields[F_NAME]),
                    authority: acc.authorities.intern(row.fields[F_AUTHORITY]),
                    // Decision numbers are mostly unique: stored, not interned.
                    basis: acc.arena.push(row.fields[F_BASIS]),
                };
                acc.entries.push(rec);
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
            Err((reason, message)) => self.reject(file, line, entry_id, reason, message),
        }
    }

    /// A row that cannot be read: counted and rejected without its fields.
    fn malformed(&mut self, file: &str, line: u64, message: String) {
        self.out.stats.rows += 1;
        let _ = self.reject(file, line, "", Reason::MalformedRow, message);
    }

    fn reject(
        &mut self,
        file: &str,
        line: u64,
        entry_id: &str,
        reason: Reason,
        message: String,
    ) -> Result<(), IngestError> {
        *self.out.stats.rejected.entry(reason.as_str()).or_default() += 1;
        self.out.rejects.push(Reject {
            file: file.to_string(),
            line,
            entry_id: entry_id.to_string(),
            reason,
            message,
        });
        Ok(())
    }

    fn read_csv<R: Read>(&mut self, name: &str, input: R) -> Result<(), IngestError> {
        let decoded: Box<dyn Read + '_> = match self.opts.encoding {
            // GBK is transcoded to UTF-8 on the fly; undecodable bytes become
            // U+FFFD, which marks the row malformed below.
            Encoding::Gbk => Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(encoding_rs::GBK))
                    .build(input),
            ),
            Encoding::Utf8 => Box::new(input),
        };
        // The csv reader's own line numbers skip blank lines; count the
        // physical lines from its byte positions instead.
        let newlines = std::rc::Rc::new(std::cell::RefCell::new(LineTracker::default()));
        let input = NewlineReader {
            inner: decoded,
            offset: 0,
            line_start: 0,
            prev: 0,
            lines: newlines.clone(),
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        let mut rec = csv::ByteRecord::new();
        let io = |e: csv::Error| IngestError::Io {
            path: name.to_string(),
            source: std::io::Error::other(e),
        };
        // Header: map column positions to §2 fields.
        if !rdr.read_byte_record(&mut rec).map_err(io)? {
            return Ok(());
        }
        let mut columns: Vec<Option<usize>> = Vec::with_capacity(rec.len());
        for (i, raw) in rec.iter().enumerate() {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            let col = std::str::from_utf8(raw).map_err(|_| IngestError::Header {
                path: name.to_string(),
                message: format!("column {} is not valid text", i + 1),
            })?;
            let col = trim(col);
            let field = FIELDS.iter().position(|f| *f == col);
            if let Some(fi) = field {
                if columns.contains(&Some(fi)) {
                    return Err(IngestError::Header {
                        path: name.to_string(),
                        message: format!("column {col:?} appears twice"),
                    });
                }
            } else {
                self.out
                    .stats
                    .ignored_columns
                    .push(format!("{name}: {col}"));
            }
            columns.push(field);
        }
        let ncols = columns.len();
        let mut line;
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    // The csv reader only fails on I/O here (flexible, bytes).
                    return Err(io(e));
                }
            }
            line = newlines
                .borrow_mut()
                .line_at(rec.position().map_or(0, |p| p.byte()));
            // csv skips empty lines; skip whitespace-only lines too. A line
            // of only separators is a row.
            if rec.len() == 1 && ncols > 1 && rec[0].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if rec.len() != ncols {
                // Columns cannot be trusted: no field of the row is reported.
                self.malformed(
                    name,
                    line,
                    format!("expected {ncols} columns, got {}", rec.len()),
                );
                continue;
            }
            let mut fields = [""; NFIELDS];
            let mut bad = None;
            for (i, raw) in rec.iter().enumerate() {
                let Some(fi) = columns[i] else { continue };
                match std::str::from_utf8(raw) {
                    Ok(s) if !s.contains('\u{FFFD}') => fields[fi] = trim(s),
                    _ => {
                        bad.get_or_insert(i);
                    }
                }
            }
            if let Some(i) = bad {
                self.malformed(
                    name,
                    line,
                    format!("column {} is not valid {}", i + 1, self.encoding_name()),
                );
                continue;
            }
            self.accept_or_reject(name, line, &RawRow { fields })?;
        }
        Ok(())
    }

    fn encoding_name(&self) -> &'static str {
        match self.opts.encoding {
            Encoding::Utf8 => "UTF-8",
            Encoding::Gbk => "GBK",
        }
    }

    fn read_jsonl<R: Read>(&mut self, name: &str, input: R) -> Result<(), IngestError> {
        let mut rdr = BufReader::with_capacity(1 << 16, input);
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            let n = rdr
                .read_until(b'\n', &mut buf)
                .map_err(|source| IngestError::Io {
                    path: name.to_string(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            line += 1;
            let mut bytes = &buf[..];
            if line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let obj: Result<serde_json::Map<String, serde_json::Value>, String> =
                std::str::from_utf8(bytes)
                    .map_err(|e| format!("not valid UTF-8: {e}"))
                    .and_then(|s| {
                        serde_json::from_str(s).map_err(|e| format!("not a JSON object: {e}"))
                    });
            let obj = match obj {
                Ok(o) => o,
                Err(message) => {
                    self.malformed(name, line, message);
                    continue;
                }
            };
            let mut texts: [String; NFIELDS] = Default::default();
            let mut bad = None;
            for (i, f) in FIELDS.iter().enumerate() {
                match obj.get(*f) {
                    None | Some(serde_json::Value::Null) => {}
                    Some(serde_json::Value::String(s)) => texts[i] = trim(s).to_string(),
                    Some(serde_json::Value::Number(n)) => texts[i] = n.to_string(),
                    Some(_) => {
                        bad.get_or_insert(*f);
                    }
                }
            }
            if let Some(f) = bad {
                self.malformed(name, line, format!("field {f} must be a string"));
                continue;
            }
            let fields: [&str; NFIELDS] = std::array::from_fn(|i| texts[i].as_str());
            self.accept_or_reject(name, line, &RawRow { fields })?;
        }
        Ok(())
    }
}

/// Counts bytes read for the progress bar and the summary.
/// Newlines read but not yet passed by the parser: offset, and whether the
/// line they end is blank (the csv reader skips blank lines and reports the
/// next record at the blank line's offset).
#[derive(Default)]
struct LineTracker {
    pending: std::collections::VecDeque<(u64, bool)>,
    passed: u64,
}

impl LineTracker {
    /// Physical line (1-based) of the record reported at `offset`; offsets
    /// must not decrease from call to call.
    fn line_at(&mut self, mut offset: u64) -> u64 {
        loop {
            match self.pending.front() {
                Some(&(nl, _)) if nl < offset => {}
                // Reported at a terminator (the LF of a CRLF, a blank line):
                // the record starts after it.
                Some(&(nl, _)) if nl == offset => offset = nl + 1,
                // A blank CRLF line where the record was reported.
                Some(&(nl, true)) if nl == offset + 1 => offset = nl + 1,
                _ => break,
            }
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

/// Records the offset of every newline that goes through it.
struct NewlineReader<R> {
    inner: R,
    offset: u64,
    line_start: u64,
    prev: u8,
    lines: std::rc::Rc<std::cell::RefCell<LineTracker>>,
}

impl<R: Read> Read for NewlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.lines.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            let o = self.offset + i as u64;
            if b == b'\n' {
                let blank =
                    o == self.line_start || (o == self.line_start + 1 && self.prev == b'\r');
                lines.pending.push_back((o, blank));
                self.line_start = o + 1;
            }
            self.prev = b;
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Hashes every byte read for the input digest, too.
struct CountingReader<'p, R> {
    inner: R,
    count: u64,
    reported: u64,
    progress: &'p (dyn Fn(u64) + Sync),
    hasher: &'p mut xxhash_rust::xxh3::Xxh3,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.count - self.reported >= 1 << 20 || n == 0 {
            (self.progress)(self.count - self.reported);
            self.reported = self.count;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn catalog() -> Catalog {
        Catalog::from_toml(
            "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
            "t",
        )
        .unwrap()
    }

    const ORG: &str = "91350100M000100Y43";

    fn row<'a>(overrides: &[(&str, &'a str)]) -> [&'a str; NFIELDS] {
        let mut f: [&'a str; NFIELDS] = [
            "E1",
            ORG,
            "某公司",
            "black",
            "court",
            "fy",
            "",
            "2026-01-01",
            "",
            "",
            "",
            "",
            "",
        ];
        for (k, v) in overrides {
            f[FIELDS.iter().position(|x| x == k).unwrap()] = v;
        }
        f
    }

    fn check(fields: [&str; NFIELDS]) -> Result<Valid, Reason> {
        let cat = catalog();
        let legacy = LegacyCodes::parse("91350100M0001TGQXM # Fuzhou pilot\n", "l").unwrap();
        let opts = Options {
            catalog: &cat,
            as_of: Day::parse("2026-11-21").unwrap(),
            encoding: Encoding::Utf8,
            legacy: &legacy,
        };
        validate(&RawRow { fields }, &opts).map_err(|(r, m)| {
            assert!(!m.is_empty());
            r
        })
    }

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

    #[test]
    fn reasons_table() {
        use Reason::*;
        type Case = (Vec<(&'static str, &'static str)>, Result<(), Reason>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(())),
            (vec![("code", "91350100M000100Y44")], Err(BadCode)),
            (vec![("code", "91350100M0001TGQXM")], Ok(())),
            (vec![("code", "91350100M0001TGQXN")], Err(BadCode)),
            (vec![("code", "")], Err(MissingField)),
            (vec![("entry_id", "")], Err(MissingField)),
            (vec![("authority", "")], Err(MissingField)),
            (vec![("status", "repaired")], Err(MissingField)),
            (vec![("status", "expired")], Err(MissingField)),
            (vec![("kind", "grey")], Err(UnknownKind)),
            (vec![("domain", "sea")], Err(UnknownDomain)),
            (vec![("status", "gone")], Err(UnknownStatus)),
            (vec![("listed_on", "2026-02-30")], Err(BadDate)),
            (vec![("watch_until", "2026/03/01")], Err(BadDate)),
            (vec![("valid_until", "2025-12-31")], Err(DateOrder)),
            // §10 reported_on: a real date, not before listed_on.
            (vec![("reported_on", "2026-01-01")], Ok(())),
            (vec![("reported_on", "2026-01-32")], Err(BadDate)),
            (vec![("reported_on", "2025-12-31")], Err(DateOrder)),
            (
                vec![("status", "repaired"), ("exited_on", "2025-12-01")],
                Err(DateOrder),
            ),
            (
                vec![("valid_until", "2026-06-30"), ("watch_until", "2026-06-30")],
                Err(DateOrder),
            ),
            (
                vec![("valid_until", "2026-06-30"), ("watch_until", "2026-07-01")],
                Ok(()),
            ),
            // Precedence: bad code before a missing field; kind before domain.
            (vec![("code", "X"), ("domain", "")], Err(BadCode)),
            (vec![("kind", "grey"), ("domain", "sea")], Err(UnknownKind)),
            (
                vec![("status", "expired"), ("valid_until", "2026-13-01")],
                Err(BadDate),
            ),
        ];
        for (over, want) in cases {
            let got = check(row(&over)).map(|_| ());
            assert_eq!(got, want, "{over:?}");
        }
    }

    #[test]
    fn legacy_file_refuses_unstructured_codes() {
        let err = LegacyCodes::parse("# header\n\n9135A100M0001TGQXM\n", "legacy.txt")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("legacy.txt:3: "), "{err}");
    }

    fn run(files: &[(&str, &[u8])], encoding: Encoding) -> (Accepted, Stats, Vec<Reject>) {
        let dir = tempfile::tempdir().unwrap();
        let cat = catalog();
        let legacy = LegacyCodes::default();
        let mut ing = Ingest::new(Options {
            catalog: &cat,
            as_of: Day::parse("2026-11-21").unwrap(),
            encoding,
            legacy: &legacy,
        });
        let mut rejects = Vec::new();
        for (name, bytes) in files {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let read = ing.read_file(&p, &|_| {}).unwrap();
            ing.merge(read, &mut |r| {
                rejects.push(r);
                Ok(())
            })
            .unwrap();
        }
        (ing.acc, ing.stats, rejects)
    }

    #[test]
    fn duplicates_across_files_keep_the_first() {
        let head = "entry_id,code,kind,domain,authority,listed_on\n";
        let a = format!("{head}E1,91350100M000100Y43,black,court,fy,2026-01-01\nE2,91350100M000100Y43,red,court,fy,2026-13-01\n");
        let b = format!("{head}E2,91350100M000100Y43,red,court,fy,2026-01-01\nE1,91350100M000100Y43,red,tax,sw,2026-01-01\n");
        let (acc, stats, rejects) = run(
            &[("a.csv", a.as_bytes()), ("b.csv", b.as_bytes())],
            Encoding::Utf8,
        );
        let got: Vec<(&str, u64, &str, Reason)> = rejects
            .iter()
            .map(|r| {
                (
                    &r.file[r.file.len() - 5..],
                    r.line,
                    r.entry_id.as_str(),
                    r.reason,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.csv", 3, "E2", Reason::BadDate),
                ("b.csv", 3, "E1", Reason::DuplicateEntryId)
            ]
        );
        assert_eq!(acc.entries.len(), 2);
        assert_eq!((stats.rows, stats.accepted), (4, 2));
    }

    #[test]
    fn csv_lines_columns_bom_and_duplicates() {
        let csv = "\u{FEFF}code,entry_id,kind,domain,authority,listed_on,extra\n\
            91350100M000100Y43,E1,black,court,fy,2026-01-01,x\n\
            \n\
            91350100M000100Y43,E2,black,court,fy\n\
            91350100M000100Y43,E1,red,tax,sw,2026-01-01,x\n\
            91350100M000100Y44,E3,red,tax,sw,2026-01-01,x\n\
            91350100M000100Y43,E3,red,tax,sw,2026-01-01,x\n";
        let (acc, stats, rejects) = run(&[("a.csv", csv.as_bytes())], Encoding::Utf8);
        let got: Vec<(u64, &str, Reason)> = rejects
            .iter()
            .map(|r| (r.line, r.entry_id.as_str(), r.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                (4, "", Reason::MalformedRow),
                (5, "E1", Reason::DuplicateEntryId),
                (6, "E3", Reason::BadCode)
            ]
        );
        assert_eq!(acc.entries.len(), 2);
        assert_eq!(stats.rows, 5);
        assert_eq!(stats.ignored_columns.len(), 1);
    }

    #[test]
    fn physical_lines_with_crlf_and_blank_lines() {
        let row = "91350100M000100Y43,E{},black,court,fy,2026-01-01";
        for nl in ["\n", "\r\n"] {
            let mut csv = format!("code,entry_id,kind,domain,authority,listed_on{nl}");
            // Lines 2..: a row, two blank lines, a row, one blank, then a bad row.
            csv += &format!("{}{nl}{nl}{nl}", row.replace("{}", "1"));
            csv += &format!("{}{nl}{nl}", row.replace("{}", "1"));
            csv += &format!("x{nl}");
            let (_, _, rejects) = run(&[("l.csv", csv.as_bytes())], Encoding::Utf8);
            let lines: Vec<u64> = rejects.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![5, 7], "terminator {nl:?}");
        }
    }

    #[test]
    fn gbk_and_bad_bytes() {
        let (text, _, _) = encoding_rs::GBK.encode("entry_id,code,name,kind,domain,authority,listed_on\nE1,91350100M000100Y43,福州某某公司,black,court,法院,2026-01-01\n");
        let (acc, _, rejects) = run(&[("g.csv", &text)], Encoding::Gbk);
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(acc.arena.get(acc.entries[0].name), "福州某某公司");
        assert_eq!(acc.authorities.values[0], "法院");

        let bad = b"entry_id,code,name,kind,domain,authority,listed_on\nE1,91350100M000100Y43,\xff\xfe,black,court,fy,2026-01-01\n";
        let (_, _, rejects) = run(&[("b.csv", bad)], Encoding::Utf8);
        assert_eq!(rejects[0].reason, Reason::MalformedRow);
        assert_eq!(rejects[0].line, 2);
    }

    #[test]
    fn jsonl_rows() {
        let j = "{\"entry_id\":\"J1\",\"code\":\"91350100M000100Y43\",\"kind\":\"red\",\"domain\":\"tax\",\"authority\":\"sw\",\"listed_on\":\"2026-01-01\",\"valid_until\":null}\n\
                 \n\
                 {not json}\n\
                 {\"entry_id\":\"J2\",\"code\":\"91350100M000100Y43\",\"kind\":[1],\"domain\":\"tax\",\"authority\":\"sw\",\"listed_on\":\"2026-01-01\"}\n\
                 {\"entry_id\":\"J3\",\"code\":\"91350100M000100Y43\",\"kind\":\"red\",\"domain\":\"tax\",\"authority\":\"sw\"}\n";
        let (acc, stats, rejects) = run(&[("a.jsonl", j.as_bytes())], Encoding::Utf8);
        let got: Vec<(u64, Reason)> = rejects.iter().map(|r| (r.line, r.reason)).collect();
        assert_eq!(
            got,
            vec![
                (3, Reason::MalformedRow),
                (4, Reason::MalformedRow),
                (5, Reason::MissingField)
            ]
        );
        assert_eq!(acc.entries.len(), 1);
        assert_eq!(stats.rows, 4);
    }

    proptest! {
        /// Arbitrary field values never panic and always yield a reason.
        #[test]
        fn validate_never_panics(fields in proptest::array::uniform13("\\PC{0,20}")) {
            let f: [&str; NFIELDS] = std::array::from_fn(|i| fields[i].as_str());
            let _ = check(f);
        }

        /// Arbitrary bytes as a CSV or JSONL file never panic, and every row
        /// is either accepted or rejected.
        #[test]
        fn files_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut csv = b"entry_id,code,kind,domain,authority,listed_on\n".to_vec();
            csv.extend_from_slice(&body);
            let (acc, stats, rejects) = run(&[("f.csv", &csv), ("f.jsonl", &body)], Encoding::Utf8);
            prop_assert_eq!(stats.rows, acc.entries.len() as u64 + rejects.len() as u64);
        }
    }
}
