//! The records of the audit register, one JSON line each, read by
//! `credlist report` (SPEC §9), by auditors and by later versions of
//! credlist.
//!
//! # Versions
//!
//! Every record starts with `"v"`, the version of its shape: [`VERSION`]
//! (2) for the records written here. A record without `"v"` is version 1
//! (credlist 0.1, before SPEC §9): the same shapes without the measures of
//! check items. A reader takes the fields it knows and ignores the others,
//! so a later version may add fields without a new number; it bumps `v`
//! only when a field changes meaning or disappears.
//!
//! # Shapes
//!
//! - check (a `/v1/check` answered 200): `{"v": 2, "time", "caller":
//!   {"uid", "pid", "client"}, "endpoint": "check", "matter",
//!   "request_id", "receipt", "as_of", "snapshot", "items": [item…]}`, an
//!   item being `{"code", "status", "must_apply", "may_apply", "rewards"}`:
//!   `code` is the canonical code (§1; the normalised spelling when it is
//!   invalid), `status` the subject status or `invalid` / `forbidden`, and
//!   each measure list, present only when not empty, holds `{"id",
//!   "entries": {"<entry_id>": "<authority>", …}}`: the measure named in
//!   that list of the answer, and every entry that triggered it with its
//!   listing authority (an organisation's entry when the measure fired
//!   through a relation, SPEC §8). Entry ids are unique across a snapshot,
//!   so the map's keys are too.
//! - feedback (a `/v1/feedback` answered 204): `{"v": 2, "time", "caller",
//!   "endpoint": "feedback", "receipt", "code", "measure", "applied",
//!   "note"}`, `code` as the caller spelled it;
//! - batch frame: `{"v": 2, "time", "caller", "endpoint": "batch", "matter",
//!   "request_id", "as_of", "snapshot", "count", "hits": [["<code>", flags],
//!   …], "rest_count", "rest_digest"}`. Batch records name no measures:
//!   the flags say whether any applied (bits 5–7), the measures themselves
//!   are one `/v1/check` away.
//!
//! `caller.client` is the configured client name, `null` when no
//! `[[client]]` is configured (the report then names the caller
//! `uid:<uid>`).
//!
//! A batch frame is one record, not one per code: codes whose answer is not
//! plain "not listed" (`flags != 0`: listed, suspended, unanswered) are
//! written one by one with their flag byte, and the codes answered 0 are
//! summarised by their count and the xxh3-64 of their bytes in frame order
//! (`rest_digest`, 16 hex digits). That is the trade-off: the register
//! proves exactly which listed subjects a caller learned about, and lets an
//! auditor holding the frame's codes prove which clear codes were asked,
//! while a frame of 4096 codes costs a few kilobytes instead of a hundred.
//! A code that is not printable ASCII is written as `0x` + hex.
//!
//! `time` is when the record is made, UTC, to the millisecond.
//!
//! # Cost
//!
//! A measure with one entry adds about 50 bytes to its item
//! (`,"must_apply":[{"id":"P-PROC-01","entries":{"FY-2025-0312":"shi-fayuan"}}]`);
//! items without measures cost nothing more. On the generated register
//! (`credlist gen --audit`) a check record is 426 bytes on average against
//! 355 in version 1. Batch records grow by the 7 bytes of `"v":2,` and
//! nothing else: the batch path does the same work as before.

use crate::check::{Item, MeasureOut, CODE_LEN};
use crate::date::{timestamp, Day};
use crate::rules::SubjectStatus;
use crate::server::access::Caller;
use crate::wire::batch::Frame;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The version of the records written by this build (see the module doc).
pub const VERSION: u32 = 2;

#[derive(Serialize)]
struct CallerRecord<'a> {
    uid: Option<u32>,
    pid: Option<i32>,
    client: Option<&'a str>,
}

impl CallerRecord<'_> {
    fn of(c: &Caller) -> CallerRecord<'_> {
        CallerRecord {
            uid: c.peer.uid,
            pid: c.peer.pid,
            client: c.client_name(),
        }
    }
}

#[derive(Serialize)]
struct CheckRecord<'a> {
    v: u32,
    time: String,
    caller: CallerRecord<'a>,
    endpoint: &'static str,
    matter: &'a str,
    request_id: Option<&'a str>,
    receipt: &'a str,
    as_of: Day,
    snapshot: &'a str,
    items: Vec<ItemRecord<'a>>,
}

#[derive(Serialize)]
struct ItemRecord<'a> {
    code: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    must_apply: Vec<MeasureRecord<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    may_apply: Vec<MeasureRecord<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rewards: Vec<MeasureRecord<'a>>,
}

#[derive(Serialize)]
struct MeasureRecord<'a> {
    id: &'a str,
    /// Entry id → its listing authority.
    entries: BTreeMap<&'a str, &'a str>,
}

fn measure_records(list: &Option<Vec<MeasureOut>>) -> Vec<MeasureRecord<'_>> {
    list.iter()
        .flatten()
        .map(|m| MeasureRecord {
            id: &m.id,
            entries: m
                .entries
                .iter()
                .zip(&m.authorities)
                .map(|(e, a)| (e.as_str(), a.as_str()))
                .collect(),
        })
        .collect()
}

