//! Command-line interface: flags defined once with clap, one module per
//! group of subcommands. Exit status: 0 success, 1 handled failure, 2 usage.

use clap::{Parser, Subcommand};
use credlist::date::Day;
use std::io::Write;
use std::process::ExitCode;

mod admin;
mod bench;
mod build;
mod followup;
mod gen;
mod publish;
mod query;
mod report;
mod serve;

#[derive(Parser, Debug)]
#[command(
    name = "credlist",
    version,
    about = "Credit red/black/watch list snapshots, checks and sweeps"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a snapshot from the catalog and list files (.csv/.jsonl, folders recursively).
    Build(build::BuildArgs),
    /// Show a snapshot's header, counts and entries expiring within 30 days (and the reporting deadline with --calendar / --deadline-days).
    Inspect(report::InspectArgs),
    /// Check codes (arguments, or stdin one per line): one JSON object per code.
    Check(query::CheckArgs),
    /// List red entries suppressed by black/watch entries (conflicts).
    Sweep(query::SweepArgs),
    /// Screen candidates before publication against a snapshot.
    Screen(query::ScreenArgs),
    /// Entries added, removed and changed between two snapshots.
    Diff(report::DiffArgs),
    /// The lists as published on a date: in-force hits, natural persons masked.
    Publish(publish::PublishArgs),
    /// Per authority: listings, exits with their reason, warnings and escalations between two snapshots.
    Notices(publish::NoticesArgs),
    /// Generate a deterministic, realistic data set of any size.
    Gen(gen::GenArgs),
    /// Run the daemon (without --config: a demo on sockets in ./credlist-demo/).
    Serve(serve::ServeArgs),
    /// Ask a running daemon to reload its snapshot.
    Reload(admin::ReloadArgs),
    /// Place an objection hold on an entry (its measures are suspended).
    Hold(admin::HoldArgs),
    /// Release an objection hold.
    Release(admin::ReleaseArgs),
    /// List the objection holds of a running daemon.
    Holds(admin::HoldsArgs),
    /// Follow-through report (跟踪问效) over audit registers: checks, measures named, feedback.
    Report(followup::ReportArgs),
    /// Load a running daemon (batch frames, JSON checks) or Redis, and report.
    Bench(bench::BenchArgs),
}

/// Parses `YYYY-MM-DD` for clap.
pub fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

/// What a command returns: the exit code, or an error printed with its chain.
pub type Outcome = anyhow::Result<ExitCode>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(a) => build::run(a),
        Command::Inspect(a) => report::inspect(a),
        Command::Check(a) => query::check(a),
        Command::Sweep(a) => query::sweep(a),
        Command::Screen(a) => query::screen(a),
        Command::Diff(a) => report::diff(a),
        Command::Publish(a) => publish::publish(a),
        Command::Notices(a) => publish::notices(a),
        Command::Gen(a) => gen::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Reload(a) => admin::reload(a),
        Command::Hold(a) => admin::hold(a),
        Command::Release(a) => admin::release(a),
        Command::Holds(a) => admin::holds(a),
        Command::Bench(a) => bench::run(a),
        Command::Report(a) => followup::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "credlist: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Opens a snapshot, naming the path in the error. Mapped, unguarded: see
/// [`credlist::snapshot::Snapshot::open`] for why.
pub fn open_snapshot(path: &std::path::Path) -> anyhow::Result<credlist::snapshot::Snapshot> {
    use anyhow::Context;
    // SAFETY: snapshots are installed by renaming a complete file over the
    // path, never written in place; a command holds its snapshot for the
    // seconds it runs (the daemon, which holds one for months, guards it).
    unsafe { credlist::snapshot::Snapshot::open(path) }
        .with_context(|| format!("refused snapshot {}", path.display()))
}
