//! The HTTP transport: one connection served by hyper, its timeouts
//! (idle, and a request that is not received within `read_timeout_ms` of
//! its first byte, head and body together), request bodies read within
//! their limits, and failures answered as error JSON
//! (`{"error": {"kind", "message"}}`). What a request means is the APIs'
//! business: [`serve_connection`] hands every request to a router and
//! counts its endpoint, outcome and latency.

use crate::server::access::Caller;
use crate::server::conns::Slot;
use crate::server::metrics::{Endpoint, Listener, Outcome};
use crate::server::state::State;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify};

pub(crate) type Resp = Response<Full<Bytes>>;

/// What a router makes of a request: its endpoint (for the metrics) and
/// the response, or the failure to answer as error JSON.
pub(crate) type Routed = (Endpoint, Result<Resp, Failure>);

/// How the callers of a connection are identified.
#[derive(Clone, Debug)]
pub enum Ident {
    /// A Unix socket: one peer for the whole connection.
    Unix(Caller),
    /// The TCP listener: a bearer token on every request.
    Tcp,
}

/// A request that failed: the status, the error kind and a message.
pub(crate) struct Failure {
    status: StatusCode,
    kind: &'static str,
    message: String,
    outcome: Outcome,
}

impl Failure {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> Failure {
        let outcome = match (status, kind) {
            (_, "too_large") | (_, "too_many_subjects") => Outcome::TooLarge,
            (_, "unknown_matter") => Outcome::UnknownMatter,
            (StatusCode::FORBIDDEN, _) => Outcome::Forbidden,
            (StatusCode::NOT_FOUND, _) | (StatusCode::METHOD_NOT_ALLOWED, _) => Outcome::NotFound,
            (StatusCode::UNPROCESSABLE_ENTITY, _) => Outcome::Refused,
            (StatusCode::SERVICE_UNAVAILABLE, _) => Outcome::Unavailable,
            (StatusCode::REQUEST_TIMEOUT, _) => Outcome::Timeout,
            _ => Outcome::BadRequest,
        };
        Failure {
            status,
            kind,
            message: message.into(),
            outcome,
        }
    }
    pub(crate) fn bad(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, kind, message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub(crate) fn unavailable(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    fn response(&self) -> Resp {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        let mut r = json(self.status, &body);
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the request may still trickle in: not read.
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Resp {
    let mut bytes = serde_json::to_vec(body).expect("responses serialize");
    bytes.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn no_content() -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// Milliseconds value meaning "not set".
const UNSET: u64 = u64::MAX;

/// How much later than a body's own deadline (answered 408 by
/// [`read_body`]) the connection is dropped if that answer cannot be made.
const BODY_GRACE: Duration = Duration::from_millis(500);

/// Tracks a connection's activity for its timeouts and its place: idle (no
/// request in progress for `idle_timeout_ms`) and reading (a request's
/// first byte arrived, and its head and body must be in within
/// `read_timeout_ms` of it).
struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `born` when the last request finished.
    last_ms: AtomicU64,
    /// Milliseconds after `born` when the first byte of the request being
    /// received arrived (`UNSET` when none is being received).
    reading_ms: AtomicU64,
    /// Wakes the connection's loop to recompute its deadline.
    changed: Notify,
    /// The connection's place (see `server::conns`).
    slot: Arc<Slot>,
}

impl Activity {
    fn new(slot: Arc<Slot>) -> Activity {
        let born = Instant::now();
        slot.idle(born);
        Activity {
            born,
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            reading_ms: AtomicU64::new(UNSET),
            changed: Notify::new(),
            slot,
        }
    }
    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }
    fn at(&self, ms: u64) -> Instant {
        self.born + Duration::from_millis(ms)
    }
    /// A request's head is in: it is being worked on, unless its body is
    /// still to come (then it is still being received).
    fn begin(&self, body_to_come: bool) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if !body_to_come {
            self.body_done();
        }
    }
    /// A request is received and being worked on (not still arriving).
    fn working(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0 && self.reading_ms.load(Ordering::SeqCst) == UNSET
    }
    /// The request is received (its body read, or given up).
    fn body_done(&self) {
        self.reading_ms.store(UNSET, Ordering::SeqCst);
        self.slot.busy();
    }
    fn end(&self) {
        let now = self.now_ms();
        self.last_ms.store(now, Ordering::SeqCst);
        self.reading_ms.store(UNSET, Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.slot.idle(self.at(now));
        self.changed.notify_one();
    }
    /// Bytes arrived: between requests, they start one.
    fn read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0
            && self.reading_ms.load(Ordering::SeqCst) == UNSET
        {
            let now = self.now_ms();
            self.reading_ms.store(now, Ordering::SeqCst);
            self.slot.waiting(self.at(now));
            self.changed.notify_one();
        }
    }
    /// When the request being received must be in.
    fn read_by(&self, read: Duration) -> Option<Instant> {
        match self.reading_ms.load(Ordering::SeqCst) {
            UNSET => None,
            ms => Some(self.at(ms) + read),
        }
    }
    /// When the connection expires, if nothing happens.
    fn deadline(&self, idle: Duration, read: Duration) -> Instant {
        let in_flight = self.in_flight.load(Ordering::SeqCst) > 0;
        match (self.read_by(read), in_flight) {
            // A body being read: read_body answers 408 at the deadline.
            (Some(by), true) => by + BODY_GRACE,
            (Some(by), false) => by,
            (None, true) => Instant::now() + idle,
            (None, false) => self.at(self.last_ms.load(Ordering::SeqCst)) + idle,
        }
    }
}

/// Put in each request's extensions: when its body must be in, and the
/// connection's activity to tell when it is.
#[derive(Clone)]
struct ReadClock {
    by: Instant,
    activity: Arc<Activity>,
}

/// The connection's socket, reporting reads to its [`Activity`].
struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serves one HTTP connection until the peer closes, it is idle too long,
/// or shutdown (then in-flight requests finish first); `router` answers
/// each request.
pub(crate) async fn serve_connection<IO, R, F>(
    st: Arc<State>,
    io: IO,
    listener: Listener,
    router: R,
    slot: Arc<Slot>,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Fn(Arc<State>, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Routed> + Send,
{
    let limits = st.config.limits.clone();
    let activity = Arc::new(Activity::new(slot));
    let read_timeout = limits.read_timeout();
    let svc = {
        let (st, activity) = (st.clone(), activity.clone());
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let (st, activity, router) = (st.clone(), activity.clone(), router.clone());
            async move {
                // The head is in; the body (if any) must follow by the
                // deadline that started at the request's first byte.
                let by = activity
                    .read_by(read_timeout)
                    .unwrap_or_else(|| Instant::now() + read_timeout);
                activity.begin(!req.body().is_end_stream());
                req.extensions_mut().insert(ReadClock {
                    by,
                    activity: activity.clone(),
                });
                st.metrics.in_flight(listener, 1);
                let r = respond(&st, &router, req).await;
                st.metrics.in_flight(listener, -1);
                activity.end();
                Ok::<_, Infallible>(r)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own header timeout also runs while a kept-alive connection
    // waits for its next request; Activity times requests and idleness.
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        // A caller that sends its request and closes its write side gets
        // its answer before the connection ends (without this, a read EOF
        // seen before the answer is written drops it).
        .half_close(true)
        .keep_alive(true);
    let io = Watched {
        io,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    tokio::pin!(conn);
    let idle = limits.idle_timeout();
    let mut draining = *shutdown.borrow();
    let mut evicted = false;
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = tokio::time::Instant::from_std(activity.deadline(idle, read_timeout));
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            // A request started, ended, or its body came in: a new
            // deadline.
            _ = activity.changed.notified() => {}
            // Another connection needs the place (see `server::conns`):
            // this one is idle or waiting on its caller.
            _ = activity.slot.evicted(), if !evicted => {
                evicted = true;
                // Chosen while idle or waiting, it may have turned busy
                // since: a request being worked on is answered first.
                if !activity.working() {
                    tracing::debug!(listener = listener.label(), "connection evicted to make room");
                    return;
                }
                if !draining {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                // Idle, or a request not received in time: dropped (a
                // graceful shutdown would wait for the rest of it).
                if activity.deadline(idle, read_timeout) <= Instant::now() {
                    tracing::debug!(listener = listener.label(), "connection timed out");
                    return;
                }
            }
        }
    }
}

/// Routes one request, answers a failure as error JSON, and counts the
/// request.
async fn respond<R, F>(st: &Arc<State>, router: &R, req: Request<Incoming>) -> Resp
where
    R: Fn(Arc<State>, Request<Incoming>) -> F,
    F: Future<Output = Routed>,
{
    let started = Instant::now();
    let (endpoint, result) = router(st.clone(), req).await;
    let (outcome, resp) = match result {
        Ok(r) => (Outcome::Ok, r),
        Err(f) => (f.outcome, f.response()),
    };
    st.metrics.request(endpoint, outcome, started.elapsed());
    resp
}

pub(crate) fn method_not_allowed(method: &Method, path: &str) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {path}"),
    )
}

/// Reads a whole body, at most `max_body_bytes`, by the request's read
/// deadline (`read_timeout_ms` after its first byte; 408 and the
/// connection closed when it passes).
pub(crate) async fn read_body(st: &State, req: Request<Incoming>) -> Result<Bytes, Failure> {
    let limits = &st.config.limits;
    let max = limits.max_body_bytes;
    let too_large = || Failure::bad("too_large", format!("request body over {max} bytes"));
    let clock = req.extensions().get::<ReadClock>().cloned();
    let by = clock
        .as_ref()
        .map_or_else(|| Instant::now() + limits.read_timeout(), |c| c.by);
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let result = if declared.is_some_and(|n| n > max as u64) {
        Err(too_large())
    } else {
        let body = Limited::new(req.into_body(), max);
        match tokio::time::timeout_at(tokio::time::Instant::from_std(by), body.collect()).await {
            Err(_) => Err(Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!(
                    "request not received within {} ms of its first byte",
                    limits.read_timeout_ms
                ),
            )),
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(too_large())
            }
            Ok(Err(e)) => Err(Failure::bad(
                "bad_json",
                format!("cannot read the request body: {e}"),
            )),
            Ok(Ok(c)) => Ok(c.to_bytes()),
        }
    };
    if let Some(c) = clock {
        c.activity.body_done();
    }
    result
}

pub(crate) fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::bad("bad_json", format!("request body: {e}")))
}

pub(crate) fn required<T>(v: Option<T>, name: &str) -> Result<T, Failure> {
    v.ok_or_else(|| Failure::bad("missing_field", format!("missing field {name:?}")))
}
