//! `POST /v1/check` at a target rate over HTTP/1.1 keep-alive, on the
//! check socket or the loopback TCP listener.
//!
//! Open-loop pacing: connection `c` of `C` sends its requests on a fixed
//! schedule (`rate / C` per second, connections staggered), whatever the
//! answers do. A request's latency runs from its scheduled time when the
//! connection was still waiting for an earlier answer at that time (so a
//! stall counts for every request it delayed, not just the one that met
//! it: no coordinated omission), and from the moment it was written
//! otherwise (so the client's own wake-up delay is not charged to the
//! daemon; it is reported apart as the send lag). Requests still unsent
//! when the run ends are recorded with the time they had waited.
//!
//! The schedule sleeps on a timerfd (see `super::timer`): tokio's timer
//! would release requests in bursts on millisecond ticks.

use super::stats::{latency_histogram, Stats};
use super::timer::Timer;
use super::Pool;
use crate::date::Day;
use crate::stream::ReadWokenStream;
use hdrhistogram::Histogram;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the check API listens.
#[derive(Clone, Debug)]
pub enum Target {
    Unix(PathBuf),
    /// The loopback TCP listener; callers send a bearer token.
    Tcp {
        addr: String,
        token: Option<String>,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "{}", p.display()),
            Target::Tcp { addr, .. } => write!(f, "tcp://{addr}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub target: Target,
    /// Requests per second, all connections together.
    pub rate: f64,
    pub connections: usize,
    /// Measured time, after the warm-up.
    pub duration: Duration,
    /// Requests scheduled before this are verified but not measured.
    pub warmup: Duration,
    pub codes_per_request: usize,
    pub matter: String,
    pub as_of: Option<Day>,
    /// An answer not complete within this is a failure (and the
    /// connection is replaced).
    pub answer_timeout: Duration,
}

/// What a check run measured.
pub struct Outcome {
    pub stats: Stats,
    /// Scheduled time to write time, for requests sent on an idle
    /// connection: the client's own lateness.
    pub send_lag: Histogram<u64>,
    /// Requests scheduled in the measured window and never sent.
    pub unsent: u64,
    /// Length of the measured window.
    pub measured: Duration,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn connect(target: &Target) -> std::io::Result<Box<dyn Io>> {
    match target {
        Target::Unix(p) => Ok(Box::new(ReadWokenStream::connect(p).await?)),
        Target::Tcp { addr, .. } => {
            let s = tokio::net::TcpStream::connect(addr.as_str()).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s))
        }
    }
}

const ROLES: [&str; 5] = [
    "applicant",
    "legal_rep",
    "principal",
    "shareholder",
    "guarantor",
];

/// Runs the check load until the time limit.
pub async fn run(pool: Arc<Pool>, opts: Options) -> Outcome {
    let opts = Arc::new(opts);
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let stop_at = measure_from + opts.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..opts.connections {
        let (pool, opts) = (pool.clone(), opts.clone());
        tasks.spawn(async move {
            let mut conn = Connection::new(c, pool, opts, start, measure_from, stop_at);
            conn.run().await;
            (conn.stats, conn.send_lag, conn.unsent)
        });
    }
    let mut stats = Stats::new();
    let mut send_lag = latency_histogram();
    let mut unsent = 0;
    let hard = tokio::time::Instant::from_std(stop_at + opts.answer_timeout * 2 + GRACE);
    let mut failures = super::stats::Failures::default();
    super::join_connections(&mut tasks, hard, &mut failures, |(st, lag, u)| {
        stats.merge(&st);
        let _ = send_lag.add(&lag);
        unsent += u;
    })
    .await;
    stats.failures.merge(&failures);
    Outcome {
        stats,
        send_lag,
        unsent,
        measured: stop_at - measure_from,
    }
}

/// How long past the end of the run a connection behind its schedule
/// keeps sending before it gives up on the rest.
const GRACE: Duration = Duration::from_secs(1);

