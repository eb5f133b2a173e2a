//! The batch protocol (SPEC §6 "Batch socket"): binary, little-endian, one
//! request per frame, several frames in flight per connection, answered in
//! order.
//!
//! ```text
//! request : u32 len | u8 version=1 | u8 op=1 (CHECK) | u64 request_id
//!           | u32 as_of (days since 1970-01-01, 0 = today) | u16 matter_len
//!           | matter bytes (UTF-8; empty = lists only) | u32 n | n × 18 code bytes
//! response: u32 len | u8 version=1 | u8 status=0 | u64 request_id | u32 n | n × u8 flags
//! error   : u32 len | u8 version=1 | u8 status | u64 request_id | u32 msg_len | msg
//! ```
//! `len` counts the bytes after itself, so a request has
//! `len = 20 + matter_len + 18 n`. Statuses: 1 malformed (and unknown
//! version or op), 2 too large, 3 forbidden, 4 unknown matter,
//! 5 unavailable. After 1 and 2 (and 3 for a caller not in the config) the
//! connection is closed; after 3, 4 and 5 it stays open.
//!
//! [`parse_frame`] is pure (no I/O, no allocation): it tells a complete
//! frame from an incomplete one (`Ok(None)`: read more) and from an invalid
//! one. It decides "too large" from the first 20 bytes, before the rest of
//! the frame is read, so a hostile `len` never makes the daemon buffer more
//! than the largest legal frame.

use super::access::Caller;
use super::metrics::{Endpoint, Lookup, Outcome};
use super::state::State;
use crate::check::{batch_flags, Ctx, CODE_LEN};
use crate::date::Day;
use crate::rules::flags;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

pub const VERSION: u8 = 1;
pub const OP_CHECK: u8 = 1;

/// Response statuses.
pub mod status {
    pub const OK: u8 = 0;
    pub const MALFORMED: u8 = 1;
    pub const TOO_LARGE: u8 = 2;
    pub const FORBIDDEN: u8 = 3;
    pub const UNKNOWN_MATTER: u8 = 4;
    pub const UNAVAILABLE: u8 = 5;
}

/// Bytes of a request after `len` up to and including `n`, without the
/// matter.
const FIXED: u64 = 20;

/// One request frame, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub request_id: u64,
    pub as_of: u32,
    pub matter: &'a str,
    /// `n × 18` bytes.
    pub codes: &'a [u8],
}

impl Frame<'_> {
    pub fn n(&self) -> usize {
        self.codes.len() / CODE_LEN
    }
}

/// Why a frame is refused; the connection is closed after either.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Status 1. `request_id` is 0 when it could not be read.
    Malformed {
        request_id: u64,
        reason: &'static str,
    },
    /// Status 2.
    TooLarge { request_id: u64, len: u64 },
}

impl FrameError {
    pub fn status(&self) -> u8 {
        match self {
            FrameError::Malformed { .. } => status::MALFORMED,
            FrameError::TooLarge { .. } => status::TOO_LARGE,
        }
    }
    pub fn request_id(&self) -> u64 {
        match self {
            FrameError::Malformed { request_id, .. } | FrameError::TooLarge { request_id, .. } => {
                *request_id
            }
        }
    }
    pub fn message(&self, max_codes: u32) -> String {
        match self {
            FrameError::Malformed { reason, .. } => format!("malformed frame: {reason}"),
            FrameError::TooLarge { len, .. } => {
                format!("frame too large: {len} bytes; at most {max_codes} codes per frame")
            }
        }
    }
}

