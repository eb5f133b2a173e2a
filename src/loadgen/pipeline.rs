//! Frames of codes sent pipelined over Unix sockets: `connections`
//! connections, each keeping `in_flight` frames sent and not yet answered.
//!
//! The same machinery drives the daemon's batch socket
//! ([`CredlistBatch`]) and Redis ([`RedisSmismember`]): the frames are
//! encoded once from the [`Pool`] before the run, a connection's writer
//! sends them round robin as answer slots free up, and its reader decodes
//! the answers in place, checks every code of every answer against what
//! the pool says it is, and records the frame latency (first byte written
//! to last byte of the answer read).

use super::stats::Stats;
use super::Pool;
use crate::check::CODE_LEN;
use crate::rules::flags;
use crate::wire::batch::{parse_response_view, RequestHead, ResponseView, Version};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// One answer decoded from the start of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the buffer it used.
    pub used: usize,
    /// The request id echoed, when the protocol has one.
    pub id: Option<u64>,
    /// An error answer (its values are then meaningless).
    pub error: Option<String>,
}

/// A request/answer protocol over a byte stream, answers in order.
pub trait Protocol: Send + Sync + 'static {
    /// Appends the request for `codes` (`n × 18` bytes), identified by `id`.
    fn encode(&self, id: u64, codes: &[u8], out: &mut Vec<u8>);
    /// Decodes the answer at the start of `buf`, its per-code values into
    /// `values` (cleared first): `Ok(None)` when more bytes are needed.
    fn decode(&self, buf: &[u8], values: &mut Vec<u8>) -> Result<Option<Decoded>, String>;
    /// Whether `value` is right for a hit (`true`) or a miss, given the
    /// exact value when known; and whether it says "listed".
    fn judge(&self, hit: bool, exact: Option<u8>, value: u8) -> (bool, bool);

    /// Judges a frame's `values` against whether each code is a hit and
    /// its exact value when known. One call a frame: the per-code
    /// [`Protocol::judge`] is inlined here, where a call through `dyn`
    /// for every code cost the generator as much as the rest of its work.
    fn judge_frame(&self, hits: &[bool], exact: Option<&[u8]>, values: &[u8]) -> Judged {
        let mut j = Judged {
            hits: 0,
            hits_listed: 0,
            wrong: None,
        };
        for (i, (&hit, &v)) in hits.iter().zip(values).enumerate() {
            let (ok, listed) = self.judge(hit, exact.map(|e| e[i]), v);
            j.hits += u64::from(hit);
            j.hits_listed += u64::from(hit & listed);
            if !ok && j.wrong.is_none() {
                j.wrong = Some(i);
            }
        }
        j
    }
}

/// What [`Protocol::judge_frame`] found in a frame's answers.
#[derive(Debug, PartialEq, Eq)]
pub struct Judged {
    pub hits: u64,
    /// Hits answered "listed".
    pub hits_listed: u64,
    /// The first code answered wrongly.
    pub wrong: Option<usize>,
}

/// The daemon's batch protocol (SPEC §6): one CHECK frame per request.
pub struct CredlistBatch {
    /// Matter of the frames (empty: lists only).
    pub matter: String,
    /// `as_of` of the frames: days since 1970-01-01, 0 = the daemon's today.
    pub as_of: u32,
    /// Protocol version of the frames. Answers of version 2 are judged on
    /// their version-1 bits (the low byte of each word).
    pub version: Version,
}

impl Protocol for CredlistBatch {
    fn encode(&self, id: u64, codes: &[u8], out: &mut Vec<u8>) {
        let head = RequestHead {
            version: self.version,
            request_id: id,
            as_of: self.as_of,
            matter: &self.matter,
        };
        head.encode(codes, out);
    }

    fn decode(&self, buf: &[u8], values: &mut Vec<u8>) -> Result<Option<Decoded>, String> {
        values.clear();
        let Some((r, used)) = parse_response_view(buf).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let (id, error) = match r {
            ResponseView::Flags {
                version,
                request_id,
                flags,
            } => {
                values.extend(flags.iter().step_by(version.flag_width()));
                (request_id, None)
            }
            ResponseView::Error {
                status,
                request_id,
                message,
            } => (
                request_id,
                Some(format!(
                    "error frame, status {status}: {}",
                    String::from_utf8_lossy(message)
                )),
            ),
        };
        Ok(Some(Decoded {
            used,
            id: Some(id),
            error,
        }))
    }

