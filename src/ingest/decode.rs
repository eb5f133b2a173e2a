//! Decoding input files into rows of named fields (SPEC §2): CSV (UTF-8 or
//! GBK, a header row), JSON Lines and `.xlsx` workbooks (the first sheet, a
//! header row), with physical line numbers (sheet row numbers for a
//! workbook), a BOM allowed, blank lines skipped and values trimmed.
//!
//! Nothing here knows what the fields mean: a [`RowSink`] receives each
//! row as the values of the `N` fields it asked for, so list entries and
//! any other kind of row file are read the same way. Which header names
//! (and JSON keys) give which field is a [`Fields`] of the row file's kind:
//! a [`FieldSpec`] adds aliases (the Chinese names platforms export) and
//! the fields a header must name; a plain `[&str; N]` is the names alone.
//! A header that names a field twice, or lacks a required one, is an error
//! for the file ([`IngestError::Header`]), not a rejected row per line.

use super::error::IngestError;
use crate::snapshot::InputDigest;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

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

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Gbk => "GBK",
        }
    }
}

/// The fields of a kind of row file, as headers and JSON keys name them.
pub(crate) trait Fields<const N: usize> {
    /// The field's own name (the §2 name).
    fn name(&self, i: usize) -> &str;
    /// Every header name or key that gives field `i`, its own name first.
    fn accepted(&self, i: usize) -> Vec<&str>;
    /// Fields a header must have a column for.
    fn required(&self) -> &[usize];
}

/// Field names alone: no aliases, no required columns.
impl<const N: usize> Fields<N> for [&str; N] {
    fn name(&self, i: usize) -> &str {
        self[i]
    }
    fn accepted(&self, i: usize) -> Vec<&str> {
        vec![self[i]]
    }
    fn required(&self) -> &[usize] {
        &[]
    }
}

/// Field names, the other names each is exported under, and the fields a
/// header must name.
pub(crate) struct FieldSpec<const N: usize> {
    pub(crate) names: [&'static str; N],
    /// `(alias, field index)`: header names and keys besides the own names.
    pub(crate) aliases: &'static [(&'static str, usize)],
    pub(crate) required: &'static [usize],
}

impl<const N: usize> Fields<N> for FieldSpec<N> {
    fn name(&self, i: usize) -> &str {
        self.names[i]
    }
    fn accepted(&self, i: usize) -> Vec<&str> {
        let mut v = vec![self.names[i]];
        v.extend(self.aliases.iter().filter(|a| a.1 == i).map(|a| a.0));
        v
    }
    fn required(&self) -> &[usize] {
        self.required
    }
}

/// Header name or key → field index, built once per file.
fn lookup_table<const N: usize>(fields: &impl Fields<N>) -> HashMap<&str, usize> {
    (0..N)
        .flat_map(|i| fields.accepted(i).into_iter().map(move |n| (n, i)))
        .collect()
}

/// What receives the rows of one file.
pub(crate) trait RowSink<const N: usize> {
    /// A readable row at its physical line: the values of the `N` fields
    /// (trimmed; empty when absent or blank).
    fn row(&mut self, line: u64, fields: &[&str; N]) -> Result<(), IngestError>;
    /// A row that cannot be read: no field of it can be trusted.
    fn malformed(&mut self, line: u64, message: String);
    /// A CSV column that is none of the fields, as `file: column`.
    fn ignored_column(&mut self, column: String);
}

/// Trims ASCII whitespace and the full-width space U+3000.
pub(crate) fn trim(s: &str) -> &str {
    // Most values need no trimming, which their end bytes tell: U+3000 is
    // E3 80 80 in UTF-8.
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last))
            if !first.is_ascii_whitespace()
                && first != 0xE3
                && !last.is_ascii_whitespace()
                && last != 0x80 =>
        {
            s
        }
        _ => s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{3000}'),
    }
}

