//! Writing output files durably: the one place that knows how.
//!
//! A file is written to a temp file beside its target (same folder, so the
//! rename is atomic), flushed, fsynced, given its final mode, renamed over
//! the target, and the folder is fsynced so that the rename itself survives
//! a crash. A crash leaves either the old file or the new one, never a mix;
//! a failed or abandoned write leaves no temp file behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
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
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        std::fs::write(&p, b"old").unwrap();
        let err = write_file(&p, |w| {
            w.write_all(b"half")?;
            Err::<(), _>(std::io::Error::other("stop"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
