//! The raw operating system calls credlist makes, each behind a safe
//! wrapper whose safety contract is written once, here. Linux only, like
//! the rest of credlist (timerfd, leases, `mremap`, socket activation).
//!
//! Everything else calls these, never `libc` directly. Three `unsafe`
//! places stay where they are because their contract is about the data,
//! not the call: mapping a snapshot file ([`crate::snapshot::Snapshot::open`]
//! and the guarded mapping in `snapshot::guard`), the CPU prefetch hint of
//! `snapshot::read`, and the read buffer of [`crate::stream`] (read into
//! without zeroing it first).
//!
//! `rustix` would cover some of these calls, but not file leases
//! (`F_SETLEASE`, `F_GETLEASE`), and moving pages over an existing mapping
//! (`mremap` with `MREMAP_FIXED`) is `unsafe` there too: a module of our
//! own over `libc` was needed anyway, and keeps the dependencies as they
//! are.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Fails with the thread's `errno` when a call returned a negative value.
fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn duration(ts: libc::timespec) -> Duration {
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Runs `f` with the process's file mode creation mask set to `mask`, then
/// restores the previous mask. The mask is process-wide: files other
/// threads create meanwhile get it too (a narrower mask only makes them
/// more private).
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps the process's file mode mask; it cannot fail.
    let old = unsafe { libc::umask(mask as libc::mode_t) };
    let out = f();
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    out
}

/// Fills `buf` from the kernel's random source (`getrandom(2)`, waiting
/// for it to be seeded); returns how many bytes were written.
pub fn getrandom(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    check(n as libc::c_long).map(|n| n as usize)
}

/// Starts writing `len` bytes of `file` from `offset` back to the disk,
/// without waiting for it (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`):
/// a later fsync then has little left to flush. A hint: errors surface at
/// that fsync.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    // SAFETY: sync_file_range takes a file descriptor and numbers only;
    // the file is open for the duration of the call.
    let _ = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

/// Lets the kernel drop the cached pages of `len` bytes of `file` from
/// `offset` (`posix_fadvise` with `POSIX_FADV_DONTNEED`; `len` 0: to the
/// end). Only pages already written back go; a hint, errors ignored.
pub fn drop_cached(file: &File, offset: u64, len: u64) {
    // SAFETY: posix_fadvise takes a file descriptor and numbers only; the
    // file is open for the duration of the call.
    let _ = unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_DONTNEED,
        )
    };
}

/// Stops the kernel from backing this process's memory with transparent
/// huge pages from now on, also where the allocator asked for them
/// (`PR_SET_THP_DISABLE`). For a short-lived process that faults in
/// gigabytes once: where the host backs guest memory lazily, a fresh huge
/// page costs far more to fault in than its fewer TLB misses save.
pub fn refuse_huge_pages() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes numbers only and reads or
    // writes no memory of ours.
    check(unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) }.into()).map(|_| ())
}

/// The CPUs the calling thread may run on (`sched_getaffinity`), in
/// ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most size_of::<cpu_set_t>() bytes into
    // `set`, which this frame owns.
    check(unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) }.into())?;
    // CPU_SETSIZE bits: what a cpu_set_t holds.
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Keeps the calling thread on one CPU from now on (`sched_setaffinity`).
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), inside the set.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the kernel reads size_of::<cpu_set_t>() bytes from `set`.
    check(unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) }.into())
        .map(|_| ())
}

/// `CLOCK_MONOTONIC`: time since boot, not counting suspend.
pub fn monotonic() -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    check(unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) }.into())?;
    Ok(duration(ts))
}

/// User and system CPU time this process has used so far.
pub fn cpu_times() -> io::Result<(Duration, Duration)> {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only
    // writes into the struct it is given.
    let (rc, u) = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut u), u)
    };
    check(rc.into())?;
    let d = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    Ok((d(u.ru_utime), d(u.ru_stime)))
}

/// First descriptor passed by socket activation (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// Whether the socket activation descriptors were taken.
static ACTIVATION_TAKEN: AtomicBool = AtomicBool::new(false);

