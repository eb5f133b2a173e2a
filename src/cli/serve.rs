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
    /// Validate the configuration and exit.
    #[arg(long, requires = "config")]
    check_config: bool,
}

/// Logs to stderr; the filter comes from `CREDLIST_LOG` or `RUST_LOG`
/// (default `info`), JSON lines when `CREDLIST_LOG_FORMAT=json`.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CREDLIST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if std::env::var("CREDLIST_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
        outln!("{}: valid", config.origin)?;
        return Ok(ExitCode::SUCCESS);
    }
    init_logging();
    server::run(config, RunOptions { banner })?;
    Ok(ExitCode::SUCCESS)
}
