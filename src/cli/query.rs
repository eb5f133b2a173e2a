//! `credlist check`, `sweep` and `screen`: questions asked of a snapshot.

use super::{open_snapshot, parse_day, Outcome};
use anyhow::Context;
use credlist::check::{check_one, Ctx, Holds};
use credlist::date::Day;
use credlist::screen::{read_candidates, screen as run_screen, ScreenAs};
use credlist::snapshot::Snapshot;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Snapshot file to read.
    #[arg(long, env = "CREDLIST_SNAPSHOT")]
    snapshot: PathBuf,
    /// Approval matter: adds must_apply / may_apply / rewards.
    #[arg(long)]
    matter: Option<String>,
    /// Evaluation date (default: today in Asia/Shanghai).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// Codes; read from stdin, one per line, when none are given.
    codes: Vec<String>,
}

/// Resolves a matter id to its catalog index, or a clear error.
pub fn matter_index(snap: &Snapshot, matter: Option<&str>) -> anyhow::Result<Option<usize>> {
    let Some(m) = matter else { return Ok(None) };
    match snap.catalog.matter_index(m) {
        Some(i) => Ok(Some(i)),
        None => {
            let known: Vec<&str> = snap.catalog.matters.iter().map(|m| m.id.as_str()).collect();
            anyhow::bail!(
                "unknown matter {m:?} (the catalog has: {})",
                known.join(", ")
            )
        }
    }
}

pub fn check(a: CheckArgs) -> Outcome {
    let snap = open_snapshot(&a.snapshot)?;
    let matter = matter_index(&snap, a.matter.as_deref())?;
    let holds = Holds::default();
    let ctx = Ctx {
        snap: &snap,
        holds: &holds,
        day: a.as_of.unwrap_or_else(Day::today),
        matter,
        persons: true,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut emit = |code: &str| -> anyhow::Result<()> {
        serde_json::to_writer(&mut out, &check_one(&ctx, code, None))?;
        out.write_all(b"\n")?;
        Ok(())
    };
    if a.codes.is_empty() {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.with_context(|| format!("reading stdin line {}", i + 1))?;
            // As in `screen`'s .txt lists: `#` starts a comment, blank lines are skipped.
            let code = line.split('#').next().unwrap_or("").trim();
            if !code.is_empty() {
                emit(code)?;
            }
        }
    } else {
        for c in &a.codes {
            emit(c)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SweepFormat {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Snapshot file to read.
    #[arg(long, env = "CREDLIST_SNAPSHOT")]
    snapshot: PathBuf,
    /// Evaluation date (default: today in Asia/Shanghai).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// Output format: one CSV row per (red, suppressing) pair, or one JSON line per red entry.
    #[arg(long, value_enum, default_value = "csv")]
    format: SweepFormat,
}

pub fn sweep(a: SweepArgs) -> Outcome {
    let snap = open_snapshot(&a.snapshot)?;
    let conflicts =
        credlist::sweep::sweep(&snap, a.as_of.unwrap_or_else(Day::today), &Holds::default());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match a.format {
        SweepFormat::Csv => credlist::sweep::write_csv(&conflicts, &mut out)?,
        SweepFormat::Jsonl => {
            for c in &conflicts {
                serde_json::to_writer(&mut out, c)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    eprintln!("{} suppressed red entries", conflicts.len());
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum As {
    Red,
    Black,
}

#[derive(clap::Args, Debug)]
pub struct ScreenArgs {
    /// Snapshot file to read.
    #[arg(long, env = "CREDLIST_SNAPSHOT")]
    snapshot: PathBuf,
    /// red: candidates already on black/watch lists; black: red entries to remove.
    #[arg(long = "as", value_enum)]
    as_: As,
    /// Evaluation date (default: today in Asia/Shanghai).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// Candidates: an entry file (.csv/.jsonl) or a plain list of codes (.txt).
    candidates: PathBuf,
}

pub fn screen(a: ScreenArgs) -> Outcome {
    let snap = open_snapshot(&a.snapshot)?;
    let candidates = read_candidates(&a.candidates)?;
    let holds = Holds::default();
    let ctx = Ctx {
        snap: &snap,
        holds: &holds,
        day: a.as_of.unwrap_or_else(Day::today),
        matter: None,
        persons: true,
    };
    let mode = match a.as_ {
        As::Red => ScreenAs::Red,
        As::Black => ScreenAs::Black,
    };
    let findings = run_screen(&ctx, &candidates, mode);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for f in &findings {
        serde_json::to_writer(&mut out, f)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprintln!(
        "{} candidates screened, {} findings",
        candidates.len(),
        findings.len()
    );
    Ok(ExitCode::SUCCESS)
}
