//! Writing output files durably: the one place that knows how.
//!
//! A file is written to a temp file beside its target (same folder, so the
//! rename is atomic), flushed, fsynced, given its final mode, renamed over
//! the target, and the folder is fsynced so that the rename itself survives
//! a crash. A crash leaves either the old file or the new one, never a mix;
//! a failed or abandoned write leaves no temp file behind. Snapshots are
//! written around the page cache ([`write_file_direct`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of finished outputs (snapshots, reject reports): readable like any
/// file an operator writes. Temp files are 0600 until committed.
pub(crate) const OUTPUT_MODE: u32 = 0o644;

/// The folder holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes the directory entries of `path`'s folder durable (after creating
/// or renaming `path`).
pub(crate) fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

/// A file being written; it replaces its target only on [`commit`].
///
/// [`commit`]: DurableFile::commit
pub(crate) struct DurableFile {
    target: std::path::PathBuf,
    mode: u32,
    tmp: tempfile::TempPath,
    w: BufWriter<File>,
    /// Bytes handed to the writer, and those whose writeback was started.
    written: u64,
    flushing: u64,
}

/// Writeback of a big file is started every this many bytes, so that the
/// disk works while the rest is written and the final fsync has little
/// left to do.
const WRITEBACK_STEP: u64 = 64 << 20;

