//! Counters, gauges and latency histograms, rendered as Prometheus text
//! (exposition format 0.0.4) by hand: fixed label sets, plain atomics, no
//! locks on the request path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// What was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Check,
    Feedback,
    Health,
    Metrics,
    Catalog,
    OpenApi,
    Batch,
    AdminReload,
    AdminHolds,
    AdminStats,
    /// Any path that is not an endpoint.
    Unknown,
}

impl Endpoint {
    pub const ALL: [Endpoint; 11] = [
        Endpoint::Check,
        Endpoint::Feedback,
        Endpoint::Health,
        Endpoint::Metrics,
        Endpoint::Catalog,
        Endpoint::OpenApi,
        Endpoint::Batch,
        Endpoint::AdminReload,
        Endpoint::AdminHolds,
        Endpoint::AdminStats,
        Endpoint::Unknown,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Check => "check",
            Endpoint::Feedback => "feedback",
            Endpoint::Health => "health",
            Endpoint::Metrics => "metrics",
            Endpoint::Catalog => "catalog",
            Endpoint::OpenApi => "openapi",
            Endpoint::Batch => "batch",
            Endpoint::AdminReload => "admin_reload",
            Endpoint::AdminHolds => "admin_holds",
            Endpoint::AdminStats => "admin_stats",
            Endpoint::Unknown => "unknown",
        }
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    BadRequest,
    TooLarge,
    UnknownMatter,
    Forbidden,
    NotFound,
    /// A refused snapshot (422).
    Refused,
    /// Audit register or state unavailable (503, batch status 5).
    Unavailable,
    /// A request not received within `read_timeout_ms` (408).
    Timeout,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::BadRequest,
        Outcome::TooLarge,
        Outcome::UnknownMatter,
        Outcome::Forbidden,
        Outcome::NotFound,
        Outcome::Refused,
        Outcome::Unavailable,
        Outcome::Timeout,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::BadRequest => "bad_request",
            Outcome::TooLarge => "too_large",
            Outcome::UnknownMatter => "unknown_matter",
            Outcome::Forbidden => "forbidden",
            Outcome::NotFound => "not_found",
            Outcome::Refused => "refused",
            Outcome::Unavailable => "unavailable",
            Outcome::Timeout => "timeout",
        }
    }
}

/// What one looked-up code came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Any effective hit.
    Listed,
    Clear,
    Invalid,
    /// A natural person the caller may not query.
    Forbidden,
    /// Batch: invalid or forbidden (one flag for both).
    Unanswered,
}

