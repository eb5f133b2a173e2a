//! `credlist build`.

use super::{parse_day, Outcome};
use anyhow::Context;
use credlist::build::{run as build, BuildOptions, Progress, DEFAULT_MAX_REJECT_RATIO};
use credlist::date::Day;
use credlist::ingest::{Encoding, Reason, Stats};
use credlist::related::Role;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Catalog of domains, matters and measures (TOML).
    #[arg(long)]
    catalog: PathBuf,
    /// Snapshot file to write (atomically: temp file, fsync, rename).
    #[arg(long)]
    out: PathBuf,
    /// Data date the lists describe (default: today in Asia/Shanghai).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// Encoding of CSV files: utf8 or gbk.
    #[arg(long, default_value = "utf8")]
    encoding: Encoding,
    /// Pilot-era codes accepted despite a failing check character.
    #[arg(long)]
    legacy_codes: Option<PathBuf>,
    /// Largest share of rejected rows that still writes a snapshot.
    #[arg(long, default_value_t = DEFAULT_MAX_REJECT_RATIO)]
    max_reject_ratio: f64,
    /// Reject report (default: the snapshot path + .rejects.csv).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Relation files (.csv, .jsonl) or folders: who holds which role in
    /// which organisation (repeatable).
    #[arg(long = "relations", value_name = "PATH")]
    relations: Vec<PathBuf>,
    /// Let the kernel back the build's memory with transparent huge pages.
    /// Off by default: on a VM whose host returns freed guest memory (free
    /// page reporting), faulting fresh huge pages in cost more than their
    /// fewer TLB misses saved (README: Performance).
    #[arg(long)]
    huge_pages: bool,
    /// List files (.csv, .jsonl) or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

/// A progress bar on a terminal, nothing otherwise.
struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
    fn phase(&self, name: &str) {
        if let Some(b) = &self.0 {
            b.set_message(name.to_string());
        }
    }
}

pub fn run(a: BuildArgs) -> Outcome {
    if !(0.0..=1.0).contains(&a.max_reject_ratio) {
        anyhow::bail!(
            "--max-reject-ratio must be between 0 and 1, got {}",
            a.max_reject_ratio
        );
    }
    if !a.huge_pages {
        // Only speed depends on it: where the kernel refuses, the build goes
        // on as before, and says so.
        if let Err(e) = credlist::os::refuse_huge_pages() {
            eprintln!("warning: transparent huge pages stay allowed: {e}");
        }
    }
    let opts = BuildOptions {
        catalog: a.catalog,
        out: a.out,
        as_of: a.as_of.unwrap_or_else(Day::today),
        encoding: a.encoding,
        legacy_codes: a.legacy_codes,
        max_reject_ratio: a.max_reject_ratio,
        rejects: a.rejects,
        inputs: a.inputs,
        relations: a.relations,
    };
    let bar = Bar(std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    }));
    let report =
        build(&opts, &bar).with_context(|| format!("build of {} failed", opts.out.display()))?;
    if let Some(b) = &bar.0 {
        b.finish_and_clear();
    }
    let s = &report.stats;
    let mut out = String::new();
    use std::fmt::Write;
    if s.relation_files > 0 {
        let _ = writeln!(
            out,
            "files        {} ({} bytes; {} of relations)",
            s.files, s.bytes, s.relation_files
        );
        let _ = writeln!(
            out,
            "rows read    {} ({} entry rows, {} relation rows)",
            s.rows,
            s.rows - s.relation_rows,
            s.relation_rows
        );
        let _ = writeln!(
            out,
            "accepted     {} ({} entries, {} relations)",
            s.accepted + s.relations(),
            s.accepted,
            s.relations()
        );
    } else {
        let _ = writeln!(out, "files        {} ({} bytes)", s.files, s.bytes);
        let _ = writeln!(out, "rows read    {}", s.rows);
        let _ = writeln!(out, "accepted     {}", s.accepted);
    }
    let _ = writeln!(
        out,
        "rejected     {} ({:.4}%, limit {:.4}%)",
        s.rejected_total(),
        report.reject_ratio * 100.0,
        opts.max_reject_ratio * 100.0
    );
    for r in Reason::ALL {
        if let Some(n) = s.rejected.get(r.as_str()) {
            let _ = writeln!(out, "  {:<22} {n}", r.as_str());
        }
    }
    let _ = writeln!(
        out,
        "warnings     org-code check {}, legacy codes {}, 15-digit IDs upgraded {}",
        s.org_code_warnings, s.legacy_codes, s.upgraded_ids
    );
    for c in &s.ignored_columns {
        let _ = writeln!(out, "  ignored column {c}");
    }
    for f in &s.skipped_files {
        let _ = writeln!(out, "  skipped file (not .csv/.jsonl) {f}");
    }
    let [b, w, r] = report.entries_by_kind;
    let _ = writeln!(out, "entries      black {b}, watch {w}, red {r}");
    if s.relation_files > 0 {
        relations_summary(&mut out, s);
    }
    let _ = writeln!(
        out,
        "elapsed      {:.3} s ({:.0} rows/s; read {:.3} s, index {:.3} s, write {:.3} s)",
        report.elapsed.as_secs_f64(),
        report.rows_per_sec(),
        report.phases[0].as_secs_f64(),
        report.phases[1].as_secs_f64(),
        report.phases[2].as_secs_f64()
    );
    let _ = writeln!(out, "rejects      {}", report.rejects_path.display());
    match &report.snapshot_id {
        Some(id) => {
            let _ = writeln!(
                out,
                "snapshot     {} (id {id}, data date {})",
                opts.out.display(),
                opts.as_of
            );
            std::io::stdout().lock().write_all(out.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            std::io::stdout().lock().write_all(out.as_bytes())?;
            eprintln!(
                "credlist: error: build failed: {:.4}% of rows rejected, more than --max-reject-ratio {}; no snapshot written, see {}",
                report.reject_ratio * 100.0,
                opts.max_reject_ratio,
                report.rejects_path.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// The relation lines of the summary: accepted relations by role, and the
/// rejected relation rows by reason (also counted in the lines above).
fn relations_summary(out: &mut String, s: &Stats) {
    use std::fmt::Write;
    let by_role: Vec<String> = Role::ALL
        .iter()
        .map(|r| format!("{} {}", r.as_str(), s.relations_by_role[*r as usize]))
        .collect();
    let _ = writeln!(out, "relations    {}", by_role.join(", "));
    let _ = writeln!(
        out,
        "  relation rows rejected {}",
        s.relations_rejected_total()
    );
    for r in Reason::ALL {
        if let Some(n) = s.relations_rejected.get(r.as_str()) {
            let _ = writeln!(out, "    {:<20} {n}", r.as_str());
        }
    }
}
