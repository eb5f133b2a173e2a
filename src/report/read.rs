//! Reading audit registers (`server::audit::record` documents the shapes):
//! the files in merge order, and each line as a [`Record`], streaming.
//!
//! A line that is not a record is never skipped silently: it becomes a
//! [`Warning`] naming the file and the line, counted in the report. The
//! last line of a file without its newline is a record cut short by a crash
//! (the daemon writes whole lines): when it does not parse it is reported
//! as a torn line; when it does, it is a whole record and counts.

use crate::codes;
use crate::date::Day;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The newest record version this build reads.
pub const READS_VERSION: u32 = 3;

/// Why registers cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: no audit register files there")]
    Empty { path: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A line that was not taken as a record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The register files under `paths` (files, or folders read recursively),
/// each once, in merge order: by path with a numeric rotation suffix
/// (`audit.log.3`) set aside, then the rotated files by number, then the
/// live file. That is the order a register was written in, so "ties by
/// file order" follow writing order within one register.
pub fn register_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(io_err(p))?;
        if meta.is_dir() {
            let before = files.len();
            walk(p, &mut files)?;
            if files.len() == before {
                return Err(ReadError::Empty {
                    path: p.display().to_string(),
                });
            }
        } else {
            files.push(p.clone());
        }
    }
    files.sort_by_cached_key(|p| merge_key(p));
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        let ft = e.file_type().map_err(io_err(&p))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if !e.file_name().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
    Ok(())
}

/// (path without its rotation number, rotation number; the live file last).
fn merge_key(p: &Path) -> (Vec<u8>, u64) {
    use std::os::unix::ffi::OsStrExt;
    let b = p.as_os_str().as_bytes();
    if let Some(dot) = b.iter().rposition(|&c| c == b'.') {
        let tail = &b[dot + 1..];
        if !tail.is_empty() && tail.len() <= 18 && tail.iter().all(u8::is_ascii_digit) {
            let n = std::str::from_utf8(tail)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            return (b[..dot].to_vec(), n);
        }
    }
    (b.to_vec(), u64::MAX)
}

/// One record, as far as the report needs it.
#[derive(Debug)]
pub enum Record<'a> {
    Check {
        /// Milliseconds since 1970-01-01 UTC.
        time_ms: i64,
        client: Cow<'a, str>,
        matter: Cow<'a, str>,
        receipt: Cow<'a, str>,
        items: Vec<RawItem<'a>>,
    },
    Feedback {
        time_ms: i64,
        receipt: Cow<'a, str>,
        /// Canonical (§1) when the caller's spelling is a valid code,
        /// else normalised.
        code: String,
        measure: Cow<'a, str>,
        applied: bool,
    },
    Batch {
        time_ms: i64,
        count: u64,
    },
}

impl Record<'_> {
    pub fn time_ms(&self) -> i64 {
        match self {
            Record::Check { time_ms, .. }
            | Record::Feedback { time_ms, .. }
            | Record::Batch { time_ms, .. } => *time_ms,
        }
    }
}

/// The day of a record time in Asia/Shanghai (UTC+8, no daylight saving).
pub fn shanghai_day(time_ms: i64) -> Day {
    Day((time_ms + 8 * 3_600_000).div_euclid(86_400_000) as i32)
}

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(default)]
    v: Option<u32>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow, default)]
    caller: Option<RawCaller<'a>>,
    #[serde(borrow)]
    endpoint: Cow<'a, str>,
    #[serde(borrow, default)]
    matter: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    receipt: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<Vec<RawItem<'a>>>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    measure: Option<Cow<'a, str>>,
    #[serde(default)]
    applied: Option<bool>,
    #[serde(default)]
    count: Option<u64>,
}

#[derive(Deserialize)]
struct RawCaller<'a> {
    #[serde(default)]
    uid: Option<u32>,
    #[serde(borrow, default)]
    client: Option<Cow<'a, str>>,
}

