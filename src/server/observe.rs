//! Watching the daemon: the `[metrics]` listener, process metrics, the
//! `[log]` section and logs that journald files under the right priority,
//! and the systemd watchdog.

use crate::server::metrics::Endpoint;
#[cfg(test)]
use crate::server::observe_config::MetricsSection;
use crate::server::observe_config::{check_filter, LogFormat, LogSection};
use crate::server::state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

// ---------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------

/// Starts the daemon's logging on stderr. The filter comes from
/// `CREDLIST_LOG`, else `RUST_LOG`, else `[log] level`; the format from
/// `CREDLIST_LOG_FORMAT`, else `[log] format`. An invalid filter is an
/// error naming where it came from, never a silent fallback.
///
/// Under systemd (stderr is the stream `JOURNAL_STREAM` names) every line
/// starts with its sd-daemon priority (`<3>` error, `<4>` warning, `<6>`
/// info, `<7>` debug and trace) so that journald files it at that priority
/// (`journalctl -p warning`), and carries no timestamp of its own.
pub fn init_logging(cfg: &LogSection) -> Result<(), String> {
    use std::io::IsTerminal;
    let (filter, from) = match (std::env::var("CREDLIST_LOG"), std::env::var("RUST_LOG")) {
        (Ok(f), _) => (f, "CREDLIST_LOG"),
        (_, Ok(f)) => (f, "RUST_LOG"),
        _ => (cfg.level.clone(), "[log] level"),
    };
    check_filter(&filter).map_err(|e| format!("{from}: {e}"))?;
    let format = match std::env::var("CREDLIST_LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        Ok("text") => LogFormat::Text,
        Ok(other) => {
            return Err(format!(
                "CREDLIST_LOG_FORMAT: {other:?} is not a log format (text or json)"
            ))
        }
        Err(_) => cfg.format,
    };
    let env_filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("{from}: log filter {filter:?}: {e}"))?;
    let journal = stderr_is_journal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(!journal && std::io::stderr().is_terminal())
        .with_writer(Prioritised { journal });
    // A second initialisation (tests running the daemon in-process) keeps
    // the first.
    let _ = match (format, journal) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
    Ok(())
}

/// Whether stderr is the journal stream systemd connected
/// (`JOURNAL_STREAM=<device>:<inode>` of it).
pub fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    // SAFETY: fstat writes one `stat` for fd 2 into `st`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    st.st_dev as u64 == dev && st.st_ino as u64 == ino
}

/// The sd-daemon priority prefix of a level (`sd-daemon(3)`).
pub fn priority_prefix(level: &tracing::Level) -> &'static [u8] {
    match *level {
        tracing::Level::ERROR => b"<3>",
        tracing::Level::WARN => b"<4>",
        tracing::Level::INFO => b"<6>",
        _ => b"<7>",
    }
}

/// Writes log events to stderr, each prefixed with its priority when
/// stderr is the journal.
struct Prioritised {
    journal: bool,
}

/// One event: gathered, then written in one call (lines of concurrent
/// events do not interleave).
struct EventWriter {
    prefix: &'static [u8],
    buf: Vec<u8>,
}

impl std::io::Write for EventWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut line = Vec::with_capacity(self.prefix.len() + self.buf.len());
        line.extend_from_slice(self.prefix);
        line.extend_from_slice(&self.buf);
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), &line);
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Prioritised {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            prefix: if self.journal { b"<6>" } else { b"" },
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter {
        EventWriter {
            prefix: if self.journal {
                priority_prefix(meta.level())
            } else {
                b""
            },
            buf: Vec::with_capacity(256),
        }
    }
}

// ---------------------------------------------------------------------------
// The metrics listener
// ---------------------------------------------------------------------------

/// Connections the metrics listener serves at once; more wait in the
/// backlog. Scrapers are few.
const METRICS_CONNECTIONS: usize = 16;

/// Binds the `[metrics] listen` address, if one is configured.
pub fn bind_metrics(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(l)
}

/// Serves `GET /metrics` (and nothing else: 404) until shutdown. Each
/// connection must send its request head within `read_timeout_ms` and is
/// closed after `idle_timeout_ms` without one.
pub async fn serve_metrics(
    st: Arc<State>,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let places = Arc::new(Semaphore::new(METRICS_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = places.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener: accept failed; backing off");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let st = st.clone();
        let limits = st.config.limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&st, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                // Also bounds the wait for a kept-alive connection's next
                // request: an idle scraper connection is closed.
                .header_read_timeout(limits.idle_timeout().min(limits.read_timeout()))
                .max_buf_size(64 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            // A connection lives no longer than an idle period plus a
            // scrape: a slow reader cannot hold its place for ever.
            let _ = tokio::time::timeout(limits.idle_timeout() + limits.read_timeout(), conn).await;
        });
    }
}

fn answer<B>(
    st: &State,
    req: &hyper::Request<B>,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    use hyper::header::{HeaderValue, CONTENT_TYPE};
    use hyper::{Method, StatusCode};
    let started = Instant::now();
    let (status, body, ctype) = if req.uri().path() != "/metrics" {
        (
            StatusCode::NOT_FOUND,
            "only /metrics is served here\n".to_string(),
            "text/plain",
        )
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "GET /metrics\n".to_string(),
            "text/plain",
        )
    } else {
        (
            StatusCode::OK,
            crate::server::http::metrics_text(st),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    let outcome = if status == StatusCode::OK {
        crate::server::metrics::Outcome::Ok
    } else {
        crate::server::metrics::Outcome::NotFound
    };
    st.metrics
        .request(Endpoint::Metrics, outcome, started.elapsed());
    let mut r = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

// ---------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------

/// The watchdog interval systemd asks for (`WatchdogSec=` sets
/// `WATCHDOG_USEC`, and `WATCHDOG_PID` when set must be this process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Sends `WATCHDOG=1` at half the interval until shutdown. The pings come
/// from the main runtime, and only while every lane (the threads serving
/// check and batch connections) runs a task within a quarter of the
/// interval: a wedged runtime or lane stops them and systemd restarts the
/// daemon.
pub async fn watchdog(
    interval: Duration,
    lanes: std::sync::Arc<crate::server::lanes::Lanes>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if lanes.responsive(interval / 4).await {
                    crate::server::notify::notify("WATCHDOG=1");
                } else {
                    tracing::error!("a lane did not run a task within a quarter of the watchdog interval; not pinging the watchdog");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters_are_checked_strictly() {
        for ok in [
            "info",
            "debug",
            "WARN",
            "info,credlist::server=debug",
            "off",
        ] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["inof", "", "info,credlist", "=debug", "info,hyper=loud"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn priorities_follow_sd_daemon() {
        assert_eq!(priority_prefix(&tracing::Level::ERROR), b"<3>");
        assert_eq!(priority_prefix(&tracing::Level::WARN), b"<4>");
        assert_eq!(priority_prefix(&tracing::Level::INFO), b"<6>");
        assert_eq!(priority_prefix(&tracing::Level::DEBUG), b"<7>");
        assert_eq!(priority_prefix(&tracing::Level::TRACE), b"<7>");
    }

    #[test]
    fn metrics_addresses_are_checked() {
        let m = |s: &str| MetricsSection {
            listen: Some(s.into()),
        };
        assert!(m("127.0.0.1:9420").validate().is_ok());
        assert!(m("[::]:9420").validate().is_ok());
        assert!(m("localhost").validate().is_err());
        assert!(MetricsSection::default().validate().is_ok());
    }
}