/// Takes over the `count` descriptors systemd passed to this process by
/// socket activation (3, 4, …), marking each close-on-exec. Returns nothing
/// unless `LISTEN_PID` names this process, and nothing on any later call:
/// each descriptor has one owner. A descriptor that is not open is an
/// error in its place.
pub fn take_activation_fds(count: usize) -> Vec<io::Result<OwnedFd>> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours || ACTIVATION_TAKEN.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    (0..count)
        .map(|i| {
            let fd = LISTEN_FDS_START + i as RawFd;
            // SAFETY: F_SETFD only changes the flags of a descriptor, and
            // fails with EBADF if it is not open.
            check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }.into())?;
            // SAFETY: `fd` is open (checked above). systemd passed
            // descriptors 3 .. 3+LISTEN_FDS to this process (LISTEN_PID is
            // ours; the caller reads LISTEN_FDS before opening anything),
            // so nothing else in the process owns them, and the flag above
            // makes this the only place that takes them, once.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

/// A new non-blocking, close-on-exec `CLOCK_MONOTONIC` timerfd.
pub fn timerfd() -> io::Result<OwnedFd> {
    // SAFETY: timerfd_create has no memory preconditions; the result is
    // checked before use.
    let fd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    check(fd.into())?;
    // SAFETY: `fd` was just created and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms the timerfd `fd` to expire once, `after` from now (a zero
/// duration disarms it).
pub fn timerfd_arm(fd: BorrowedFd<'_>, after: Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            tv_nsec: after.subsec_nanos() as libc::c_long,
        },
    };
    // SAFETY: a valid itimerspec; the old value is not asked for. On a
    // descriptor that is not a timerfd the call fails with EINVAL.
    check(unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) }.into())?;
    Ok(())
}

/// Reads from `fd` into `buf`, which need not be initialized; returns how
/// many bytes the kernel wrote at its start (those are initialized). For
/// socket reads into a caller's spare capacity, which would otherwise be
/// zeroed whole before every read.
pub fn read_uninit(fd: BorrowedFd<'_>, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: read writes at most buf.len() bytes into memory this slice
    // owns; MaybeUninit<u8> has the layout of u8 and any byte is valid.
    let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    Ok(check(r as libc::c_long)? as usize)
}

/// Reads one 8-byte counter (the expirations of a timerfd) from `fd`.
pub fn read_u64(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut v = 0u64;
    // SAFETY: reads at most 8 bytes into a u64 owned by this frame.
    let r = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    check(r as libc::c_long)?;
    Ok(v)
}

/// Owners of one file descriptor: what tokio's reactor needs of what it
/// polls.
///
/// # Safety
///
/// An implementor keeps its descriptor open, unchanged, for as long as it
/// lives, and always returns it from `as_raw_fd`.
pub unsafe trait OwnsFd: AsRawFd {}
// SAFETY: an OwnedFd owns its descriptor and closes it only when dropped.
unsafe impl OwnsFd for OwnedFd {}
// SAFETY: a UnixStream owns its descriptor and closes it only when dropped.
unsafe impl OwnsFd for std::os::unix::net::UnixStream {}

/// Registers `fd` with the tokio reactor (inside a runtime) for `interest`.
pub fn async_fd<T: OwnsFd>(
    fd: T,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: an OwnsFd keeps its descriptor open, unchanged, for as long
    // as the AsyncFd that owns it, and always returns it from as_raw_fd.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, interest) }
        .map_err(|e| e.into_parts().1)
}

/// Takes a read lease on `file` (`F_SETLEASE`, `F_RDLCK`): the kernel then
/// tells this process with `SIGIO` before another opens it for writing or
/// truncates it.
pub fn take_read_lease(file: &File) -> io::Result<()> {
    // SAFETY: F_SETLEASE on a descriptor `file` keeps open.
    check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) }.into())?;
    Ok(())
}

/// Gives up the lease on `file`.
pub fn release_lease(file: &File) -> io::Result<()> {
    // SAFETY: F_SETLEASE on a descriptor `file` keeps open.
    check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) }.into())?;
    Ok(())
}

