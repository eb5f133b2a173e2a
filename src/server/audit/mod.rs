//! The audit register (查询使用登记): every check, feedback and batch frame
//! is recorded, append-only, as one JSON line in a file created with mode
//! 0640 (the daemon writes, the operators' group reads, nobody else).
//!
//! The shape of the records is in `record`; this module writes them.
//!
//! # Keeping pace with millions of lookups per second
//!
//! A batch frame is one record, not one per code (see `record`), so a
//! frame of 4096 codes costs a few kilobytes instead of a hundred.
//!
//! Records are formatted on the connection's task (so formatting runs on
//! every core) and handed to one writer thread over a channel. The writer
//! gathers whatever has arrived (up to 1 MiB) into one `write`, so under
//! load it makes few large sequential writes; nothing waits for the disk on
//! the request path. Data reaches the kernel within 100 ms, is fsynced at
//! least every second, at rotation and at shutdown.
//!
//! Nothing is dropped silently. The queue is bounded by bytes
//! ([`QUEUE_BYTES`]): when the writer falls behind, senders wait for room
//! (backpressure slows the callers instead of losing records).
//!
//! # Outages
//!
//! A failed open, write or fsync starts an *outage*: the register is
//! unhealthy, the data is kept, and one error is logged. With
//! `on_error = "fail_closed"` (the default), checks are refused (HTTP 503
//! kind `unavailable`, batch status 5) and `/v1/health` answers 503 with
//! the reason; with `"continue"` they go on, and when the kept data
//! reaches half the queue it is discarded and counted in
//! `credlist_audit_lost_records_total`, and an error is logged.
//!
//! While unhealthy, the writer probes the register every [`PROBE_EVERY`]
//! by itself, whether or not records arrive (refused checks queue none):
//! it reopens the file if it has none, writes what is kept and fsyncs.
//! When all of that succeeds the outage ends (one info line) and checks
//! are answered again; no restart or `SIGHUP` is needed. A daemon whose
//! register cannot be opened at start starts all the same, in an outage.
//! Metrics: `credlist_audit_healthy`, `credlist_audit_errors_total` (every
//! failed operation, probes included), `credlist_audit_outages_total` and
//! `credlist_audit_unhealthy_seconds_total`.
//!
//! Records are never torn: a record cut short by a failed write is taken
//! back out of the file and written again whole; where the file cannot be
//! cut, the rest of that record is written next (also when `continue`
//! gives up on the records after it). What the kernel does with
//! data written before a real I/O error is its own: after a failed fsync
//! Linux may have dropped those pages, and a later fsync does not report
//! it again (the outage is logged and counted, so the operator knows which
//! span to check against the disk).
//!
//! Rotation: when the file exceeds `max_bytes` it is renamed to
//! `<path>.<n>` (n one more than any existing) and a new file is started.
//! `SIGUSR1` reopens the path (for an external log rotator; `SIGHUP` reloads
//! the snapshot and leaves the register alone).

pub(crate) mod record;

use crate::server::config::{AuditSection, OnAuditError};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of records queued for the writer at most.
pub const QUEUE_BYTES: usize = 64 << 20;
/// Bytes gathered into one write.
const WRITE_CHUNK: usize = 1 << 20;
/// Records in one `writev` at most (Linux's `IOV_MAX`).
const MAX_SLICES: usize = 1024;
/// Longest time a record waits in the writer before `write`.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How long the writer lets records gather after the first one arrives.
const LINGER: Duration = Duration::from_millis(2);
/// Longest time between fsyncs while records arrive.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// File mode of the register.
pub const MODE: u32 = 0o640;
/// How often an unhealthy register is probed (reopen, write, fsync).
pub const PROBE_EVERY: Duration = Duration::from_millis(250);

enum Msg {
    Record(Vec<u8>, OwnedSemaphorePermit),
    Shutdown(mpsc::Sender<()>),
}

/// Counters shared with the metrics.
#[derive(Default)]
pub struct AuditStats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    /// Failed operations (open, write, fsync, rotation), probes included.
    pub errors: AtomicU64,
    pub lost: AtomicU64,
    pub rotations: AtomicU64,
    /// Outages started (healthy to unhealthy).
    pub outages: AtomicU64,
    /// Milliseconds spent in outages that ended.
    pub unhealthy_ms: AtomicU64,
}

