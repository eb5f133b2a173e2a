//! The records of the audit register, one JSON line each, read by
//! `credlist report` (SPEC §9), by auditors and by later versions of
//! credlist.
//!
//! # Versions
//!
//! Every record starts with `"v"`, the version of its shape: [`VERSION`]
//! (3) for the records written here. A record without `"v"` is version 1
//! (credlist 0.1, before SPEC §9): the same shapes without the measures of
//! check items. Version 2 added them; version 3 groups a batch record's
//! hits by flags (below; check and feedback records are as in version 2).
//! A reader takes the fields it knows and ignores the others, so a later
//! version may add fields without a new number; it bumps `v` only when a
//! field changes meaning or disappears.
//!
//! # Shapes
//!
//! - check (a `/v1/check` answered 200): `{"v": 3, "time", "caller":
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
//! - feedback (a `/v1/feedback` answered 204): `{"v": 3, "time", "caller",
//!   "endpoint": "feedback", "receipt", "code", "measure", "applied",
//!   "note"}`, `code` as the caller spelled it;
//! - batch frame: `{"v": 3, "time", "caller", "endpoint": "batch", "matter",
//!   "request_id", "as_of", "snapshot", "count", "hits": {"<flags>":
//!   "<codes>", …}, "hex_hits": [["0x<hex>", flags], …], "rest_count",
//!   "rest_digest"}`. `hits` maps each flag value answered (in decimal,
//!   ascending) to the 18-character codes answered it, concatenated in
//!   frame order; `hex_hits`, present only when not empty, holds the
//!   codes that are not ASCII letters and digits, as `0x` + hex, each
//!   with its flags, in frame order. Version 2 wrote every hit as
//!   `["<code>", flags]` in one `hits` list. Batch records name no
//!   measures: the flags say whether any applied (bits 5–7), the measures
//!   themselves are one `/v1/check` away.
//!
//! `caller.client` is the configured client name, `null` when no
//! `[[client]]` is configured (the report then names the caller
//! `uid:<uid>`).
//!
//! A batch frame is one record, not one per code: codes whose answer is not
//! plain "not listed" (`flags != 0`: listed, suspended, unanswered) are
//! written with their flags, and the codes answered 0 are summarised by
//! their count and the xxh3-64 of their bytes in frame order
//! (`rest_digest`, 16 hex digits). That is the trade-off: the register
//! proves exactly which listed subjects a caller learned about, and lets an
//! auditor holding the frame's codes prove which clear codes were asked,
//! while a frame of 4096 codes costs a few kilobytes instead of a hundred.
//! A frame's hits are a set: their order across flag values is not kept.
//!
//! `time` is when the record is made, UTC, to the millisecond.
//!
//! # Cost
//!
//! A measure with one entry adds about 50 bytes to its item
//! (`,"must_apply":[{"id":"P-PROC-01","entries":{"FY-2025-0312":"shi-fayuan"}}]`);
//! items without measures cost nothing more. On the generated register
//! (`credlist gen --audit`) a check record is 426 bytes on average against
//! 355 in version 1. A batch hit costs its 18 bytes (plus a few bytes a
//! flag value in the frame), against 26 in version 2 (`,["<code>",34]`):
//! at tens of millions of codes a second the register's volume is what
//! the batch path pays for.

