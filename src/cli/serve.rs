//! `credlist serve`: the daemon.

use super::{outln, Outcome};
use anyhow::Context;
use credlist::server::{self, config::Config, demo, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Configuration file (TOML). Without it: demo mode, serving the
    /// embedded fixtures from ./credlist-demo/.
    #[arg(long, env = "CREDLIST_CONFIG")]
    config: Option<PathBuf>,
    /// Validate the configuration, open and verify its snapshot, check the
    /// clients' matters against the snapshot's catalog, say what was
    /// checked, and exit (status 1 naming the first problem).
    #[arg(long, requires = "config")]
    check_config: bool,
}

pub fn run(a: ServeArgs) -> Outcome {
    let (config, banner) = match &a.config {
        Some(path) => (Config::load(path)?, None),
        None => {
            let dir = std::env::current_dir()
                .context("current directory")?
                .join("credlist-demo");
            eprintln!("credlist: no --config: demo mode in {}", dir.display());
            let config = demo::prepare(&dir)?;
            let banner = demo::banner(&config);
            (config, Some(banner))
        }
    };
    if a.check_config {
        for line in check_config(&config)? {
            outln!("{line}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    credlist::server::observe::init_logging(&config.log).map_err(anyhow::Error::msg)?;
    server::run(config, RunOptions { banner })?;
    Ok(ExitCode::SUCCESS)
}

/// What `serve --check-config` checks beyond parsing: the snapshot opens
/// and verifies, and every matter a client names is in its catalog (the
/// daemon would only warn of it). Returns the lines to print.
fn check_config(config: &Config) -> anyhow::Result<Vec<String>> {
    let origin = &config.origin;
    let mut lines = vec![format!("config {origin}: valid")];
    let path = &config.snapshot.path;
    // SAFETY: as in `super::open_snapshot`: snapshots are replaced by
    // rename, never written in place, and this check holds it for moments.
    let snap = unsafe { credlist::snapshot::Snapshot::open(path) }
        .map_err(|e| anyhow::anyhow!("config {origin}: snapshot.path: refused snapshot: {e}"))?;
    lines.push(format!(
        "snapshot {}: verified (id {}, data date {}, {} entries, format version {})",
        path.display(),
        snap.id,
        snap.data_date,
        snap.entries(),
        credlist::snapshot::format::VERSION
    ));
    let mut problems = Vec::new();
    let mut named = 0;
    for (i, c) in config.clients.iter().enumerate() {
        for m in c.matters.iter().filter(|m| *m != "*") {
            named += 1;
            if snap.catalog.matter_index(m).is_none() {
                problems.push(format!(
                    "client[{i}] ({:?}).matters: {m:?} is not a matter of the snapshot's catalog",
                    c.name
                ));
            }
        }
    }
    if !problems.is_empty() {
        let known: Vec<&str> = snap.catalog.matters.iter().map(|m| m.id.as_str()).collect();
        anyhow::bail!(
            "config {origin}: {} (the catalog has: {})",
            problems.join("; "),
            known.join(", ")
        );
    }
    lines.push(if config.clients.is_empty() {
        "clients: none configured: every caller that can open a socket has full rights".into()
    } else {
        format!(
            "clients: {} ({named} matters named, all in the catalog)",
            config.clients.len()
        )
    });
    lines.push(format!(
        "sockets: check {}, batch {}, admin {}{} (socket activation, when used, takes precedence)",
        config.check.socket.display(),
        config.batch.socket.display(),
        config.admin.socket.display(),
        config
            .check
            .tcp
            .as_ref()
            .map(|t| format!(", tcp {t}"))
            .unwrap_or_default()
    ));
    lines.push(format!(
        "metrics: {}",
        config
            .metrics
            .listen
            .as_deref()
            .map_or("on the check socket only".to_string(), |l| format!(
                "{l} and the check socket"
            ))
    ));
    lines.push(format!(
        "log: level {:?}, format {:?}",
        config.log.level, config.log.format
    ));
    Ok(lines)
}