#[derive(Serialize)]
struct FeedbackRecord<'a> {
    v: u32,
    time: String,
    caller: CallerRecord<'a>,
    endpoint: &'static str,
    receipt: &'a str,
    code: &'a str,
    measure: &'a str,
    applied: bool,
    note: Option<&'a str>,
}

/// The status word of a check item: its subject status, or `invalid` /
/// `forbidden`.
pub(crate) fn item_status(item: &Item) -> &'static str {
    match item.status {
        Some(SubjectStatus::Black) => "black",
        Some(SubjectStatus::Watch) => "watch",
        Some(SubjectStatus::Red) => "red",
        Some(SubjectStatus::Clear) => "clear",
        None if item.valid => "forbidden",
        None => "invalid",
    }
}

/// The record of a `/v1/check` request.
pub(crate) fn check_line(
    caller: &Caller,
    matter: &str,
    request_id: Option<&str>,
    receipt: &str,
    as_of: Day,
    snapshot: &str,
    items: &[Item],
) -> Vec<u8> {
    let record = CheckRecord {
        v: VERSION,
        time: timestamp(SystemTime::now()),
        caller: CallerRecord::of(caller),
        endpoint: "check",
        matter,
        request_id,
        receipt,
        as_of,
        snapshot,
        items: items
            .iter()
            .map(|i| ItemRecord {
                code: &i.code,
                status: item_status(i),
                must_apply: measure_records(&i.must_apply),
                may_apply: measure_records(&i.may_apply),
                rewards: measure_records(&i.rewards),
            })
            .collect(),
    };
    json_line(&record)
}

/// The record of a `/v1/feedback` report.
pub(crate) fn feedback_line(
    caller: &Caller,
    receipt: &str,
    code: &str,
    measure: &str,
    applied: bool,
    note: Option<&str>,
) -> Vec<u8> {
    json_line(&FeedbackRecord {
        v: VERSION,
        time: timestamp(SystemTime::now()),
        caller: CallerRecord::of(caller),
        endpoint: "feedback",
        receipt,
        code,
        measure,
        applied,
        note,
    })
}

fn json_line<T: Serialize>(record: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).expect("records serialize");
    line.push(b'\n');
    line
}

/// The record of a batch frame answered with `flags_out`, written by hand:
/// this runs for every frame, at millions of codes per second.
pub(crate) fn batch_line(
    caller: &Caller,
    frame: &Frame<'_>,
    day: Day,
    snapshot: &str,
    flags_out: &[u8],
) -> Vec<u8> {
    batch_line_at(
        &timestamp(SystemTime::now()),
        caller,
        frame,
        day,
        snapshot,
        flags_out,
    )
}

/// Codes not listed are hashed in runs of this many (the digest of the
/// concatenation does not depend on how it is fed).
const REST_RUN: usize = 64;

/// [`batch_line`] at a given time.
fn batch_line_at(
    time: &str,
    caller: &Caller,
    frame: &Frame<'_>,
    day: Day,
    snapshot: &str,
    flags_out: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(256 + flags_out.len() / 2 * 26);
    push_batch_head(&mut v, time, caller, frame, day, snapshot, flags_out.len());
    let mut rest = xxhash_rust::xxh3::Xxh3::new();
    let mut run = [0u8; REST_RUN * CODE_LEN];
    let mut in_run = 0;
    let (mut rest_count, mut sep) = (0u64, b'[');
    for (code, &f) in frame.codes.chunks_exact(CODE_LEN).zip(flags_out) {
        if f == 0 {
            run[in_run * CODE_LEN..(in_run + 1) * CODE_LEN].copy_from_slice(code);
            in_run += 1;
            if in_run == REST_RUN {
                rest.update(&run);
                in_run = 0;
            }
            rest_count += 1;
            continue;
        }
        // No early exit: the compiler checks the 18 bytes at once.
        let plain = code
            .iter()
            .fold(true, |ok, b| ok & b.is_ascii_alphanumeric());
        if !plain {
            if sep == b',' {
                v.push(b',');
            }
            v.push(b'[');
            push_code(&mut v, code);
            v.push(b',');
            push_u8(&mut v, f);
            v.push(b']');
            sep = b',';
            continue;
        }
        // `,["<18 bytes>",<flags>]` assembled on the stack, one copy.
        let mut item = [0u8; 27];
        item[0] = sep;
        item[1] = b'[';
        item[2] = b'"';
        item[3..21].copy_from_slice(code);
        item[21] = b'"';
        item[22] = b',';
        let mut at = 23;
        if f >= 100 {
            item[at] = b'0' + f / 100;
            at += 1;
        }
        if f >= 10 {
            item[at] = b'0' + f / 10 % 10;
            at += 1;
        }
        item[at] = b'0' + f % 10;
        item[at + 1] = b']';
        let from = usize::from(sep == b'[');
        v.extend_from_slice(&item[from..at + 2]);
        sep = b',';
    }
    rest.update(&run[..in_run * CODE_LEN]);
    v.extend_from_slice(
        format!(
            "],\"rest_count\":{rest_count},\"rest_digest\":\"{:016x}\"}}\n",
            rest.digest()
        )
        .as_bytes(),
    );
    v
}

