//! `credlist reload`, `hold`, `release` and `holds`: talk to a running
//! daemon's admin socket.

use super::{outln, Outcome};
use anyhow::{bail, Context};
use credlist::server::client::{request, Reply};
use credlist::server::config::Config;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Default admin socket.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/credlist/admin.sock";

/// How to find the daemon.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The daemon's configuration file (its [admin] socket is used).
    #[arg(long, env = "CREDLIST_CONFIG")]
    config: Option<PathBuf>,
    /// The admin socket (wins over --config) [default: /run/credlist/admin.sock].
    #[arg(long, env = "CREDLIST_ADMIN_SOCKET")]
    admin_socket: Option<PathBuf>,
}

impl Target {
    fn socket(&self) -> anyhow::Result<PathBuf> {
        if let Some(p) = &self.admin_socket {
            return Ok(p.clone());
        }
        if let Some(c) = &self.config {
            return Ok(Config::load(c)?.admin.socket);
        }
        Ok(PathBuf::from(DEFAULT_ADMIN_SOCKET))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        let socket = self.socket()?;
        // A reload verifies a whole snapshot: allow it time.
        request(
            &socket,
            method,
            path,
            body.as_ref(),
            Duration::from_secs(300),
        )
        .with_context(|| {
            format!(
                "cannot reach the daemon's admin socket {}",
                socket.display()
            )
        })
    }
}

fn fail(what: &str, r: &Reply) -> anyhow::Result<ExitCode> {
    bail!(
        "{what}: the daemon answered {}: {}",
        r.status,
        r.error_text()
    )
}

#[derive(clap::Args, Debug)]
pub struct ReloadArgs {
    #[command(flatten)]
    target: Target,
    /// Load this snapshot instead of the configured one (once; later
    /// reloads and restarts use the configured path).
    #[arg(long)]
    path: Option<PathBuf>,
}

pub fn reload(a: ReloadArgs) -> Outcome {
    // The daemon resolves a relative path from its own directory: send ours.
    let path = a
        .path
        .map(std::path::absolute)
        .transpose()
        .context("--path")?;
    let body = path.map(|p| serde_json::json!({"path": p}));
    let r = a.target.call("POST", "/v1/admin/reload", body)?;
    if r.status != 200 {
        return fail("reload", &r);
    }
    let v = r.json().unwrap_or_default();
    outln!(
        "reloaded: generation {}, snapshot {} (data date {}, {} entries), {} holds ({} dormant)",
        v["generation"],
        v["snapshot"]["id"].as_str().unwrap_or("?"),
        v["snapshot"]["data_date"].as_str().unwrap_or("?"),
        v["snapshot"]["entries"],
        v["holds"]["active"],
        v["holds"]["dormant"],
    )?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct HoldArgs {
    #[command(flatten)]
    target: Target,
    /// The entry under objection (its entry_id).
    entry_id: String,
    /// Why (the objection's reference).
    #[arg(long)]
    reason: String,
}

fn login_name() -> Option<String> {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

pub fn hold(a: HoldArgs) -> Outcome {
    let mut body = serde_json::json!({"entry_id": a.entry_id, "reason": a.reason});
    if let Some(by) = login_name() {
        body["by"] = by.into();
    }
    let r = a.target.call("POST", "/v1/admin/holds", Some(body))?;
    if r.status != 201 {
        return fail(&format!("hold on {}", a.entry_id), &r);
    }
    outln!(
        "hold placed on {} (its measures are suspended until released)",
        a.entry_id
    )?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct ReleaseArgs {
    #[command(flatten)]
    target: Target,
    /// The entry whose hold ends.
    entry_id: String,
}

/// Percent-encodes a path segment.
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn release(a: ReleaseArgs) -> Outcome {
    let path = format!("/v1/admin/holds/{}", encode_segment(&a.entry_id));
    let r = a.target.call("DELETE", &path, None)?;
    if r.status != 204 {
        return fail(&format!("release of {}", a.entry_id), &r);
    }
    outln!("hold on {} released", a.entry_id)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct HoldsArgs {
    #[command(flatten)]
    target: Target,
    /// Print the daemon's JSON as is.
    #[arg(long)]
    json: bool,
}

pub fn holds(a: HoldsArgs) -> Outcome {
    let r = a.target.call("GET", "/v1/admin/holds", None)?;
    if r.status != 200 {
        return fail("holds", &r);
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        out.write_all(&r.body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let v = r.json().unwrap_or_default();
    let list = v["holds"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        writeln!(out, "no holds")?;
    }
    for h in &list {
        let s = |k: &str| h[k].as_str().unwrap_or("").to_string();
        let dormant = if h["dormant"].as_bool() == Some(true) {
            "  [dormant: entry not in the served snapshot]"
        } else {
            ""
        };
        writeln!(
            out,
            "{}  placed {} by {}  reason: {}{dormant}",
            s("entry_id"),
            s("at"),
            s("by"),
            s("reason")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::encode_segment("FY-2024-0901"), "FY-2024-0901");
        assert_eq!(super::encode_segment("a/b c"), "a%2Fb%20c");
    }
}
