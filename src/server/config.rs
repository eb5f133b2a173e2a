//! The daemon's configuration file (TOML, SPEC §6 "Configuration").
//!
//! Every section and key is optional and has a default; unknown keys are
//! refused at every level (`deny_unknown_fields`), so a typo is an error at
//! start, never a silently ignored setting. [`Config::load`] parses,
//! resolves relative paths against the config file's directory and
//! validates values; every error names the key it is about.
//!
//! ```toml
//! [snapshot]
//! path = "/var/lib/credlist/current.snap"
//! [state]
//! dir = "/var/lib/credlist"
//! [audit]
//! path = "/var/log/credlist/audit.log"
//! max_bytes = 268435456
//! on_error = "fail_closed"
//! [check]
//! socket = "/run/credlist/check.sock"
//! mode = "0660"
//! # tcp = "127.0.0.1:7420"
//! [batch]
//! socket = "/run/credlist/batch.sock"
//! mode = "0660"
//! [admin]
//! socket = "/run/credlist/admin.sock"
//! [receipts]
//! # key_file = "/etc/credlist/receipt.key"
//! [limits]
//! max_connections = 1024
//! max_connections_per_peer = 256
//! max_inflight_bytes = 268435456
//! max_subjects = 1000
//! max_batch_codes = 1048576
//! max_body_bytes = 1048576
//! max_header_bytes = 16384
//! idle_timeout_ms = 30000
//! read_timeout_ms = 10000
//! max_frames_in_flight = 8
//! shutdown_timeout_ms = 30000
//! [lanes]
//! count = 0
//! pin = true
//! [metrics]
//! # listen = "127.0.0.1:9420"
//! [log]
//! level = "info"
//! format = "text"
//! [[client]]
//! name = "procurement-system"
//! uid = 1001
//! matters = ["gov_procurement"]
//! persons = false
//! ```