    fn judge(&self, hit: bool, exact: Option<u8>, v: u8) -> (bool, bool) {
        let ok = match exact {
            Some(e) => v == e,
            // A listed subject may be answered 0 (nothing in effect on the
            // day) but is always answered; an unlisted code is always 0.
            None if hit => v & flags::UNANSWERED == 0,
            None => v == 0,
        };
        (ok, v & flags::LISTS != 0)
    }
}

/// Redis `SMISMEMBER key code…` on a set holding the listed codes.
pub struct RedisSmismember {
    pub key: String,
}

/// Parses a RESP line `<type byte><integer>\r\n` at `at`: the integer and
/// where the next line starts, `None` when incomplete.
fn resp_int(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, String> {
    let mut i = at + 1;
    let mut v: i64 = 0;
    let mut neg = false;
    if buf.get(i) == Some(&b'-') {
        neg = true;
        i += 1;
    }
    loop {
        match buf.get(i) {
            None => return Ok(None),
            Some(&c) if c.is_ascii_digit() => {
                v = v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add((c - b'0') as i64))
                    .ok_or("integer overflow in the answer")?;
                i += 1;
            }
            Some(b'\r') => break,
            Some(&c) => return Err(format!("unexpected byte {c:#04x} in a RESP integer")),
        }
    }
    match buf.get(i + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((if neg { -v } else { v }, i + 2))),
        Some(_) => Err("RESP line not ended by CRLF".into()),
    }
}