/// Largest legal `len` for a request with at most `max_codes` codes.
pub fn max_frame_len(max_codes: u32) -> u64 {
    FIXED + u16::MAX as u64 + CODE_LEN as u64 * max_codes as u64
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Parses the request frame at the start of `buf`: `Ok(None)` when more
/// bytes are needed, the frame and the bytes it used, or why it is refused.
pub fn parse_frame(buf: &[u8], max_codes: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32_at(buf, 0) as u64;
    // The fixed header (or the whole frame, when shorter) decides validity.
    let head = 4 + len.min(16) as usize;
    if buf.len() < head {
        return Ok(None);
    }
    let malformed = |request_id, reason| Err(FrameError::Malformed { request_id, reason });
    if len == 0 || buf[4] != VERSION {
        return malformed(0, "unknown protocol version (expected 1)");
    }
    if len < 10 {
        return malformed(0, "frame shorter than its header");
    }
    let request_id = u64_at(buf, 6);
    if buf[5] != OP_CHECK {
        return malformed(request_id, "unknown op (expected 1, CHECK)");
    }
    if len < FIXED {
        return malformed(request_id, "frame shorter than its header");
    }
    if len > max_frame_len(max_codes) {
        return Err(FrameError::TooLarge { request_id, len });
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let frame = &buf[..total];
    let as_of = u32_at(frame, 14);
    let mlen = u16_at(frame, 18) as usize;
    if FIXED + mlen as u64 > len {
        return malformed(request_id, "matter_len runs past the frame");
    }
    let Ok(matter) = std::str::from_utf8(&frame[20..20 + mlen]) else {
        return malformed(request_id, "matter is not UTF-8");
    };
    let n = u32_at(frame, 20 + mlen);
    if n > max_codes {
        return Err(FrameError::TooLarge { request_id, len });
    }
    if len != FIXED + mlen as u64 + CODE_LEN as u64 * n as u64 {
        return malformed(request_id, "len does not match 20 + matter_len + 18 n");
    }
    let codes = &frame[24 + mlen..];
    Ok(Some((
        Frame {
            request_id,
            as_of,
            matter,
            codes,
        },
        total,
    )))
}

/// Encodes a request frame (for clients and tests).
pub fn encode_request(
    request_id: u64,
    as_of: u32,
    matter: &str,
    codes: &[[u8; CODE_LEN]],
) -> Vec<u8> {
    let len = FIXED as usize + matter.len() + CODE_LEN * codes.len();
    let mut v = Vec::with_capacity(4 + len);
    v.extend_from_slice(&(len as u32).to_le_bytes());
    v.push(VERSION);
    v.push(OP_CHECK);
    v.extend_from_slice(&request_id.to_le_bytes());
    v.extend_from_slice(&as_of.to_le_bytes());
    v.extend_from_slice(&(matter.len() as u16).to_le_bytes());
    v.extend_from_slice(matter.as_bytes());
    v.extend_from_slice(&(codes.len() as u32).to_le_bytes());
    for c in codes {
        v.extend_from_slice(c);
    }
    v
}

/// A decoded response frame (for clients and tests).
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    Flags {
        request_id: u64,
        flags: Vec<u8>,
    },
    Error {
        status: u8,
        request_id: u64,
        message: String,
    },
}

/// Decodes the response at the start of `buf`: `None` when incomplete.
pub fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, &'static str> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32_at(buf, 0) as usize;
    if len < 14 {
        return Err("response shorter than its header");
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let f = &buf[..4 + len];
    if f[4] != VERSION {
        return Err("unknown version");
    }
    let (st, request_id, count) = (f[5], u64_at(f, 6), u32_at(f, 14) as usize);
    if len != 14 + count {
        return Err("len does not match the count");
    }
    let body = &f[18..];
    let r = if st == status::OK {
        Response::Flags {
            request_id,
            flags: body.to_vec(),
        }
    } else {
        Response::Error {
            status: st,
            request_id,
            message: String::from_utf8_lossy(body).into_owned(),
        }
    };
    Ok(Some((r, 4 + len)))
}

/// Appends an error frame.
pub fn encode_error(out: &mut Vec<u8>, st: u8, request_id: u64, msg: &str) {
    let msg = &msg.as_bytes()[..msg.len().min(4096)];
    out.extend_from_slice(&(14 + msg.len() as u32).to_le_bytes());
    out.push(VERSION);
    out.push(st);
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    out.extend_from_slice(msg);
}

/// Appends the header of a success frame and `n` zero flags; returns where
/// the flags are.
fn begin_ok(out: &mut Vec<u8>, request_id: u64, n: usize) -> std::ops::Range<usize> {
    out.extend_from_slice(&(14 + n as u32).to_le_bytes());
    out.push(VERSION);
    out.push(status::OK);
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    let at = out.len();
    out.resize(at + n, 0);
    at..at + n
}

/// Frames at least this long are answered with `block_in_place`: those are
/// the frames [`batch_flags`] spreads over the cores with rayon, which may
/// take milliseconds. Shorter frames (a 4096-code frame is a few hundred
/// microseconds of lookups) run inline: `block_in_place` would start and
/// retire replacement worker threads at every frame.
const BLOCK_IN_PLACE_MIN_CODES: usize = crate::check::PARALLEL_MIN_CODES;

/// Read buffer space asked for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Serves one batch connection until the peer closes, a frame is refused
/// with closing, a timeout, or shutdown.
pub async fn serve<S>(
    st: Arc<State>,
    mut stream: S,
    caller: Caller,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = &st.config.limits;
    let max_codes = limits.max_batch_codes;
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut start = 0usize;
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut in_flight = InFlight { st: &st, on: false };
    let mut draining = false;
    let mut evict = st.evict_idle.subscribe();
    // When the first byte of the frame being received was seen: the whole
    // frame must arrive within read_timeout of it, however it trickles in.
    let mut frame_started: Option<tokio::time::Instant> = None;
    loop {
        // Answer the complete frames already read, in order.
        let mut answered = 0;
        let mut close = false;
        while answered < limits.max_frames_in_flight {
            match parse_frame(&rbuf[start..], max_codes) {
                Ok(Some((frame, used))) => {
                    close = !handle(&st, &caller, &frame, &mut out).await;
                    start += used;
                    answered += 1;
                    if close {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let outcome = match e {
                        FrameError::Malformed { .. } => Outcome::BadRequest,
                        FrameError::TooLarge { .. } => Outcome::TooLarge,
                    };
                    st.metrics
                        .request(Endpoint::Batch, outcome, std::time::Duration::ZERO);
                    tracing::debug!(client = caller.client_name(), error = %e.message(max_codes), "batch frame refused");
                    encode_error(&mut out, e.status(), e.request_id(), &e.message(max_codes));
                    close = true;
                    break;
                }
            }
        }
        if answered > 0 {
            // A frame completed: what is pending now is the next one.
            frame_started = None;
        }
        if !out.is_empty() {
            let written = tokio::time::timeout(limits.idle_timeout(), stream.write_all(&out)).await;
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
            out.clear();
            if out.capacity() > 4 * READ_CHUNK {
                out.shrink_to(READ_CHUNK);
            }
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
        if start == rbuf.len() {
            rbuf.clear();
            start = 0;
            if rbuf.capacity() > 4 * READ_CHUNK {
                rbuf.shrink_to(READ_CHUNK);
            }
        } else if start > 0 && start >= rbuf.len() / 2 {
            rbuf.drain(..start);
            start = 0;
        }
        if answered == limits.max_frames_in_flight {
            continue;
        }
        let partial = rbuf.len() > start;
        in_flight.set(partial);
        // On shutdown, finish the frame being received, then stop: bytes
        // of later frames are not waited for.
        if *shutdown.borrow() {
            if !partial || (draining && answered > 0) {
                return;
            }
            draining = true;
        }
        // Room for the rest of the current frame (its `len` was bounded by
        // parse_frame), or a chunk.
        let pending = &rbuf[start..];
        let want = if pending.len() >= 4 {
            let len = u32::from_le_bytes(pending[..4].try_into().expect("4 bytes")) as u64;
            (4 + len.min(max_frame_len(max_codes))) as usize - pending.len().min(4 + len as usize)
        } else {
            0
        };
        rbuf.reserve(want.max(READ_CHUNK));
        let now = tokio::time::Instant::now();
        let deadline = if partial {
            *frame_started.get_or_insert(now) + limits.read_timeout()
        } else {
            frame_started = None;
            now + limits.idle_timeout()
        };
        tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut rbuf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) => in_flight.set(true),
            },
            _ = shutdown.changed(), if !partial => return,
            // A listener at its connection limit: between frames, this
            // connection makes room.
            r = evict.changed(), if !partial => if r.is_ok() { return },
        }
    }
}

