//! `credlist inspect`: what a snapshot holds.

use crate::diff::{entry_out, EntryOut};
use crate::rules::is_effective;
use crate::snapshot::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;

/// Days after the data date within which an expiring entry is reported.
pub const EXPIRING_DAYS: i32 = 30;

#[derive(Clone, Debug, Serialize)]
pub struct Expiring {
    pub count: u64,
    pub entries: Vec<EntryOut>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub format_version: u32,
    pub snapshot_id: String,
    pub data_date: crate::date::Day,
    pub file_bytes: u64,
    pub entries: u64,
    pub subjects: u64,
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub inputs: Vec<crate::snapshot::InputDigest>,
    pub by_kind: BTreeMap<String, u64>,
    pub by_domain: BTreeMap<String, u64>,
    pub by_authority: BTreeMap<String, u64>,
    /// Entries effective on the data date whose valid_until falls within
    /// data date + 1 ..= data date + 30.
    pub expiring: Expiring,
    /// The reporting deadline (§10), only when asked for
    /// (`--calendar` / `--deadline-days`): without it the output is as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<crate::deadline::Deadline>,
}

pub fn inspect(snap: &Snapshot) -> Inspection {
    let d = snap.data_date;
    let mut by_kind = BTreeMap::new();
    let mut by_domain = BTreeMap::new();
    let mut by_authority: BTreeMap<String, u64> = BTreeMap::new();
    let mut expiring = Vec::new();
    for k in crate::entry::Kind::ALL {
        by_kind.insert(k.as_str().to_string(), 0u64);
    }
    for i in 0..snap.entries() {
        let e = snap.entry(i);
        *by_kind
            .entry(e.facts.kind.as_str().to_string())
            .or_default() += 1;
        *by_domain
            .entry(snap.domain_id(e.facts.domain).to_string())
            .or_default() += 1;
        *by_authority.entry(e.authority.to_string()).or_default() += 1;
        if is_effective(&e.facts, d)
            && e.facts
                .valid_until
                .is_some_and(|v| v > d && v <= d.plus(EXPIRING_DAYS))
        {
            expiring.push(entry_out(snap, &e));
        }
    }
    expiring.sort_by(|a, b| {
        a.valid_until
            .cmp(&b.valid_until)
            .then_with(|| a.entry_id.cmp(&b.entry_id))
    });
    Inspection {
        format_version: snap.header_version(),
        snapshot_id: snap.id.clone(),
        data_date: d,
        file_bytes: snap.file_len() as u64,
        entries: snap.entries() as u64,
        subjects: snap.subjects() as u64,
        rows_read: snap.meta.rows_read,
        rows_rejected: snap.meta.rows_rejected,
        inputs: snap.meta.inputs.clone(),
        by_kind,
        by_domain,
        by_authority,
        expiring: Expiring {
            count: expiring.len() as u64,
            entries: expiring,
        },
        deadline: None,
    }
}