impl Protocol for RedisSmismember {
    fn encode(&self, _id: u64, codes: &[u8], out: &mut Vec<u8>) {
        use std::io::Write;
        let n = codes.len() / CODE_LEN;
        let _ = write!(
            out,
            "*{}\r\n$10\r\nSMISMEMBER\r\n${}\r\n{}\r\n",
            n + 2,
            self.key.len(),
            self.key
        );
        out.reserve(n * (CODE_LEN + 7));
        for c in codes.chunks_exact(CODE_LEN) {
            out.extend_from_slice(b"$18\r\n");
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn decode(&self, buf: &[u8], values: &mut Vec<u8>) -> Result<Option<Decoded>, String> {
        values.clear();
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        match first {
            b'-' => {
                let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                Ok(Some(Decoded {
                    used: end + 2,
                    id: None,
                    error: Some(format!(
                        "Redis error: {}",
                        String::from_utf8_lossy(&buf[1..end])
                    )),
                }))
            }
            b'*' => {
                let Some((n, mut at)) = resp_int(buf, 0)? else {
                    return Ok(None);
                };
                if n < 0 {
                    return Err(format!("null array (*{n}) where an array was due"));
                }
                // Each element takes at least 4 bytes (`:0\r\n`): wait for
                // them before parsing.
                if buf.len() < at + 4 * n as usize {
                    return Ok(None);
                }
                values.reserve(n as usize);
                for _ in 0..n {
                    if buf.get(at) != Some(&b':') {
                        return match buf.get(at) {
                            None => Ok(None),
                            Some(&c) => Err(format!(
                                "array element of type {:?} where an integer was due",
                                c as char
                            )),
                        };
                    }
                    let Some((v, next)) = resp_int(buf, at)? else {
                        return Ok(None);
                    };
                    values.push(v.clamp(0, 255) as u8);
                    at = next;
                }
                Ok(Some(Decoded {
                    used: at,
                    id: None,
                    error: None,
                }))
            }
            c => Err(format!(
                "answer of type {:?} where an array was due",
                c as char
            )),
        }
    }

    fn judge(&self, hit: bool, _exact: Option<u8>, v: u8) -> (bool, bool) {
        (v == hit as u8, v == 1)
    }
}

/// The frames of a run, encoded once.
pub struct Frames {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Codes per frame.
    pub codes: usize,
}

impl Frames {
    /// Cuts `pool` into frames of `codes` codes (a partial last frame is
    /// left out; a pool smaller than one frame is one short frame).
    pub fn encode(proto: &dyn Protocol, pool: &Pool, codes: usize) -> Frames {
        let codes = codes.clamp(1, pool.len().max(1));
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for f in 0..(pool.len() / codes).max(1) {
            let span = &pool.codes[f * codes * CODE_LEN..(f + 1) * codes * CODE_LEN];
            proto.encode(f as u64, span, &mut bytes);
            ends.push(bytes.len());
        }
        Frames { bytes, ends, codes }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of frame `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// How long and how hard a pipelined run goes.
#[derive(Clone, Debug)]
pub struct Options {
    pub socket: PathBuf,
    pub connections: usize,
    pub in_flight: usize,
    /// Measured time; with `frames`, the time limit of the whole run.
    pub duration: Duration,
    /// Time before the measured window (answers verified, not measured);
    /// ignored with `frames`.
    pub warmup: Duration,
    /// Frames to send in all, then stop.
    pub frames: Option<u64>,
    /// A frame unanswered this long is a failure (and ends its connection).
    pub answer_timeout: Duration,
}

/// What a pipelined run measured.
pub struct Outcome {
    pub stats: Stats,
    /// Length of the measured window: its start to the last answer.
    pub measured: Duration,
    pub codes_per_frame: usize,
}

struct Shared {
    proto: Arc<dyn Protocol>,
    frames: Frames,
    pool: Arc<Pool>,
    /// Exact per-code answers of the pool, when known.
    exact: Option<Vec<u8>>,
    opts: Options,
    measure_from: Instant,
    stop_at: Instant,
    issued: AtomicU64,
}

impl Shared {
    /// May one more frame be sent?
    fn take(&self) -> bool {
        if Instant::now() >= self.stop_at {
            return false;
        }
        match self.opts.frames {
            Some(k) => self.issued.fetch_add(1, Ordering::Relaxed) < k,
            None => true,
        }
    }

    /// Verifies and records the answer to `sent`.
    fn answered(&self, sent: &Sent, d: &Decoded, values: &[u8], st: &mut Stats) {
        let now = Instant::now();
        st.verified += 1;
        if let Some(e) = &d.error {
            st.failures.add("error answer", || e.clone());
            return;
        }
        if let Some(id) = d.id {
            if id != sent.frame as u64 {
                st.failures.add("answer out of order", || {
                    format!("answer to frame {id} where frame {} was due", sent.frame)
                });
                return;
            }
        }
        let n = self.frames.codes;
        if values.len() != n {
            st.failures.add("wrong count", || {
                format!("{} values answered for {n} codes", values.len())
            });
            return;
        }
        let first = sent.frame * n;
        let exact = self.exact.as_ref().map(|e| &e[first..first + n]);
        let j = self
            .proto
            .judge_frame(&self.pool.hits[first..first + n], exact, values);
        st.hits += j.hits;
        st.hits_listed += j.hits_listed;
        st.misses += n as u64 - j.hits;
        if let Some(i) = j.wrong {
            let (hit, exact, v) = (self.pool.hits[first + i], exact.map(|e| e[i]), values[i]);
            st.failures.add("wrong answer", || {
                let code = String::from_utf8_lossy(self.pool.code(first + i)).into_owned();
                let what = if hit { "listed" } else { "unlisted" };
                let expected = exact.map_or(String::new(), |e| format!(", expected {e:#04x}"));
                format!("{what} code {code} answered {v:#04x}{expected}")
            });
        }
        if now >= self.measure_from {
            st.answers += 1;
            st.codes += n as u64;
            st.last_answer = st.last_answer.max(Some(now));
        }
        if sent.at >= self.measure_from {
            st.record_latency(now - sent.at);
        }
    }
}

/// A frame sent and not yet answered; its permit frees the slot.
struct Sent {
    frame: usize,
    at: Instant,
    _slot: OwnedSemaphorePermit,
}

/// The state a connection's reader and writer share.
struct Conn {
    sent: Mutex<VecDeque<Sent>>,
    slots: Arc<Semaphore>,
    writer_done: AtomicBool,
    reader_done: AtomicBool,
    wake: Notify,
}

impl Conn {
    fn outstanding(&self) -> usize {
        self.sent.lock().map_or(0, |q| q.len())
    }
}

/// Runs the frames of `pool` against the socket until the time or frame
/// limit; `exact` holds the expected answer of every pool code, when known.
pub async fn run(
    proto: Arc<dyn Protocol>,
    pool: Arc<Pool>,
    exact: Option<Vec<u8>>,
    codes_per_frame: usize,
    opts: Options,
) -> Outcome {
    let frames = Frames::encode(&*proto, &pool, codes_per_frame);
    let codes_per_frame = frames.codes;
    let start = Instant::now();
    let (measure_from, stop_at) = match opts.frames {
        Some(_) => (start, start + opts.duration),
        None => (start + opts.warmup, start + opts.warmup + opts.duration),
    };
    let sh = Arc::new(Shared {
        proto,
        frames,
        pool,
        exact,
        opts,
        measure_from,
        stop_at,
        issued: AtomicU64::new(0),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..sh.opts.connections {
        tasks.spawn(connection(sh.clone(), c));
    }
    let mut stats = Stats::new();
    // Every connection ends by itself (time limit, then answers awaited
    // at most `answer_timeout`); this bound only guards against a bug.
    let hard = tokio::time::Instant::from_std(stop_at + sh.opts.answer_timeout * 2);
    let mut failures = super::stats::Failures::default();
    super::join_connections(&mut tasks, hard, &mut failures, |st| stats.merge(&st)).await;
    stats.failures.merge(&failures);
    if let Some(k) = sh.opts.frames {
        if stats.answers < k {
            let (got, limit) = (stats.answers, sh.opts.duration);
            stats.failures.add("frames unanswered", || {
                format!("{got} of {k} frames answered within the limit of {limit:?}")
            });
        }
    }
    let measured = stats.last_answer.map_or(Duration::ZERO, |t| {
        t.saturating_duration_since(measure_from)
    });
    Outcome {
        stats,
        measured,
        codes_per_frame,
    }
}

async fn connection(sh: Arc<Shared>, c: usize) -> Stats {
    let mut st = Stats::new();
    let path = &sh.opts.socket;
    let stream = match tokio::time::timeout(sh.opts.answer_timeout, UnixStream::connect(path)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            st.failures.add("cannot connect", || {
                format!("cannot connect to {}: {e}", path.display())
            });
            return st;
        }
        Err(_) => {
            st.failures.add("cannot connect", || {
                format!(
                    "no connection to {} within {:?}",
                    path.display(),
                    sh.opts.answer_timeout
                )
            });
            return st;
        }
    };
    let (mut rd, wr) = stream.into_split();
    let conn = Arc::new(Conn {
        sent: Mutex::new(VecDeque::with_capacity(sh.opts.in_flight)),
        slots: Arc::new(Semaphore::new(sh.opts.in_flight)),
        writer_done: AtomicBool::new(false),
        reader_done: AtomicBool::new(false),
        wake: Notify::new(),
    });
    let writer = tokio::spawn(write_loop(sh.clone(), conn.clone(), wr, c));
    read_loop(&sh, &conn, &mut rd, &mut st).await;
    conn.reader_done.store(true, Ordering::SeqCst);
    conn.slots.close();
    match writer.await {
        // The write half is dropped (and the socket closed) only now.
        Ok((_wr, failures)) => st.failures.merge(&failures),
        Err(e) => st.failures.add("connection task failed", || e.to_string()),
    }
    st
}

async fn write_loop(
    sh: Arc<Shared>,
    conn: Arc<Conn>,
    mut wr: OwnedWriteHalf,
    c: usize,
) -> (OwnedWriteHalf, super::stats::Failures) {
    let mut failures = super::stats::Failures::default();
    let n = sh.frames.len();
    // Connections start at different places in the pool.
    let mut next = c * n / sh.opts.connections.max(1) % n;
    let stop = tokio::time::Instant::from_std(sh.stop_at);
    loop {
        let slot = tokio::select! {
            s = conn.slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = tokio::time::sleep_until(stop) => break,
        };
        if !sh.take() {
            break;
        }
        if let Ok(mut q) = conn.sent.lock() {
            q.push_back(Sent {
                frame: next,
                at: Instant::now(),
                _slot: slot,
            });
        }
        conn.wake.notify_one();
        if let Err(e) = wr.write_all(sh.frames.get(next)).await {
            if !conn.reader_done.load(Ordering::SeqCst) {
                failures.add("write failed", || format!("sending a frame: {e}"));
            }
            break;
        }
        next = (next + 1) % n;
    }
    conn.writer_done.store(true, Ordering::SeqCst);
    conn.wake.notify_one();
    (wr, failures)
}

/// Read buffer space asked for at a time.
const READ_CHUNK: usize = 64 * 1024;

async fn read_loop(sh: &Shared, conn: &Conn, rd: &mut OwnedReadHalf, st: &mut Stats) {
    let mut buf: Vec<u8> = Vec::with_capacity(4 * READ_CHUNK);
    let mut start = 0usize;
    let mut values: Vec<u8> = Vec::with_capacity(sh.frames.codes);
    loop {
        loop {
            match sh.proto.decode(&buf[start..], &mut values) {
                Ok(Some(d)) => {
                    start += d.used;
                    let sent = conn.sent.lock().ok().and_then(|mut q| q.pop_front());
                    let Some(sent) = sent else {
                        st.failures
                            .add("unexpected answer", || "an answer to no request".into());
                        return;
                    };
                    sh.answered(&sent, &d, &values, st);
                }
                Ok(None) => break,
                Err(e) => {
                    st.failures.add("undecodable answer", || e);
                    return;
                }
            }
        }
        if start == buf.len() {
            buf.clear();
            start = 0;
        } else if start > 0 && start >= buf.len() / 2 {
            buf.drain(..start);
            start = 0;
        }
        let outstanding = conn.outstanding();
        if outstanding == 0 && conn.writer_done.load(Ordering::SeqCst) {
            return;
        }
        buf.reserve(READ_CHUNK);
        tokio::select! {
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) => {
                    let left = conn.outstanding();
                    st.failures.add("connection closed", || format!(
                        "the peer closed the connection with {left} requests unanswered"
                    ));
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    st.failures.add("read failed", || format!("reading answers: {e}"));
                    return;
                }
            },
            _ = conn.wake.notified() => {}
            _ = tokio::time::sleep(sh.opts.answer_timeout), if outstanding > 0 => {
                let t = sh.opts.answer_timeout;
                st.failures.add("no answer", || format!(
                    "{outstanding} requests unanswered for {t:?}"
                ));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::CodeSet;
    use crate::wire::batch::{encode_error, parse_frame, status};

    fn pool() -> Pool {
        Pool::draw(&CodeSet::new(1, 1000).unwrap(), 10, 0.5)
    }

    #[test]
    fn batch_frames_parse_as_the_daemon_parses_them() {
        let p = pool();
        let proto = CredlistBatch {
            matter: "gov_procurement".into(),
            as_of: 20_777,
            version: Version::V1,
        };
        let frames = Frames::encode(&proto, &p, 4);
        assert_eq!((frames.len(), frames.codes), (2, 4));
        let (f, used) = parse_frame(frames.get(1), 100).unwrap().unwrap();
        assert_eq!(used, frames.get(1).len());
        assert_eq!(
            (f.request_id, f.as_of, f.matter),
            (1, 20_777, "gov_procurement")
        );
        assert_eq!(f.codes, &p.codes[4 * 18..8 * 18]);
    }

    #[test]
    fn batch_answers_decode_in_pieces() {
        let proto = CredlistBatch {
            matter: String::new(),
            as_of: 0,
            version: Version::V1,
        };
        let mut buf = Vec::new();
        buf.extend_from_slice(&(14u32 + 3).to_le_bytes());
        buf.extend_from_slice(&[Version::V1.byte(), status::OK]);
        buf.extend_from_slice(&7u64.to_le_bytes());
        buf.extend_from_slice(&3u32.to_le_bytes());
        buf.extend_from_slice(&[0, 2, 8]);
        let ok_len = buf.len();
        encode_error(&mut buf, status::UNKNOWN_MATTER, 8, "unknown matter");
        let mut v = Vec::new();
        for i in 0..ok_len {
            assert_eq!(proto.decode(&buf[..i], &mut v), Ok(None));
        }
        let d = proto.decode(&buf, &mut v).unwrap().unwrap();
        assert_eq!((d.used, d.id, d.error), (ok_len, Some(7), None));
        assert_eq!(v, [0, 2, 8]);
        let e = proto.decode(&buf[ok_len..], &mut v).unwrap().unwrap();
        assert_eq!(e.id, Some(8));
        assert!(e.error.unwrap().contains("status 4"));
    }

    #[test]
    fn redis_commands_and_answers() {
        let p = pool();
        let proto = RedisSmismember { key: "k".into() };
        let mut out = Vec::new();
        proto.encode(0, &p.codes[..2 * 18], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("*4\r\n$10\r\nSMISMEMBER\r\n$1\r\nk\r\n$18\r\n"));
        assert!(text.ends_with("\r\n") && text.matches("$18").count() == 2);
        let answer = b"*3\r\n:1\r\n:0\r\n:1\r\n-ERR wrong type\r\n";
        let mut v = Vec::new();
        for i in 0..16 {
            assert_eq!(proto.decode(&answer[..i], &mut v), Ok(None), "{i}");
        }
        let d = proto.decode(answer, &mut v).unwrap().unwrap();
        assert_eq!((d.used, v.as_slice()), (16, &[1u8, 0, 1][..]));
        let e = proto.decode(&answer[16..], &mut v).unwrap().unwrap();
        assert_eq!(e.error.as_deref(), Some("Redis error: ERR wrong type"));
        assert!(proto.decode(b"+OK\r\n", &mut v).is_err());
        assert!(proto
            .decode(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", &mut v)
            .is_err());
    }

    #[test]
    fn judging_answers() {
        let b = CredlistBatch {
            matter: String::new(),
            as_of: 0,
            version: Version::V1,
        };
        assert_eq!(b.judge(true, None, flags::BLACK), (true, true));
        assert_eq!(b.judge(true, None, 0), (true, false));
        assert_eq!(b.judge(true, None, flags::UNANSWERED), (false, false));
        assert_eq!(b.judge(false, None, 0), (true, false));
        assert_eq!(b.judge(false, None, flags::RED), (false, true));
        assert_eq!(b.judge(true, Some(flags::RED), flags::BLACK), (false, true));
        let r = RedisSmismember { key: "k".into() };
        assert_eq!(r.judge(true, None, 1), (true, true));
        assert_eq!(r.judge(false, None, 1), (false, true));
    }

    #[test]
    fn judging_a_frame_counts_and_finds_the_first_wrong_answer() {
        let b: &dyn Protocol = &CredlistBatch {
            matter: String::new(),
            as_of: 0,
            version: Version::V1,
        };
        let hits = [true, false, true, true, false];
        let right = [flags::BLACK, 0, 0, flags::RED, 0];
        let j = |exact: Option<&[u8]>, values: &[u8]| b.judge_frame(&hits, exact, values);
        let all_right = Judged {
            hits: 3,
            hits_listed: 2,
            wrong: None,
        };
        assert_eq!(j(None, &right), all_right);
        assert_eq!(j(Some(&right), &right), all_right);
        let wrong = [flags::BLACK, flags::WATCH, flags::UNANSWERED, flags::RED, 0];
        assert_eq!(
            j(None, &wrong),
            Judged {
                hits: 3,
                hits_listed: 2,
                wrong: Some(1)
            }
        );
        let exact = [flags::BLACK, 0, flags::RED, flags::RED, 0];
        assert_eq!(j(Some(&exact), &right).wrong, Some(2));
        let r: &dyn Protocol = &RedisSmismember { key: "k".into() };
        let j = r.judge_frame(&hits, None, &[1, 0, 1, 0, 1]);
        assert_eq!((j.hits, j.hits_listed, j.wrong), (3, 2, Some(3)));
    }
}