struct Connection {
    c: usize,
    pool: Arc<Pool>,
    opts: Arc<Options>,
    start: Instant,
    measure_from: Instant,
    stop_at: Instant,
    io: Option<Box<dyn Io>>,
    /// Read buffer; bytes from `at` on are not consumed yet.
    rbuf: Vec<u8>,
    at: usize,
    body: Vec<u8>,
    wbuf: Vec<u8>,
    /// Next pool code to send.
    cursor: usize,
    stats: Stats,
    send_lag: Histogram<u64>,
    unsent: u64,
}

/// A response head: status, where the body is, whether the server closes.
struct Head {
    status: u16,
    body_at: usize,
    body_len: usize,
    close: bool,
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    results: Vec<ReplyItem<'a>>,
}

#[derive(Deserialize)]
struct ReplyItem<'a> {
    valid: bool,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
}

impl Connection {
    fn new(
        c: usize,
        pool: Arc<Pool>,
        opts: Arc<Options>,
        start: Instant,
        measure_from: Instant,
        stop_at: Instant,
    ) -> Connection {
        let cursor = c * pool.len() / opts.connections.max(1);
        Connection {
            c,
            pool,
            opts,
            start,
            measure_from,
            stop_at,
            io: None,
            rbuf: Vec::with_capacity(16 * 1024),
            at: 0,
            body: Vec::with_capacity(1024),
            wbuf: Vec::with_capacity(2048),
            cursor,
            stats: Stats::new(),
            send_lag: latency_histogram(),
            unsent: 0,
        }
    }

    async fn run(&mut self) {
        let timer = Timer::new();
        let conns = self.opts.connections.max(1) as f64;
        let interval_ns = 1e9 * conns / self.opts.rate;
        let offset_ns = interval_ns * self.c as f64 / conns;
        let give_up = self.stop_at + GRACE;
        let mut prev_done = self.start;
        let mut i = 0u64;
        loop {
            let due =
                self.start + Duration::from_nanos((offset_ns + interval_ns * i as f64) as u64);
            if due >= self.stop_at {
                break;
            }
            let now = Instant::now();
            if now >= give_up {
                // Behind schedule at the end: the rest waited at least this.
                self.count_unsent(due, now, interval_ns);
                break;
            }
            timer.sleep_until(due).await;
            let sent = Instant::now();
            let behind = prev_done > due;
            let begin = if behind { due } else { sent };
            if !behind && due >= self.measure_from {
                self.send_lag
                    .saturating_record((sent - due).as_nanos().min(u64::MAX as u128) as u64);
            }
            let ok = self.exchange(i).await;
            let done = Instant::now();
            prev_done = done;
            if due >= self.measure_from {
                self.stats.record_latency(done - begin);
                if ok {
                    self.stats.answers += 1;
                    self.stats.codes += self.opts.codes_per_request as u64;
                }
                self.stats.last_answer = self.stats.last_answer.max(Some(done));
            }
            i += 1;
        }
    }

    /// Records the requests scheduled from `due` to the end that were never
    /// sent, each with the time it had waited by `now`.
    fn count_unsent(&mut self, mut due: Instant, now: Instant, interval_ns: f64) {
        let step = Duration::from_nanos(interval_ns.max(1.0) as u64);
        while due < self.stop_at {
            if due >= self.measure_from {
                self.unsent += 1;
                self.stats.record_latency(now - due);
            }
            due += step;
        }
    }

