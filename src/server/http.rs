//! The HTTP/1.1 + JSON sockets: the check socket (and its optional loopback
//! TCP listener) and the admin socket.
//!
//! Check socket: `POST /v1/check`, `POST /v1/feedback`, `GET /v1/health`,
//! `GET /metrics`. Admin socket: `POST /v1/admin/reload`,
//! `POST /v1/admin/holds`, `DELETE /v1/admin/holds/{entry_id}`,
//! `GET /v1/admin/holds`, `GET /v1/admin/stats`.
//!
//! Every error is `{"error": {"kind", "message"}}` with one of the kinds:
//! 400 `bad_json`, `missing_field`, `bad_date`, `unknown_matter`,
//! `too_many_subjects`, `too_large`, `unknown_receipt`, `unknown_measure`;
//! 403 `forbidden`; 404 `not_found`; 405 `method_not_allowed`; 408
//! `timeout`; 422 `snapshot_refused`; 503 `unavailable`.
//!
//! `/v1/health` and `/metrics` carry no personal data and answer any caller
//! that can reach the socket; the other check endpoints need a configured
//! client (or none configured). The admin socket serves only peers with
//! uid 0 or the daemon's own uid, on top of its 0600 mode.

use super::access::Caller;
use super::metrics::{Endpoint, Gauges, Listener, Lookup, Outcome};
use super::state::{AdminError, State};
use crate::check::{check_one, Ctx, Item};
use crate::date::Day;
use crate::rules::SubjectStatus;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

pub type Resp = Response<Full<Bytes>>;

/// Which API a socket serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Check,
    Admin,
}

/// How the callers of a connection are identified.
#[derive(Clone, Debug)]
pub enum Ident {
    /// A Unix socket: one peer for the whole connection.
    Unix(Caller),
    /// The TCP listener: a bearer token on every request.
    Tcp,
}

/// A request that failed: the status, the error kind and a message.
struct Failure {
    status: StatusCode,
    kind: &'static str,
    message: String,
    outcome: Outcome,
}

impl Failure {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Failure {
        let outcome = match (status, kind) {
            (_, "too_large") | (_, "too_many_subjects") => Outcome::TooLarge,
            (_, "unknown_matter") => Outcome::UnknownMatter,
            (StatusCode::FORBIDDEN, _) => Outcome::Forbidden,
            (StatusCode::NOT_FOUND, _) | (StatusCode::METHOD_NOT_ALLOWED, _) => Outcome::NotFound,
            (StatusCode::UNPROCESSABLE_ENTITY, _) => Outcome::Refused,
            (StatusCode::SERVICE_UNAVAILABLE, _) => Outcome::Unavailable,
            _ => Outcome::BadRequest,
        };
        Failure {
            status,
            kind,
            message: message.into(),
            outcome,
        }
    }
    fn bad(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, kind, message)
    }
    fn forbidden(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    fn unavailable(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    fn response(&self) -> Resp {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        let mut r = json(self.status, &body);
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
        }
        r
    }
}

fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Resp {
    let mut bytes = serde_json::to_vec(body).expect("responses serialize");
    bytes.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn no_content() -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// Milliseconds value meaning "not set".
const UNSET: u64 = u64::MAX;

/// Tracks a connection's activity for its timeouts: idle (no request in
/// progress for `idle_timeout_ms`) and head (a request's first bytes
/// arrived, but not its whole head within `read_timeout_ms`).
struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `born` when the last request finished.
    last_ms: AtomicU64,
    /// Milliseconds after `born` when bytes of a request head first
    /// arrived (`UNSET` when none are pending).
    head_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            head_ms: AtomicU64::new(UNSET),
        }
    }
    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }
    fn begin(&self) {
        self.head_ms.store(UNSET, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }
    fn end(&self) {
        self.last_ms.store(self.now_ms(), Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    /// Bytes arrived: between requests, they start a head.
    fn read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0
            && self.head_ms.load(Ordering::SeqCst) == UNSET
        {
            self.head_ms.store(self.now_ms(), Ordering::SeqCst);
        }
    }
    /// No request in progress and no head started.
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.head_ms.load(Ordering::SeqCst) == UNSET
    }
    /// When the connection expires, if nothing happens.
    fn deadline(&self, idle: Duration, head: Duration) -> Instant {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Instant::now() + idle;
        }
        let idle_end =
            self.born + Duration::from_millis(self.last_ms.load(Ordering::SeqCst)) + idle;
        match self.head_ms.load(Ordering::SeqCst) {
            UNSET => idle_end,
            ms => idle_end.min(self.born + Duration::from_millis(ms) + head),
        }
    }
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
/// or shutdown (then in-flight requests finish first).
pub async fn serve<IO>(
    st: Arc<State>,
    io: IO,
    listener: Listener,
    api: Api,
    ident: Ident,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = st.config.limits.clone();
    let activity = Arc::new(Activity::new());
    let svc = {
        let (st, activity) = (st.clone(), activity.clone());
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let (st, activity, ident) = (st.clone(), activity.clone(), ident.clone());
            async move {
                activity.begin();
                st.metrics.in_flight(listener, 1);
                let r = route(&st, api, &ident, req).await;
                st.metrics.in_flight(listener, -1);
                activity.end();
                Ok::<_, Infallible>(r)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own header timeout also runs while a kept-alive connection
    // waits for its next request; Activity times heads and idleness apart.
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let io = Watched {
        io,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    tokio::pin!(conn);
    let (idle, head) = (limits.idle_timeout(), limits.read_timeout());
    let mut evict = st.evict_idle.subscribe();
    let mut draining = *shutdown.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = tokio::time::Instant::from_std(activity.deadline(idle, head));
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
            // A listener at its connection limit: an idle connection makes
            // room (nothing is in progress on it).
            r = evict.changed(), if !draining => {
                if r.is_ok() && activity.idle() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                // Idle, or a head that never completed: no request is in
                // progress, so the connection is simply dropped (a graceful
                // shutdown would wait for the rest of a partial head).
                if activity.deadline(idle, head) <= Instant::now() {
                    return;
                }
            }
        }
    }
}

async fn route(st: &Arc<State>, api: Api, ident: &Ident, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let (endpoint, result) = match api {
        Api::Check => check_routes(st, ident, req).await,
        Api::Admin => admin_routes(st, ident, req).await,
    };
    let (outcome, resp) = match result {
        Ok(r) => (Outcome::Ok, r),
        Err(f) => (f.outcome, f.response()),
    };
    st.metrics.request(endpoint, outcome, started.elapsed());
    resp
}

fn method_not_allowed(method: &Method, path: &str) -> Failure {
    Failure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {path}"),
    )
}

async fn check_routes(
    st: &Arc<State>,
    ident: &Ident,
    req: Request<Incoming>,
) -> (Endpoint, Result<Resp, Failure>) {
    let caller = || match ident {
        Ident::Unix(c) => c.clone(),
        Ident::Tcp => st
            .access
            .tcp(req.headers().get(AUTHORIZATION).map(|v| v.as_bytes())),
    };
    let path = req.uri().path().to_string();
    let m = req.method().clone();
    match path.as_str() {
        "/v1/check" if m == Method::POST => {
            let c = caller();
            (Endpoint::Check, check(st, &c, req).await)
        }
        "/v1/feedback" if m == Method::POST => {
            let c = caller();
            (Endpoint::Feedback, feedback(st, &c, req).await)
        }
        "/v1/health" if m == Method::GET => (Endpoint::Health, Ok(health(st))),
        "/metrics" if m == Method::GET => (Endpoint::Metrics, Ok(metrics(st))),
        "/v1/check" | "/v1/feedback" | "/v1/health" | "/metrics" => {
            (Endpoint::Unknown, Err(method_not_allowed(&m, &path)))
        }
        _ => (
            Endpoint::Unknown,
            Err(Failure::not_found(format!(
                "no endpoint {path} on the check socket"
            ))),
        ),
    }
}

