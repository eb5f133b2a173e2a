//! Screening candidate lists before publication (list authorities):
//! `--as red` finds candidates already on a black or watch list; `--as
//! black` finds the existing red entries that must be removed.

use crate::check::{hit_out, resolve, Ctx, HitOut, Resolved};
use crate::entry::Kind;
use crate::rules::SubjectStatus;
use serde::Serialize;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenAs {
    Red,
    Black,
}

/// One candidate code and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub line: u64,
    pub code: String,
    pub entry_id: Option<String>,
    /// Set when the row itself could not be read.
    pub malformed: Option<String>,
}

/// One finding, in candidate order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SubjectStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<Vec<HitOut>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:1: header has no code column")]
    NoCodeColumn { path: String },
    #[error("{path}: candidates must be a .txt, .csv or .jsonl file")]
    Extension { path: String },
}

/// Reads candidates: `.txt` (one code per line, `#` comments), or a §2
/// entry file (`.csv` / `.jsonl`; only `code` and `entry_id` are used).
pub fn read_candidates(path: &Path) -> Result<Vec<Candidate>, ScreenError> {
    let name = path.display().to_string();
    let io = |source| ScreenError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    match path.extension().and_then(|e| e.to_str()) {
        Some("txt") => {
            for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
                let line = line.map_err(io)?;
                let n = i as u64 + 1;
                match std::str::from_utf8(&line) {
                    Ok(text) => {
                        let text = if n == 1 {
                            text.trim_start_matches('\u{FEFF}')
                        } else {
                            text
                        };
                        let code = text.split('#').next().unwrap_or("").trim();
                        if !code.is_empty() {
                            out.push(Candidate {
                                line: n,
                                code: code.to_string(),
                                entry_id: None,
                                malformed: None,
                            });
                        }
                    }
                    Err(_) => out.push(malformed(n, "not valid UTF-8")),
                }
            }
        }
        Some("csv") => read_csv(file, &name, &mut out)?,
        Some("jsonl") => {
            for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
                let line = line.map_err(io)?;
                let n = i as u64 + 1;
                let bytes = if n == 1 {
                    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
                } else {
                    &line[..]
                };
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let obj: Result<serde_json::Map<String, serde_json::Value>, String> =
                    serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object: {e}"));
                match obj {
                    Ok(o) => {
                        let text = |k: &str| o.get(k).and_then(|v| v.as_str()).map(str::to_string);
                        out.push(Candidate {
                            line: n,
                            code: text("code").unwrap_or_default(),
                            entry_id: text("entry_id"),
                            malformed: None,
                        });
                    }
                    Err(e) => out.push(malformed(n, &e)),
                }
            }
        }
        _ => return Err(ScreenError::Extension { path: name }),
    }
    Ok(out)
}

fn malformed(line: u64, why: &str) -> Candidate {
    Candidate {
        line,
        code: String::new(),
        entry_id: None,
        malformed: Some(format!("malformed row: {why}")),
    }
}

fn read_csv(file: impl Read, name: &str, out: &mut Vec<Candidate>) -> Result<(), ScreenError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut rec = csv::ByteRecord::new();
    let io = |e: csv::Error| ScreenError::Io {
        path: name.to_string(),
        source: std::io::Error::other(e),
    };
    if !rdr.read_byte_record(&mut rec).map_err(io)? {
        return Ok(());
    }
    let cols: Vec<String> = rec
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let c = if i == 0 {
                c.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(c)
            } else {
                c
            };
            String::from_utf8_lossy(c).trim().to_string()
        })
        .collect();
    let code_col =
        cols.iter()
            .position(|c| c == "code")
            .ok_or_else(|| ScreenError::NoCodeColumn {
                path: name.to_string(),
            })?;
    let id_col = cols.iter().position(|c| c == "entry_id");
    while rdr.read_byte_record(&mut rec).map_err(io)? {
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != cols.len() {
            out.push(malformed(
                line,
                &format!("expected {} columns, got {}", cols.len(), rec.len()),
            ));
            continue;
        }
        let field = |i: usize| {
            rec.get(i)
                .map(|b| std::str::from_utf8(b).map(|s| s.trim().to_string()))
        };
        match (field(code_col), id_col.map(field)) {
            (Some(Ok(code)), None | Some(Some(Ok(_)))) => {
                let entry_id = id_col
                    .and_then(field)
                    .and_then(Result::ok)
                    .filter(|s| !s.is_empty());
                out.push(Candidate {
                    line,
                    code,
                    entry_id,
                    malformed: None,
                });
            }
            _ => out.push(malformed(line, "not valid UTF-8")),
        }
    }
    Ok(())
}

/// Screens candidates; returns the findings in candidate order.
pub fn screen(ctx: &Ctx, candidates: &[Candidate], mode: ScreenAs) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in candidates {
        let mut f = Finding {
            line: c.line,
            entry_id: c.entry_id.clone(),
            code: None,
            input: None,
            valid: None,
            error: None,
            status: None,
            hits: None,
        };
        if let Some(m) = &c.malformed {
            f.input = Some(c.code.clone());
            f.valid = Some(false);
            f.error = Some(m.clone());
            out.push(f);
            continue;
        }
        let (code, resolved) = resolve(ctx, &c.code);
        match resolved {
            Resolved::Invalid(e) => {
                f.input = Some(c.code.clone());
                f.valid = Some(false);
                f.error = Some(if c.code.is_empty() {
                    "missing code".into()
                } else {
                    e
                });
                out.push(f);
            }
            Resolved::Forbidden | Resolved::Clear { .. } => {}
            Resolved::Listed { slot, .. } => {
                let first = ctx.snap.subject_entries(slot.sid).start;
                let ev = ctx.snap.evaluate_facts(
                    slot.sid,
                    ctx.day,
                    &|e| ctx.holds.is_held(e),
                    &mut Vec::new(),
                );
                let keep = |k: Kind| match mode {
                    ScreenAs::Red => k != Kind::Red,
                    ScreenAs::Black => k == Kind::Red,
                };
                let hits: Vec<HitOut> = ev
                    .hits
                    .iter()
                    .filter(|h| keep(h.kind))
                    .map(|h| hit_out(ctx.snap, first, h))
                    .collect();
                if hits.is_empty() {
                    continue;
                }
                f.code = Some(code);
                if mode == ScreenAs::Red {
                    f.status = Some(ev.status);
                }
                f.hits = Some(hits);
                out.push(f);
            }
        }
    }
    out
}