    /// Sends request `i` and reads and verifies its answer; `false` on a
    /// failure (counted).
    async fn exchange(&mut self, i: u64) -> bool {
        let hits = self.write_request(i);
        if self.io.is_none() {
            match tokio::time::timeout(self.opts.answer_timeout, connect(&self.opts.target)).await {
                Ok(Ok(io)) => {
                    self.io = Some(io);
                    self.rbuf.clear();
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    let t = &self.opts.target;
                    self.stats
                        .failures
                        .add("cannot connect", || format!("cannot connect to {t}: {e}"));
                    return false;
                }
                Err(_) => {
                    self.stats
                        .failures
                        .add("cannot connect", || "connect timed out".into());
                    return false;
                }
            }
        }
        let limit = tokio::time::Instant::now() + self.opts.answer_timeout;
        let result = tokio::time::timeout_at(limit, self.round_trip()).await;
        let head = match result {
            Ok(Ok(h)) => h,
            Ok(Err((kind, detail))) => {
                self.io = None;
                self.stats.failures.add(kind, || detail);
                return false;
            }
            Err(_) => {
                self.io = None;
                let t = self.opts.answer_timeout;
                self.stats
                    .failures
                    .add("no answer", || format!("no complete answer within {t:?}"));
                return false;
            }
        };
        let ok = self.verify(&head, hits);
        self.at = head.body_at + head.body_len;
        if self.at == self.rbuf.len() {
            self.rbuf.clear();
            self.at = 0;
        }
        if head.close {
            self.io = None;
        }
        ok
    }

    /// Encodes request `i` into `wbuf`; returns the hit flags of its codes
    /// as a bit set.
    fn write_request(&mut self, i: u64) -> u32 {
        let o = &self.opts;
        let n = o.codes_per_request;
        self.body.clear();
        let _ = write!(
            self.body,
            "{{\"matter\":\"{}\",\"request_id\":\"bench-{}-{i}\"",
            o.matter, self.c
        );
        if let Some(d) = o.as_of {
            let _ = write!(self.body, ",\"as_of\":\"{d}\"");
        }
        self.body.extend_from_slice(b",\"subjects\":[");
        let mut hits = 0u32;
        for k in 0..n {
            let idx = self.cursor;
            self.cursor = (self.cursor + 1) % self.pool.len();
            if self.pool.hits[idx] {
                hits |= 1 << k;
            }
            if k > 0 {
                self.body.push(b',');
            }
            self.body.extend_from_slice(b"{\"code\":\"");
            self.body.extend_from_slice(self.pool.code(idx));
            let _ = write!(self.body, "\",\"role\":\"{}\"}}", ROLES[k % ROLES.len()]);
        }
        self.body.extend_from_slice(b"]}");
        self.wbuf.clear();
        let _ = write!(
            self.wbuf,
            "POST /v1/check HTTP/1.1\r\nHost: credlist\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.body.len()
        );
        if let Target::Tcp { token: Some(t), .. } = &o.target {
            let _ = write!(self.wbuf, "Authorization: Bearer {t}\r\n");
        }
        self.wbuf.extend_from_slice(b"\r\n");
        self.wbuf.extend_from_slice(&self.body);
        hits
    }