/// Reads a whole body, at most `max_body_bytes`, within the read timeout.
async fn read_body(st: &State, req: Request<Incoming>) -> Result<Bytes, Failure> {
    let limits = &st.config.limits;
    let max = limits.max_body_bytes;
    let too_large = || Failure::bad("too_large", format!("request body over {max} bytes"));
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), max);
    match tokio::time::timeout(limits.read_timeout(), body.collect()).await {
        Err(_) => Err(Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "request body not received within {} ms",
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
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::bad("bad_json", format!("request body: {e}")))
}

fn required<T>(v: Option<T>, name: &str) -> Result<T, Failure> {
    v.ok_or_else(|| Failure::bad("missing_field", format!("missing field {name:?}")))
}

#[derive(Deserialize)]
struct CheckRequest {
    matter: Option<String>,
    as_of: Option<String>,
    request_id: Option<String>,
    subjects: Option<Vec<Subject>>,
}

#[derive(Deserialize)]
struct Subject {
    code: Option<String>,
    role: Option<String>,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    id: &'a str,
    data_date: Day,
}

#[derive(Serialize)]
struct MatterRef<'a> {
    id: &'a str,
    must_query: bool,
}

#[derive(Serialize)]
struct CheckResponse<'a> {
    receipt: &'a str,
    request_id: Option<&'a str>,
    as_of: Day,
    snapshot: SnapshotRef<'a>,
    matter: MatterRef<'a>,
    results: &'a [Item],
}

/// Longest `request_id` kept (it is echoed and recorded).
const MAX_REQUEST_ID: usize = 256;

/// The audit status word of an item.
fn item_status(item: &Item) -> &'static str {
    match item.status {
        Some(SubjectStatus::Black) => "black",
        Some(SubjectStatus::Watch) => "watch",
        Some(SubjectStatus::Red) => "red",
        Some(SubjectStatus::Clear) => "clear",
        None if item.valid => "forbidden",
        None => "invalid",
    }
}

async fn check(st: &State, caller: &Caller, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let r: CheckRequest = parse_json(&body)?;
    let matter = required(r.matter, "matter")?;
    let subjects = required(r.subjects, "subjects")?;
    if r.request_id
        .as_ref()
        .is_some_and(|id| id.len() > MAX_REQUEST_ID)
    {
        return Err(Failure::bad(
            "bad_json",
            format!("request_id is longer than {MAX_REQUEST_ID} bytes"),
        ));
    }
    let day = match &r.as_of {
        None => Day::today(),
        Some(s) => Day::parse(s).map_err(|e| Failure::bad("bad_date", format!("as_of: {e}")))?,
    };
    let served = st.served();
    let snap = &served.snap;
    let Some(mi) = snap.catalog.matter_index(&matter) else {
        let known: Vec<&str> = snap.catalog.matters.iter().map(|m| m.id.as_str()).collect();
        return Err(Failure::bad(
            "unknown_matter",
            format!(
                "unknown matter {matter:?} (the catalog has: {})",
                known.join(", ")
            ),
        ));
    };
    let max = st.config.limits.max_subjects;
    if subjects.len() > max {
        return Err(Failure::bad(
            "too_many_subjects",
            format!("{} subjects; at most {max} per request", subjects.len()),
        ));
    }
    if subjects.is_empty() {
        return Err(Failure::bad("missing_field", "subjects is empty"));
    }
    let mut codes = Vec::with_capacity(subjects.len());
    for (i, s) in subjects.into_iter().enumerate() {
        codes.push((required(s.code, &format!("subjects[{i}].code"))?, s.role));
    }
    let Some(client) = caller.client.as_deref() else {
        return Err(Failure::forbidden("caller is not a configured client"));
    };
    if !client.may_check(Some(&matter)) {
        return Err(Failure::forbidden(format!(
            "client {:?} may not check matter {matter:?}",
            client.name
        )));
    }
    st.audit
        .admit()
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    let receipt = st.receipts.issue().await.map_err(|e| {
        tracing::error!(error = %e, "cannot record receipts");
        Failure::unavailable("receipts cannot be recorded (see the daemon's log)")
    })?;
    let ctx = Ctx {
        snap,
        holds: &served.holds,
        day,
        matter: Some(mi),
        persons: client.persons,
    };
    let items: Vec<Item> = codes
        .into_iter()
        .map(|(code, role)| check_one(&ctx, &code, role))
        .collect();
    for it in &items {
        let l = match item_status(it) {
            "clear" => Lookup::Clear,
            "invalid" => Lookup::Invalid,
            "forbidden" => Lookup::Forbidden,
            _ => Lookup::Listed,
        };
        st.metrics.lookups(false, l, 1);
    }
    let m = &snap.catalog.matters[mi];
    let record = CheckRecord {
        time: crate::date::timestamp(SystemTime::now()),
        caller: CallerRecord::of(caller),
        endpoint: "check",
        matter: &matter,
        request_id: r.request_id.as_deref(),
        receipt: &receipt,
        as_of: day,
        snapshot: &snap.id,
        items: items
            .iter()
            .map(|i| ItemRecord {
                code: &i.code,
                status: item_status(i),
            })
            .collect(),
    };
    let mut line = serde_json::to_vec(&record).expect("records serialize");
    line.push(b'\n');
    st.audit
        .record(line)
        .await
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    Ok(json(
        StatusCode::OK,
        &CheckResponse {
            receipt: &receipt,
            request_id: r.request_id.as_deref(),
            as_of: day,
            snapshot: SnapshotRef {
                id: &snap.id,
                data_date: snap.data_date,
            },
            matter: MatterRef {
                id: &m.id,
                must_query: m.must_query,
            },
            results: &items,
        },
    ))
}

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