/// Appends a batch record's fields up to the opening of `hits`.
fn push_batch_head(
    v: &mut Vec<u8>,
    time: &str,
    caller: &Caller,
    frame: &Frame<'_>,
    day: Day,
    snapshot: &str,
    count: usize,
) {
    v.extend_from_slice(b"{\"v\":2,\"time\":");
    push_json_str(v, time);
    v.extend_from_slice(b",\"caller\":");
    serde_json::to_writer(&mut *v, &CallerRecord::of(caller))
        .expect("writing to a Vec cannot fail");
    v.extend_from_slice(b",\"endpoint\":\"batch\",\"matter\":");
    push_json_str(v, frame.matter);
    v.extend_from_slice(format!(",\"request_id\":{},\"as_of\":\"{day}\",\"snapshot\":\"{snapshot}\",\"count\":{count},\"hits\":[", frame.request_id).as_bytes());
}

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Appends a batch code: as is when printable ASCII, else `0x` + hex.
fn push_code(out: &mut Vec<u8>, code: &[u8]) {
    out.push(b'"');
    if code.iter().all(|b| b.is_ascii_alphanumeric()) {
        out.extend_from_slice(code);
    } else {
        out.extend_from_slice(b"0x");
        for b in code {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
    }
    out.push(b'"');
}

/// Appends a byte in decimal (no allocation: this runs once per hit).
fn push_u8(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
    }
    if n >= 10 {
        out.push(b'0' + n / 10 % 10);
    }
    out.push(b'0' + n % 10);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_record_version_is_the_constant() {
        assert_eq!(VERSION, 2, "batch_line writes \"v\":2 by hand");
    }

    #[test]
    fn codes_are_escaped_when_not_plain() {
        let mut v = Vec::new();
        push_code(&mut v, b"91350100MA2Y3K8L5G");
        push_code(&mut v, b"\"\x00");
        assert_eq!(v, b"\"91350100MA2Y3K8L5G\"\"0x2200\"");
    }

    /// The record as written before it was assembled on the stack: one
    /// push per piece, one hash update per code.
    fn batch_line_reference(
        time: &str,
        caller: &Caller,
        frame: &Frame<'_>,
        day: Day,
        snapshot: &str,
        flags_out: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        // The head is unchanged; the hits and the digest are compared.
        push_batch_head(&mut v, time, caller, frame, day, snapshot, flags_out.len());
        let mut rest = xxhash_rust::xxh3::Xxh3::new();
        let (mut rest_count, mut first) = (0u64, true);
        for (code, &f) in frame.codes.chunks_exact(CODE_LEN).zip(flags_out) {
            if f == 0 {
                rest.update(code);
                rest_count += 1;
                continue;
            }
            if !first {
                v.push(b',');
            }
            first = false;
            v.push(b'[');
            push_code(&mut v, code);
            v.push(b',');
            push_u8(&mut v, f);
            v.push(b']');
        }
        v.extend_from_slice(
            format!(
                "],\"rest_count\":{rest_count},\"rest_digest\":\"{:016x}\"}}\n",
                rest.digest()
            )
            .as_bytes(),
        );
        v
    }

    proptest::proptest! {
        #[test]
        fn batch_records_are_the_reference_records(
            picks in proptest::collection::vec((0usize..4, proptest::prelude::any::<u8>()), 0..300),
            zero_share in 0u8..4,
        ) {
            let pool: [&[u8; CODE_LEN]; 4] = [
                b"91350100MA2Y3K8L5G",
                b"110101199003071234",
                b"\"bad\x00code here....",
                b"91350100M000100Y43",
            ];
            let mut codes = Vec::new();
            let mut flags = Vec::new();
            for (i, (c, f)) in picks.iter().enumerate() {
                codes.extend_from_slice(pool[*c]);
                flags.push(if (i as u8 % 4) < zero_share { 0 } else { *f });
            }
            let frame = Frame {
                version: crate::wire::batch::Version::V1,
                request_id: 42,
                as_of: 0,
                matter: "gov_procurement",
                codes: &codes,
            };
            let caller = Caller {
                peer: crate::server::access::Peer { uid: Some(1000), gid: Some(1000), pid: Some(7) },
                client: None,
            };
            let day = Day::parse("2026-11-20").unwrap();
            let t = "2026-11-30T08:00:00.000+08:00";
            let got = batch_line_at(t, &caller, &frame, day, "abc", &flags);
            let want = batch_line_reference(t, &caller, &frame, day, "abc", &flags);
            proptest::prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
        }
    }

    #[test]
    fn decimal_bytes() {
        for n in [0u8, 7, 10, 99, 100, 136, 255] {
            let mut v = Vec::new();
            push_u8(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
    }
}
