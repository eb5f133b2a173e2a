//! Command-line interface: flags defined once with clap, one module per
//! group of subcommands. Exit status: 0 success, 1 handled failure, 2 usage.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use credlist::date::Day;
use std::io::Write;
use std::process::ExitCode;

mod admin;
mod bench;
mod build;
mod docs;
mod followup;
mod gen;
mod publish;
mod query;
mod report;
mod serve;

#[derive(Parser, Debug)]
#[command(
    name = "credlist",
    about = "Credit red/black/watch list snapshots, checks and sweeps",
    after_help = "Exit status: 0 success, 1 handled failure, 2 usage error. \
                  `credlist gen` and `credlist bench` (test data, load generator) are \
                  left out of this list: see their --help."
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
    #[command(hide = true)]
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
    #[command(hide = true)]
    Bench(bench::BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(docs::CompletionsArgs),
    /// Write the man pages (credlist.1 and one per command) into a folder.
    Man(docs::ManArgs),
}

/// Parses `YYYY-MM-DD` for clap.
pub fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

/// What a command returns: the exit code, or an error printed with its chain.
pub type Outcome = anyhow::Result<ExitCode>;

/// `--version`: the release, the commit it was built from (`unknown` from
/// a tree without git history) and the snapshot format it reads and writes.
pub fn version() -> String {
    format!(
        "{} (commit {}, snapshot format {})",
        env!("CARGO_PKG_VERSION"),
        env!("CREDLIST_COMMIT"),
        credlist::snapshot::format::VERSION
    )
}

/// The command tree with its version: what parsing, completions and man
/// pages are made from.
pub fn command() -> clap::Command {
    Cli::command().version(version())
}

pub fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
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
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    };
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "credlist: error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// Whether an error is the reader of our output having gone away (`credlist
/// … | head`): not a failure, the command ends quietly with status 0.
///
/// Writers wrap the `io::Error` differently: anyhow and csv keep it in the
/// chain, but serde_json's `source()` skips it, so its kind is asked for.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(is_pipe)
}

/// One error (not its chain): a broken pipe, directly or wrapped by a
/// writer (an `io::Error` made from a csv error hides it in `get_ref`).
fn is_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return io.kind() == BrokenPipe || io.get_ref().is_some_and(|inner| is_pipe(inner));
    }
    if let Some(j) = e.downcast_ref::<serde_json::Error>() {
        return j.io_error_kind() == Some(BrokenPipe);
    }
    if let Some(c) = e.downcast_ref::<csv::Error>() {
        return matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe);
    }
    false
}

/// An error and its causes on one line, each cause once.
///
/// Many error types put their source in their own message (`cannot read
/// config {path}: {source}`) and also return it from `source()`; printing
/// the chain would repeat it. A cause whose text the line already holds is
/// left out.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// Writes a line to stdout, returning the error (`println!` would panic on
/// a closed pipe).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use outln;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command, hidden ones included, says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "credlist", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }

    #[test]
    fn command_tree_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn version_names_commit_and_snapshot_format() {
        let v = version();
        assert!(v.starts_with(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(v.contains("commit "), "{v}");
        assert!(
            v.contains(&format!(
                "snapshot format {}",
                credlist::snapshot::format::VERSION
            )),
            "{v}"
        );
    }

    #[test]
    fn each_cause_is_printed_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read config {path}: {source}")]
        struct Embeds {
            path: String,
            source: std::io::Error,
        }
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = io.to_string();
        let e = anyhow::Error::new(Embeds {
            path: "/nonexistent".into(),
            source: io,
        })
        .context("build of x failed");
        let line = error_text(&e);
        assert_eq!(line.matches(&text).count(), 1, "{line}");
        assert!(line.starts_with("build of x failed: cannot read config /nonexistent: "));
    }
}
