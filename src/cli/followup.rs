//! `credlist report`: the follow-through report (跟踪问效, SPEC §9) over
//! audit registers.

use super::{parse_day, Outcome};
use anyhow::Context;
use credlist::date::Day;
use credlist::report::{self, Options, DEFAULT_WINDOW_DAYS};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Audit register files or folders (rotated files, several daemons' registers: merged).
    #[arg(long = "audit", required = true, num_args = 1..)]
    audit: Vec<PathBuf>,
    /// First day of the period (Asia/Shanghai), inclusive.
    #[arg(long, value_parser = parse_day)]
    from: Option<Day>,
    /// Last day of the period (Asia/Shanghai), inclusive.
    #[arg(long, value_parser = parse_day)]
    to: Option<Day>,
    /// Approvals decided (CSV approval_id,client,matter,code,decided_on): which were checked (应查必查).
    #[arg(long)]
    approvals: Option<PathBuf>,
    /// Days before a decision within which a check counts for it.
    #[arg(long, default_value_t = DEFAULT_WINDOW_DAYS)]
    window_days: u32,
    /// The report as JSON (SPEC §9).
    #[arg(long, conflicts_with = "html")]
    json: bool,
    /// Write the report as one self-contained HTML page with charts to this file.
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> Outcome {
    let opts = Options {
        from: a.from,
        to: a.to,
        approvals: a.approvals,
        window_days: a.window_days,
    };
    let r = report::report(&a.audit, &opts)?;
    let mut err = std::io::stderr().lock();
    if r.warning_count > 0 && (a.json || a.html.is_some()) {
        // The text report lists them itself; JSON and HTML users see them here.
        for w in &r.warnings {
            writeln!(err, "credlist: warning: {w}")?;
        }
    }
    if r.warning_count > 0 {
        writeln!(
            err,
            "credlist: {} warning(s): lines of the registers not taken as records, or notes on the approvals (see above{})",
            r.warning_count,
            if a.json || a.html.is_some() { "" } else { " and the report's end" }
        )?;
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
    } else if let Some(path) = &a.html {
        std::fs::write(path, report::html::render(&r))
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(
            out,
            "wrote {} ({} checks, {} triggered measures, rate {})",
            path.display(),
            r.totals.checks,
            r.totals.triggered,
            report::text::rate(r.totals.rate)
        )?;
    } else {
        out.write_all(report::text::render(&r).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