/// Appends the caller object of an audit record.
pub fn push_caller(out: &mut Vec<u8>, c: &Caller) {
    serde_json::to_writer(&mut *out, &CallerRecord::of(c)).expect("writing to a Vec cannot fail");
}

#[derive(Serialize)]
struct CheckRecord<'a> {
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
}

#[derive(Deserialize)]
struct FeedbackRequest {
    receipt: Option<String>,
    code: Option<String>,
    measure: Option<String>,
    applied: Option<bool>,
    note: Option<String>,
}

#[derive(Serialize)]
struct FeedbackRecord<'a> {
    time: String,
    caller: CallerRecord<'a>,
    endpoint: &'static str,
    receipt: &'a str,
    code: &'a str,
    measure: &'a str,
    applied: bool,
    note: Option<&'a str>,
}

async fn feedback(st: &State, caller: &Caller, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let r: FeedbackRequest = parse_json(&body)?;
    let receipt = required(r.receipt, "receipt")?;
    let code = required(r.code, "code")?;
    let measure = required(r.measure, "measure")?;
    let applied = required(r.applied, "applied")?;
    if caller.client.is_none() {
        return Err(Failure::forbidden("caller is not a configured client"));
    }
    if !st.receipts.verify(&receipt) {
        return Err(Failure::bad(
            "unknown_receipt",
            format!("receipt {receipt:?} was not issued by this daemon"),
        ));
    }
    let served = st.served();
    if !served.snap.catalog.measures.iter().any(|m| m.id == measure) {
        return Err(Failure::bad(
            "unknown_measure",
            format!("unknown measure {measure:?}"),
        ));
    }
    st.audit
        .admit()
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    let record = FeedbackRecord {
        time: crate::date::timestamp(SystemTime::now()),
        caller: CallerRecord::of(caller),
        endpoint: "feedback",
        receipt: &receipt,
        code: &code,
        measure: &measure,
        applied,
        note: r.note.as_deref(),
    };
    let mut line = serde_json::to_vec(&record).expect("records serialize");
    line.push(b'\n');
    st.audit
        .record(line)
        .await
        .map_err(|e| Failure::unavailable(e.to_string()))?;
    st.metrics.feedback(&measure, applied);
    Ok(no_content())
}