/// Whether a read lease on `file` is held and not being broken.
pub fn read_lease_intact(file: &File) -> io::Result<bool> {
    // SAFETY: F_GETLEASE only reads the lease state of a descriptor `file`
    // keeps open.
    let t = check(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLEASE) }.into())?;
    Ok(t == libc::F_RDLCK as libc::c_long)
}

/// The size of a memory page (4096 if the system does not say).
/// Clock ticks per second (`_SC_CLK_TCK`, the unit of `/proc` CPU times);
/// 100 when it cannot be read.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Copies the bytes of `map` into fresh read-only anonymous pages, then
/// moves those pages over `map`'s own addresses in one `mremap`: a
/// concurrent reader sees the same bytes throughout, and afterwards the
/// bytes no longer depend on the mapped file. On any failure (including
/// the copy not being made read-only) the copy is dropped and `map` is
/// left as it was.
pub fn swap_in_copy(map: &memmap2::Mmap) -> io::Result<()> {
    if map.is_empty() {
        return Ok(());
    }
    let page = page_size();
    let len = map.len().div_ceil(page) * page;
    let target = map.as_ptr() as *mut libc::c_void;
    // SAFETY: a new private anonymous mapping of `len` bytes.
    let anon = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if anon == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `anon` has `len >= map.len()` writable bytes and does not
    // overlap the mapping. Then it is made read-only, like the pages it
    // replaces (or dropped, leaving `map` untouched), and moved onto the
    // mapping's own page-aligned range of `len` bytes (a mapping always
    // covers whole pages; an `Mmap` is read-only, so no write to those
    // pages can be lost), which MREMAP_FIXED replaces atomically. On
    // failure `anon` is unmapped; nothing else refers to it.
    unsafe {
        std::ptr::copy_nonoverlapping(map.as_ptr(), anon as *mut u8, map.len());
        if libc::mprotect(anon, len, libc::PROT_READ) != 0 {
            let e = io::Error::last_os_error();
            libc::munmap(anon, len);
            return Err(e);
        }
        let moved = libc::mremap(
            anon,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            target,
        );
        if moved == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            libc::munmap(anon, len);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusing_huge_pages_shows_in_the_process_status() {
        refuse_huge_pages().unwrap();
        // Shown since Linux 5.0.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("THP_enabled:"));
        assert_eq!(line.map(|l| l.split_whitespace().nth(1)), Some(Some("0")));
    }

    #[test]
    fn a_pinned_thread_runs_on_its_cpu_alone() {
        let allowed = allowed_cpus().unwrap();
        assert!(!allowed.is_empty());
        let last = *allowed.last().unwrap();
        let seen = std::thread::spawn(move || {
            pin_current_thread(last).unwrap();
            allowed_cpus().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, vec![last]);
        // The caller's own set is untouched.
        assert_eq!(allowed_cpus().unwrap(), allowed);
        assert!(pin_current_thread(libc::CPU_SETSIZE as usize).is_err());
    }

    #[test]
    fn a_swapped_in_copy_keeps_the_bytes_after_the_file_is_truncated() {
        let mut f = tempfile::tempfile().unwrap();
        let bytes: Vec<u8> = (0..3 * page_size() + 17).map(|i| i as u8).collect();
        std::io::Write::write_all(&mut f, &bytes).unwrap();
        // SAFETY: the file is private to this test; it is truncated only
        // after the mapping was detached from it.
        let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
        swap_in_copy(&map).unwrap();
        f.set_len(0).unwrap();
        assert_eq!(&map[..], &bytes[..]);
    }

    #[test]
    fn a_timerfd_counts_its_expiry() {
        use std::os::fd::AsFd;
        let t = timerfd().unwrap();
        assert_eq!(
            read_u64(t.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        timerfd_arm(t.as_fd(), Duration::from_micros(200)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(read_u64(t.as_fd()).unwrap(), 1);
    }

    #[test]
    fn small_calls_answer() {
        let mut b = [0u8; 16];
        assert_eq!(getrandom(&mut b).unwrap(), 16);
        let a = monotonic().unwrap();
        assert!(monotonic().unwrap() >= a);
        assert!(cpu_times().is_ok());
        assert!(page_size().is_power_of_two());
        // Not started by systemd: nothing to take.
        assert!(take_activation_fds(2).is_empty());
    }
}
