//! `credlist serve`: the daemon (SPEC §6 "Daemon sockets", "Daemon
//! behaviour").
//!
//! - [`config`]: the TOML configuration, defaults and validation;
//! - [`state`]: the served snapshot (swapped atomically on reload) and the
//!   shared state of all handlers;
//! - [`http`]: the check and admin sockets (HTTP/1.1 + JSON): the
//!   transport, the check API and the admin API;
//! - [`batch`]: the batch socket's connection loop (its frames are
//!   [`crate::wire::batch`]);
//! - [`access`]: callers, clients and permissions;
//! - [`holds`], [`receipts`], [`journal`]: durable state (objection holds,
//!   receipt numbering) in checksummed append-only journals;
//! - [`audit`]: the audit register: its records (`audit::record`) and
//!   its writer thread;
//! - [`lanes`]: the threads serving check and batch connections, one
//!   single-threaded runtime per core (a connection stays on its lane);
//! - [`conns`]: connection places, per peer and in all, and which
//!   connection gives up its place under a flood;
//! - [`metrics`]: Prometheus counters and histograms;
//! - [`notify`]: systemd readiness and socket activation;
//! - [`demo`]: demo mode (fixtures embedded in the binary);
//! - [`client`]: a small blocking client of the admin socket.
//!
//! Life cycle ([`run`]): open and verify the snapshot, replay the holds,
//! start a receipt boot and the audit writer, bind the sockets (or take
//! them from systemd), send `READY=1`, then accept connections (at most
//! `max_connections` at a time, `max_connections_per_peer` of one peer: at
//! a limit, an idle connection or the one waiting on its caller the
//! longest gives up its place, and a connection that still finds none is
//! refused; see [`conns`]; accept errors back off). `SIGHUP` reloads
//! the snapshot and reopens the audit file. `SIGTERM`/`SIGINT` stop
//! accepting, let in-flight requests finish (HTTP connections shut down
//! gracefully, batch connections finish the frame they are reading), flush
//! the audit register, record the final receipt count and exit 0.
//!
//! Ordinary logs never carry codes, names or ID numbers: they name counts,
//! clients, receipts, and entry ids for holds.

pub mod access;
pub mod audit;
pub mod batch;
pub mod client;
pub mod config;
pub mod conns;
pub mod demo;
pub mod holds;
pub mod http;
pub mod journal;
pub mod lanes;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod observe_config;
pub mod process;
pub mod receipts;
pub mod state;