/// The register's health, shared by the writer (which changes it) and the
/// handlers (which refuse checks and answer `/v1/health` by it).
struct Health {
    healthy: AtomicBool,
    /// The current outage: when it started and what failed.
    outage: Mutex<Option<(Instant, String)>>,
}

impl Health {
    fn new() -> Health {
        Health {
            healthy: AtomicBool::new(true),
            outage: Mutex::new(None),
        }
    }
    fn outage(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.outage.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The register: a handle to its writer thread.
pub struct Audit {
    /// Senders share it (a read lock: the lanes never wait on each
    /// other); shutdown takes it out.
    tx: RwLock<Option<mpsc::Sender<Msg>>>,
    budget: Arc<Semaphore>,
    health: Arc<Health>,
    reopen: Arc<AtomicBool>,
    on_error: OnAuditError,
    pub stats: Arc<AuditStats>,
    path: PathBuf,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Why a record could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit register {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("the audit register cannot be written (see the daemon's log); checks are refused until it can")]
    Unavailable,
    #[error("the audit register is closed")]
    Closed,
}

fn open_file(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(MODE)
        .open(path)?;
    // The mode only applies to a new file: tighten an existing regular
    // file too (never a device or anything else an operator pointed at).
    use std::os::unix::fs::PermissionsExt;
    let meta = f.metadata()?;
    let m = meta.permissions().mode() & 0o777;
    if meta.is_file() && m & !MODE != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(m & MODE))?;
    }
    Ok(f)
}

/// Next free rotation number for `path`.
fn next_rotation(path: &Path) -> u64 {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return 1;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let max = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_prefix(&prefix)?.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0);
    max + 1
}

/// Opens the register's file, creating its folder first.
fn open_path(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    open_file(path)
}