    /// Writes `wbuf` and reads one whole response.
    async fn round_trip(&mut self) -> Result<Head, (&'static str, String)> {
        let io = self.io.as_mut().expect("connected");
        io.write_all(&self.wbuf)
            .await
            .map_err(|e| ("write failed", format!("sending a request: {e}")))?;
        loop {
            if let Some(h) = parse_head(&self.rbuf[self.at..])? {
                let h = Head {
                    body_at: self.at + h.body_at,
                    ..h
                };
                if self.rbuf.len() >= h.body_at + h.body_len {
                    return Ok(h);
                }
            }
            self.rbuf.reserve(8 * 1024);
            match io.read_buf(&mut self.rbuf).await {
                Ok(0) => {
                    return Err((
                        "connection closed",
                        "the daemon closed the connection before answering".into(),
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(("read failed", format!("reading an answer: {e}"))),
            }
        }
    }

    /// Checks a complete response; counts what it saw.
    fn verify(&mut self, h: &Head, hits: u32) -> bool {
        let st = &mut self.stats;
        st.verified += 1;
        let body = &self.rbuf[h.body_at..h.body_at + h.body_len];
        if h.status != 200 {
            let status = h.status;
            st.failures.add("HTTP status not 200", || {
                format!("HTTP {status}: {}", String::from_utf8_lossy(body).trim())
            });
            return false;
        }
        let reply: Reply = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                st.failures.add("bad JSON", || {
                    format!(
                        "{e}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    )
                });
                return false;
            }
        };
        let n = self.opts.codes_per_request;
        if reply.results.len() != n {
            let got = reply.results.len();
            st.failures
                .add("wrong count", || format!("{got} results for {n} subjects"));
            return false;
        }
        let mut ok = true;
        for (k, item) in reply.results.iter().enumerate() {
            let hit = hits & (1 << k) != 0;
            let status = item.status.as_deref();
            let right = item.valid
                && item.error.is_none()
                && if hit {
                    status.is_some()
                } else {
                    status == Some("clear")
                };
            if hit {
                st.hits += 1;
                st.hits_listed += status.is_some_and(|s| s != "clear") as u64;
            } else {
                st.misses += 1;
            }
            if !right && ok {
                ok = false;
                st.failures.add("wrong answer", || {
                    format!(
                        "{} code answered valid={} status={:?} error={:?}",
                        if hit { "listed" } else { "unlisted" },
                        item.valid,
                        status,
                        item.error.as_deref()
                    )
                });
            }
        }
        ok
    }
}

/// Parses a response head at the start of `buf`: `None` when incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, (&'static str, String)> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err(("bad response", "response head over 64 KiB".into()));
        }
        return Ok(None);
    };
    let bad = |what: &str| {
        (
            "bad response",
            format!(
                "{what}: {:?}",
                String::from_utf8_lossy(&buf[..end.min(200)])
            ),
        )
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(bad("no status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not HTTP/1.x"));
    }
    let status: u16 = code.parse().map_err(|_| bad("bad status code"))?;
    let mut body_len = None;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body_len = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| bad("bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(bad("chunked responses are not expected"));
        }
    }
    let body_len = match (body_len, status) {
        (Some(n), _) => n,
        (None, 204 | 304) => 0,
        (None, _) => return Err(bad("no Content-Length")),
    };
    Ok(Some(Head {
        status,
        body_at: end + 4,
        body_len,
        close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let r =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\nhello";
        for i in 0..r.len() - 5 {
            assert!(parse_head(&r[..i]).unwrap().is_none(), "{i}");
        }
        let h = parse_head(r).unwrap().unwrap();
        assert_eq!((h.status, h.body_len, h.close), (200, 5, false));
        assert_eq!(&r[h.body_at..], b"hello");
        let h = parse_head(
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.status, h.close), (400, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn requests_are_json_with_the_pool_codes() {
        let set = crate::loadgen::CodeSet::new(1, 1000).unwrap();
        let pool = Arc::new(Pool::draw(&set, 10, 0.5));
        let opts = Arc::new(Options {
            target: Target::Tcp {
                addr: "127.0.0.1:1".into(),
                token: Some("0123456789abcdef".into()),
            },
            rate: 100.0,
            connections: 1,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            codes_per_request: 3,
            matter: "gov_procurement".into(),
            as_of: Day::parse("2026-11-20").ok(),
            answer_timeout: Duration::from_secs(1),
        });
        let now = Instant::now();
        let mut c = Connection::new(0, pool.clone(), opts, now, now, now);
        let hits = c.write_request(7);
        let text = String::from_utf8(c.wbuf.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("Authorization: Bearer 0123456789abcdef"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["matter"], "gov_procurement");
        assert_eq!(v["as_of"], "2026-11-20");
        assert_eq!(v["request_id"], "bench-0-7");
        let subjects = v["subjects"].as_array().unwrap();
        assert_eq!(subjects.len(), 3);
        for (k, s) in subjects.iter().enumerate() {
            assert_eq!(s["code"].as_str().unwrap().as_bytes(), pool.code(k));
            assert_eq!(hits & (1 << k) != 0, pool.hits[k]);
        }
    }
}
