//! Decoding input files into rows of named fields (SPEC §2): CSV (UTF-8 or
//! GBK, a header row) and JSON Lines, with physical line numbers, a BOM
//! allowed, blank lines skipped and values trimmed.
//!
//! Nothing here knows what the fields mean: a [`RowSink`] receives each
//! row as the values of the `N` fields it asked for, so list entries and
//! any other kind of row file are read the same way.

use super::error::IngestError;
use crate::snapshot::InputDigest;
use std::cell::RefCell;
use std::collections::VecDeque;
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
    s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{3000}')
}

/// Reads the open file `path` (`.jsonl`: JSON Lines, else CSV) into `sink`,
/// mapping columns or keys to `names`. `progress(bytes)` is called as the
/// file is read. Returns the file's digest (every byte, also those after a
/// reader stopped early).
pub(crate) fn read_file<const N: usize>(
    path: &Path,
    file: std::fs::File,
    encoding: Encoding,
    names: &[&str; N],
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
    if path.extension().and_then(|e| e.to_str()) == Some("jsonl") {
        read_jsonl(&name, &mut counting, names, sink)?;
    } else {
        read_csv(&name, &mut counting, encoding, names, sink)?;
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

/// Maps the header's columns to field positions (`None`: ignored column).
fn read_header<const N: usize>(
    name: &str,
    rec: &csv::ByteRecord,
    names: &[&str; N],
    sink: &mut impl RowSink<N>,
) -> Result<Vec<Option<usize>>, IngestError> {
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
        let field = names.iter().position(|f| *f == col);
        if let Some(fi) = field {
            if columns.contains(&Some(fi)) {
                return Err(IngestError::Header {
                    path: name.to_string(),
                    message: format!("column {col:?} appears twice"),
                });
            }
        } else {
            sink.ignored_column(format!("{name}: {col}"));
        }
        columns.push(field);
    }
    Ok(columns)
}

fn read_csv<const N: usize, R: Read>(
    name: &str,
    input: R,
    encoding: Encoding,
    names: &[&str; N],
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
    let columns = read_header(name, &rec, names, sink)?;
    let ncols = columns.len();
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
    names: &[&str; N],
    sink: &mut impl RowSink<N>,
) -> Result<(), IngestError> {
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
        let mut bad = None;
        for (text, f) in texts.iter_mut().zip(names) {
            text.clear();
            match obj.get(*f) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) => text.push_str(trim(s)),
                Some(serde_json::Value::Number(n)) => {
                    use std::fmt::Write;
                    let _ = write!(text, "{n}");
                }
                Some(_) => {
                    bad.get_or_insert(*f);
                }
            }
        }
        if let Some(f) = bad {
            sink.malformed(line, format!("field {f} must be a string"));
            continue;
        }
        let fields: [&str; N] = std::array::from_fn(|i| texts[i].as_str());
        sink.row(line, &fields)?;
    }
    Ok(())
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