impl DurableFile {
    /// A temp file in the folder of `path`, named `.<name>.XXXX.tmp`; it
    /// gets `mode` when committed.
    pub(crate) fn create(path: &Path, mode: u32) -> std::io::Result<DurableFile> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("output");
        let (file, tmp) = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(parent_dir(path))?
            .into_parts();
        Ok(DurableFile {
            target: path.to_path_buf(),
            mode,
            tmp,
            w: BufWriter::with_capacity(1 << 20, file),
            written: 0,
            flushing: 0,
        })
    }

    /// Starts (does not wait for) writeback of what the file holds so far
    /// past the last start, once that is [`WRITEBACK_STEP`] or more. Only a
    /// head start: durability still comes from the fsync in `commit`.
    fn start_writeback(&mut self) {
        // What the buffer still holds has not reached the file yet.
        let in_file = self.written - self.w.buffer().len() as u64;
        if in_file < self.flushing + WRITEBACK_STEP {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: sync_file_range only reads its integer arguments; the
            // descriptor is open for as long as `self.w` holds the file.
            unsafe {
                libc::sync_file_range(
                    self.w.get_ref().as_raw_fd(),
                    self.flushing as libc::off64_t,
                    (in_file - self.flushing) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.flushing = in_file;
    }

    /// Flush, fsync, set the mode, rename over the target, fsync the folder.
    pub(crate) fn commit(self) -> std::io::Result<()> {
        let file = self.w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        file.set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        drop(file);
        self.tmp.persist(&self.target).map_err(|e| e.error)?;
        sync_dir(&self.target)
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.w.write(buf)?;
        self.written += n as u64;
        self.start_writeback();
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.w.write_all(buf)?;
        self.written += buf.len() as u64;
        self.start_writeback();
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// Writes `path` durably with `f`, mode [`OUTPUT_MODE`]; returns what `f`
/// returns.
pub(crate) fn write_file<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut out = DurableFile::create(path, OUTPUT_MODE)?;
    let value = f(&mut out)?;
    out.commit()?;
    Ok(value)
}

/// Bytes staged for one direct write: a multiple of [`DIRECT_ALIGN`].
const DIRECT_CHUNK: usize = 8 << 20;
/// Offset, length and memory alignment that satisfy `O_DIRECT` on the
/// common block sizes (512 and 4096 bytes).
const DIRECT_ALIGN: usize = 4096;

/// Threads writing a [`DirectWriter`]'s chunks: two writes in flight
/// keep a disk busier than one (`dd` of 1.8 GB in 8 MiB direct writes on
/// the VM of the README's Performance section: 0.95–1.33 s from two
/// writers at once, 1.17–2.08 s from one, alternated).
const DISK_THREADS: usize = 2;
/// Staging buffers of a [`DirectWriter`]: one being filled, one queued
/// and one being written for each disk thread.
const DIRECT_BUFFERS: usize = 2 * DISK_THREADS;

/// Writes a file around the page cache (`O_DIRECT`): whole chunks of
/// [`DIRECT_CHUNK`] bytes are staged in aligned buffers and written by
/// threads of their own ([`DISK_THREADS`], taking chunks in turn). A
/// direct write returns only once the disk has the data, so this way the
/// caller fills the next chunk (generating and hashing it) while the disk
/// works on the last ones. The tail goes through the page cache. Where the file system refuses direct I/O (tmpfs,
/// some network file systems), everything goes through the page cache
/// from there on.
struct DirectWriter {
    buf: memmap2::MmapMut,
    /// Bytes staged in `buf`.
    len: usize,
    /// Where `buf` goes in the file.
    at: u64,
    /// Buffers not in use; the others are with the disk threads.
    spare: Vec<memmap2::MmapMut>,
    /// The disk threads, and the one to get the next chunk.
    to_disk: Vec<std::sync::mpsc::Sender<Staged>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    turn: usize,
    /// Buffers back from the disk threads, with the outcome of their write.
    back: std::sync::mpsc::Receiver<(memmap2::MmapMut, std::io::Result<()>)>,
    /// The first write a disk thread failed: every later call returns it.
    failed: Option<(std::io::ErrorKind, String)>,
}

/// A buffer's first `len` bytes, to be written at `at`.
struct Staged {
    buf: memmap2::MmapMut,
    len: usize,
    at: u64,
}

/// The disk side of a [`DirectWriter`].
struct Disk {
    /// The temp file opened with `O_DIRECT`, until a write is refused.
    direct: Option<File>,
    /// The same file, opened without it.
    plain: File,
}

impl Disk {
    fn try_clone(&self) -> std::io::Result<Disk> {
        Ok(Disk {
            direct: self.direct.as_ref().map(File::try_clone).transpose()?,
            plain: self.plain.try_clone()?,
        })
    }

    /// Writes `staged` at `at`: directly when it is whole blocks and the
    /// file takes direct writes, else through the page cache.
    fn write(&mut self, staged: &[u8], at: u64) -> std::io::Result<()> {
        let whole = staged.len() % DIRECT_ALIGN == 0;
        match &self.direct {
            Some(d) if whole => match d.write_all_at(staged, at) {
                Ok(()) => Ok(()),
                // Refused (alignment the file system wants otherwise, or
                // no direct I/O at all): the same bytes, at the same
                // offset, through the page cache; and so on from now.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.direct = None;
                    self.plain.write_all_at(staged, at)
                }
                Err(e) => Err(e),
            },
            _ => self.plain.write_all_at(staged, at),
        }
    }
}

impl DirectWriter {
    /// A writer of `out`'s temp file, or `None` when it cannot be opened
    /// for direct I/O.
    fn open(out: &DurableFile) -> Option<DirectWriter> {
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&*out.tmp)
            .ok()?;
        DirectWriter::with(out, Some(direct)).ok()
    }

    /// A writer of `out`'s temp file through `direct` (`None`: through
    /// the page cache only, as after a refused direct write).
    fn with(out: &DurableFile, direct: Option<File>) -> std::io::Result<DirectWriter> {
        let plain = out.w.get_ref().try_clone()?;
        DirectWriter::to(Disk { direct, plain })
    }

    fn to(disk: Disk) -> std::io::Result<DirectWriter> {
        let mut spare = (0..DIRECT_BUFFERS)
            .map(|_| memmap2::MmapMut::map_anon(DIRECT_CHUNK))
            .collect::<std::io::Result<Vec<_>>>()?;
        let buf = spare.pop().expect("DIRECT_BUFFERS > 0");
        let (give_back, back) = std::sync::mpsc::channel();
        let mut w = DirectWriter {
            buf,
            len: 0,
            at: 0,
            spare,
            to_disk: Vec::new(),
            threads: Vec::new(),
            turn: 0,
            back,
            failed: None,
        };
        let mut disks = vec![disk];
        while disks.len() < DISK_THREADS {
            disks.push(disks[0].try_clone()?);
        }
        for mut disk in disks {
            let (to_disk, staged) = std::sync::mpsc::channel::<Staged>();
            let give_back = give_back.clone();
            let thread = std::thread::Builder::new()
                .name("direct-write".into())
                .spawn(move || {
                    for s in staged {
                        let r = disk.write(&s.buf[..s.len], s.at);
                        if give_back.send((s.buf, r)).is_err() {
                            return;
                        }
                    }
                })?;
            w.to_disk.push(to_disk);
            w.threads.push(thread);
        }
        Ok(w)
    }

    /// The first failed write, as an error (again for each later call).
    fn check(&self) -> std::io::Result<()> {
        match &self.failed {
            Some((kind, msg)) => Err(std::io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }

    /// Takes in a buffer back from a disk thread (waiting for one when
    /// `wait`), noting a failed write; false when none came.
    fn take_back(&mut self, wait: bool) -> bool {
        let got = match wait {
            true => self.back.recv().ok(),
            false => self.back.try_recv().ok(),
        };
        let Some((buf, r)) = got else { return false };
        if let Err(e) = r {
            self.failed.get_or_insert((e.kind(), e.to_string()));
        }
        self.spare.push(buf);
        true
    }

    /// Hands what is staged to the next disk thread and takes a free
    /// buffer.
    fn write_staged(&mut self) -> std::io::Result<()> {
        while self.take_back(false) {}
        self.check()?;
        if self.spare.is_empty() && !self.take_back(true) {
            return Err(std::io::Error::other("a direct-write thread stopped"));
        }
        self.check()?;
        let next = self.spare.pop().expect("a buffer was taken back");
        let buf = std::mem::replace(&mut self.buf, next);
        let staged = Staged {
            buf,
            len: self.len,
            at: self.at,
        };
        let sent = self.to_disk.get(self.turn).map(|t| t.send(staged));
        if !matches!(sent, Some(Ok(()))) {
            return Err(std::io::Error::other("a direct-write thread stopped"));
        }
        self.turn = (self.turn + 1) % self.to_disk.len();
        self.at += self.len as u64;
        self.len = 0;
        Ok(())
    }

    /// Writes what is still staged and waits for every write.
    fn finish(mut self) -> std::io::Result<()> {
        if self.len > 0 {
            self.write_staged()?;
        }
        self.stop();
        while self.take_back(false) {}
        self.check()?;
        // Every buffer but the one in hand is back: every write was made.
        if self.spare.len() != DIRECT_BUFFERS - 1 {
            return Err(std::io::Error::other("a direct-write thread stopped"));
        }
        Ok(())
    }

    /// Lets the disk threads write what they have and end, and waits for
    /// them.
    fn stop(&mut self) {
        self.to_disk.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for DirectWriter {
    /// An abandoned writer leaves no thread writing behind it.
    fn drop(&mut self) {
        self.stop();
    }
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(DIRECT_CHUNK - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == DIRECT_CHUNK {
            self.write_staged()?;
        }
        Ok(n)
    }
    /// Staged bytes wait for a whole chunk, or for the end.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// [`write_file`] around the page cache where the file system allows it,
/// for snapshots: gigabytes written once, and read back by a daemon that
/// maps them later (if at all on this machine). Through the page cache,
/// each of their pages is a fresh page to allocate and copy into, and the
/// fsync then waits for all of it; written directly they go from a
/// reused buffer to the disk, and evict nothing the machine is using (the
/// daemon's current snapshot, say). The fsync of `commit` still makes
/// the file durable.
pub(crate) fn write_file_direct<T>(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut out = DurableFile::create(path, OUTPUT_MODE)?;
    let value = match DirectWriter::open(&out) {
        Some(mut d) => {
            let value = f(&mut d)?;
            d.finish()?;
            value
        }
        None => f(&mut out)?,
    };
    out.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_the_target_with_its_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        std::fs::write(&p, b"old").unwrap();
        let n = write_file(&p, |w| w.write_all(b"new").map(|()| 3)).unwrap();
        assert_eq!(n, 3);
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, OUTPUT_MODE);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_abandoned_write_keeps_the_old_file() {
        let data = pattern(DIRECT_CHUNK + 10);
        for direct in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("out.bin");
            std::fs::write(&p, b"old").unwrap();
            let f = |w: &mut dyn Write| {
                w.write_all(&data)?;
                Err::<(), _>(std::io::Error::other("stop"))
            };
            let err = match direct {
                false => write_file(&p, f),
                true => write_file_direct(&p, f),
            };
            assert!(err.is_err());
            assert_eq!(std::fs::read(&p).unwrap(), b"old");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    /// Bytes of a length not tied to any block size, written in pieces of
    /// uneven sizes.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4099) as u8).collect()
    }

    fn write_in_pieces(w: &mut dyn Write, data: &[u8]) -> std::io::Result<()> {
        let mut at = 0;
        for k in (1..).map(|k| k * 1_000_003 % 3_000_017) {
            if at == data.len() {
                return Ok(());
            }
            let n = k.min(data.len() - at);
            w.write_all(&data[at..at + n])?;
            at += n;
        }
        unreachable!()
    }

    #[test]
    fn a_write_that_fails_on_the_disk_thread_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ro");
        std::fs::write(&p, b"").unwrap();
        // A descriptor open for reading only: every write fails.
        let plain = File::open(&p).unwrap();
        for len in [10, DIRECT_CHUNK, 5 * DIRECT_CHUNK + 1] {
            let mut d = DirectWriter::to(Disk {
                direct: None,
                plain: plain.try_clone().unwrap(),
            })
            .unwrap();
            let r = d.write_all(&pattern(len)).and_then(|()| d.finish());
            assert!(r.is_err(), "{len} bytes");
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }

    #[test]
    fn direct_writes_give_exactly_the_bytes_on_either_path() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [
            0,
            1,
            DIRECT_ALIGN - 1,
            DIRECT_ALIGN,
            DIRECT_CHUNK - 1,
            DIRECT_CHUNK,
            DIRECT_CHUNK + 1,
            2 * DIRECT_CHUNK + 12_345,
        ];
        for len in sizes {
            let data = pattern(len);
            let p = dir.path().join("snap");
            std::fs::write(&p, b"old").unwrap();
            // As the file system allows (direct I/O where it has it).
            write_file_direct(&p, |w| write_in_pieces(w, &data)).unwrap();
            assert!(std::fs::read(&p).unwrap() == data, "{len} bytes");
            assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, OUTPUT_MODE);
            // Through the page cache, as after a refused direct write.
            std::fs::write(&p, b"old").unwrap();
            let out = DurableFile::create(&p, OUTPUT_MODE).unwrap();
            let mut d = DirectWriter::with(&out, None).unwrap();
            write_in_pieces(&mut d, &data).unwrap();
            d.finish().unwrap();
            out.commit().unwrap();
            assert!(std::fs::read(&p).unwrap() == data, "{len} bytes, plain");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }
}
