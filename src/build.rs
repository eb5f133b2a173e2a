//! `credlist build`: catalog + list files + relation files → reject report
//! + snapshot.

use crate::catalog::{Catalog, CatalogError};
use crate::date::Day;
use crate::durable::{DurableFile, OUTPUT_MODE};
use crate::ingest::{self, Encoding, Ingest, IngestError, LegacyCodes, Reject, Stats};
use crate::snapshot::{Meta, SnapshotError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const DEFAULT_MAX_REJECT_RATIO: f64 = 0.001;

#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub catalog: PathBuf,
    pub out: PathBuf,
    pub as_of: Day,
    pub encoding: Encoding,
    pub legacy_codes: Option<PathBuf>,
    pub max_reject_ratio: f64,
    /// Default: the snapshot path + `.rejects.csv`.
    pub rejects: Option<PathBuf>,
    pub inputs: Vec<PathBuf>,
    /// Relation files or folders (SPEC §8), read like `inputs`.
    pub relations: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("reject report {path}: {source}")]
    Rejects {
        path: String,
        source: std::io::Error,
    },
    #[error("no input files found in {0}")]
    NoInputs(String),
    #[error("no relation files found in {0}")]
    NoRelations(String),
}

/// What a build did.
#[derive(Debug)]
pub struct BuildReport {
    pub stats: Stats,
    pub rejects_path: PathBuf,
    /// `None` when the reject ratio failed the build (no snapshot written).
    pub snapshot_id: Option<String>,
    pub reject_ratio: f64,
    pub entries_by_kind: [u64; 3],
    pub elapsed: Duration,
    /// Time spent reading and validating, indexing, and writing.
    pub phases: [Duration; 3],
}

impl BuildReport {
    pub fn rows_per_sec(&self) -> f64 {
        self.stats.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress callbacks: total input bytes once, then bytes read as they go.
pub trait Progress: Sync {
    fn start(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn phase(&self, _name: &str) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

pub fn rejects_path(opts: &BuildOptions) -> PathBuf {
    opts.rejects.clone().unwrap_or_else(|| {
        let mut p = opts.out.clone().into_os_string();
        p.push(".rejects.csv");
        PathBuf::from(p)
    })
}

pub fn run(opts: &BuildOptions, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let catalog = Catalog::load(&opts.catalog)?;
    let legacy = match &opts.legacy_codes {
        Some(p) => LegacyCodes::load(p)?,
        None => LegacyCodes::default(),
    };
    let names = |paths: &[PathBuf]| {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        names.join(", ")
    };
    let mut skipped = Vec::new();
    let files = ingest::list_inputs(&opts.inputs, &mut skipped)?;
    if files.is_empty() {
        return Err(BuildError::NoInputs(names(&opts.inputs)));
    }
    let relation_files = ingest::list_inputs(&opts.relations, &mut skipped)?;
    if relation_files.is_empty() && !opts.relations.is_empty() {
        return Err(BuildError::NoRelations(names(&opts.relations)));
    }
    skipped.sort();
    let size = |files: &[PathBuf]| -> u64 {
        files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum()
    };
    let (list_bytes, relation_bytes) = (size(&files), size(&relation_files));
    progress.start(list_bytes + relation_bytes);

    let rejects_path = rejects_path(opts);
    let mut report = RejectWriter::create(&rejects_path)?;
    let mut ing = Ingest::new(ingest::Options {
        catalog: &catalog,
        as_of: opts.as_of,
        encoding: opts.encoding,
        legacy: &legacy,
    });
    ing.stats.skipped_files = skipped;
    // Rows of the §2 format are rarely under 100 bytes; the merge reserves
    // the exact room for the rows and strings. Relation rows are rarely
    // under 60 bytes.
    ing.reserve((list_bytes / 100) as usize, 0);
    ing.reserve_relations((relation_bytes / 60) as usize);
    // Files are read and validated in parallel, then merged in path order:
    // list files, then relation files (their digests in that order too).
    let advance = |n: u64| progress.advance(n);
    let reads = ing.read_all(&files, &relation_files, &advance)?;
    let digests = reads.files.iter().map(|r| r.digest.clone()).collect();
    ing.merge_reads(reads, &mut |r| report.push(&r))?;
    report.finish()?;
    let (acc, stats) = ing.finish();

    let rejected = stats.rejected_total();
    let reject_ratio = if stats.rows == 0 {
        0.0
    } else {
        rejected as f64 / stats.rows as f64
    };
    let mut entries_by_kind = [0u64; 3];
    acc.entries
        .iter()
        .for_each(|e| entries_by_kind[e.facts.kind as usize] += 1);
    let mut out = BuildReport {
        stats,
        rejects_path,
        snapshot_id: None,
        reject_ratio,
        entries_by_kind,
        elapsed: Duration::ZERO,
        phases: [started.elapsed(), Duration::ZERO, Duration::ZERO],
    };
    if reject_ratio > opts.max_reject_ratio {
        out.elapsed = started.elapsed();
        return Ok(out);
    }
    progress.phase("indexing");
    let meta = Meta {
        inputs: digests,
        rows_read: out.stats.rows,
        rows_rejected: rejected,
        ..Meta::default()
    };
    let t = Instant::now();
    let sections = acc.finish(&catalog, opts.as_of, meta)?;
    out.phases[1] = t.elapsed();
    progress.phase("writing");
    let t = Instant::now();
    out.snapshot_id = Some(sections.write_file(&opts.out)?);
    out.phases[2] = t.elapsed();
    out.elapsed = started.elapsed();
    Ok(out)
}

/// The reject report, written durably (see [`crate::durable`]): it replaces
/// the previous report only when complete.
struct RejectWriter {
    path: PathBuf,
    csv: csv::Writer<DurableFile>,
}

impl RejectWriter {
    fn err(path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Rejects {
            path: path.display().to_string(),
            source,
        }
    }

    fn create(path: &Path) -> Result<RejectWriter, BuildError> {
        let err = |source| RejectWriter::err(path, source);
        let file = DurableFile::create(path, OUTPUT_MODE).map_err(err)?;
        let mut csv = csv::Writer::from_writer(file);
        csv.write_record(["file", "line", "entry_id", "reason", "message"])
            .map_err(|e| err(e.into()))?;
        Ok(RejectWriter {
            path: path.to_path_buf(),
            csv,
        })
    }

    fn push(&mut self, r: &Reject) -> std::io::Result<()> {
        self.csv
            .write_record([
                r.file.as_str(),
                &r.line.to_string(),
                &r.entry_id,
                r.reason.as_str(),
                &r.message,
            ])
            .map_err(std::io::Error::from)
    }

    fn finish(self) -> Result<(), BuildError> {
        let err = |source| RejectWriter::err(&self.path, source);
        let file = self.csv.into_inner().map_err(|e| err(e.into_error()))?;
        file.commit().map_err(err)
    }
}