/// Reads the open file `path` (`.jsonl`: JSON Lines, `.xlsx`: a workbook,
/// else CSV) into `sink`, mapping columns or keys to `names`.
/// `progress(bytes)` is called as the file is read. Returns the file's
/// digest (every byte, also those after a reader stopped early).
pub(crate) fn read_file<const N: usize>(
    path: &Path,
    file: std::fs::File,
    encoding: Encoding,
    names: &impl Fields<N>,
    progress: &(dyn Fn(u64) + Sync),
    sink: &mut impl RowSink<N>,
) -> Result<InputDigest, IngestError> {
    let name = path.display().to_string();
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut counting = CountingReader {
        inner: file,
        count: 0,
        reported: 0,
        progress,
        hasher: &mut hasher,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") => read_jsonl(&name, &mut counting, names, sink)?,
        Some("xlsx") => read_xlsx(&name, &mut counting, names, sink)?,
        _ => read_csv(&name, &mut counting, encoding, names, sink)?,
    }
    // Readers may stop early (a CSV with no header): hash the rest too.
    std::io::copy(&mut counting, &mut std::io::sink()).map_err(|source| IngestError::Io {
        path: name.clone(),
        source,
    })?;
    let bytes = counting.count;
    Ok(InputDigest {
        path: name,
        bytes,
        xxh3: format!("{:032x}", hasher.digest128()),
    })
}

/// Maps the header's columns (at physical `line`) to field positions
/// (`None`: ignored column). Two columns for one field, or a required field
/// without a column, refuse the file.
fn read_header<const N: usize>(
    name: &str,
    line: u64,
    header: &[String],
    fields: &impl Fields<N>,
    sink: &mut impl RowSink<N>,
) -> Result<Vec<Option<usize>>, IngestError> {
    let table = lookup_table(fields);
    let err = |message: String| IngestError::Header {
        path: name.to_string(),
        line,
        message,
    };
    let mut columns: Vec<Option<usize>> = Vec::with_capacity(header.len());
    for (i, col) in header.iter().enumerate() {
        let col = trim(col);
        let field = table.get(col).copied();
        if let Some(fi) = field {
            if let Some(j) = columns.iter().position(|c| *c == Some(fi)) {
                let first = trim(&header[j]);
                let what = if first == col {
                    format!(
                        "column {col:?} appears twice (columns {} and {})",
                        j + 1,
                        i + 1
                    )
                } else {
                    format!(
                        "columns {} ({first:?}) and {} ({col:?}) both give the field {}",
                        j + 1,
                        i + 1,
                        fields.name(fi)
                    )
                };
                return Err(err(format!("{what}: keep one of them")));
            }
        } else if !col.is_empty() || header.len() == 1 {
            sink.ignored_column(format!("{name}: {col}"));
        } else {
            // A column without a header name: its values are not read, and
            // the build says so rather than dropping them unannounced.
            sink.ignored_column(format!("{name}: column {} (no header)", i + 1));
        }
        columns.push(field);
    }
    let missing: Vec<String> = fields
        .required()
        .iter()
        .filter(|&&fi| !columns.contains(&Some(fi)))
        .map(|&fi| {
            let names = fields.accepted(fi);
            if names.len() == 1 {
                names[0].to_string()
            } else {
                format!("{} (or {})", names[0], names[1..].join(" / "))
            }
        })
        .collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "no column for the required field{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        )));
    }
    Ok(columns)
}

/// The header record's names (BOM stripped), or the column that is not text.
fn header_names(name: &str, rec: &csv::ByteRecord) -> Result<Vec<String>, IngestError> {
    rec.iter()
        .enumerate()
        .map(|(i, raw)| {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            std::str::from_utf8(raw)
                .map(str::to_string)
                .map_err(|_| IngestError::Header {
                    path: name.to_string(),
                    line: 1,
                    message: format!("column {} is not valid text", i + 1),
                })
        })
        .collect()
}

