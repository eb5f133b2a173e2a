//! `credlist inspect` and `diff`: what a snapshot holds and what changed.

use super::{open_snapshot, Outcome};
use credlist::calendar::Calendar;
use credlist::diff::{diff as run_diff, Counts};
use credlist::inspect::inspect as run_inspect;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    snapshot: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Working-day calendar (TOML: holidays, workdays) for the reporting
    /// deadline; adds the deadline part (default: Monday to Friday).
    #[arg(long)]
    calendar: Option<PathBuf>,
    /// Reporting deadline in working days after listed_on; adds the
    /// deadline part.
    #[arg(long)]
    deadline_days: Option<u32>,
}

pub fn inspect(a: InspectArgs) -> Outcome {
    let snap = open_snapshot(&a.snapshot)?;
    let mut i = run_inspect(&snap);
    if a.calendar.is_some() || a.deadline_days.is_some() {
        let cal = match &a.calendar {
            Some(path) => Calendar::load(path)?,
            None => Calendar::weekdays(),
        };
        i.deadline = Some(credlist::deadline::of_snapshot(
            &snap,
            &cal,
            a.calendar.as_ref().map(|p| p.display().to_string()),
            a.deadline_days.unwrap_or(credlist::deadline::DEFAULT_DAYS),
        ));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        serde_json::to_writer_pretty(&mut out, &i)?;
        writeln!(out)?;
    } else {
        writeln!(out, "snapshot     {}", a.snapshot.display())?;
        writeln!(out, "id           {}", i.snapshot_id)?;
        writeln!(
            out,
            "format       version {}, {} bytes",
            i.format_version, i.file_bytes
        )?;
        writeln!(out, "data date    {}", i.data_date)?;
        writeln!(
            out,
            "entries      {} ({} subjects; {} rows read, {} rejected)",
            i.entries, i.subjects, i.rows_read, i.rows_rejected
        )?;
        for inp in &i.inputs {
            writeln!(
                out,
                "input        {} ({} bytes, xxh3 {})",
                inp.path, inp.bytes, inp.xxh3
            )?;
        }
        for (title, map) in [
            ("by kind", &i.by_kind),
            ("by domain", &i.by_domain),
            ("by authority", &i.by_authority),
        ] {
            writeln!(out, "{title}:")?;
            for (k, n) in map {
                writeln!(out, "  {k:<24} {n}")?;
            }
        }
        writeln!(
            out,
            "expiring within 30 days of the data date: {}",
            i.expiring.count
        )?;
        for e in &i.expiring.entries {
            writeln!(
                out,
                "  {} {} {} {} {} valid until {}",
                e.entry_id,
                e.kind,
                e.domain,
                e.authority,
                e.code,
                e.valid_until.map(|d| d.to_string()).unwrap_or_default()
            )?;
        }
        let r = &i.relations;
        writeln!(
            out,
            "relations    {} ({} in effect on the data date)",
            r.total, r.in_effect
        )?;
        for (role, n) in &r.by_role {
            let now = r.in_effect_by_role.get(role).copied().unwrap_or(0);
            writeln!(out, "  {role:<24} {n} ({now} in effect)")?;
        }
        if let Some(d) = &i.deadline {
            credlist::deadline::write_text(d, &mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    old: PathBuf,
    new: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn diff(a: DiffArgs) -> Outcome {
    let old = open_snapshot(&a.old)?;
    let new = open_snapshot(&a.new)?;
    let d = run_diff(&old, &new);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        serde_json::to_writer_pretty(&mut out, &d)?;
        writeln!(out)?;
    } else {
        let counts = |out: &mut dyn Write, title: &str, c: &Counts| -> std::io::Result<()> {
            let kinds: Vec<String> = c.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let auths: Vec<String> = c
                .by_authority
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            writeln!(
                out,
                "{title:<8} {:>8}   by kind: {}   by authority: {}",
                c.total,
                kinds.join(", "),
                auths.join(", ")
            )
        };
        writeln!(
            out,
            "old {} (id {}, data date {})",
            a.old.display(),
            old.id,
            old.data_date
        )?;
        writeln!(
            out,
            "new {} (id {}, data date {})",
            a.new.display(),
            new.id,
            new.data_date
        )?;
        counts(&mut out, "added", &d.counts.added)?;
        counts(&mut out, "removed", &d.counts.removed)?;
        counts(&mut out, "changed", &d.counts.changed)?;
        for (sign, list) in [("+", &d.added), ("-", &d.removed)] {
            for e in list {
                writeln!(
                    out,
                    "{sign} {} {} {} {} {} listed {}",
                    e.entry_id, e.kind, e.domain, e.authority, e.code, e.listed_on
                )?;
            }
        }
        for c in &d.changed {
            writeln!(out, "~ {} {}", c.entry_id, c.fields.join(", "))?;
        }
        let rel = &d.relations;
        for (title, c) in [
            ("relations added", &rel.counts.added),
            ("relations removed", &rel.counts.removed),
            ("relations changed", &rel.counts.changed),
        ] {
            let roles: Vec<String> = c.by_role.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(
                out,
                "{title:<18} {:>8}   by role: {}",
                c.total,
                roles.join(", ")
            )?;
        }
        for (sign, list) in [("+", &rel.added), ("-", &rel.removed)] {
            for r in list {
                writeln!(
                    out,
                    "{sign} relation {} {} {} of {} from {}{}",
                    r.relation_id,
                    r.party,
                    r.role.as_str(),
                    r.org,
                    r.from,
                    r.until.map(|u| format!(" until {u}")).unwrap_or_default()
                )?;
            }
        }
        for c in &rel.changed {
            writeln!(out, "~ relation {} {}", c.relation_id, c.fields.join(", "))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