impl Audit {
    /// Opens the register and starts its writer thread. A register that
    /// cannot be opened does not stop the start: the writer begins in an
    /// outage and probes until it can open it.
    pub fn start(cfg: &AuditSection) -> Result<Audit, AuditError> {
        let (tx, rx) = mpsc::channel();
        let health = Arc::new(Health::new());
        let reopen = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(AuditStats::default());
        let mut w = Writer::new(cfg, health.clone(), reopen.clone(), stats.clone());
        if let Err(e) = w.ensure_open() {
            w.failed("open", &e);
        }
        let thread = std::thread::Builder::new()
            .name("credlist-audit".into())
            .spawn(move || w.run(rx))
            .map_err(|source| AuditError::Open {
                path: cfg.path.display().to_string(),
                source,
            })?;
        Ok(Audit {
            tx: RwLock::new(Some(tx)),
            budget: Arc::new(Semaphore::new(QUEUE_BYTES)),
            health,
            reopen,
            on_error: cfg.on_error,
            stats,
            path: cfg.path.clone(),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// False during an outage (see the module docs).
    pub fn healthy(&self) -> bool {
        self.health.healthy.load(Ordering::Relaxed)
    }

    /// May a check be answered now? (`fail_closed` and the register
    /// failing: no.)
    pub fn admit(&self) -> Result<(), AuditError> {
        if self.on_error == OnAuditError::FailClosed && !self.healthy() {
            return Err(AuditError::Unavailable);
        }
        Ok(())
    }

    /// What failed and for how long, during an outage (for `/v1/health`).
    pub fn outage(&self) -> Option<String> {
        if self.healthy() {
            return None;
        }
        self.health.outage().as_ref().map(|(since, what)| {
            format!(
                "the audit register cannot be written: {what} (for {:.1} s; retried every {} ms)",
                since.elapsed().as_secs_f64(),
                PROBE_EVERY.as_millis()
            )
        })
    }

    /// Seconds spent in outages, the current one included.
    pub fn unhealthy_seconds(&self) -> f64 {
        let ended = self.stats.unhealthy_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let current = match &*self.health.outage() {
            Some((since, _)) if !self.healthy() => since.elapsed().as_secs_f64(),
            _ => 0.0,
        };
        ended + current
    }

    /// Queues one record (a JSON line, `\n` included), waiting for room
    /// when the writer is behind.
    pub async fn record(&self, line: Vec<u8>) -> Result<(), AuditError> {
        let want = line.len().clamp(1, QUEUE_BYTES) as u32;
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| AuditError::Closed)?;
        let tx = self.tx.read().unwrap_or_else(|p| p.into_inner());
        match tx.as_ref() {
            Some(tx) => tx
                .send(Msg::Record(line, permit))
                .map_err(|_| AuditError::Closed),
            None => Err(AuditError::Closed),
        }
    }

    /// Asks the writer to reopen the path (SIGUSR1).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        QUEUE_BYTES - self.budget.available_permits()
    }

    /// Writes everything queued, fsyncs and stops the writer. Blocking.
    pub fn shutdown(&self) {
        let tx = self.tx.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = tx {
            let (ack, done) = mpsc::channel();
            if tx.send(Msg::Shutdown(ack)).is_ok() {
                let _ = done.recv();
            }
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// After `n` more bytes of the records of lengths `lens` reached the file
/// (the first of them with `head` bytes there already): how many of them
/// are now whole in the file, and how many bytes of the next one are.
fn advance(lens: impl Iterator<Item = usize>, mut head: usize, mut n: usize) -> (usize, usize) {
    let mut whole = 0;
    for len in lens {
        let left = len - head;
        if n < left {
            return (whole, head + n);
        }
        n -= left;
        whole += 1;
        head = 0;
    }
    debug_assert_eq!(n, 0, "more bytes written than given");
    (whole, 0)
}

struct Writer {
    path: PathBuf,
    max_bytes: u64,
    on_error: OnAuditError,
    file: Option<File>,
    /// Bytes in the current file.
    size: u64,
    next_rotation: u64,
    /// Records received and not yet written (whole in the file), each
    /// with its share of the queue budget, given back once it is written.
    /// They are written from these buffers, not copied together first: a
    /// batch load sends hundreds of MB a second through here.
    pending: VecDeque<Vec<u8>>,
    permits: VecDeque<OwnedSemaphorePermit>,
    /// Bytes of `pending` not yet in the file.
    pending_bytes: usize,
    /// Bytes of the first pending record already in the file: a write
    /// failed within it and the torn part could not be taken back out, so
    /// its rest is written next.
    head: usize,
    health: Arc<Health>,
    reopen: Arc<AtomicBool>,
    stats: Arc<AuditStats>,
    last_sync: Instant,
    unsynced: bool,
    /// When an unhealthy register was last probed.
    last_probe: Instant,
    /// Failed rotations are logged at most every ten seconds.
    last_rotation_log: Option<Instant>,
}

impl Writer {
    fn new(
        cfg: &AuditSection,
        health: Arc<Health>,
        reopen: Arc<AtomicBool>,
        stats: Arc<AuditStats>,
    ) -> Writer {
        Writer {
            path: cfg.path.clone(),
            max_bytes: cfg.max_bytes,
            on_error: cfg.on_error,
            size: 0,
            file: None,
            next_rotation: next_rotation(&cfg.path),
            pending: VecDeque::new(),
            pending_bytes: 0,
            head: 0,
            permits: VecDeque::new(),
            health,
            reopen,
            stats,
            last_sync: Instant::now(),
            unsynced: false,
            last_probe: Instant::now(),
            last_rotation_log: None,
        }
    }

    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut shutdown = None;
        let mut closed = false;
        while shutdown.is_none() && !closed {
            match rx.recv_timeout(FLUSH_EVERY) {
                Ok(Msg::Record(line, permit)) => {
                    self.take(line, permit);
                    // Let records gather for a moment: senders do not wake
                    // a sleeping (unparked) writer, so under load the writer
                    // wakes a few hundred times a second, not once a record.
                    std::thread::sleep(LINGER);
                    while self.pending_bytes < WRITE_CHUNK {
                        match rx.try_recv() {
                            Ok(Msg::Record(line, permit)) => self.take(line, permit),
                            Ok(Msg::Shutdown(ack)) => {
                                shutdown = Some(ack);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                Ok(Msg::Shutdown(ack)) => shutdown = Some(ack),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => closed = true,
            }
            if self.reopen.swap(false, Ordering::Relaxed) {
                self.reopen_file();
            }
            self.write_pending();
            if self.unsynced && self.last_sync.elapsed() >= SYNC_EVERY {
                self.sync();
            }
            if !self.healthy() && self.last_probe.elapsed() >= PROBE_EVERY {
                self.probe();
            }
        }
        // Drain what is left (bounded: senders are gone or shut out).
        while let Ok(Msg::Record(line, permit)) = rx.try_recv() {
            self.take(line, permit);
        }
        self.write_pending();
        self.sync();
        if !self.pending.is_empty() {
            self.stats
                .lost
                .fetch_add(self.pending.len() as u64, Ordering::Relaxed);
            tracing::error!(
                records = self.pending.len(),
                "audit records could not be written before shutdown"
            );
        }
        if let Some(ack) = shutdown {
            let _ = ack.send(());
        }
    }

    /// SIGUSR1: writes what it can to the current file, then lets the next
    /// write open the path again (an external rotator moved the file).
    fn reopen_file(&mut self) {
        self.write_pending();
        self.sync();
        self.file = None;
        // A record torn in the old file is written whole to the new.
        self.pending_bytes += self.head;
        self.head = 0;
    }

    fn take(&mut self, line: Vec<u8>, permit: OwnedSemaphorePermit) {
        self.pending_bytes += line.len();
        self.pending.push_back(line);
        self.permits.push_back(permit);
    }

    fn healthy(&self) -> bool {
        self.health.healthy.load(Ordering::Relaxed)
    }

    /// An operation failed: counted; the first failure of an outage starts
    /// it (one error logged), later ones are logged at debug level.
    fn failed(&mut self, what: &str, e: &std::io::Error) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.last_probe = Instant::now();
        if !self.healthy() {
            tracing::debug!(path = %self.path.display(), error = %e, "audit register: {what} failed again");
            return;
        }
        *self.health.outage() = Some((Instant::now(), format!("{what} failed: {e}")));
        self.health.healthy.store(false, Ordering::Relaxed);
        self.stats.outages.fetch_add(1, Ordering::Relaxed);
        let refused = match self.on_error {
            OnAuditError::FailClosed => "checks are refused until it can be written",
            OnAuditError::Continue => "checks go on (on_error = \"continue\")",
        };
        tracing::error!(
            path = %self.path.display(),
            error = %e,
            retry_ms = PROBE_EVERY.as_millis() as u64,
            "audit register: {what} failed; {refused}"
        );
    }

    /// During an outage: reopens the file if there is none, writes what is
    /// kept and fsyncs; when all of that succeeds, the outage ends.
    fn probe(&mut self) {
        self.last_probe = Instant::now();
        if let Err(e) = self.ensure_open() {
            self.failed("open", &e);
            return;
        }
        self.write_pending();
        if !self.pending.is_empty() || !self.sync() {
            return;
        }
        let since = self.health.outage().as_ref().map(|(t, _)| *t);
        let took = since.map_or(Duration::ZERO, |t| t.elapsed());
        self.stats
            .unhealthy_ms
            .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
        self.health.healthy.store(true, Ordering::Relaxed);
        *self.health.outage() = None;
        tracing::info!(
            path = %self.path.display(),
            unhealthy_ms = took.as_millis() as u64,
            "audit register writable again; checks are answered"
        );
    }

    /// Opens the path when no file is open.
    fn ensure_open(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            let f = open_path(&self.path)?;
            self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(f);
        }
        Ok(())
    }

    fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Err(e) = self.ensure_open() {
            self.failed("open", &e);
            self.shed();
            return;
        }
        let file = self.file.as_mut().expect("opened above");
        let (mut whole, mut head) = (0, self.head);
        let mut end = self.size;
        let mut err = None;
        while whole < self.pending.len() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(&self.pending[whole][head..])
                .chain(self.pending.iter().skip(whole + 1).map(|r| &r[..]))
                .take(MAX_SLICES)
                .map(IoSlice::new)
                .collect();
            match file.write_vectored(&slices) {
                Ok(0) => {
                    err = Some(std::io::Error::from(std::io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => {
                    end += n as u64;
                    let lens = self.pending.iter().skip(whole).map(Vec::len);
                    let (more, at) = advance(lens, head, n);
                    (whole, head) = (whole + more, at);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        // Keep whole records only: a record cut short by a failure (a full
        // disk) is taken back out of the file and stays pending, so no
        // later record is ever appended to a torn one.
        if head > 0 && file.set_len(end - head as u64).is_ok() {
            end -= head as u64;
            head = 0;
        }
        if end > self.size {
            // Under load the register grows by a few hundred MB a second:
            // written back as it comes, the fsync every second waits for
            // milliseconds, not for a second's worth of data (while it
            // waits, nothing is written and the queue fills).
            crate::os::start_writeback(file, self.size, end - self.size);
            self.stats
                .bytes
                .fetch_add(end - self.size, Ordering::Relaxed);
        }
        if end != self.size {
            self.unsynced = true;
        }
        self.size = end;
        let gone: usize = self.pending.drain(..whole).map(|r| r.len()).sum();
        self.pending_bytes = self.pending_bytes + self.head - gone - head;
        self.permits.drain(..whole);
        self.head = head;
        self.stats
            .records
            .fetch_add(whole as u64, Ordering::Relaxed);
        match err {
            None => {
                if self.size > self.max_bytes {
                    self.rotate();
                }
            }
            Some(e) => {
                self.failed("write", &e);
                self.shed();
            }
        }
    }

    /// With `continue`, gives up on kept data past half the queue (counted).
    /// A record whose start is in the file already (its torn part could
    /// not be taken back out) is kept: its rest completes the line, so no
    /// later record is appended to a torn one.
    fn shed(&mut self) {
        if self.on_error == OnAuditError::Continue && self.pending_bytes >= QUEUE_BYTES / 2 {
            let keep = usize::from(self.head > 0);
            let dropped = self.pending.len() - keep;
            self.stats.lost.fetch_add(dropped as u64, Ordering::Relaxed);
            tracing::error!(
                records = dropped,
                "audit records discarded after write failures (on_error = \"continue\")"
            );
            self.pending.truncate(keep);
            self.permits.truncate(keep);
            self.pending_bytes = self.pending.front().map_or(0, |r| r.len() - self.head);
        }
    }

    /// Fsyncs the file; false when that failed.
    fn sync(&mut self) -> bool {
        if let Some(f) = &self.file {
            if let Err(e) = f.sync_data() {
                self.failed("fsync", &e);
                return false;
            }
            // The register is written once and read later, by reports:
            // its synced pages would only fill the page cache, and new
            // pages cost more to fill than freed ones reused.
            crate::os::drop_cached(f, 0, 0);
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        true
    }

    fn rotate(&mut self) {
        if !self.sync() {
            return;
        }
        let mut to = self.path.clone().into_os_string();
        to.push(format!(".{}", self.next_rotation));
        match std::fs::rename(&self.path, &to) {
            Ok(()) => {
                self.next_rotation += 1;
                self.file = None;
                self.size = 0;
                self.stats.rotations.fetch_add(1, Ordering::Relaxed);
                tracing::info!(to = %Path::new(&to).display(), "audit register rotated");
            }
            // The register is still written (to the current file): no
            // outage, a warning now and then, and the next write retries.
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                let quiet = self
                    .last_rotation_log
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(10));
                if !quiet {
                    self.last_rotation_log = Some(Instant::now());
                    tracing::warn!(path = %self.path.display(), error = %e, "audit register: rotation failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn cfg(dir: &Path, max_bytes: u64) -> AuditSection {
        AuditSection {
            path: dir.join("audit.log"),
            max_bytes,
            on_error: OnAuditError::FailClosed,
        }
    }

    #[test]
    fn a_torn_record_that_cannot_be_cut_out_is_completed_when_records_are_shed() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), 1 << 40);
        c.on_error = OnAuditError::Continue;
        let stats = Arc::new(AuditStats::default());
        let mut w = Writer::new(
            &c,
            Arc::new(Health::new()),
            Arc::new(AtomicBool::new(false)),
            stats.clone(),
        );
        // A socket stands for a disk that takes part of a write, then
        // fails (non-blocking: its buffer fills), and cannot be truncated.
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let flag = ours.try_clone().unwrap();
        w.file = Some(File::from(std::os::fd::OwnedFd::from(ours)));
        let budget = Arc::new(Semaphore::new(QUEUE_BYTES));
        let records: Vec<Vec<u8>> = (0..40u8)
            .map(|i| {
                let mut r = vec![b'a' + i % 26; 1 << 20];
                *r.last_mut().unwrap() = b'\n';
                r
            })
            .collect();
        for r in &records {
            let permit = budget
                .clone()
                .try_acquire_many_owned(r.len() as u32)
                .unwrap();
            w.take(r.clone(), permit);
        }
        w.write_pending();
        // The first record is torn in the "file"; it stays, the rest went.
        assert!(!w.healthy());
        assert!(w.head > 0 && w.head < records[0].len());
        assert_eq!(w.pending.len(), 1);
        assert_eq!(w.pending_bytes, records[0].len() - w.head);
        assert_eq!(stats.lost.load(Ordering::Relaxed), 39);
        // The "disk" recovers: the rest of the record completes its line.
        flag.set_nonblocking(false).unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut &theirs, &mut got).unwrap();
            got
        });
        w.write_pending();
        assert!(w.pending.is_empty() && w.head == 0 && w.pending_bytes == 0);
        w.file = None;
        drop(flag);
        assert_eq!(reader.join().unwrap(), records[0]);
    }

    #[test]
    fn a_record_torn_in_the_old_file_is_written_whole_to_the_reopened_one() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), 1 << 40);
        let mut w = Writer::new(
            &c,
            Arc::new(Health::new()),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AuditStats::default()),
        );
        // As above: a "file" that takes part of a record and cannot be cut.
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        w.file = Some(File::from(std::os::fd::OwnedFd::from(ours)));
        let budget = Arc::new(Semaphore::new(QUEUE_BYTES));
        let mut record = vec![b'r'; 4 << 20];
        *record.last_mut().unwrap() = b'\n';
        let permit = budget
            .clone()
            .try_acquire_many_owned(record.len() as u32)
            .unwrap();
        w.take(record.clone(), permit);
        w.write_pending();
        assert!(w.head > 0 && w.head < record.len());
        // SIGUSR1: the path is opened again (a real file this time) and
        // gets the whole record, not the rest of it.
        w.reopen_file();
        assert!(w.file.is_none() && w.head == 0);
        assert_eq!(w.pending_bytes, record.len());
        w.write_pending();
        assert!(w.pending.is_empty() && w.pending_bytes == 0);
        assert_eq!(std::fs::read(&c.path).unwrap(), record);
        drop(theirs);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_written_and_the_file_is_0640() {
        let dir = tempfile::tempdir().unwrap();
        let a = Audit::start(&cfg(dir.path(), 1 << 20)).unwrap();
        for i in 0..100 {
            a.record(format!("{{\"n\":{i}}}\n").into_bytes())
                .await
                .unwrap();
        }
        tokio::task::block_in_place(|| a.shutdown());
        let text = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert_eq!(text.lines().count(), 100);
        let mode = std::fs::metadata(dir.path().join("audit.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777 & !MODE, 0, "mode {mode:o}");
        assert_eq!(a.stats.records.load(Ordering::Relaxed), 100);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotation_keeps_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let a = Audit::start(&cfg(dir.path(), 4096)).unwrap();
        let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(200));
        for _ in 0..200 {
            a.record(line.clone().into_bytes()).await.unwrap();
        }
        tokio::task::block_in_place(|| a.shutdown());
        let mut lines = 0;
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            lines += text.lines().count();
        }
        assert_eq!(lines, 200);
        assert!(dir.path().join("audit.log.1").exists());
    }

    proptest::proptest! {
        /// `advance` agrees with counting bytes through the records one by
        /// one, however the writes are cut.
        #[test]
        fn advance_follows_the_bytes_written(
            lens in proptest::collection::vec(1usize..50, 1..20),
            cuts in proptest::collection::vec(0usize..120, 0..30),
        ) {
            let total: usize = lens.iter().sum();
            let (mut whole, mut head, mut written) = (0usize, 0usize, 0usize);
            for cut in cuts.into_iter().chain([total]) {
                let n = cut.min(total - written);
                let (more, at) = advance(lens[whole..].iter().copied(), head, n);
                (whole, head) = (whole + more, at);
                written += n;
                // The reference: walk the prefix sums.
                let mut ends = lens.iter().scan(0, |sum, l| { *sum += l; Some(*sum) });
                let want_whole = ends.by_ref().take_while(|&e| e <= written).count();
                let before: usize = lens[..want_whole].iter().sum();
                proptest::prop_assert_eq!((whole, head), (want_whole, written - before));
            }
            proptest::prop_assert_eq!((whole, head), (lens.len(), 0));
        }
    }
}
