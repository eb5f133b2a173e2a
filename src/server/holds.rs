//! The objection hold registry (SPEC §3 rule 2, §6 "Holds").
//!
//! An operator places a hold on an entry while an objection (异议) is
//! verified: the entry is still reported, with `suspended: true`, and
//! triggers no measure. Holds are kept by `entry_id` in `holds.log` in the
//! state directory, a [`Journal`] of records
//! `{"op":"hold"|"release","entry_id","reason","at","by"}`; each is written
//! and fsynced before the request is acknowledged, so holds survive
//! restarts (even `kill -9`) and reloads, and end only by a release.
//!
//! A hold names an entry id, not an entry number: against each snapshot it
//! is resolved with [`Snapshot::find_entry`]. A hold whose entry is not in
//! the snapshot being served is kept and listed as `dormant`; it applies
//! again if a later snapshot brings the entry back.

use super::journal::{Journal, JournalError};
use crate::check::Holds;
use crate::snapshot::Snapshot;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// Name of the hold journal in the state directory.
pub const HOLDS_FILE: &str = "holds.log";

/// One active hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub entry_id: String,
    pub reason: String,
    /// When it was placed (UTC, RFC 3339).
    pub at: String,
    /// Who placed it (as told by the admin client, plus the peer uid).
    pub by: String,
}

/// A hold as listed: with whether its entry is in the served snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub hold: Hold,
    pub dormant: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{path} line {line}: {message}")]
    Record {
        path: String,
        line: usize,
        message: String,
    },
}

/// Active holds and their journal.
pub struct HoldRegistry {
    journal: Journal,
    active: BTreeMap<String, Hold>,
}

fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key).and_then(|s| s.as_str()).map(str::to_string)
}

impl HoldRegistry {
    /// Opens `dir/holds.log` and replays it.
    pub fn open(dir: &Path) -> Result<HoldRegistry, HoldError> {
        let (journal, records) = Journal::open(&dir.join(HOLDS_FILE))?;
        let mut active = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let bad = |message: &str| HoldError::Record {
                path: journal.path().display().to_string(),
                line: i + 1,
                message: message.to_string(),
            };
            let entry_id = text(r, "entry_id").ok_or_else(|| bad("no entry_id"))?;
            match r.get("op").and_then(|o| o.as_str()) {
                Some("hold") => {
                    let hold = Hold {
                        entry_id: entry_id.clone(),
                        reason: text(r, "reason").unwrap_or_default(),
                        at: text(r, "at").unwrap_or_default(),
                        by: text(r, "by").unwrap_or_default(),
                    };
                    active.insert(entry_id, hold);
                }
                Some("release") => {
                    active.remove(&entry_id);
                }
                _ => return Err(bad("op is neither \"hold\" nor \"release\"")),
            }
        }
        Ok(HoldRegistry { journal, active })
    }

    /// Places (or re-places, with a new reason) a hold, durably.
    pub fn place(&mut self, entry_id: &str, reason: &str, by: &str) -> Result<Hold, HoldError> {
        let hold = Hold {
            entry_id: entry_id.to_string(),
            reason: reason.to_string(),
            at: crate::date::timestamp(std::time::SystemTime::now()),
            by: by.to_string(),
        };
        self.journal.append(&json!({
            "op": "hold",
            "entry_id": hold.entry_id,
            "reason": hold.reason,
            "at": hold.at,
            "by": hold.by,
        }))?;
        self.active.insert(hold.entry_id.clone(), hold.clone());
        Ok(hold)
    }

    /// Releases a hold durably; `false` when there was none.
    pub fn release(&mut self, entry_id: &str, by: &str) -> Result<bool, HoldError> {
        if !self.active.contains_key(entry_id) {
            return Ok(false);
        }
        self.journal.append(&json!({
            "op": "release",
            "entry_id": entry_id,
            "reason": "",
            "at": crate::date::timestamp(std::time::SystemTime::now()),
            "by": by,
        }))?;
        self.active.remove(entry_id);
        Ok(true)
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The holds resolved against a snapshot, and how many are dormant.
    pub fn resolve(&self, snap: &Snapshot) -> (Holds, usize) {
        let found: Vec<u32> = self
            .active
            .keys()
            .filter_map(|id| snap.find_entry(id))
            .collect();
        let dormant = self.active.len() - found.len();
        (Holds::new(snap, found), dormant)
    }

    /// Every hold, in entry_id order, marked dormant when its entry is not
    /// in `snap`.
    pub fn list(&self, snap: &Snapshot) -> Vec<Listed> {
        self.active
            .values()
            .map(|h| Listed {
                hold: h.clone(),
                dormant: snap.find_entry(&h.entry_id).is_none(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_replay_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = HoldRegistry::open(dir.path()).unwrap();
        r.place("A-1", "objection 1", "ops").unwrap();
        r.place("B-2", "objection 2", "ops").unwrap();
        assert!(r.release("A-1", "ops").unwrap());
        assert!(!r.release("A-1", "ops").unwrap());
        drop(r);
        let r = HoldRegistry::open(dir.path()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r.active["B-2"].reason, "objection 2");
    }

    #[test]
    fn an_unknown_op_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let line = super::super::journal::encode(&json!({"op": "frobnicate", "entry_id": "X"}));
        std::fs::write(dir.path().join(HOLDS_FILE), [line.clone(), line].concat()).unwrap();
        let e = HoldRegistry::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