/// Counts a connection's frame in flight (first byte read, not yet
/// answered) in the metrics.
struct InFlight<'a> {
    st: &'a State,
    on: bool,
}

impl InFlight<'_> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            self.on = on;
            self.st
                .metrics
                .in_flight(super::metrics::Listener::Batch, if on { 1 } else { -1 });
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Answers one frame into `out`; `false` to close the connection.
async fn handle(st: &State, caller: &Caller, frame: &Frame<'_>, out: &mut Vec<u8>) -> bool {
    let started = Instant::now();
    let rid = frame.request_id;
    let served = st.served();
    let snap = &served.snap;
    let done = |o: Outcome| st.metrics.request(Endpoint::Batch, o, started.elapsed());
    let matter = if frame.matter.is_empty() {
        None
    } else {
        match snap.catalog.matter_index(frame.matter) {
            Some(i) => Some(i),
            None => {
                encode_error(
                    out,
                    status::UNKNOWN_MATTER,
                    rid,
                    &format!("unknown matter {:?}", frame.matter),
                );
                done(Outcome::UnknownMatter);
                return true;
            }
        }
    };
    let Some(client) = caller.client.as_deref() else {
        encode_error(
            out,
            status::FORBIDDEN,
            rid,
            "caller is not a configured client",
        );
        done(Outcome::Forbidden);
        return false;
    };
    if !client.may_check((!frame.matter.is_empty()).then_some(frame.matter)) {
        let msg = format!(
            "client {:?} may not check matter {:?}",
            client.name, frame.matter
        );
        encode_error(out, status::FORBIDDEN, rid, &msg);
        done(Outcome::Forbidden);
        return true;
    }
    if let Err(e) = st.audit.admit() {
        encode_error(out, status::UNAVAILABLE, rid, &e.to_string());
        done(Outcome::Unavailable);
        return true;
    }
    let day = match frame.as_of {
        0 => Day::today(),
        d => Day::from_u32(d),
    };
    let ctx = Ctx {
        snap,
        holds: &served.holds,
        day,
        matter,
        persons: client.persons,
    };
    let before = out.len();
    let at = begin_ok(out, rid, frame.n());
    if frame.n() >= BLOCK_IN_PLACE_MIN_CODES {
        tokio::task::block_in_place(|| batch_flags(&ctx, frame.codes, &mut out[at.clone()]));
    } else {
        batch_flags(&ctx, frame.codes, &mut out[at.clone()]);
    }
    count_lookups(st, &out[at.clone()]);
    let line = audit_line(caller, frame, day, &snap.id, &out[at]);
    if let Err(e) = st.audit.record(line).await {
        out.truncate(before);
        encode_error(out, status::UNAVAILABLE, rid, &e.to_string());
        done(Outcome::Unavailable);
        return true;
    }
    done(Outcome::Ok);
    true
}

