//! Finding input files (SPEC §2): the INPUT arguments, folders expanded
//! recursively, in the byte order of their paths. List files and, later,
//! other kinds of input read like them share this.

use super::error::IngestError;
use std::path::{Path, PathBuf};

/// Expands INPUT arguments: files as given, folders recursively (only
/// `.csv`/`.jsonl`/`.xlsx` files; others are listed in `skipped`), all sorted by the
/// bytes of their paths.
pub(crate) fn list_inputs(
    inputs: &[PathBuf],
    skipped: &mut Vec<String>,
) -> Result<Vec<PathBuf>, IngestError> {
    fn walk(
        dir: &Path,
        out: &mut Vec<PathBuf>,
        skipped: &mut Vec<String>,
    ) -> Result<(), IngestError> {
        let io = |source| IngestError::Io {
            path: dir.display().to_string(),
            source,
        };
        for ent in std::fs::read_dir(dir).map_err(io)? {
            let path = ent.map_err(io)?.path();
            if path.is_dir() {
                walk(&path, out, skipped)?;
            } else if is_list_file(&path) {
                out.push(path);
            } else {
                skipped.push(path.display().to_string());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in inputs {
        let meta = std::fs::metadata(p).map_err(|source| IngestError::Io {
            path: p.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out, skipped)?;
        } else if is_list_file(p) {
            out.push(p.clone());
        } else {
            return Err(IngestError::Extension {
                path: p.display().to_string(),
            });
        }
    }
    use std::os::unix::ffi::OsStrExt;
    out.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    out.dedup();
    skipped.sort();
    Ok(out)
}

fn is_list_file(p: &Path) -> bool {
    // `~$name.xlsx` is the lock file of a workbook open in a spreadsheet.
    let lock = p
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("~$"));
    !lock
        && matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("csv") | Some("jsonl") | Some("xlsx")
        )
}