use crate::check::{Item, MeasureOut, CODE_LEN};
use crate::date::{timestamp, Day};
use crate::rules::SubjectStatus;
use crate::server::access::Caller;
use crate::wire::batch::Frame;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The version of the records written by this build (see the module doc).
pub const VERSION: u32 = 3;

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
///
/// The first pass hashes the clear codes and notes where the hits are,
/// with no branch on a code's flags (they are as random as the codes
/// asked); counting the hits by flag value then fixes where each group of
/// `hits` starts, and the second pass copies each hit's code into its
/// group. A hit costs one 18-byte copy, with no separator or digits of its
/// own.
fn batch_line_at(
    time: &str,
    caller: &Caller,
    frame: &Frame<'_>,
    day: Day,
    snapshot: &str,
    flags_out: &[u8],
) -> Vec<u8> {
    let code_at = |i: usize| &frame.codes[i * CODE_LEN..(i + 1) * CODE_LEN];
    let mut rest = xxhash_rust::xxh3::Xxh3::new();
    // One slot more than a run: every code is copied in, and only a clear
    // one advances the run.
    let mut run = [0u8; (REST_RUN + 1) * CODE_LEN];
    let mut in_run = 0;
    let mut hits = vec![0u32; flags_out.len()];
    let mut nhits = 0;
    for (i, (code, &f)) in frame
        .codes
        .chunks_exact(CODE_LEN)
        .zip(flags_out)
        .enumerate()
    {
        run[in_run * CODE_LEN..(in_run + 1) * CODE_LEN].copy_from_slice(code);
        in_run += usize::from(f == 0);
        if in_run == REST_RUN {
            rest.update(&run[..REST_RUN * CODE_LEN]);
            in_run = 0;
        }
        hits[nhits] = i as u32;
        nhits += usize::from(f != 0);
    }
    rest.update(&run[..in_run * CODE_LEN]);
    let hits = &mut hits[..nhits];
    let rest_count = flags_out.len() - nhits;
    // Hits whose code is not ASCII letters and digits go to `hex_hits`
    // (their place in `hits` is marked `u32::MAX`).
    let mut hex = Vec::new();
    let mut count = [0usize; 256];
    for h in hits.iter_mut() {
        let i = *h as usize;
        if is_plain(code_at(i)) {
            count[usize::from(flags_out[i])] += 1;
        } else {
            hex.push(i);
            *h = u32::MAX;
        }
    }

    let mut v = Vec::with_capacity(320 + nhits * CODE_LEN + hex.len() * 48);
    push_batch_head(&mut v, time, caller, frame, day, snapshot, flags_out.len());
    // `{"<flags>":"<codes>",…}`: the groups' heads are written now and
    // their codes' room left, zeroed, to be filled by the second pass.
    let mut at = [0usize; 256];
    v.push(b'{');
    for (f, &n) in count.iter().enumerate().filter(|(_, &n)| n > 0) {
        if v.last() == Some(&b'"') {
            v.push(b',');
        }
        v.push(b'"');
        push_u8(&mut v, f as u8);
        v.extend_from_slice(b"\":\"");
        at[f] = v.len();
        v.resize(v.len() + n * CODE_LEN, 0);
        v.push(b'"');
    }
    v.push(b'}');
    for &h in hits.iter().filter(|&&h| h != u32::MAX) {
        let i = h as usize;
        let to = &mut at[usize::from(flags_out[i])];
        v[*to..*to + CODE_LEN].copy_from_slice(code_at(i));
        *to += CODE_LEN;
    }
    if !hex.is_empty() {
        v.extend_from_slice(b",\"hex_hits\":[");
        for (k, &i) in hex.iter().enumerate() {
            if k > 0 {
                v.push(b',');
            }
            v.push(b'[');
            push_code(&mut v, code_at(i));
            v.push(b',');
            push_u8(&mut v, flags_out[i]);
            v.push(b']');
        }
        v.push(b']');
    }
    v.extend_from_slice(
        format!(
            ",\"rest_count\":{rest_count},\"rest_digest\":\"{:016x}\"}}\n",
            rest.digest()
        )
        .as_bytes(),
    );
    v
}

/// Whether a code is ASCII letters and digits (written as is in `hits`).
fn is_plain(code: &[u8]) -> bool {
    // No early exit: the compiler checks the 18 bytes at once.
    code.iter()
        .fold(true, |ok, b| ok & b.is_ascii_alphanumeric())
}