/// The audit record of a frame (see [`super::audit`]); counts lookups.
fn audit_line(
    caller: &Caller,
    frame: &Frame<'_>,
    day: Day,
    snapshot: &str,
    flags_out: &[u8],
) -> Vec<u8> {
    use super::audit::{push_code, push_json_str};
    let mut v = Vec::with_capacity(256 + flags_out.len() / 2 * 24);
    v.extend_from_slice(b"{\"time\":");
    push_json_str(&mut v, &super::timestamp(std::time::SystemTime::now()));
    v.extend_from_slice(b",\"caller\":");
    super::http::push_caller(&mut v, caller);
    v.extend_from_slice(b",\"endpoint\":\"batch\",\"matter\":");
    push_json_str(&mut v, frame.matter);
    v.extend_from_slice(format!(",\"request_id\":{},\"as_of\":\"{day}\",\"snapshot\":\"{snapshot}\",\"count\":{},\"hits\":[", frame.request_id, flags_out.len()).as_bytes());
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

/// Counts a frame's lookups by result.
pub fn count_lookups(st: &State, flags_out: &[u8]) {
    let (mut listed, mut unanswered) = (0u64, 0u64);
    for &f in flags_out {
        listed += (f & flags::LISTS != 0) as u64;
        unanswered += (f & flags::UNANSWERED != 0) as u64;
    }
    let clear = flags_out.len() as u64 - listed - unanswered;
    st.metrics.lookups(true, Lookup::Listed, listed);
    st.metrics.lookups(true, Lookup::Unanswered, unanswered);
    st.metrics.lookups(true, Lookup::Clear, clear);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CODE: [u8; 18] = *b"91350100MA2Y3K8L5G";

    #[test]
    fn a_frame_round_trips() {
        let f = encode_request(7, 20413, "gov_procurement", &[CODE, CODE]);
        let (frame, used) = parse_frame(&f, 10).unwrap().unwrap();
        assert_eq!(used, f.len());
        assert_eq!(frame.request_id, 7);
        assert_eq!(frame.as_of, 20413);
        assert_eq!(frame.matter, "gov_procurement");
        assert_eq!(frame.n(), 2);
        assert_eq!(&frame.codes[..18], &CODE);
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let f = encode_request(7, 0, "m", &[CODE; 3]);
        for i in 0..f.len() {
            assert_eq!(parse_frame(&f[..i], 10), Ok(None), "prefix {i}");
        }
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut f = encode_request(1, 0, "", &[CODE]);
        f.extend(encode_request(2, 0, "", &[CODE, CODE]));
        let (a, used) = parse_frame(&f, 10).unwrap().unwrap();
        assert_eq!(a.request_id, 1);
        let (b, used2) = parse_frame(&f[used..], 10).unwrap().unwrap();
        assert_eq!((b.request_id, b.n()), (2, 2));
        assert_eq!(used + used2, f.len());
    }

    #[test]
    fn too_large_is_known_from_the_header() {
        // n over the limit within a plausible len: known once the frame is in.
        let f = encode_request(9, 0, "", &[CODE; 11]);
        assert_eq!(parse_frame(&f[..20], 10), Ok(None));
        assert_eq!(
            parse_frame(&f, 10),
            Err(FrameError::TooLarge {
                request_id: 9,
                len: 218
            })
        );
        // A len past the largest legal frame: known from the first 20 bytes.
        let mut huge = f[..20].to_vec();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_frame(&huge, 10),
            Err(FrameError::TooLarge { request_id: 9, .. })
        ));
    }

    #[test]
    fn malformed_frames() {
        let good = encode_request(5, 0, "m", &[CODE]);
        let mut v = good.clone();
        v[4] = 2;
        assert_eq!(
            parse_frame(&v, 10).unwrap_err(),
            FrameError::Malformed {
                request_id: 0,
                reason: "unknown protocol version (expected 1)"
            }
        );
        let mut v = good.clone();
        v[5] = 9;
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        let mut v = good.clone();
        v[18] = 200; // matter_len past the end
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        let mut v = good.clone();
        v[21] = 2; // n = 2 but one code
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        let mut v = good;
        v[20] = 0xff; // matter not UTF-8
        assert!(matches!(
            parse_frame(&v, 10),
            Err(FrameError::Malformed { request_id: 5, .. })
        ));
        assert!(matches!(
            parse_frame(&[0, 0, 0, 0], 10),
            Err(FrameError::Malformed { request_id: 0, .. })
        ));
    }

    #[test]
    fn decimal_bytes() {
        for n in [0u8, 7, 10, 99, 100, 136, 255] {
            let mut v = Vec::new();
            push_u8(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
    }

    #[test]
    fn responses_round_trip() {
        let mut out = Vec::new();
        let at = begin_ok(&mut out, 3, 2);
        out[at].copy_from_slice(&[1, 2]);
        encode_error(&mut out, status::FORBIDDEN, 4, "no");
        let (a, used) = parse_response(&out).unwrap().unwrap();
        assert_eq!(
            a,
            Response::Flags {
                request_id: 3,
                flags: vec![1, 2]
            }
        );
        let (b, _) = parse_response(&out[used..]).unwrap().unwrap();
        assert_eq!(
            b,
            Response::Error {
                status: 3,
                request_id: 4,
                message: "no".into()
            }
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0u32..64) {
            if let Ok(Some((frame, used))) = parse_frame(&bytes, max) {
                prop_assert!(used <= bytes.len());
                prop_assert!(frame.n() <= max as usize);
                prop_assert_eq!(frame.codes.len() % 18, 0);
            }
        }

        #[test]
        fn encoded_frames_parse_back(rid in any::<u64>(), as_of in any::<u32>(), matter in "[a-z_]{0,20}", n in 0usize..20) {
            let codes = vec![CODE; n];
            let f = encode_request(rid, as_of, &matter, &codes);
            let (frame, used) = parse_frame(&f, 20).unwrap().unwrap();
            prop_assert_eq!(used, f.len());
            prop_assert_eq!((frame.request_id, frame.as_of, frame.matter, frame.n()), (rid, as_of, matter.as_str(), n));
        }

        #[test]
        fn mutated_frames_never_panic(n in 0usize..5, at in 0usize..200, byte in any::<u8>()) {
            let mut f = encode_request(1, 0, "m", &vec![CODE; n]);
            let i = at % f.len();
            f[i] = byte;
            let _ = parse_frame(&f, 4);
        }
    }
}
