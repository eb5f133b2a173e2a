//! Keeping a served snapshot safe from changes to its file.
//!
//! The daemon maps its snapshot. Replacing the file by renaming a new one
//! over its path (what `credlist build` does) leaves the mapped inode
//! untouched, but writing into the served file in place (`cp new.snap
//! current.snap`, `truncate`, an editor) would change verified bytes under
//! a running lookup, and reading a page past a truncated end raises
//! `SIGBUS`, which kills the process. [`Snapshot::open_guarded`]
//! (the daemon's open) therefore never leaves a mapping at the mercy of the
//! file:
//!
//! - **Lease** ([`Protection::Lease`]): before mapping, it takes a read
//!   lease on the file (`fcntl(F_SETLEASE, F_RDLCK)`). The kernel then
//!   makes any process that opens the file for writing, or truncates it,
//!   wait, and tells the daemon with `SIGIO`. The daemon
//!   ([`on_lease_break`]) copies the still intact bytes into anonymous
//!   memory, swaps that copy in at the same addresses (`mremap`, atomic
//!   for readers: every page holds the same bytes before and after), and
//!   only then gives the lease up, letting the writer go on. The snapshot
//!   keeps serving, from memory, until the next reload; the file costs no
//!   memory of its own until that happens.
//! - **Copied** ([`Protection::Copied`]): when no lease can be had (the
//!   file belongs to another user and the daemon lacks `CAP_LEASE`, another
//!   process has it open for writing, or the file system has no leases),
//!   the mapping is copied into anonymous memory right away, before it is
//!   verified. Safe, at the cost of the file's size in resident memory.
//!
//! Command-line tools use the plain, `unsafe` [`Snapshot::open`] (see
//! there why): they run for seconds and do not handle `SIGIO`.
//!
//! [`Snapshot::open_guarded`]: super::Snapshot::open_guarded
//! [`Snapshot::open`]: super::Snapshot::open

use crate::os;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// How a guarded snapshot is protected from its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Mapped, with a read lease: detached into memory on a lease break.
    Lease,
    /// In anonymous memory: the file no longer matters.
    Copied,
}

impl Protection {
    pub fn label(self) -> &'static str {
        match self {
            Protection::Lease => "lease",
            Protection::Copied => "copied",
        }
    }
}

/// A guarded mapping of a snapshot file.
pub struct Mapping {
    map: memmap2::Mmap,
    /// Holds the lease (a lease belongs to an open file).
    file: File,
    path: PathBuf,
    /// Whether the lease is still held.
    leased: AtomicBool,
    /// Whether the pages were swapped for an anonymous copy.
    copied: AtomicBool,
    /// Serializes detaching.
    lock: Mutex<()>,
}

impl std::ops::Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// Live guarded mappings, for [`on_lease_break`].
static LEASED: Mutex<Vec<Weak<Mapping>>> = Mutex::new(Vec::new());

impl Mapping {
    /// Takes a read lease on `file` if it can, maps it, and copies the
    /// mapping into memory right away when no lease was had.
    pub fn new(path: &Path, file: File) -> io::Result<Arc<Mapping>> {
        let leased = os::take_read_lease(&file).is_ok();
        // SAFETY: a read-only private mapping. Either the lease is held
        // (nobody can open the file for writing or truncate it without
        // the daemon detaching first), or it is copied into anonymous
        // memory below before any byte is used.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }?;
        let m = Arc::new(Mapping {
            map,
            file,
            path: path.to_path_buf(),
            leased: AtomicBool::new(leased),
            copied: AtomicBool::new(false),
            lock: Mutex::new(()),
        });
        if leased {
            let mut reg = LEASED.lock().unwrap_or_else(|p| p.into_inner());
            reg.retain(|w| w.strong_count() > 0);
            reg.push(Arc::downgrade(&m));
            drop(reg);
            // A break that came before the registration.
            if !m.lease_intact() {
                m.detach()?;
            }
        } else {
            m.detach()?;
        }
        Ok(m)
    }

    pub fn protection(&self) -> Protection {
        if self.copied.load(Ordering::SeqCst) {
            Protection::Copied
        } else {
            Protection::Lease
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lease_intact(&self) -> bool {
        os::read_lease_intact(&self.file).unwrap_or(false)
    }

    /// Replaces the mapped pages by a read-only anonymous copy of the same
    /// bytes, then gives the lease up. When the copy cannot be made (or
    /// not made read-only) the mapping is left as it was, the lease kept,
    /// and the error returned: at open the snapshot is refused, on a lease
    /// break the daemon logs it.
    fn detach(&self) -> io::Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if !self.copied.load(Ordering::SeqCst) {
            os::swap_in_copy(&self.map)?;
            self.copied.store(true, Ordering::SeqCst);
        }
        if self.leased.swap(false, Ordering::SeqCst) {
            let _ = os::release_lease(&self.file);
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if *self.leased.get_mut() {
            let _ = os::release_lease(&self.file);
        }
    }
}

/// One snapshot detached from its file after a lease break.
pub struct Detached {
    pub path: PathBuf,
    pub result: io::Result<()>,
}

/// Handles `SIGIO`: every guarded mapping whose lease is being broken (a
/// process opened its file for writing or truncates it) is detached into
/// memory, then its lease is given up. Blocking (it copies the file).
pub fn on_lease_break() -> Vec<Detached> {
    let live: Vec<Arc<Mapping>> = {
        let mut reg = LEASED.lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|w| w.strong_count() > 0);
        reg.iter().filter_map(Weak::upgrade).collect()
    };
    live.into_iter()
        .filter(|m| m.leased.load(Ordering::SeqCst) && !m.lease_intact())
        .map(|m| Detached {
            path: m.path.clone(),
            result: m.detach(),
        })
        .collect()
}