fn read_csv<const N: usize, R: Read>(
    name: &str,
    input: R,
    encoding: Encoding,
    names: &impl Fields<N>,
    sink: &mut impl RowSink<N>,
) -> Result<(), IngestError> {
    let decoded: Box<dyn Read + '_> = match encoding {
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
    let newlines = Rc::new(RefCell::new(LineTracker::default()));
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
    // The csv reader only fails on I/O here (flexible, bytes).
    let io = |e: csv::Error| IngestError::Io {
        path: name.to_string(),
        source: std::io::Error::other(e),
    };
    if !rdr.read_byte_record(&mut rec).map_err(io)? {
        return Ok(());
    }
    let header_line = newlines
        .borrow_mut()
        .line_at(rec.position().map_or(0, |p| p.byte()));
    let columns = read_header(name, header_line, &header_names(name, &rec)?, names, sink)?;
    let ncols = columns.len();
    // U+FFFD in UTF-8: what GBK decoding leaves for undecodable bytes.
    let replacement = memchr::memmem::Finder::new("\u{FFFD}");
    while rdr.read_byte_record(&mut rec).map_err(io)? {
        let line = newlines
            .borrow_mut()
            .line_at(rec.position().map_or(0, |p| p.byte()));
        // csv skips empty lines; skip whitespace-only lines too. A line
        // of only separators is a row.
        if rec.len() == 1 && ncols > 1 && rec[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if rec.len() != ncols {
            // Columns cannot be trusted: no field of the row is reported.
            sink.malformed(line, format!("expected {ncols} columns, got {}", rec.len()));
            continue;
        }
        let mut fields = [""; N];
        let mut bad = None;
        // One check of the whole record instead of one per field: when it is
        // text without U+FFFD, a field starting and ending on character
        // boundaries is text without U+FFFD too (else it is checked alone).
        let all = simdutf8::basic::from_utf8(rec.as_slice())
            .ok()
            .filter(|s| replacement.find(s.as_bytes()).is_none());
        for (i, raw) in rec.iter().enumerate() {
            let Some(fi) = columns[i] else { continue };
            if let Some(s) = all.and_then(|all| all.get(rec.range(i)?)) {
                fields[fi] = trim(s);
                continue;
            }
            match simdutf8::basic::from_utf8(raw) {
                Ok(s) if replacement.find(raw).is_none() => fields[fi] = trim(s),
                _ => {
                    bad.get_or_insert(i);
                }
            }
        }
        if let Some(i) = bad {
            let hint = match encoding {
                Encoding::Utf8 => " (a GBK file? build with --encoding gbk)",
                _ => "",
            };
            sink.malformed(
                line,
                format!("column {} is not valid {}{hint}", i + 1, encoding.name()),
            );
            continue;
        }
        sink.row(line, &fields)?;
    }
    Ok(())
}

fn read_jsonl<const N: usize, R: Read>(
    name: &str,
    input: R,
    names: &impl Fields<N>,
    sink: &mut impl RowSink<N>,
) -> Result<(), IngestError> {
    let table = lookup_table(names);
    let mut rdr = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut texts: [String; N] = std::array::from_fn(|_| String::new());
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
                sink.malformed(line, message);
                continue;
            }
        };
        for t in texts.iter_mut() {
            t.clear();
        }
        let mut given: [Option<&str>; N] = [None; N];
        let mut bad = None;
        for (key, value) in &obj {
            let Some(&fi) = table.get(key.as_str()) else {
                continue;
            };
            let text = &mut texts[fi];
            match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => text.push_str(trim(s)),
                serde_json::Value::Number(n) => {
                    use std::fmt::Write;
                    let _ = write!(text, "{n}");
                }
                _ => {
                    bad.get_or_insert(format!("field {key} must be a string"));
                    continue;
                }
            }
            if let Some(first) = given[fi].replace(key) {
                bad.get_or_insert(format!(
                    "keys {first:?} and {key:?} both give the field {}",
                    names.name(fi)
                ));
            }
        }
        if let Some(message) = bad {
            sink.malformed(line, message);
            continue;
        }
        let fields: [&str; N] = std::array::from_fn(|i| texts[i].as_str());
        sink.row(line, &fields)?;
    }
    Ok(())
}

