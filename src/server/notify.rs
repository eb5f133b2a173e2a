//! systemd integration by hand: readiness notifications (`sd_notify`) and
//! socket activation (`sd_listen_fds_with_names`).
//!
//! Notifications are datagrams to `$NOTIFY_SOCKET` (a path, or an abstract
//! name when it starts with `@`); nothing is sent when it is unset. The
//! environment is only read, never unset (unsetting is unsafe once threads
//! exist).

use std::os::fd::OwnedFd;

/// Sends one notification (`READY=1`, `STATUS=…`, …). Errors are logged at
/// debug level and otherwise ignored: a notification is advice to systemd,
/// never a reason to stop serving.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&path, state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let sock = UnixDatagram::unbound()?;
    let bytes = path.as_bytes();
    let addr = match bytes.first() {
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(&bytes[1..])?
        }
        Some(b'/') => SocketAddr::from_pathname(path)?,
        _ => {
            return Err(std::io::Error::other(
                "NOTIFY_SOCKET is neither a path nor @abstract",
            ))
        }
    };
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// `CLOCK_MONOTONIC` in microseconds (for `RELOADING=1`).
pub fn monotonic_usec() -> u64 {
    crate::os::monotonic().map_or(0, |d| d.as_micros() as u64)
}

pub fn ready(status: &str) {
    notify(&format!("READY=1\nSTATUS={status}"));
}

pub fn reloading() {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

pub fn stopping() {
    notify("STOPPING=1\nSTATUS=draining");
}

pub fn status(status: &str) {
    notify(&format!("STATUS={status}"));
}

/// Sockets passed by systemd, by `FileDescriptorName=`.
#[derive(Debug, Default)]
pub struct Activated {
    pub fds: Vec<(String, OwnedFd)>,
}

impl Activated {
    /// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`; empty unless
    /// they name this process. Call once, before any other code could take
    /// the descriptors.
    pub fn from_env() -> Activated {
        let var = |k| std::env::var(k).ok();
        let (Some(pid), Some(n)) = (var("LISTEN_PID"), var("LISTEN_FDS")) else {
            return Activated::default();
        };
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            return Activated::default();
        }
        let n: i32 = n.parse().unwrap_or(0).clamp(0, 64);
        let names: Vec<String> = var("LISTEN_FDNAMES")
            .map(|s| s.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        let mut fds = Vec::new();
        for (i, owned) in crate::os::take_activation_fds(n as usize)
            .into_iter()
            .enumerate()
        {
            // A descriptor systemd announced but did not pass is skipped.
            let Ok(owned) = owned else {
                continue;
            };
            let name = names.get(i).cloned().unwrap_or_else(|| "unknown".into());
            fds.push((name, owned));
        }
        Activated { fds }
    }

    /// Takes the descriptor named `name`.
    pub fn take(&mut self, name: &str) -> Option<OwnedFd> {
        let i = self.fds.iter().position(|(n, _)| n == name)?;
        Some(self.fds.remove(i).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notify");
        let rx = std::os::unix::net::UnixDatagram::bind(&p).unwrap();
        send(p.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("credlist-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        send(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
