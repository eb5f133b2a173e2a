//! What the daemon serves, swapped atomically on reload.
//!
//! [`Served`] bundles a snapshot with the holds resolved against it; the
//! current one sits in an [`ArcSwap`]. A request loads it once (one atomic
//! reference count) and keeps its `Arc` to the end, so a reload never
//! changes the data under a request in flight, and the old snapshot is
//! unmapped when the last such request finishes.
//!
//! Reloads and hold changes are serialized by one async mutex that also
//! owns the hold registry, so a reload always resolves the latest holds and
//! a hold placed during a reload lands on the new snapshot.

use super::access::Access;
use super::audit::Audit;
use super::config::Config;
use super::conns::Conns;
use super::holds::{Hold, HoldError, HoldRegistry, Listed};
use super::metrics::Metrics;
use super::notify;
use super::receipts::Receipts;
use crate::check::Holds;
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// One snapshot as served: with its holds and generation.
pub struct Served {
    pub snap: Arc<Snapshot>,
    pub holds: Holds,
    /// Holds whose entry is not in this snapshot.
    pub dormant: usize,
    /// 1 for the snapshot loaded at start, +1 per successful reload.
    pub generation: u64,
    pub loaded_at: SystemTime,
    pub path: PathBuf,
}

impl Served {
    /// Seconds since the start (00:00 Asia/Shanghai) of the data date.
    pub(crate) fn age_seconds(&self) -> f64 {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        now - (self.snap.data_date.0 as f64 * 86_400.0 - 8.0 * 3600.0)
    }
}

/// An admin operation that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unavailable(String),
}

/// Everything the handlers share.
pub struct State {
    pub config: Config,
    served: ArcSwap<Served>,
    /// Serializes reloads and hold changes; owns the hold registry.
    registry: tokio::sync::Mutex<HoldRegistry>,
    pub metrics: Metrics,
    pub audit: Audit,
    pub receipts: Arc<Receipts>,
    pub access: Access,
    pub started: Instant,
    pub started_at: SystemTime,
    /// The daemon's uid: with root, the only peers the admin socket serves.
    pub uid: u32,
    /// Places of the check, batch and TCP connections (see `server::conns`).
    pub conns: Arc<Conns>,
    /// KiB of large batch frames in flight (`limits.max_inflight_bytes`;
    /// see `server::batch`).
    pub inflight_kib: Arc<tokio::sync::Semaphore>,
}

/// Opens and verifies a snapshot off the async threads, guarded against
/// in-place changes of its file (see [`crate::snapshot::guard`]).
pub async fn open_snapshot(path: PathBuf) -> Result<Snapshot, String> {
    let shown = path.display().to_string();
    match tokio::task::spawn_blocking(move || Snapshot::open_guarded(&path)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("refused snapshot {shown}: {e}")),
        Err(e) => Err(format!("refused snapshot {shown}: {e}")),
    }
}

impl State {
    pub fn new(
        config: Config,
        snap: Snapshot,
        registry: HoldRegistry,
        audit: Audit,
        receipts: Receipts,
    ) -> State {
        let snap = Arc::new(snap);
        let (holds, dormant) = registry.resolve(&snap);
        let served = Served {
            snap,
            holds,
            dormant,
            generation: 1,
            loaded_at: SystemTime::now(),
            path: config.snapshot.path.clone(),
        };
        let conns = Conns::new(
            config.limits.max_connections,
            config.limits.max_connections_per_peer,
        );
        let inflight_kib = Arc::new(tokio::sync::Semaphore::new(
            (config.limits.max_inflight_bytes / 1024).max(1),
        ));
        let metrics = Metrics::new();
        metrics.snapshot_loaded(true);
        State {
            access: Access::new(&config.clients),
            config,
            served: ArcSwap::from_pointee(served),
            registry: tokio::sync::Mutex::new(registry),
            metrics,
            audit,
            receipts: Arc::new(receipts),
            started: Instant::now(),
            started_at: SystemTime::now(),
            uid: crate::os::effective_uid(),
            conns,
            inflight_kib,
        }
    }

    /// The snapshot being served now.
    pub fn served(&self) -> Arc<Served> {
        self.served.load_full()
    }