/// Reads the first sheet of a workbook: its first non-blank row is the
/// header, each further non-blank row a row at its sheet row number (the
/// first row of the sheet is 1). Date cells become `YYYY-MM-DD`; whole
/// numbers are written without a fraction.
fn read_xlsx<const N: usize, R: Read>(
    name: &str,
    mut input: R,
    names: &impl Fields<N>,
    sink: &mut impl RowSink<N>,
) -> Result<(), IngestError> {
    use calamine::{Reader, Xlsx};
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|source| IngestError::Io {
            path: name.to_string(),
            source,
        })?;
    let bad = |message: String| IngestError::Workbook {
        path: name.to_string(),
        message,
    };
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| bad(e.to_string()))?;
    let range = match book.worksheet_range_at(0) {
        None => return Err(bad("it has no sheet".into())),
        Some(r) => r.map_err(|e| bad(e.to_string()))?,
    };
    let Some((top, _)) = range.start() else {
        return Ok(()); // an empty sheet: no header, no rows
    };
    let mut cells: Vec<String> = Vec::with_capacity(range.width());
    let mut columns: Option<Vec<Option<usize>>> = None;
    for (i, r) in range.rows().enumerate() {
        let line = u64::from(top) + i as u64 + 1;
        cells.clear();
        let mut error = None;
        for (c, cell) in r.iter().enumerate() {
            match cell_text(cell) {
                Ok(t) => cells.push(t),
                Err(e) => {
                    error.get_or_insert(format!("column {} holds the error {e}", c + 1));
                    cells.push(String::new());
                }
            }
        }
        if error.is_none() && cells.iter().all(|c| trim(c).is_empty()) {
            continue;
        }
        let Some(cols) = &columns else {
            columns = Some(read_header(name, line, &cells, names, sink)?);
            continue;
        };
        if let Some(message) = error {
            sink.malformed(line, message);
            continue;
        }
        let mut fields = [""; N];
        for (i, text) in cells.iter().enumerate() {
            if let Some(Some(fi)) = cols.get(i) {
                fields[*fi] = trim(text);
            }
        }
        sink.row(line, &fields)?;
    }
    Ok(())
}

/// The text of one workbook cell, or the cell's error value.
fn cell_text(cell: &calamine::Data) -> Result<String, String> {
    use calamine::Data;
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) if d.is_datetime() => {
            let (y, m, day, ..) = d.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{day:02}")
        }
        Data::DateTime(d) => d.as_f64().to_string(),
        // ISO cells (OpenDocument): the date part of a date-time.
        Data::DateTimeIso(s) => s.split('T').next().unwrap_or(s).to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(e.to_string()),
    })
}

/// Newlines read but not yet passed by the parser: offset, and whether the
/// line they end is blank (the csv reader skips blank lines and reports the
/// next record at the blank line's offset).
#[derive(Default)]
struct LineTracker {
    pending: VecDeque<(u64, bool)>,
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
    lines: Rc<RefCell<LineTracker>>,
}

impl<R: Read> Read for NewlineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let buf = &buf[..n];
        let mut lines = self.lines.borrow_mut();
        for i in memchr::memchr_iter(b'\n', buf) {
            let o = self.offset + i as u64;
            let before = if i > 0 { buf[i - 1] } else { self.prev };
            let blank = o == self.line_start || (o == self.line_start + 1 && before == b'\r');
            lines.pending.push_back((o, blank));
            self.line_start = o + 1;
        }
        if let Some(&last) = buf.last() {
            self.prev = last;
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Counts bytes read for the progress bar and the summary, and hashes
/// every byte read for the input digest.
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