impl Lookup {
    pub const ALL: [Lookup; 5] = [
        Lookup::Listed,
        Lookup::Clear,
        Lookup::Invalid,
        Lookup::Forbidden,
        Lookup::Unanswered,
    ];
    fn label(self) -> &'static str {
        match self {
            Lookup::Listed => "listed",
            Lookup::Clear => "clear",
            Lookup::Invalid => "invalid",
            Lookup::Forbidden => "forbidden",
            Lookup::Unanswered => "unanswered",
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds.
pub const BUCKETS_US: [u64; 16] = [
    25, 50, 100, 200, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

struct Histogram {
    /// Per bucket (not cumulative), plus +Inf.
    counts: [AtomicU64; BUCKETS_US.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
    fn observe(&self, d: Duration) {
        let us = d.as_micros() as u64;
        let i = BUCKETS_US.partition_point(|&b| b < us);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(d.as_nanos() as u64, Relaxed);
    }
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Check,
    Batch,
    Admin,
    Tcp,
}

impl Listener {
    pub const ALL: [Listener; 4] = [
        Listener::Check,
        Listener::Batch,
        Listener::Admin,
        Listener::Tcp,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Listener::Check => "check",
            Listener::Batch => "batch",
            Listener::Admin => "admin",
            Listener::Tcp => "tcp",
        }
    }
}

/// The daemon's counters.
pub struct Metrics {
    requests: [[AtomicU64; Outcome::ALL.len()]; Endpoint::ALL.len()],
    /// Lookups of the check (0) and batch (1) endpoints.
    lookups: [[AtomicU64; Lookup::ALL.len()]; 2],
    latency: [Histogram; Endpoint::ALL.len()],
    connections: [AtomicI64; Listener::ALL.len()],
    /// HTTP requests being handled; batch frames from their first byte to
    /// their answer.
    in_flight: [AtomicI64; Listener::ALL.len()],
    accepted: [AtomicU64; Listener::ALL.len()],
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Unix time of the last successful snapshot load (the first included).
    pub last_reload_success_unix: AtomicU64,
    /// Whether the last load attempt succeeded (1) or was refused (0).
    pub last_reload_ok: AtomicU64,
    feedback: Mutex<BTreeMap<(String, bool), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Values read from the daemon's state at render time.
pub struct Gauges {
    pub generation: u64,
    pub snapshot_age_seconds: f64,
    pub snapshot_entries: u64,
    pub holds_active: u64,
    pub holds_dormant: u64,
    pub uptime_seconds: f64,
    pub audit_records: u64,
    pub audit_bytes: u64,
    pub audit_errors: u64,
    pub audit_lost: u64,
    pub audit_queued_bytes: u64,
    pub audit_healthy: bool,
    pub audit_outages: u64,
    pub audit_unhealthy_seconds: f64,
    pub connections_evicted: u64,
    pub connections_refused: u64,
    pub receipts: u64,
}

fn index<T: PartialEq + Copy>(all: &[T], x: T) -> usize {
    all.iter().position(|&a| a == x).unwrap_or(0)
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            lookups: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| Histogram::new()),
            connections: std::array::from_fn(|_| AtomicI64::new(0)),
            in_flight: std::array::from_fn(|_| AtomicI64::new(0)),
            accepted: std::array::from_fn(|_| AtomicU64::new(0)),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            last_reload_success_unix: AtomicU64::new(0),
            last_reload_ok: AtomicU64::new(1),
            feedback: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records a snapshot load: `ok` when it is served, else refused.
    pub fn snapshot_loaded(&self, ok: bool) {
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.last_reload_success_unix.store(now, Relaxed);
        }
        self.last_reload_ok.store(ok as u64, Relaxed);
    }

    /// Counts a finished request and its latency.
    pub fn request(&self, e: Endpoint, o: Outcome, took: Duration) {
        let ei = index(&Endpoint::ALL, e);
        self.requests[ei][index(&Outcome::ALL, o)].fetch_add(1, Relaxed);
        self.latency[ei].observe(took);
    }

    pub fn lookups(&self, batch: bool, l: Lookup, n: u64) {
        if n > 0 {
            self.lookups[batch as usize][index(&Lookup::ALL, l)].fetch_add(n, Relaxed);
        }
    }

    pub fn connection_opened(&self, l: Listener) {
        let i = index(&Listener::ALL, l);
        self.connections[i].fetch_add(1, Relaxed);
        self.accepted[i].fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self, l: Listener) {
        self.connections[index(&Listener::ALL, l)].fetch_sub(1, Relaxed);
    }

    /// A request (or batch frame) starts (`+1`) or ends (`-1`).
    pub fn in_flight(&self, l: Listener, delta: i64) {
        self.in_flight[index(&Listener::ALL, l)].fetch_add(delta, Relaxed);
    }

    pub fn feedback(&self, measure: &str, applied: bool) {
        let mut f = self.feedback.lock().unwrap_or_else(|p| p.into_inner());
        *f.entry((measure.to_string(), applied)).or_default() += 1;
    }

    /// Feedback counts by measure and applied.
    pub fn feedback_counts(&self) -> Vec<(String, bool, u64)> {
        let f = self.feedback.lock().unwrap_or_else(|p| p.into_inner());
        f.iter().map(|((m, a), n)| (m.clone(), *a, *n)).collect()
    }

    /// Request counts by endpoint and outcome (non-zero only).
    pub fn request_counts(&self) -> BTreeMap<&'static str, BTreeMap<&'static str, u64>> {
        let mut out = BTreeMap::new();
        for (ei, e) in Endpoint::ALL.iter().enumerate() {
            for (oi, o) in Outcome::ALL.iter().enumerate() {
                let n = self.requests[ei][oi].load(Relaxed);
                if n > 0 {
                    out.entry(e.label())
                        .or_insert_with(BTreeMap::new)
                        .insert(o.label(), n);
                }
            }
        }
        out
    }

    pub fn open_connections(&self, l: Listener) -> i64 {
        self.connections[index(&Listener::ALL, l)].load(Relaxed)
    }

    /// The Prometheus text.
    pub fn render(&self, g: &Gauges) -> String {
        let mut s = String::with_capacity(16 * 1024);
        self.render_counts(&mut s);
        self.render_latency(&mut s);
        self.render_listeners(&mut s);
        render_gauges(&mut s, &self.gauge_values(g));
        self.render_feedback(&mut s);
        crate::server::process::render_process(&mut s);
        s
    }

    /// Requests by endpoint and outcome, lookups by endpoint and result.
    fn render_counts(&self, s: &mut String) {
        head(
            s,
            "credlist_requests_total",
            "counter",
            "Requests (batch: frames) by endpoint and outcome.",
        );
        for (ei, e) in Endpoint::ALL.iter().enumerate() {
            for (oi, o) in Outcome::ALL.iter().enumerate() {
                let n = self.requests[ei][oi].load(Relaxed);
                let _ = writeln!(
                    s,
                    "credlist_requests_total{{endpoint=\"{}\",outcome=\"{}\"}} {n}",
                    e.label(),
                    o.label()
                );
            }
        }
        head(
            s,
            "credlist_lookups_total",
            "counter",
            "Codes looked up, by endpoint and result.",
        );
        for (bi, b) in ["check", "batch"].iter().enumerate() {
            for (li, l) in Lookup::ALL.iter().enumerate() {
                let n = self.lookups[bi][li].load(Relaxed);
                let _ = writeln!(
                    s,
                    "credlist_lookups_total{{endpoint=\"{b}\",result=\"{}\"}} {n}",
                    l.label()
                );
            }
        }
    }

    /// The latency histogram of every endpoint.
    fn render_latency(&self, s: &mut String) {
        head(
            s,
            "credlist_request_duration_seconds",
            "histogram",
            "Time from request to answer, by endpoint.",
        );
        for (ei, e) in Endpoint::ALL.iter().enumerate() {
            let h = &self.latency[ei];
            let mut cum = 0u64;
            for (i, b) in BUCKETS_US.iter().enumerate() {
                cum += h.counts[i].load(Relaxed);
                let _ = writeln!(
                    s,
                    "credlist_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{}\"}} {cum}",
                    e.label(),
                    *b as f64 / 1e6
                );
            }
            cum += h.counts[BUCKETS_US.len()].load(Relaxed);
            let _ = writeln!(
                s,
                "credlist_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {cum}",
                e.label()
            );
            let _ = writeln!(
                s,
                "credlist_request_duration_seconds_sum{{endpoint=\"{}\"}} {}",
                e.label(),
                h.sum_ns.load(Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                s,
                "credlist_request_duration_seconds_count{{endpoint=\"{}\"}} {cum}",
                e.label()
            );
        }
    }

    /// Open connections, requests in flight and accepted connections, by
    /// listener.
    fn render_listeners(&self, s: &mut String) {
        per_listener(
            s,
            "credlist_connections_open",
            "gauge",
            "Open connections by listener.",
            &self.connections.each_ref().map(|v| v.load(Relaxed)),
        );
        per_listener(
            s,
            "credlist_requests_in_flight",
            "gauge",
            "Requests being handled (batch: frames being received or answered), by listener.",
            &self.in_flight.each_ref().map(|v| v.load(Relaxed)),
        );
        per_listener(
            s,
            "credlist_connections_total",
            "counter",
            "Accepted connections by listener.",
            &self.accepted.each_ref().map(|v| v.load(Relaxed)),
        );
    }

    /// The unlabelled series: name, type, help and value.
    fn gauge_values(&self, g: &Gauges) -> [(&'static str, &'static str, &'static str, String); 21] {
        [
            (
                "credlist_last_reload_success_timestamp_seconds",
                "gauge",
                "Unix time of the last successful snapshot load (the one at start included).",
                self.last_reload_success_unix.load(Relaxed).to_string(),
            ),
            (
                "credlist_last_reload_successful",
                "gauge",
                "1 when the last snapshot load succeeded, 0 when it was refused.",
                self.last_reload_ok.load(Relaxed).to_string(),
            ),
            (
                "credlist_snapshot_generation",
                "gauge",
                "Snapshot loads since start (1 = the first).",
                g.generation.to_string(),
            ),
            (
                "credlist_snapshot_age_seconds",
                "gauge",
                "Seconds since the start of the served snapshot's data date (Asia/Shanghai).",
                g.snapshot_age_seconds.to_string(),
            ),
            (
                "credlist_snapshot_entries",
                "gauge",
                "Entries in the served snapshot.",
                g.snapshot_entries.to_string(),
            ),
            (
                "credlist_reloads_total",
                "counter",
                "Successful snapshot reloads.",
                self.reloads.load(Relaxed).to_string(),
            ),
            (
                "credlist_reload_failures_total",
                "counter",
                "Refused snapshot reloads (the old snapshot kept serving).",
                self.reload_failures.load(Relaxed).to_string(),
            ),
            (
                "credlist_holds",
                "gauge",
                "Active objection holds whose entry is in the served snapshot.",
                g.holds_active.to_string(),
            ),
            (
                "credlist_holds_dormant",
                "gauge",
                "Active objection holds whose entry is not in the served snapshot.",
                g.holds_dormant.to_string(),
            ),
            (
                "credlist_receipts_issued_total",
                "counter",
                "Receipts issued since start.",
                g.receipts.to_string(),
            ),
            (
                "credlist_audit_records_total",
                "counter",
                "Audit records written.",
                g.audit_records.to_string(),
            ),
            (
                "credlist_audit_bytes_total",
                "counter",
                "Audit bytes written.",
                g.audit_bytes.to_string(),
            ),
            (
                "credlist_audit_errors_total",
                "counter",
                "Failed audit writes (open, write, fsync, rotation).",
                g.audit_errors.to_string(),
            ),
            (
                "credlist_audit_lost_records_total",
                "counter",
                "Audit records given up after write failures.",
                g.audit_lost.to_string(),
            ),
            (
                "credlist_audit_queued_bytes",
                "gauge",
                "Audit bytes waiting for the writer.",
                g.audit_queued_bytes.to_string(),
            ),
            (
                "credlist_audit_healthy",
                "gauge",
                "1 when the audit register can be written, 0 during an outage.",
                (g.audit_healthy as u8).to_string(),
            ),
            (
                "credlist_audit_outages_total",
                "counter",
                "Audit register outages (a failed open, write or fsync until a probe succeeds).",
                g.audit_outages.to_string(),
            ),
            (
                "credlist_audit_unhealthy_seconds_total",
                "counter",
                "Seconds the audit register spent in outages, the current one included.",
                g.audit_unhealthy_seconds.to_string(),
            ),
            (
                "credlist_connections_evicted_total",
                "counter",
                "Connections closed to make room for a new one at a connection limit.",
                g.connections_evicted.to_string(),
            ),
            (
                "credlist_connections_refused_total",
                "counter",
                "Connections refused at a connection limit (no place could be made).",
                g.connections_refused.to_string(),
            ),
            (
                "credlist_uptime_seconds",
                "gauge",
                "Seconds since the daemon started.",
                g.uptime_seconds.to_string(),
            ),
        ]
    }

    /// Feedback reports by measure and whether applied.
    fn render_feedback(&self, s: &mut String) {
        head(
            s,
            "credlist_feedback_total",
            "counter",
            "Feedback reports by measure and whether it was applied.",
        );
        for (m, a, n) in self.feedback_counts() {
            let _ = writeln!(
                s,
                "credlist_feedback_total{{measure=\"{}\",applied=\"{a}\"}} {n}",
                escape_label(&m)
            );
        }
    }
}

/// A series by listener: `values` in the order of [`Listener::ALL`].
fn per_listener<T: std::fmt::Display>(
    s: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    values: &[T],
) {
    head(s, name, kind, help);
    for (l, v) in Listener::ALL.iter().zip(values) {
        let _ = writeln!(s, "{name}{{listener=\"{}\"}} {v}", l.label());
    }
}

/// Series without labels, one line each after their head.
fn render_gauges(s: &mut String, values: &[(&str, &str, &str, String)]) {
    for (name, kind, help, v) in values {
        head(s, name, kind, help);
        let _ = writeln!(s, "{name} {v}");
    }
}

/// The `# HELP` and `# TYPE` lines of a metric.
fn head(s: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value (`\`, `"`, newline).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let m = Metrics::new();
        m.request(Endpoint::Check, Outcome::Ok, Duration::from_micros(30));
        m.request(Endpoint::Check, Outcome::Ok, Duration::from_secs(100));
        let g = Gauges {
            generation: 1,
            snapshot_age_seconds: 1.5,
            snapshot_entries: 3,
            holds_active: 0,
            holds_dormant: 0,
            uptime_seconds: 1.0,
            audit_records: 0,
            audit_bytes: 0,
            audit_errors: 0,
            audit_lost: 0,
            audit_queued_bytes: 0,
            audit_healthy: true,
            audit_outages: 0,
            audit_unhealthy_seconds: 0.0,
            connections_evicted: 0,
            connections_refused: 0,
            receipts: 0,
        };
        let text = m.render(&g);
        assert!(text.contains(
            "credlist_request_duration_seconds_bucket{endpoint=\"check\",le=\"0.000025\"} 0"
        ));
        assert!(text.contains(
            "credlist_request_duration_seconds_bucket{endpoint=\"check\",le=\"0.00005\"} 1"
        ));
        assert!(text.contains(
            "credlist_request_duration_seconds_bucket{endpoint=\"check\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("credlist_requests_total{endpoint=\"check\",outcome=\"ok\"} 2"));
    }
}
