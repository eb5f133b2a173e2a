//! Append-only journals of checksummed lines, for the daemon's durable
//! state (objection holds, receipt boots).
//!
//! Each record is one line: a JSON object, a tab, and the xxh3-64 of the
//! JSON bytes in 16 lower-case hex digits, then `\n`. JSON never contains a
//! raw tab, so the last tab splits a line unambiguously.
//!
//! Appends are `write` + `fsync` before the caller acknowledges anything. A
//! crash can leave only the last line torn (the file is appended to by one
//! writer); replay therefore ignores a torn or garbled LAST line with a
//! warning and cuts it off, so later appends start on a clean line. A bad
//! line anywhere else means the file was damaged by something other than a
//! crash, and replay refuses it, naming the line. A failed append is cut
//! back to the previous length, so a failed write never leaves garbage in
//! the middle of the journal; if even that fails, the journal refuses
//! further appends until the daemon restarts (and replays).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message} (the journal is damaged; restore it from a backup or remove the line)")]
    Damaged {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: an earlier write failed and could not be undone; restart the daemon to replay the journal")]
    Poisoned { path: String },
}

/// One open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Length of the file made of complete, acknowledged lines.
    len: u64,
    /// Set when a failed append could not be cut back.
    poisoned: bool,
}

/// The checksum of a line's JSON.
fn checksum(json: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json))
}

/// Splits and verifies one line (without its `\n`).
fn verify(line: &[u8]) -> Result<serde_json::Value, String> {
    let tab = line
        .iter()
        .rposition(|&b| b == b'\t')
        .ok_or("no checksum")?;
    let (json, sum) = (&line[..tab], &line[tab + 1..]);
    if sum != checksum(json).as_bytes() {
        return Err("checksum mismatch".into());
    }
    serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))
}

/// Formats one line.
pub fn encode(record: &serde_json::Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).expect("a JSON value serializes");
    let sum = checksum(&line);
    line.push(b'\t');
    line.extend_from_slice(sum.as_bytes());
    line.push(b'\n');
    line
}

impl Journal {
    /// Opens (creating with mode 0600) and replays a journal. Returns the
    /// records and the journal, positioned for appends.
    pub fn open(path: &Path) -> Result<(Journal, Vec<serde_json::Value>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        if !existed {
            crate::durable::sync_dir(path).map_err(io)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut records = Vec::new();
        let mut good_len = 0usize;
        let mut start = 0usize;
        let mut lineno = 0usize;
        while start < bytes.len() {
            lineno += 1;
            let nl = bytes[start..].iter().position(|&b| b == b'\n');
            let (line, next, complete) = match nl {
                Some(i) => (&bytes[start..start + i], start + i + 1, true),
                None => (&bytes[start..], bytes.len(), false),
            };
            let last = next >= bytes.len();
            let parsed = if complete {
                verify(line)
            } else {
                Err("torn line (no end of line)".to_string())
            };
            match parsed {
                Ok(v) => {
                    records.push(v);
                    good_len = next;
                }
                Err(message) if last => {
                    tracing::warn!(
                        journal = %path.display(),
                        line = lineno,
                        %message,
                        "ignoring the damaged last line of a journal (a write torn by a crash)"
                    );
                    break;
                }
                Err(message) => {
                    return Err(JournalError::Damaged {
                        path: path.display().to_string(),
                        line: lineno,
                        message,
                    })
                }
            }
            start = next;
        }
        if good_len < bytes.len() {
            file.set_len(good_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                len: good_len as u64,
                poisoned: false,
            },
            records,
        ))
    }

    /// Appends one record durably (write + fsync).
    pub fn append(&mut self, record: &serde_json::Value) -> Result<(), JournalError> {
        let path = || self.path.display().to_string();
        if self.poisoned {
            return Err(JournalError::Poisoned { path: path() });
        }
        let line = encode(record);
        let res = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        match res {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Cut back whatever part of the line reached the file.
                let undone = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_all());
                if undone.is_err() {
                    self.poisoned = true;
                }
                Err(JournalError::Io {
                    path: path(),
                    source,
                })
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.log");
        let (mut j, recs) = Journal::open(&p).unwrap();
        assert!(recs.is_empty());
        j.append(&json!({"a": 1})).unwrap();
        j.append(&json!({"b": "x\ty"})).unwrap();
        drop(j);
        let (_, recs) = Journal::open(&p).unwrap();
        assert_eq!(recs, vec![json!({"a": 1}), json!({"b": "x\ty"})]);
    }

    #[test]
    fn torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.log");
        let (mut j, _) = Journal::open(&p).unwrap();
        j.append(&json!({"a": 1})).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"a\": 2}\t0000").unwrap();
        drop(f);
        let (mut j, recs) = Journal::open(&p).unwrap();
        assert_eq!(recs, vec![json!({"a": 1})]);
        j.append(&json!({"a": 3})).unwrap();
        drop(j);
        let (_, recs) = Journal::open(&p).unwrap();
        assert_eq!(recs, vec![json!({"a": 1}), json!({"a": 3})]);
    }

    #[test]
    fn garbage_in_the_middle_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.log");
        let mut text = encode(&json!({"a": 1}));
        text.extend_from_slice(b"garbage\n");
        text.extend_from_slice(&encode(&json!({"a": 2})));
        std::fs::write(&p, text).unwrap();
        let e = Journal::open(&p).err().expect("refused").to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_changed_record_fails_its_checksum() {
        let line = encode(&json!({"a": 1}));
        let mut bad = line.clone();
        bad[5] = b'2';
        assert!(verify(&line[..line.len() - 1]).is_ok());
        assert!(verify(&bad[..bad.len() - 1]).is_err());
    }
}
