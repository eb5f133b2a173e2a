//! The `[metrics]` and `[log]` sections of the configuration: read by
//! [`super::config`], put to work by [`super::observe`]. Nothing here
//! depends on the running daemon.

use serde::Deserialize;
use std::net::SocketAddr;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// `[metrics]`: an optional TCP listener serving only `GET /metrics`
/// (Prometheus text), for scrapers that cannot reach a Unix socket. The
/// metrics hold no personal data; any address may be chosen, loopback is
/// the usual one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// `host:port`, e.g. `"127.0.0.1:9420"`. None (the default): no
    /// listener; `/metrics` stays on the check socket.
    pub listen: Option<String>,
}

impl MetricsSection {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.addr().map(|_| ())
    }

    /// The listener's address, if one is configured.
    pub fn addr(&self) -> Result<Option<SocketAddr>, (&'static str, String)> {
        match &self.listen {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| {
                (
                    "metrics.listen",
                    format!("{s:?} is not an address like \"127.0.0.1:9420\""),
                )
            }),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`: what the daemon logs and how.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Filter: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`),
    /// optionally followed by `target=level` directives, comma-separated
    /// (e.g. `"info,credlist::server::audit=debug"`). `CREDLIST_LOG` in the
    /// environment wins over it. Default `info`.
    pub level: String,
    /// `text` (default) or `json` (one JSON object a line).
    /// `CREDLIST_LOG_FORMAT` in the environment wins over it.
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl LogSection {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        check_filter(&self.level).map_err(|m| ("log.level", m))
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a log filter strictly: tracing's own parser takes a misspelt
/// level (`inof`) for a target name and silently logs nothing of use, so a
/// bare word must be a level and a target must say `target=level`.
pub fn check_filter(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err("empty log filter".into());
    }
    for d in filter.split(',').map(str::trim) {
        let level = match d.rsplit_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level.trim(),
            Some(_) => return Err(format!("log filter directive {d:?} has no target")),
            None => d,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "log filter directive {d:?}: {level:?} is not a level (one of {}; a target is written target=level)",
                LEVELS.join(", ")
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(|_| ())
        .map_err(|e| format!("log filter {filter:?}: {e}"))
}