    /// Loads `path` (default: the configured snapshot), verifies it and
    /// swaps it in; on refusal the old one keeps serving.
    pub async fn reload(&self, path: Option<PathBuf>) -> Result<Arc<Served>, AdminError> {
        let registry = self.registry.lock().await;
        let path = path.unwrap_or_else(|| self.config.snapshot.path.clone());
        notify::reloading();
        let opened = open_snapshot(path.clone()).await;
        let snap = match opened {
            Ok(s) => Arc::new(s),
            Err(msg) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                self.metrics.snapshot_loaded(false);
                tracing::error!(path = %path.display(), error = %msg, "snapshot refused; the old snapshot keeps serving");
                notify::ready(&self.status_line());
                return Err(AdminError::Refused(msg));
            }
        };
        let (holds, dormant) = registry.resolve(&snap);
        let old = self.served.load();
        let served = Arc::new(Served {
            snap,
            holds,
            dormant,
            generation: old.generation + 1,
            loaded_at: SystemTime::now(),
            path,
        });
        self.served.store(served.clone());
        drop(registry);
        self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
        self.metrics.snapshot_loaded(true);
        tracing::info!(
            generation = served.generation,
            snapshot = %served.snap.id,
            data_date = %served.snap.data_date,
            entries = served.snap.entries(),
            path = %served.path.display(),
            holds = served.holds.len(),
            dormant_holds = dormant,
            protection = served.snap.protection().map_or("none", |p| p.label()),
            "snapshot loaded"
        );
        notify::ready(&self.status_line());
        Ok(served)
    }

    /// One line for `STATUS=` and logs.
    pub fn status_line(&self) -> String {
        let s = self.served.load();
        format!(
            "serving snapshot {} (data date {}, generation {}, {} entries)",
            &s.snap.id[..16.min(s.snap.id.len())],
            s.snap.data_date,
            s.generation,
            s.snap.entries()
        )
    }

    /// Swaps in the same snapshot with the registry's current holds.
    fn refresh_holds(&self, registry: &HoldRegistry) {
        let cur = self.served.load_full();
        let (holds, dormant) = registry.resolve(&cur.snap);
        self.served.store(Arc::new(Served {
            snap: cur.snap.clone(),
            holds,
            dormant,
            generation: cur.generation,
            loaded_at: cur.loaded_at,
            path: cur.path.clone(),
        }));
    }

    /// Places a hold on an entry of the served snapshot (durably).
    pub async fn place_hold(
        &self,
        entry_id: &str,
        reason: &str,
        by: &str,
    ) -> Result<Hold, AdminError> {
        let mut registry = self.registry.lock().await;
        let cur = self.served.load_full();
        if cur.snap.find_entry(entry_id).is_none() {
            return Err(AdminError::NotFound(format!(
                "no entry {entry_id:?} in the served snapshot {}",
                cur.snap.id
            )));
        }
        let placed = tokio::task::block_in_place(|| registry.place(entry_id, reason, by));
        let hold = placed.map_err(unavailable)?;
        self.refresh_holds(&registry);
        tracing::info!(entry_id, by, "hold placed");
        Ok(hold)
    }

    /// Releases a hold (durably).
    pub async fn release_hold(&self, entry_id: &str, by: &str) -> Result<(), AdminError> {
        let mut registry = self.registry.lock().await;
        let released = tokio::task::block_in_place(|| registry.release(entry_id, by));
        if !released.map_err(unavailable)? {
            return Err(AdminError::NotFound(format!(
                "no hold on entry {entry_id:?}"
            )));
        }
        self.refresh_holds(&registry);
        tracing::info!(entry_id, by, "hold released");
        Ok(())
    }

    /// Every hold, marked dormant when its entry is not served.
    pub async fn list_holds(&self) -> Vec<Listed> {
        let registry = self.registry.lock().await;
        registry.list(&self.served.load().snap)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.config.state.dir
    }
}

fn unavailable(e: HoldError) -> AdminError {
    tracing::error!(error = %e, "cannot write the hold registry");
    AdminError::Unavailable(format!("the hold registry cannot be written: {e}"))
}
