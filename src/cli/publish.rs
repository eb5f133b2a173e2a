//! `credlist publish` and `notices`: what list authorities publish and
//! announce.

use super::{open_snapshot, parse_day, Outcome};
use anyhow::Context;
use credlist::date::Day;
use credlist::entry::Kind;
use credlist::publish::{counts, publish as run_publish, write, write_file, Format, Kinds};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    Red,
    Black,
    Watch,
}

impl From<ListKind> for Kind {
    fn from(k: ListKind) -> Kind {
        match k {
            ListKind::Red => Kind::Red,
            ListKind::Black => Kind::Black,
            ListKind::Watch => Kind::Watch,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PublishFormat {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// Snapshot file to read.
    #[arg(long, env = "CREDLIST_SNAPSHOT")]
    snapshot: PathBuf,
    /// Publication date (default: the snapshot's data date).
    #[arg(long, value_parser = parse_day)]
    as_of: Option<Day>,
    /// Lists to publish, comma-separated; `watch` includes the watch derived
    /// from black exits.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "red,black")]
    kinds: Vec<ListKind>,
    /// Output format: CSV (with a header) or JSON lines.
    #[arg(long, value_enum, default_value = "csv")]
    format: PublishFormat,
    /// Write to this file (atomically: a temp file, then renamed) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// CSV without the UTF-8 byte order mark (it is there by default so that
    /// spreadsheet programs show Chinese text).
    #[arg(long)]
    no_bom: bool,
}

pub fn publish(a: PublishArgs) -> Outcome {
    let snap = open_snapshot(&a.snapshot)?;
    let day = a.as_of.unwrap_or(snap.data_date);
    let kinds: Vec<Kind> = a.kinds.iter().map(|&k| k.into()).collect();
    let records = run_publish(&snap, day, Kinds::of(&kinds));
    let format = match a.format {
        PublishFormat::Csv => Format::Csv { bom: !a.no_bom },
        PublishFormat::Jsonl => Format::Jsonl,
    };
    match &a.out {
        Some(path) => write_file(&records, format, path)
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write(&records, format, &mut out)?;
            out.flush()?;
        }
    }
    let [red, black, watch] = counts(&records);
    eprintln!(
        "{} records published as of {day} (red {red}, black {black}, watch {watch})",
        records.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct NoticesArgs {
    /// The earlier snapshot (what was published before).
    old: PathBuf,
    /// The later snapshot (what is published now).
    new: PathBuf,
    /// Date OLD is read on (default: its data date).
    #[arg(long, value_parser = parse_day)]
    old_as_of: Option<Day>,
    /// Date NEW is read on (default: its data date).
    #[arg(long, value_parser = parse_day)]
    new_as_of: Option<Day>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn notices(a: NoticesArgs) -> Outcome {
    let old = open_snapshot(&a.old)?;
    let new = open_snapshot(&a.new)?;
    let d1 = a.old_as_of.unwrap_or(old.data_date);
    let d2 = a.new_as_of.unwrap_or(new.data_date);
    let n = credlist::notices::notices(&old, d1, &new, d2);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        serde_json::to_writer_pretty(&mut out, &n)?;
        writeln!(out)?;
    } else {
        credlist::notices::write_text(
            &n,
            &a.old.display().to_string(),
            &a.new.display().to_string(),
            &mut out,
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