/// Appends a batch record's fields up to `"hits":`.
fn push_batch_head(
    v: &mut Vec<u8>,
    time: &str,
    caller: &Caller,
    frame: &Frame<'_>,
    day: Day,
    snapshot: &str,
    count: usize,
) {
    v.extend_from_slice(b"{\"v\":3,\"time\":");
    push_json_str(v, time);
    v.extend_from_slice(b",\"caller\":");
    serde_json::to_writer(&mut *v, &CallerRecord::of(caller))
        .expect("writing to a Vec cannot fail");
    v.extend_from_slice(b",\"endpoint\":\"batch\",\"matter\":");
    push_json_str(v, frame.matter);
    v.extend_from_slice(format!(",\"request_id\":{},\"as_of\":\"{day}\",\"snapshot\":\"{snapshot}\",\"count\":{count},\"hits\":", frame.request_id).as_bytes());
}

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Appends a batch code: as is when ASCII letters and digits, else `0x` +
/// hex.
fn push_code(out: &mut Vec<u8>, code: &[u8]) {
    out.push(b'"');
    if is_plain(code) {
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
        assert_eq!(VERSION, 3, "batch_line writes \"v\":3 by hand");
    }

    #[test]
    fn codes_are_escaped_when_not_plain() {
        let mut v = Vec::new();
        push_code(&mut v, b"91350100MA2Y3K8L5G");
        push_code(&mut v, b"\"\x00");
        assert_eq!(v, b"\"91350100MA2Y3K8L5G\"\"0x2200\"");
    }

    /// The (code, flags) pairs a batch record names, read back from its
    /// JSON as a report or an auditor would, in frame order within a flag.
    fn hits_of(record: &serde_json::Value) -> Vec<(Vec<u8>, u8)> {
        let mut out = Vec::new();
        for (f, codes) in record["hits"].as_object().expect("hits is an object") {
            let f: u8 = f.parse().expect("flags in decimal");
            assert_ne!(f, 0, "no group for clear codes");
            let codes = codes.as_str().expect("codes as one string").as_bytes();
            assert!(!codes.is_empty() && codes.len() % CODE_LEN == 0);
            out.extend(codes.chunks(CODE_LEN).map(|c| (c.to_vec(), f)));
        }
        for h in record["hex_hits"].as_array().into_iter().flatten() {
            let hex = h[0].as_str().unwrap().strip_prefix("0x").expect("0x + hex");
            let code = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            out.push((code, h[1].as_u64().unwrap() as u8));
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn batch_records_name_every_hit_and_digest_the_rest(
            picks in proptest::collection::vec((0usize..5, proptest::prelude::any::<u8>()), 0..300),
            zero_share in 0u8..4,
        ) {
            let pool: [&[u8; CODE_LEN]; 5] = [
                b"91350100MA2Y3K8L5G",
                b"110101199003071234",
                b"\"bad\x00code here....",
                b"91350100M000100Y43",
                b"\xe9\x99\x88\xe6\x9f\x90\xe6\x9f\x90 \\n\"}]{[,",
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
            let line = batch_line_at(t, &caller, &frame, day, "abc", &flags);
            proptest::prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            proptest::prop_assert_eq!(line.last(), Some(&b'\n'));
            let r: serde_json::Value = serde_json::from_slice(&line).expect("one JSON record");
            proptest::prop_assert_eq!(&r["v"], &serde_json::json!(VERSION));
            proptest::prop_assert_eq!(&r["count"], &serde_json::json!(picks.len()));

            // Every hit, with its flags, and nothing else; frame order
            // is kept within a flag value and in `hex_hits`.
            let mut want: Vec<(Vec<u8>, u8)> = codes
                .chunks(CODE_LEN)
                .zip(&flags)
                .filter(|(_, &f)| f != 0)
                .map(|(c, &f)| (c.to_vec(), f))
                .collect();
            let mut got = hits_of(&r);
            let plain_in_order: Vec<_> = want.iter().filter(|(c, _)| is_plain(c)).cloned().collect();
            for f in 1..=255u8 {
                let of = |v: &[(Vec<u8>, u8)]| v.iter().filter(|h| h.1 == f && is_plain(&h.0)).cloned().collect::<Vec<_>>();
                proptest::prop_assert_eq!(of(&got), of(&plain_in_order));
            }
            let hex_in_order = |v: &[(Vec<u8>, u8)]| v.iter().filter(|h| !is_plain(&h.0)).cloned().collect::<Vec<_>>();
            proptest::prop_assert_eq!(hex_in_order(&got), hex_in_order(&want));
            got.sort();
            want.sort();
            proptest::prop_assert_eq!(got, want);

            let clear: Vec<u8> = codes
                .chunks(CODE_LEN)
                .zip(&flags)
                .filter(|(_, &f)| f == 0)
                .flat_map(|(c, _)| c.to_vec())
                .collect();
            proptest::prop_assert_eq!(&r["rest_count"], &serde_json::json!(clear.len() / CODE_LEN));
            let digest = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&clear));
            proptest::prop_assert_eq!(r["rest_digest"].as_str(), Some(digest.as_str()));
        }
    }

    #[test]
    fn a_frame_without_hits_has_an_empty_group_map() {
        let frame = Frame {
            version: crate::wire::batch::Version::V1,
            request_id: 1,
            as_of: 0,
            matter: "",
            codes: b"91350100MA2Y3K8L5G",
        };
        let caller = Caller {
            peer: crate::server::access::Peer {
                uid: Some(0),
                gid: Some(0),
                pid: None,
            },
            client: None,
        };
        let day = Day::parse("2026-11-20").unwrap();
        let line = batch_line_at("t", &caller, &frame, day, "s", &[0]);
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains(r#","hits":{},"rest_count":1,"#), "{text}");
        let line = batch_line_at("t", &caller, &frame, day, "s", &[34]);
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.contains(r#","hits":{"34":"91350100MA2Y3K8L5G"},"rest_count":0,"#),
            "{text}"
        );
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