fn health(st: &State) -> Resp {
    let s = st.served();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "serving",
            "snapshot": {"id": s.snap.id, "data_date": s.snap.data_date, "entries": s.snap.entries()},
            "generation": s.generation,
            "uptime_seconds": st.started.elapsed().as_secs_f64(),
        }),
    )
}

/// Seconds since the start (00:00 Asia/Shanghai) of a data date.
fn age_seconds(data_date: Day) -> f64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    now - (data_date.0 as f64 * 86_400.0 - 8.0 * 3600.0)
}

fn gauges(st: &State) -> Gauges {
    let s = st.served();
    let a = &st.audit.stats;
    Gauges {
        generation: s.generation,
        snapshot_age_seconds: age_seconds(s.snap.data_date),
        snapshot_entries: s.snap.entries() as u64,
        holds_active: s.holds.len() as u64,
        holds_dormant: s.dormant as u64,
        uptime_seconds: st.started.elapsed().as_secs_f64(),
        audit_records: a.records.load(Ordering::Relaxed),
        audit_bytes: a.bytes.load(Ordering::Relaxed),
        audit_errors: a.errors.load(Ordering::Relaxed),
        audit_lost: a.lost.load(Ordering::Relaxed),
        audit_queued_bytes: st.audit.queued_bytes() as u64,
        audit_healthy: st.audit.healthy(),
        receipts: st.receipts.issued(),
    }
}

fn metrics(st: &State) -> Resp {
    let text = st.metrics.render(&gauges(st));
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

// ---------------------------------------------------------------------------
// Admin socket
// ---------------------------------------------------------------------------

/// Decodes `%XX` escapes of a path segment.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn admin_routes(
    st: &Arc<State>,
    ident: &Ident,
    req: Request<Incoming>,
) -> (Endpoint, Result<Resp, Failure>) {
    let uid = match ident {
        Ident::Unix(c) => c.peer.uid,
        Ident::Tcp => None,
    };
    let path = req.uri().path().to_string();
    let endpoint = match path.as_str() {
        "/v1/admin/reload" => Endpoint::AdminReload,
        "/v1/admin/stats" => Endpoint::AdminStats,
        p if p == "/v1/admin/holds" || p.starts_with("/v1/admin/holds/") => Endpoint::AdminHolds,
        _ => Endpoint::Unknown,
    };
    if uid.is_none_or(|u| u != 0 && u != st.uid) {
        return (
            endpoint,
            Err(Failure::forbidden(
                "the admin socket serves only root and the daemon's own user",
            )),
        );
    }
    let uid = uid.unwrap_or(0);
    let m = req.method().clone();
    let result = match (path.as_str(), &m) {
        ("/v1/admin/reload", &Method::POST) => reload(st, req).await,
        ("/v1/admin/stats", &Method::GET) => Ok(stats(st).await),
        ("/v1/admin/holds", &Method::GET) => {
            let holds = st.list_holds().await;
            Ok(json(StatusCode::OK, &serde_json::json!({ "holds": holds })))
        }
        ("/v1/admin/holds", &Method::POST) => place_hold(st, uid, req).await,
        (p, &Method::DELETE) if p.starts_with("/v1/admin/holds/") => {
            match percent_decode(&p["/v1/admin/holds/".len()..]) {
                Some(id) if !id.is_empty() => st
                    .release_hold(&id, &format!("uid {uid}"))
                    .await
                    .map(|()| no_content())
                    .map_err(admin_failure),
                _ => Err(Failure::not_found("no entry id in the path")),
            }
        }
        ("/v1/admin/reload" | "/v1/admin/stats" | "/v1/admin/holds", _) => {
            Err(method_not_allowed(&m, &path))
        }
        _ => Err(Failure::not_found(format!(
            "no endpoint {path} on the admin socket"
        ))),
    };
    (endpoint, result)
}