use crate::stream::ReadWokenStream;
use access::Peer;
use config::Config;
use metrics::Listener;
use notify::Activated;
use state::State;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Snapshot(String),
    #[error("state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("hold registry: {0}")]
    Holds(#[from] holds::HoldError),
    #[error("receipts journal: {0}")]
    Receipts(#[from] journal::JournalError),
    #[error(transparent)]
    ReceiptKey(#[from] receipts::KeyError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error("{what} socket {path}: {message}")]
    Bind {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Options of [`run`] besides the configuration.
#[derive(Default)]
pub struct RunOptions {
    /// Printed to stdout once the daemon is ready (demo mode's how-to).
    pub banner: Option<String>,
}

/// One listening socket.
enum Sock {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

struct Bound {
    kind: Listener,
    sock: Sock,
    /// A path this process bound (removed at exit); `None` when activated.
    path: Option<PathBuf>,
    /// Passed by systemd (socket activation) rather than bound here.
    activated: bool,
}

/// Runs the daemon until SIGTERM/SIGINT. Builds its own runtime.
pub fn run(config: Config, opts: RunOptions) -> Result<(), ServerError> {
    // Socket activation first, before any thread exists.
    let activated = Activated::from_env();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Check and batch connections are served on lanes, one per core by
    // default (see `lanes`); the main runtime accepts, reloads and serves
    // the admin socket.
    let n_lanes = match config.lanes.count {
        0 => workers,
        n => n,
    };
    let cpus = if config.lanes.pin {
        crate::os::allowed_cpus().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the CPUs the daemon may use; lanes run unpinned");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    tracing::info!(lanes = n_lanes, pinned = !cpus.is_empty(), "starting lanes");
    let lanes = Arc::new(lanes::Lanes::start(n_lanes, &cpus).map_err(ServerError::Runtime)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("credlist-worker")
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let result = rt.block_on(serve(config, activated, opts, lanes.clone()));
    lanes.stop();
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(
    config: Config,
    activated: Activated,
    opts: RunOptions,
    lanes: Arc<lanes::Lanes>,
) -> Result<(), ServerError> {
    let (st, bound) = start(config, activated).await?;
    let metrics_listener = match st.config.metrics.addr() {
        Ok(Some(addr)) => Some(observe::bind_metrics(addr).map_err(|e| ServerError::Bind {
            what: "metrics",
            path: addr.to_string(),
            message: e.to_string(),
        })?),
        _ => None,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (done_tx, done_rx) = mpsc::channel::<()>(1);
    let served = served_sockets(&bound);
    let paths = listen(&st, bound, &lanes, shutdown_rx.clone(), done_tx);
    if let Some(l) = metrics_listener {
        let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(address = %addr, "metrics listener serving GET /metrics");
        tokio::spawn(observe::serve_metrics(st.clone(), l, shutdown_rx.clone()));
    }
    if let Some(interval) = observe::watchdog_interval() {
        tracing::info!(
            interval_ms = interval.as_millis() as u64,
            "systemd watchdog: pinging at half the interval"
        );
        tokio::spawn(observe::watchdog(interval, lanes, shutdown_rx.clone()));
    }
    for (listener, how, at) in &served {
        tracing::info!(listener, how, at = %at, "listening");
    }
    announce(&st, &opts);
    wait_for_stop(&st).await?;
    stop(&st, shutdown_tx, done_rx, &paths).await;
    Ok(())
}

/// Opens the snapshot, replays the holds, starts the receipts and the
/// audit writer, and binds the sockets (or takes them from systemd).
async fn start(
    config: Config,
    mut activated: Activated,
) -> Result<(Arc<State>, Vec<Bound>), ServerError> {
    let dir_err = |source| ServerError::StateDir {
        path: config.state.dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&config.state.dir).map_err(dir_err)?;
    // SIGIO announces a lease break on a served snapshot file: handled
    // before the first snapshot is opened (its default action kills).
    let sigio = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::io())
        .map_err(ServerError::Runtime)?;
    tokio::spawn(lease_breaks(sigio));
    let snap = state::open_snapshot(config.snapshot.path.clone())
        .await
        .map_err(ServerError::Snapshot)?;
    let registry = holds::HoldRegistry::open(&config.state.dir)?;
    let key = match &config.receipts.key_file {
        Some(p) => Some(receipts::ReceiptKey::load(p)?),
        None => None,
    };
    let receipts = receipts::Receipts::start(&config.state.dir, key)?;
    let audit = audit::Audit::start(&config.audit)?;
    let bound = match bind_all(&config, &mut activated) {
        Ok(b) => b,
        Err(e) => {
            audit.shutdown();
            return Err(e);
        }
    };
    for (name, _) in &activated.fds {
        tracing::warn!(
            name,
            "ignoring a socket passed by systemd with an unknown FileDescriptorName"
        );
    }
    let st = Arc::new(State::new(config, snap, registry, audit, receipts));
    warn_unknown_matters(&st);
    Ok((st, bound))
}

/// Warns of client matters the served catalog does not have.
fn warn_unknown_matters(st: &State) {
    for c in &st.config.clients {
        let snap = &st.served().snap;
        for m in c.matters.iter().filter(|m| *m != "*") {
            if snap.catalog.matter_index(m).is_none() {
                tracing::warn!(client = %c.name, matter = %m, "client names a matter the catalog does not have");
            }
        }
    }
}

/// Starts an accept loop per socket; returns the socket paths to remove at
/// exit.
fn listen(
    st: &Arc<State>,
    bound: Vec<Bound>,
    lanes: &Arc<lanes::Lanes>,
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) -> Vec<PathBuf> {
    let admin_conns = conns::Conns::new(ADMIN_CONNECTIONS, ADMIN_CONNECTIONS);
    let mut paths = Vec::new();
    for b in bound {
        let places = if b.kind == Listener::Admin {
            admin_conns.clone()
        } else {
            st.conns.clone()
        };
        paths.extend(b.path.clone());
        tokio::spawn(accept_loop(
            st.clone(),
            b,
            places,
            lanes.clone(),
            shutdown.clone(),
            done.clone(),
        ));
    }
    paths
}

/// Logs what is served, sends `READY=1`, prints the banner.
fn announce(st: &State, opts: &RunOptions) {
    let status = st.status_line();
    tracing::info!(
        snapshot = %st.served().snap.id,
        data_date = %st.served().snap.data_date,
        entries = st.served().snap.entries(),
        holds = st.served().holds.len(),
        protection = st.served().snap.protection().map_or("none", |p| p.label()),
        clients = st.config.clients.len(),
        "credlist serving"
    );
    notify::ready(&status);
    if let Some(b) = &opts.banner {
        // A closed stdout must not end the daemon.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), format!("{b}\n").as_bytes());
    }
}

/// Reloads the snapshot on `SIGHUP`, reopens the audit register on
/// `SIGUSR1` (log rotation); returns on `SIGTERM` or `SIGINT`.
async fn wait_for_stop(st: &State) -> Result<(), ServerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let sig = |k| signal(k).map_err(ServerError::Runtime);
    let (mut hup, mut usr1, mut term, mut int) = (
        sig(SignalKind::hangup())?,
        sig(SignalKind::user_defined1())?,
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
    );
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the snapshot");
                let _ = st.reload(None).await;
            }
            _ = usr1.recv() => {
                tracing::info!("SIGUSR1: reopening the audit register");
                st.audit.reopen();
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

/// Drains the connections (at most the shutdown timeout), removes the
/// sockets, records the final receipt count and flushes the audit register.
async fn stop(
    st: &Arc<State>,
    shutdown: watch::Sender<bool>,
    mut done: mpsc::Receiver<()>,
    paths: &[PathBuf],
) {
    tracing::info!("stopping: draining in-flight requests");
    notify::stopping();
    let _ = shutdown.send(true);
    let limit = st.config.limits.shutdown_timeout();
    if tokio::time::timeout(limit, done.recv()).await.is_err() {
        tracing::warn!(
            timeout_ms = limit.as_millis() as u64,
            "connections still open after the shutdown timeout; closing them"
        );
    }
    for p in paths {
        remove_socket(p);
    }
    let st2 = st.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = st2.receipts.finish() {
            tracing::error!(error = %e, "cannot record the final receipt count");
        }
        st2.audit.shutdown();
    })
    .await;
    tracing::info!(receipts = st.receipts.issued(), "stopped");
}

/// Detaches served snapshots from their files when a process opens one
/// for writing or truncates it (see [`crate::snapshot::guard`]).
async fn lease_breaks(mut sigio: tokio::signal::unix::Signal) {
    while sigio.recv().await.is_some() {
        let detached = tokio::task::spawn_blocking(crate::snapshot::guard::on_lease_break)
            .await
            .unwrap_or_default();
        for d in detached {
            match d.result {
                Ok(()) => tracing::warn!(
                    path = %d.path.display(),
                    "the served snapshot file is being written or truncated in place; \
                     now serving the verified snapshot from memory (install snapshots by \
                     renaming a complete file over the path)"
                ),
                Err(e) => tracing::error!(
                    path = %d.path.display(),
                    error = %e,
                    "cannot detach the served snapshot from its file being written in place"
                ),
            }
        }
    }
}

/// Connections to the admin socket at a time (apart from the others, so a
/// flood of callers never locks operators out).
const ADMIN_CONNECTIONS: usize = 64;

async fn accept_loop(
    st: Arc<State>,
    b: Bound,
    places: Arc<conns::Conns>,
    lanes: Arc<lanes::Lanes>,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        // Accept first, then find room: a connection never waits in the
        // kernel's backlog behind idle ones; it is served or refused.
        let accepted = tokio::select! {
            r = accept(&b.sock) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let conn = match accepted {
            Ok(c) => {
                backoff = Duration::from_millis(5);
                c
            }
            Err(e) => {
                tracing::warn!(listener = b.kind.label(), error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Some(peer) = conn.peer_key() else {
            continue;
        };
        // A place of its own, or another connection's (see `conns`).
        let place = match places.admit(peer).await {
            Ok(p) => p,
            Err(why) => {
                tracing::debug!(
                    listener = b.kind.label(),
                    ?why,
                    "connection limit reached; connection refused"
                );
                drop(conn);
                continue;
            }
        };
        st.metrics.connection_opened(b.kind);
        let job = ConnJob {
            st: st.clone(),
            kind: b.kind,
            place,
            shutdown: shutdown.clone(),
            done: done.clone(),
        };
        if b.kind == Listener::Admin {
            // Operators' requests (holds, reloads) may block on the disk:
            // they stay on the main runtime.
            tokio::spawn(job.run(conn.into_std().and_then(StdConn::into_tokio)));
            continue;
        }
        match conn.into_std() {
            // Registered with the lane's reactor, on the lane.
            Ok(moved) => lanes.serve(move || job.run(moved.into_tokio())),
            Err(e) => {
                tokio::spawn(job.run(Err(e)));
            }
        }
    }
}

/// What serving an accepted connection needs, and holds until it ends:
/// its place and the shutdown's wait for it.
struct ConnJob {
    st: Arc<State>,
    kind: Listener,
    place: conns::Place,
    shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
}

impl ConnJob {
    async fn run(self, conn: std::io::Result<Conn<ReadWokenStream>>) {
        let st = &self.st;
        match conn {
            Ok(conn) => handle(st, conn, self.kind, self.place.slot.clone(), self.shutdown).await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot register a connection where it is served; closing it")
            }
        }
        st.metrics.connection_closed(self.kind);
        drop(self.place);
        drop(self.done);
    }
}

/// A connection; its Unix stream is tokio's while it is accepted and a
/// [`ReadWokenStream`] where it is served (its lane, or the main runtime
/// for the admin socket).
enum Conn<U = tokio::net::UnixStream> {
    Unix(U, Peer),
    Tcp(tokio::net::TcpStream, std::net::IpAddr),
}

/// A connection between its accept loop and its lane: out of any
/// runtime's reactor.
enum StdConn {
    Unix(std::os::unix::net::UnixStream, Peer),
    Tcp(std::net::TcpStream, std::net::IpAddr),
}

impl StdConn {
    /// Registers the connection with the current runtime's reactor.
    fn into_tokio(self) -> std::io::Result<Conn<ReadWokenStream>> {
        Ok(match self {
            StdConn::Unix(s, p) => Conn::Unix(ReadWokenStream::new(s)?, p),
            StdConn::Tcp(s, ip) => Conn::Tcp(tokio::net::TcpStream::from_std(s)?, ip),
        })
    }
}

impl Conn {
    /// Takes the connection out of this runtime's reactor (it stays
    /// non-blocking), to be served on a lane.
    fn into_std(self) -> std::io::Result<StdConn> {
        Ok(match self {
            Conn::Unix(s, p) => StdConn::Unix(s.into_std()?, p),
            Conn::Tcp(s, ip) => StdConn::Tcp(s.into_std()?, ip),
        })
    }

    /// Who the connection belongs to, for the per-peer limit.
    fn peer_key(&self) -> Option<conns::PeerKey> {
        match self {
            Conn::Unix(_, p) => match (p.pid, p.uid) {
                (Some(pid), _) if pid > 0 => Some(conns::PeerKey::Pid(pid)),
                (_, Some(uid)) => Some(conns::PeerKey::Uid(uid)),
                _ => None,
            },
            Conn::Tcp(_, ip) => Some(conns::PeerKey::Addr(*ip)),
        }
    }
}

async fn accept(s: &Sock) -> std::io::Result<Conn> {
    match s {
        Sock::Unix(l) => {
            let (c, _) = l.accept().await?;
            // A peer without credentials is closed (no caller to check).
            let peer = match c.peer_cred() {
                Ok(p) => Peer {
                    uid: Some(p.uid()),
                    gid: Some(p.gid()),
                    pid: p.pid(),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "no peer credentials; closing the connection");
                    Peer {
                        uid: None,
                        gid: None,
                        pid: None,
                    }
                }
            };
            Ok(Conn::Unix(c, peer))
        }
        Sock::Tcp(l) => l.accept().await.map(|(c, addr)| {
            let _ = c.set_nodelay(true);
            Conn::Tcp(c, addr.ip())
        }),
    }
}

async fn handle(
    st: &Arc<State>,
    conn: Conn<ReadWokenStream>,
    kind: Listener,
    slot: Arc<conns::Slot>,
    shutdown: watch::Receiver<bool>,
) {
    match conn {
        Conn::Unix(s, peer) => {
            let caller = st.access.unix(peer);
            match kind {
                Listener::Batch => batch::serve(st.clone(), s, caller, slot, shutdown).await,
                Listener::Admin => {
                    http::serve(
                        st.clone(),
                        s,
                        kind,
                        http::Api::Admin,
                        http::Ident::Unix(caller),
                        slot,
                        shutdown,
                    )
                    .await
                }
                _ => {
                    http::serve(
                        st.clone(),
                        s,
                        kind,
                        http::Api::Check,
                        http::Ident::Unix(caller),
                        slot,
                        shutdown,
                    )
                    .await
                }
            }
        }
        Conn::Tcp(s, _) => {
            http::serve(
                st.clone(),
                s,
                kind,
                http::Api::Check,
                http::Ident::Tcp,
                slot,
                shutdown,
            )
            .await
        }
    }
}

/// Removes a socket file we created, only if it still is a socket.
fn remove_socket(p: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(p);
    }
}

/// What each bound socket is, for the log: (listener, "activated" or
/// "bound", path or address).
fn served_sockets(bound: &[Bound]) -> Vec<(&'static str, &'static str, String)> {
    bound
        .iter()
        .map(|b| {
            let how = if b.activated { "activated" } else { "bound" };
            let at = match &b.sock {
                Sock::Unix(l) => l
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                    .unwrap_or_else(|| "(unnamed)".into()),
                Sock::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            };
            (b.kind.label(), how, at)
        })
        .collect()
}

fn bind_all(c: &Config, activated: &mut Activated) -> Result<Vec<Bound>, ServerError> {
    let mut out = Vec::new();
    for (kind, name, path, mode) in [
        (Listener::Check, "check", &c.check.socket, c.check_mode()),
        (Listener::Batch, "batch", &c.batch.socket, c.batch_mode()),
        (Listener::Admin, "admin", &c.admin.socket, 0o600),
    ] {
        let b = match activated.take(name) {
            Some(fd) => Bound {
                kind,
                sock: Sock::Unix(unix_from_fd(fd, name)?),
                path: None,
                activated: true,
            },
            None => Bound {
                kind,
                sock: Sock::Unix(bind_unix(path, mode, name)?),
                path: Some(path.clone()),
                activated: false,
            },
        };
        out.push(b);
    }
    if let Some(fd) = activated.take("tcp") {
        // Held to the rules of a configured `check.tcp`: loopback only
        // (bearer tokens travel in clear), callers identified by token.
        let l = std::net::TcpListener::from(fd);
        let addr = l.local_addr().map_err(|e| ServerError::Bind {
            what: "tcp",
            path: "(from systemd)".into(),
            message: format!("not a TCP socket: {e}"),
        })?;
        if !addr.ip().is_loopback() {
            return Err(ServerError::Bind {
                what: "tcp",
                path: format!("{addr} (from systemd)"),
                message: "not a loopback address (127.0.0.0/8 or ::1): tokens travel in clear; \
                          set ListenStream=127.0.0.1:PORT"
                    .into(),
            });
        }
        if !c.has_token_client() {
            return Err(ServerError::Bind {
                what: "tcp",
                path: format!("{addr} (from systemd)"),
                message: config::TCP_NEEDS_TOKENS.into(),
            });
        }
        if let Some(configured) = c.tcp_addr().filter(|a| *a != addr) {
            tracing::warn!(activated = %addr, configured = %configured, "check.tcp differs from the activated tcp socket; serving the activated one");
        }
        out.push(Bound {
            kind: Listener::Tcp,
            sock: Sock::Tcp(tcp_from_std(l, "tcp")?),
            path: None,
            activated: true,
        });
    } else if let Some(addr) = c.tcp_addr() {
        let l = std::net::TcpListener::bind(addr).map_err(|e| ServerError::Bind {
            what: "tcp",
            path: addr.to_string(),
            message: e.to_string(),
        })?;
        out.push(Bound {
            kind: Listener::Tcp,
            sock: Sock::Tcp(tcp_from_std(l, "tcp")?),
            path: None,
            activated: false,
        });
    }
    Ok(out)
}

fn unix_from_fd(fd: OwnedFd, name: &'static str) -> Result<tokio::net::UnixListener, ServerError> {
    let l = std::os::unix::net::UnixListener::from(fd);
    let err = |e: std::io::Error| ServerError::Bind {
        what: name,
        path: "(from systemd)".into(),
        message: e.to_string(),
    };
    l.set_nonblocking(true).map_err(err)?;
    tokio::net::UnixListener::from_std(l).map_err(err)
}

fn tcp_from_std(
    l: std::net::TcpListener,
    name: &'static str,
) -> Result<tokio::net::TcpListener, ServerError> {
    let err = |e: std::io::Error| ServerError::Bind {
        what: name,
        path: l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        message: e.to_string(),
    };
    l.set_nonblocking(true).map_err(err)?;
    let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tokio::net::TcpListener::from_std(l).map_err(|e| ServerError::Bind {
        what: name,
        path: addr,
        message: e.to_string(),
    })
}

/// Binds a Unix socket at `path` with `mode`. A stale socket file is
/// removed; anything else at the path, or a socket another process still
/// serves, is an error.
fn bind_unix(
    path: &Path,
    mode: u32,
    what: &'static str,
) -> Result<tokio::net::UnixListener, ServerError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let err = |message: String| ServerError::Bind {
        what,
        path: path.display().to_string(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create its directory: {e}")))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(err("another process is serving on it".into()));
            }
            std::fs::remove_file(path)
                .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?;
        }
        Ok(_) => {
            return Err(err(
                "the path exists and is not a socket; not removing it".into()
            ))
        }
        Err(_) => {}
    }
    // Bind with a umask that leaves the socket private until chmod gives it
    // its configured mode (no window where it is wider).
    let bound = crate::os::with_umask(0o177, || std::os::unix::net::UnixListener::bind(path));
    let l = bound.map_err(|e| err(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| err(format!("chmod: {e}")))?;
    l.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
    tokio::net::UnixListener::from_std(l).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_refuses_a_non_socket_and_replaces_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("file");
        std::fs::write(&f, "x").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(bind_unix(&f, 0o660, "check").is_err());
            let s = dir.path().join("s.sock");
            drop(std::os::unix::net::UnixListener::bind(&s).unwrap());
            let l = bind_unix(&s, 0o660, "check").unwrap();
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&s).unwrap().permissions().mode() & 0o777,
                0o660
            );
            assert!(
                bind_unix(&s, 0o660, "check").is_err(),
                "a live socket is not taken over"
            );
            drop(l);
        });
    }
}