use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config {path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[snapshot]`: which snapshot file to serve.
    pub snapshot: SnapshotSection,
    /// `[state]`: where durable daemon state lives.
    pub state: StateSection,
    /// `[audit]`: the audit register (查询使用登记).
    pub audit: AuditSection,
    /// `[check]`: the HTTP/JSON check socket (and optional loopback TCP).
    pub check: CheckSection,
    /// `[batch]`: the binary batch socket.
    pub batch: BatchSection,
    /// `[admin]`: the operators' HTTP/JSON socket.
    pub admin: AdminSection,
    /// `[receipts]`: how receipts are signed.
    pub receipts: ReceiptsSection,
    /// `[limits]`: sizes, counts and timeouts.
    pub limits: Limits,
    /// `[lanes]`: the threads serving check and batch connections.
    pub lanes: LanesSection,
    /// `[[client]]`: callers and their permissions. None = everyone who can
    /// open a socket has full rights.
    #[serde(rename = "client")]
    pub clients: Vec<ClientConfig>,
    /// `[metrics]`: the optional Prometheus listener.
    pub metrics: crate::server::observe_config::MetricsSection,
    /// `[log]`: the daemon's log filter and format.
    pub log: crate::server::observe_config::LogSection,
    /// Where the file was read from, for messages (not a key).
    #[serde(skip)]
    pub origin: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSection {
    /// Snapshot served at start and reloaded by `SIGHUP` or an admin reload
    /// without a path. Default `/var/lib/credlist/current.snap`.
    pub path: PathBuf,
}

impl Default for SnapshotSection {
    fn default() -> Self {
        SnapshotSection {
            path: "/var/lib/credlist/current.snap".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// Directory of the durable state: `holds.log` (objection holds) and
    /// `receipts` (receipt boots and high-water marks). Default
    /// `/var/lib/credlist`. Created if missing.
    pub dir: PathBuf,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            dir: "/var/lib/credlist".into(),
        }
    }
}

/// What to do when an audit record cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAuditError {
    /// Refuse checks (HTTP 503 kind `unavailable`, batch status 5) until the
    /// register can be written again.
    FailClosed,
    /// Keep answering; failures are logged and counted.
    Continue,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Audit register file, created with mode 0640. Default
    /// `/var/log/credlist/audit.log`.
    pub path: PathBuf,
    /// Size after which the file is renamed to `<path>.<n>` (n = 1, 2, …,
    /// never reused) and a new one started. Default 268435456 (256 MiB).
    pub max_bytes: u64,
    /// `fail_closed` (default): checks are refused while records cannot be
    /// written; `continue`: answer anyway, count and log the failures.
    pub on_error: OnAuditError,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            path: "/var/log/credlist/audit.log".into(),
            max_bytes: 256 << 20,
            on_error: OnAuditError::FailClosed,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckSection {
    /// Check socket (HTTP/1.1 + JSON). Default `/run/credlist/check.sock`.
    pub socket: PathBuf,
    /// Octal file mode of the check socket. Default `"0660"`.
    pub mode: String,
    /// Optional loopback TCP listener for the check API, e.g.
    /// `"127.0.0.1:7420"`; callers authenticate with
    /// `Authorization: Bearer <token>`. Default: none.
    pub tcp: Option<String>,
}

impl Default for CheckSection {
    fn default() -> Self {
        CheckSection {
            socket: "/run/credlist/check.sock".into(),
            mode: "0660".into(),
            tcp: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptsSection {
    /// A file of at least 32 bytes whose bytes are the receipt key, readable
    /// by the daemon's user alone (a file with any permission for group or
    /// others is refused at start). Daemons given the same key accept each
    /// other's receipts in `/v1/feedback`. Default: none (a daemon accepts
    /// only the receipts it issued itself, from its state directory).
    pub key_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// Batch socket (binary frames). Default `/run/credlist/batch.sock`.
    pub socket: PathBuf,
    /// Octal file mode of the batch socket. Default `"0660"`.
    pub mode: String,
}

impl Default for BatchSection {
    fn default() -> Self {
        BatchSection {
            socket: "/run/credlist/batch.sock".into(),
            mode: "0660".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSection {
    /// Admin socket (HTTP/1.1 + JSON), always mode 0600, and only peers
    /// with uid 0 or the daemon's own uid are served. Default
    /// `/run/credlist/admin.sock`.
    pub socket: PathBuf,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            socket: "/run/credlist/admin.sock".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanesSection {
    /// Lanes (threads, each with its own event loop) serving the check and
    /// batch connections. 0: one per CPU the daemon may use (its affinity
    /// and CPU quota). Default 0.
    pub count: usize,
    /// Keep each lane on one CPU of the daemon's affinity, lane `i` on the
    /// `i`-th (round them when there are more lanes than CPUs); what it
    /// gained is measured in the README's Performance section. `false` lets
    /// the kernel move them, for a host where other busy processes share
    /// those CPUs. Default `true`.
    pub pin: bool,
}

impl Default for LanesSection {
    fn default() -> Self {
        LanesSection {
            count: 0,
            pin: true,
        }
    }
}

/// Why a TCP listener is refused without a token client: with no
/// `[[client]]` every caller has full rights, and nothing like a socket
/// file's mode keeps the machine's other users off a TCP port.
pub const TCP_NEEDS_TOKENS: &str = "a TCP listener needs a [[client]] with a token: a TCP \
     port has no file mode to keep the machine's other users out";

/// Most lanes a configuration may ask for.
pub const MAX_LANES: usize = 1024;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Open connections on the check, batch and TCP listeners together.
    /// At the limit a new connection takes the place of the one idle the
    /// longest, else of the one waiting on its caller the longest (a
    /// request started and not received, an answer not read); when the
    /// daemon is working for every connection, the new one is closed
    /// (refused). See `server::conns`. Default 1024.
    pub max_connections: usize,
    /// Open connections of one peer (a Unix-socket peer process, or a TCP
    /// peer address) at a time; at the limit a new connection of that
    /// peer takes the place of one of its own. A value over
    /// `max_connections` counts as `max_connections`. Default 256.
    pub max_connections_per_peer: usize,
    /// Bytes held for large batch frames (over 64 KiB) in flight across
    /// all connections: the frame, its answer and its audit line, counted
    /// as 2.5 times the frame. A frame that cannot get its share waits
    /// (the daemon stops reading it) until its read timeout, then gets
    /// status 5 and the connection is closed. A frame larger than the
    /// whole budget waits until it can have all of it. Default 268435456
    /// (256 MiB).
    pub max_inflight_bytes: usize,
    /// Subjects per `/v1/check` request (more: 400 `too_many_subjects`).
    /// Default 1000.
    pub max_subjects: usize,
    /// Codes per batch frame; bounds the frame size (larger: status 2 and
    /// the connection is closed). Default 1048576.
    pub max_batch_codes: u32,
    /// Request body bytes on the HTTP sockets (larger: 400 `too_large`).
    /// Default 1048576.
    pub max_body_bytes: usize,
    /// Bytes of an HTTP request line plus headers (larger: 431 and the
    /// connection is closed). At least 8192. Default 16384.
    pub max_header_bytes: usize,
    /// A connection with no request in progress for this long is closed.
    /// Default 30000.
    pub idle_timeout_ms: u64,
    /// Time allowed to receive a started request: HTTP headers, an HTTP
    /// body, or the rest of a batch frame. Default 10000.
    pub read_timeout_ms: u64,
    /// Batch frames read ahead on one connection before their answers are
    /// written (answers always come in order). Default 8.
    pub max_frames_in_flight: usize,
    /// On SIGTERM, how long in-flight requests may take to finish before
    /// the daemon exits anyway. Default 30000.
    pub shutdown_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_peer: 256,
            max_inflight_bytes: 256 << 20,
            max_subjects: 1000,
            max_batch_codes: 1 << 20,
            max_body_bytes: 1 << 20,
            max_header_bytes: 16384,
            idle_timeout_ms: 30_000,
            read_timeout_ms: 10_000,
            max_frames_in_flight: 8,
            shutdown_timeout_ms: 30_000,
        }
    }
}

impl Limits {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

/// One `[[client]]`: who a caller is and what it may do.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Client name: in the audit register, stats and logs. Required, unique.
    pub name: String,
    /// Matches Unix-socket peers with this uid.
    #[serde(default)]
    pub uid: Option<u32>,
    /// Matches Unix-socket peers with this (primary) gid.
    #[serde(default)]
    pub gid: Option<u32>,
    /// Matches TCP callers sending `Authorization: Bearer <token>`; at least
    /// 16 characters; cannot be combined with uid/gid.
    #[serde(default)]
    pub token: Option<String>,
    /// Matters the client may check, or `["*"]` for all. Default `[]`: only
    /// lists-only batch checks (empty matter).
    #[serde(default)]
    pub matters: Vec<String>,
    /// May the client query natural persons (ID numbers)? Default false.
    #[serde(default)]
    pub persons: bool,
}

/// A Unix socket file mode parsed from its octal spelling.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!("{s:?} is not an octal file mode like \"0660\""));
    }
    let m = u32::from_str_radix(s, 8).map_err(|e| e.to_string())?;
    if m > 0o777 {
        return Err(format!(
            "{s:?}: only permission bits (at most 0777) are allowed"
        ));
    }
    Ok(m)
}

/// Minimum of `max_header_bytes` (the HTTP parser's smallest buffer).
pub const MIN_HEADER_BYTES: usize = 8192;
/// Largest `max_batch_codes` whose frame length still fits the u32 `len`.
pub const MAX_BATCH_CODES: u32 = (u32::MAX - 20 - u16::MAX as u32) / 18;
/// Shortest accepted bearer token.
pub const MIN_TOKEN_LEN: usize = 16;

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: origin.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&text, &origin, base)
    }

    /// Parses and validates; relative paths are taken from `base`.
    pub fn from_toml(text: &str, origin: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        c.origin = origin.to_string();
        c.resolve_paths(base);
        c.validate()?;
        Ok(c)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.snapshot.path);
        fix(&mut self.state.dir);
        fix(&mut self.audit.path);
        fix(&mut self.check.socket);
        fix(&mut self.batch.socket);
        fix(&mut self.admin.socket);
        if let Some(k) = &mut self.receipts.key_file {
            fix(k);
        }
    }

    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.origin.clone(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_paths()?;
        self.validate_listeners()?;
        if self.audit.max_bytes < 4096 {
            return Err(self.invalid("audit.max_bytes", "must be at least 4096"));
        }
        self.validate_limits()?;
        if self.lanes.count > MAX_LANES {
            return Err(self.invalid("lanes.count", format!("must be at most {MAX_LANES}")));
        }
        self.metrics
            .validate()
            .map_err(|(key, m)| self.invalid(key, m))?;
        self.log
            .validate()
            .map_err(|(key, m)| self.invalid(key, m))?;
        self.validate_clients()?;
        if self.check.tcp.is_some() && !self.has_token_client() {
            return Err(self.invalid("check.tcp", TCP_NEEDS_TOKENS));
        }
        Ok(())
    }

    /// Is at least one `[[client]]` identified by a token (a TCP caller)?
    pub fn has_token_client(&self) -> bool {
        self.clients.iter().any(|c| c.token.is_some())
    }

    /// Paths are given, the three sockets distinct.
    fn validate_paths(&self) -> Result<(), ConfigError> {
        for (key, p) in [
            ("snapshot.path", &self.snapshot.path),
            ("state.dir", &self.state.dir),
            ("audit.path", &self.audit.path),
            ("check.socket", &self.check.socket),
            ("batch.socket", &self.batch.socket),
            ("admin.socket", &self.admin.socket),
            (
                "receipts.key_file",
                self.receipts
                    .key_file
                    .as_ref()
                    .unwrap_or(&self.admin.socket),
            ),
        ] {
            if p.as_os_str().is_empty() {
                return Err(self.invalid(key, "must not be empty"));
            }
        }
        let socks = [&self.check.socket, &self.batch.socket, &self.admin.socket];
        if socks[0] == socks[1] || socks[0] == socks[2] || socks[1] == socks[2] {
            return Err(self.invalid(
                "check.socket / batch.socket / admin.socket",
                "the three sockets need three different paths",
            ));
        }
        Ok(())
    }

    /// Socket modes, and the TCP listener on loopback only.
    fn validate_listeners(&self) -> Result<(), ConfigError> {
        parse_mode(&self.check.mode).map_err(|m| self.invalid("check.mode", m))?;
        parse_mode(&self.batch.mode).map_err(|m| self.invalid("batch.mode", m))?;
        if let Some(tcp) = &self.check.tcp {
            let addr: SocketAddr = tcp.parse().map_err(|_| {
                self.invalid(
                    "check.tcp",
                    format!("{tcp:?} is not an address like \"127.0.0.1:7420\""),
                )
            })?;
            if !addr.ip().is_loopback() {
                return Err(self.invalid(
                    "check.tcp",
                    format!("{tcp:?} is not a loopback address (127.0.0.0/8 or ::1): tokens travel in clear"),
                ));
            }
        }
        Ok(())
    }

    /// Every limit above 0 and within its bound.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        for (key, v) in [
            ("limits.max_connections", l.max_connections as u64),
            (
                "limits.max_connections_per_peer",
                l.max_connections_per_peer as u64,
            ),
            ("limits.max_inflight_bytes", l.max_inflight_bytes as u64),
            ("limits.max_subjects", l.max_subjects as u64),
            ("limits.max_batch_codes", l.max_batch_codes as u64),
            ("limits.max_body_bytes", l.max_body_bytes as u64),
            ("limits.max_header_bytes", l.max_header_bytes as u64),
            ("limits.idle_timeout_ms", l.idle_timeout_ms),
            ("limits.read_timeout_ms", l.read_timeout_ms),
            ("limits.max_frames_in_flight", l.max_frames_in_flight as u64),
            ("limits.shutdown_timeout_ms", l.shutdown_timeout_ms),
        ] {
            if v == 0 {
                return Err(self.invalid(key, "must be greater than 0"));
            }
        }
        if l.max_header_bytes < MIN_HEADER_BYTES {
            return Err(self.invalid(
                "limits.max_header_bytes",
                format!("must be at least {MIN_HEADER_BYTES}"),
            ));
        }
        if l.max_batch_codes > MAX_BATCH_CODES {
            return Err(self.invalid(
                "limits.max_batch_codes",
                format!("at most {MAX_BATCH_CODES} (a frame's length must fit in 32 bits)"),
            ));
        }
        if l.max_connections > 1_000_000 {
            return Err(self.invalid("limits.max_connections", "at most 1000000"));
        }
        if l.max_frames_in_flight > 1024 {
            return Err(self.invalid("limits.max_frames_in_flight", "at most 1024"));
        }
        Ok(())
    }

    /// Client names and tokens unique, each client identified one way,
    /// matter lists well formed.
    fn validate_clients(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        let mut tokens = HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = |k: &str| format!("client[{i}] ({:?}).{k}", c.name);
            if c.name.trim().is_empty() {
                return Err(self.invalid(format!("client[{i}].name"), "must not be empty"));
            }
            if !names.insert(c.name.as_str()) {
                return Err(self.invalid(key("name"), "duplicate client name"));
            }
            match (&c.token, c.uid.is_some() || c.gid.is_some()) {
                (None, false) => {
                    return Err(self.invalid(
                        key("uid"),
                        "a client needs uid, gid (Unix sockets) or token (TCP)",
                    ))
                }
                (Some(_), true) => return Err(self.invalid(
                    key("token"),
                    "a token (TCP) cannot be combined with uid/gid (Unix sockets): use two clients",
                )),
                (Some(t), false) => {
                    if t.chars().count() < MIN_TOKEN_LEN || t.trim() != t {
                        return Err(self.invalid(
                            key("token"),
                            format!("at least {MIN_TOKEN_LEN} characters, no surrounding spaces"),
                        ));
                    }
                    if !tokens.insert(t.as_str()) {
                        return Err(
                            self.invalid(key("token"), "the same token is given to two clients")
                        );
                    }
                }
                (None, true) => {}
            }
            if c.matters.iter().any(|m| m == "*") && c.matters.len() > 1 {
                return Err(self.invalid(key("matters"), "mixes \"*\" with matter ids"));
            }
            if c.matters.iter().any(|m| m.is_empty()) {
                return Err(self.invalid(key("matters"), "an empty matter id"));
            }
        }
        Ok(())
    }

    pub fn check_mode(&self) -> u32 {
        parse_mode(&self.check.mode).unwrap_or(0o660)
    }

    pub fn batch_mode(&self) -> u32 {
        parse_mode(&self.batch.mode).unwrap_or(0o660)
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.check.tcp.as_ref().and_then(|t| t.parse().ok())
    }

    /// The configuration of demo mode: everything under `dir`.
    pub fn demo(dir: &Path) -> Config {
        let mut c = Config {
            origin: "(demo)".into(),
            ..Config::default()
        };
        c.snapshot.path = dir.join("demo.snap");
        c.state.dir = dir.to_path_buf();
        c.audit.path = dir.join("audit.log");
        c.check.socket = dir.join("check.sock");
        c.batch.socket = dir.join("batch.sock");
        c.admin.socket = dir.join("admin.sock");
        c.check.mode = "0600".into();
        c.batch.mode = "0600".into();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, "test.toml", Path::new("/etc/credlist"))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("should be refused").to_string()
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = parse("").unwrap();
        assert_eq!(c.snapshot.path, Path::new("/var/lib/credlist/current.snap"));
        assert_eq!(c.state.dir, Path::new("/var/lib/credlist"));
        assert_eq!(c.audit.path, Path::new("/var/log/credlist/audit.log"));
        assert_eq!(c.audit.max_bytes, 256 << 20);
        assert_eq!(c.audit.on_error, OnAuditError::FailClosed);
        assert_eq!(c.check.socket, Path::new("/run/credlist/check.sock"));
        assert_eq!(c.check_mode(), 0o660);
        assert_eq!(c.batch_mode(), 0o660);
        assert!(c.check.tcp.is_none());
        assert_eq!(c.admin.socket, Path::new("/run/credlist/admin.sock"));
        assert_eq!(c.limits.max_connections, 1024);
        assert_eq!(c.limits.max_connections_per_peer, 256);
        assert_eq!(c.limits.max_inflight_bytes, 256 << 20);
        assert_eq!(c.limits.max_subjects, 1000);
        assert_eq!(c.limits.max_batch_codes, 1_048_576);
        assert_eq!(c.limits.max_body_bytes, 1_048_576);
        assert_eq!(c.limits.idle_timeout_ms, 30_000);
        assert_eq!(c.limits.max_header_bytes, 16384);
        assert_eq!(c.limits.read_timeout_ms, 10_000);
        assert_eq!(c.limits.max_frames_in_flight, 8);
        assert_eq!(c.lanes.count, 0);
        assert!(c.lanes.pin);
        assert!(c.clients.is_empty());
    }

    #[test]
    fn the_sample_config_is_valid() {
        let text = include_str!("../../systemd/credlist.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.snapshot.path, Path::new("/var/lib/credlist/current.snap"));
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let c = parse("[snapshot]\npath = \"x.snap\"\n").unwrap();
        assert_eq!(c.snapshot.path, Path::new("/etc/credlist/x.snap"));
        let c = parse("[receipts]\nkey_file = \"receipt.key\"\n").unwrap();
        assert_eq!(
            c.receipts.key_file.as_deref(),
            Some(Path::new("/etc/credlist/receipt.key"))
        );
        assert!(err("[receipts]\nkey_file = \"\"").contains("receipts.key_file"));
    }

    #[test]
    fn refusals_name_the_key() {
        assert!(err("[check]\nmode = \"0698\"").contains("check.mode"));
        assert!(err("[batch]\nmode = \"rw\"").contains("batch.mode"));
        assert!(err("[check]\ntcp = \"localhost\"").contains("check.tcp"));
        assert!(err("[check]\ntcp = \"10.0.0.1:80\"").contains("loopback"));
        assert!(
            err("[check]\ntcp = \"127.0.0.1:7420\"").contains("check.tcp: a TCP listener needs")
        );
        let uid_only = "[[client]]\nname = \"a\"\nuid = 1\n";
        assert!(err(&format!("[check]\ntcp = \"127.0.0.1:7420\"\n{uid_only}")).contains("token"));
        let token = "[[client]]\nname = \"w\"\ntoken = \"0123456789abcdef\"\n";
        assert!(parse(&format!("[check]\ntcp = \"127.0.0.1:7420\"\n{token}")).is_ok());
        assert!(err("[limits]\nmax_subjects = 0").contains("limits.max_subjects"));
        assert!(err("[limits]\nmax_header_bytes = 100").contains("limits.max_header_bytes"));
        assert!(err("[limits]\nmax_batch_codes = 4000000000").contains("limits.max_batch_codes"));
        assert!(err("[[client]]\nname = \"a\"").contains("uid"));
        assert!(
            err("[[client]]\nname = \"a\"\nuid = 1\n[[client]]\nname = \"a\"\ngid = 2")
                .contains("duplicate")
        );
        assert!(err("[[client]]\nname = \"a\"\ntoken = \"short\"").contains("token"));
        assert!(
            err("[[client]]\nname = \"a\"\nuid = 1\ntoken = \"0123456789abcdef\"")
                .contains("token")
        );
        assert!(
            err("[[client]]\nname = \"a\"\nuid = 1\nmatters = [\"*\", \"x\"]").contains("matters")
        );
        assert!(err("[audit]\non_error = \"ignore\"").contains("on_error"));
        assert!(err("[lanes]\ncount = 5000").contains("lanes.count"));
        assert!(err("[lanes]\npin = \"yes\"").contains("pin"));
        assert!(err("[check]\nsocket = \"/a\"\n[batch]\nsocket = \"/a\"").contains("different"));
    }

    #[test]
    fn unknown_keys_are_refused_at_every_level() {
        assert!(err("typo = 1").contains("typo"));
        assert!(err("[limits]\nmax_conections = 5").contains("max_conections"));
        assert!(err("[admin]\nmode = \"0666\"").contains("mode"));
        assert!(err("[lanes]\npinned = true").contains("pinned"));
        assert!(err("[[client]]\nname = \"a\"\nuid = 1\npersón = true").contains("pers"));
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("0o660").is_err());
    }
}