fn admin_failure(e: AdminError) -> Failure {
    match e {
        AdminError::NotFound(m) => Failure::not_found(m),
        AdminError::Refused(m) => {
            Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "snapshot_refused", m)
        }
        AdminError::Unavailable(m) => Failure::unavailable(m),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    path: Option<String>,
}

async fn reload(st: &State, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let path = if body.iter().all(|b| b.is_ascii_whitespace()) {
        None
    } else {
        let r: ReloadRequest = parse_json(&body)?;
        r.path.map(std::path::PathBuf::from)
    };
    let served = st.reload(path).await.map_err(admin_failure)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "generation": served.generation,
            "snapshot": {
                "id": served.snap.id,
                "data_date": served.snap.data_date,
                "entries": served.snap.entries(),
                "path": served.path,
            },
            "holds": {"active": served.holds.len(), "dormant": served.dormant},
        }),
    ))
}

#[derive(Deserialize)]
struct HoldRequest {
    entry_id: Option<String>,
    reason: Option<String>,
    /// Who asks (the admin command sends the login name).
    by: Option<String>,
}

async fn place_hold(st: &State, uid: u32, req: Request<Incoming>) -> Result<Resp, Failure> {
    let body = read_body(st, req).await?;
    let r: HoldRequest = parse_json(&body)?;
    let entry_id = required(r.entry_id.filter(|s| !s.is_empty()), "entry_id")?;
    let reason = required(r.reason.filter(|s| !s.trim().is_empty()), "reason")?;
    let by = match r.by.filter(|b| !b.is_empty()) {
        Some(b) => format!("{b} (uid {uid})"),
        None => format!("uid {uid}"),
    };
    let hold = st
        .place_hold(&entry_id, &reason, &by)
        .await
        .map_err(admin_failure)?;
    let mut v = serde_json::to_value(&hold).expect("holds serialize");
    v["dormant"] = false.into();
    Ok(json(StatusCode::CREATED, &v))
}

async fn stats(st: &State) -> Resp {
    let s = st.served();
    let a = &st.audit.stats;
    let holds = st.list_holds().await;
    let dormant = holds.iter().filter(|h| h.dormant).count();
    let feedback: Vec<_> = st
        .metrics
        .feedback_counts()
        .into_iter()
        .map(|(m, applied, n)| serde_json::json!({"measure": m, "applied": applied, "count": n}))
        .collect();
    let conns: serde_json::Map<String, serde_json::Value> = Listener::ALL
        .iter()
        .map(|l| {
            (
                l.label().to_string(),
                st.metrics.open_connections(*l).into(),
            )
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "snapshot": {
                "id": s.snap.id,
                "data_date": s.snap.data_date,
                "path": s.path,
                "entries": s.snap.entries(),
                "subjects": s.snap.subjects(),
                "generation": s.generation,
                "loaded_at": crate::date::timestamp(s.loaded_at),
                "age_seconds": age_seconds(s.snap.data_date),
            },
            "started_at": crate::date::timestamp(st.started_at),
            "uptime_seconds": st.started.elapsed().as_secs_f64(),
            "requests": st.metrics.request_counts(),
            "reloads": st.metrics.reloads.load(Ordering::Relaxed),
            "reload_failures": st.metrics.reload_failures.load(Ordering::Relaxed),
            "holds": {"active": holds.len() - dormant, "dormant": dormant},
            "feedback": feedback,
            "receipts": {"boot": st.receipts.boot(), "issued": st.receipts.issued()},
            "audit": {
                "path": st.audit.path(),
                "healthy": st.audit.healthy(),
                "records": a.records.load(Ordering::Relaxed),
                "bytes": a.bytes.load(Ordering::Relaxed),
                "errors": a.errors.load(Ordering::Relaxed),
                "lost": a.lost.load(Ordering::Relaxed),
                "rotations": a.rotations.load(Ordering::Relaxed),
                "queued_bytes": st.audit.queued_bytes(),
            },
            "connections": conns,
            "clients": st.config.clients.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("FY-2024-0901").as_deref(),
            Some("FY-2024-0901")
        );
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