/// A check item as recorded.
#[derive(Debug, Deserialize)]
pub struct RawItem<'a> {
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    #[serde(borrow, default)]
    pub must_apply: Vec<RawMeasure<'a>>,
    #[serde(borrow, default)]
    pub may_apply: Vec<RawMeasure<'a>>,
    #[serde(borrow, default)]
    pub rewards: Vec<RawMeasure<'a>>,
}

/// A measure of a check item: its id and its triggering entries'
/// authorities (the entry ids are not needed by the report).
#[derive(Debug, Deserialize)]
pub struct RawMeasure<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub entries: Authorities<'a>,
}

/// The values of an `entries` map: the authorities, as written.
#[derive(Debug, Default)]
pub struct Authorities<'a>(pub Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Authorities<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Authorities<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of entry id to authority")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut v = Vec::new();
                while let Some((_, a)) = m.next_entry::<serde::de::IgnoredAny, Cow<'a, str>>()? {
                    v.push(a);
                }
                Ok(Authorities(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` → milliseconds since 1970-01-01 UTC.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let day = Day::parse(s.get(..10)?).ok()?;
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    let ms = match frac.len() {
        0 => 0,
        4 if frac.starts_with('.') => num(20..23)?,
        _ => return None,
    };
    Some(day.0 as i64 * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000 + ms)
}

/// The canonical form of a code as an approval system or a feedback caller
/// spelled it: §1 normalisation and 15 → 18 upgrade when it is valid as of
/// `day`, else the normalised spelling (as the check record holds it).
pub fn canonical_code(code: &str, day: Day) -> Result<String, (String, String)> {
    match codes::parse(code, day) {
        Ok(p) => Ok(p.code.as_str().to_string()),
        Err(e) => Err((codes::normalize(code), e.to_string())),
    }
}

fn parse_record(line: &str) -> Result<Record<'_>, String> {
    let r: RawRecord = serde_json::from_str(line).map_err(|e| format!("not a record: {e}"))?;
    let version = r.v.unwrap_or(1);
    if version > READS_VERSION {
        return Err(format!(
            "record version {version} is newer than this credlist reads ({READS_VERSION})"
        ));
    }
    let time_ms = parse_time(&r.time).ok_or_else(|| format!("bad record time {:?}", r.time))?;
    let missing = |what: &str| format!("{} record without {what}", r.endpoint);
    match &*r.endpoint {
        "check" => {
            let caller = r.caller.ok_or_else(|| missing("caller"))?;
            let client = match caller.client {
                Some(c) if !c.is_empty() => c,
                _ => match caller.uid {
                    Some(u) => Cow::Owned(format!("uid:{u}")),
                    None => Cow::Borrowed("uid:unknown"),
                },
            };
            Ok(Record::Check {
                time_ms,
                client,
                matter: r.matter.ok_or_else(|| missing("matter"))?,
                receipt: r.receipt.ok_or_else(|| missing("receipt"))?,
                items: r.items.ok_or_else(|| missing("items"))?,
            })
        }
        "feedback" => {
            let code = r.code.ok_or_else(|| missing("code"))?;
            let code = canonical_code(&code, crate::report::read::shanghai_day(time_ms))
                .unwrap_or_else(|(norm, _)| norm);
            Ok(Record::Feedback {
                time_ms,
                receipt: r.receipt.ok_or_else(|| missing("receipt"))?,
                code,
                measure: r.measure.ok_or_else(|| missing("measure"))?,
                applied: r.applied.ok_or_else(|| missing("applied"))?,
            })
        }
        "batch" => Ok(Record::Batch {
            time_ms,
            count: r.count.ok_or_else(|| missing("count"))?,
        }),
        other => Err(format!("unknown endpoint {other:?}")),
    }
}

/// Reads every file in order, calling `each` with every record; lines that
/// are not records go to `warn`.
pub fn for_each_record(
    files: &[PathBuf],
    mut each: impl FnMut(Record<'_>),
    mut warn: impl FnMut(Warning),
) -> Result<(), ReadError> {
    let mut buf = Vec::with_capacity(1 << 16);
    for path in files {
        let f = std::fs::File::open(path).map_err(io_err(path))?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let name = path.display().to_string();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf).map_err(io_err(path))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let whole = buf.last() == Some(&b'\n');
            let text = if whole {
                &buf[..buf.len() - 1]
            } else {
                &buf[..]
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let result = std::str::from_utf8(text)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(parse_record);
            match result {
                Ok(rec) => each(rec),
                Err(message) => warn(Warning {
                    file: name.clone(),
                    line: line_no,
                    message: if whole {
                        message
                    } else {
                        format!("torn last line (no newline: the writer stopped in the middle of it), skipped; {message}")
                    },
                }),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_shanghai_days() {
        let t = parse_time("2026-11-20T15:59:59.999Z").unwrap();
        assert_eq!(shanghai_day(t).to_string(), "2026-11-20");
        assert_eq!(shanghai_day(t + 1).to_string(), "2026-11-21");
        assert_eq!(parse_time("2026-11-20T16:00:00Z"), Some(t + 1));
        for bad in [
            "2026-11-20 16:00:00Z",
            "2026-11-20T16:00:00.1Z",
            "2026-02-30T00:00:00Z",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(shanghai_day(0).to_string(), "1970-01-01");
        assert_eq!(shanghai_day(-8 * 3_600_000 - 1).to_string(), "1969-12-31");
    }

    #[test]
    fn rotated_files_merge_in_writing_order() {
        let mut v: Vec<PathBuf> = [
            "a/audit.log",
            "a/audit.log.10",
            "a/audit.log.2",
            "a/audit.log.1",
            "b/x.log",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        v.sort_by_cached_key(|p| merge_key(p));
        let names: Vec<_> = v.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "a/audit.log.1",
                "a/audit.log.2",
                "a/audit.log.10",
                "a/audit.log",
                "b/x.log"
            ]
        );
    }

    #[test]
    fn version_one_records_read_without_measures() {
        let line = r#"{"time":"2026-11-20T01:00:00.000Z","caller":{"uid":7,"pid":1,"client":null},"endpoint":"check","matter":"m","request_id":null,"receipt":"r-1","as_of":"2026-11-20","snapshot":"s","items":[{"code":"X","status":"black"}]}"#;
        match parse_record(line).unwrap() {
            Record::Check { client, items, .. } => {
                assert_eq!(client, "uid:7");
                assert!(items[0].must_apply.is_empty());
            }
            r => panic!("{r:?}"),
        }
        let newer = line.replacen("{\"time\"", "{\"v\":4,\"time\"", 1);
        assert!(parse_record(&newer).unwrap_err().contains("version 4"));
    }

    #[test]
    fn batch_records_of_versions_two_and_three_read_alike() {
        let head = r#""time":"2026-11-20T01:00:00.000Z","caller":{"uid":7,"pid":1,"client":null},"endpoint":"batch","matter":"m","request_id":5,"as_of":"2026-11-20","snapshot":"s","count":3,"#;
        let tail = r#","rest_count":1,"rest_digest":"0123456789abcdef"}"#;
        let v2 = format!(r#"{{"v":2,{head}"hits":[["91350100MA2Y3K8L5G",34],["0x00",1]]{tail}"#);
        let v3 = format!(
            r#"{{"v":3,{head}"hits":{{"34":"91350100MA2Y3K8L5G"}},"hex_hits":[["0x00",1]]{tail}"#
        );
        for line in [v2, v3] {
            match parse_record(&line).unwrap() {
                Record::Batch { count, time_ms } => {
                    assert_eq!(count, 3);
                    assert!(time_ms > 0);
                }
                r => panic!("{r:?}"),
            }
        }
    }
}
