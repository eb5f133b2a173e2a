//! Watching the daemon: the metrics listener (validated with `promtool`
//! when it is installed), log priorities and filters, the watchdog, the
//! audit register's reopening signal, `serve --check-config`, and socket
//! activation of the TCP listener.

mod support;

use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 GET over TCP, `Connection: close`; (status, body).
fn tcp_get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = parse_reply(&raw).unwrap();
    (r.status, r.body)
}

/// `promtool check metrics` on `text`; `None` when promtool is absent.
fn promtool_check_metrics(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            eprintln!("promtool not found: exposition not validated (apt-get install prometheus)");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    Some((
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    ))
}

fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_metrics_listener_serves_valid_exposition_with_build_and_process_metrics() {
    let port = free_port();
    let mut d = Daemon::new()
        .limits("read_timeout_ms = 1000")
        .clients(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"))
        .start();
    // A 408 (a body that never comes) is counted apart from 400s.
    let mut s = std::os::unix::net::UnixStream::connect(d.check_sock()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert_eq!(parse_reply(&raw).unwrap().status, 408);
    let bad = http(&d.check_sock(), "POST", "/v1/check", Some("{"));
    assert_eq!(bad.status, 400);

    let (status, text) = tcp_get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(text.contains(&format!(
        "credlist_build_info{{version=\"{}\",commit=\"",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(text.contains("snapshot_format=\""));
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "credlist_connections_refused_total",
        "credlist_last_reload_successful",
    ] {
        assert!(
            metric_value(&text, name).is_some(),
            "{name} missing:\n{text}"
        );
    }
    assert!(metric_value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
    assert!(metric_value(&text, "credlist_last_reload_success_timestamp_seconds").unwrap() > 1.7e9);
    assert_eq!(
        metric_value(
            &text,
            "credlist_requests_total{endpoint=\"check\",outcome=\"timeout\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric_value(
            &text,
            "credlist_requests_total{endpoint=\"check\",outcome=\"bad_request\"}"
        ),
        Some(1.0)
    );
    // Only /metrics is served there.
    assert_eq!(tcp_get(port, "/v1/health").0, 404);

    // A refused reload shows.
    let r = d.admin(
        "POST",
        "/v1/admin/reload",
        Some(&json!({"path": s_(&d.path("nothing.snap"))})),
    );
    assert_eq!(r.status, 422);
    let (_, after) = tcp_get(port, "/metrics");
    assert_eq!(
        metric_value(&after, "credlist_last_reload_successful"),
        Some(0.0)
    );

    let check_socket = http(&d.check_sock(), "GET", "/metrics", None);
    for t in [after, check_socket.body] {
        if let Some((ok, out)) = promtool_check_metrics(&t) {
            assert!(ok, "promtool check metrics:\n{out}");
        }
    }
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
}

fn s_(p: &Path) -> String {
    s(p).to_string()
}

#[test]
fn under_journald_lines_carry_their_priority() {
    let mut d = Daemon::new();
    let log = d.path("daemon.log");
    std::fs::File::create(&log).unwrap();
    let m = std::fs::metadata(&log).unwrap();
    d = d.env("JOURNAL_STREAM", &format!("{}:{}", m.dev(), m.ino()));
    d = d.start();
    // A refused reload logs an error.
    let r = d.admin(
        "POST",
        "/v1/admin/reload",
        Some(&json!({"path": s_(&d.path("nothing.snap"))})),
    );
    assert_eq!(r.status, 422);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    let text = d.log();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            ["<3>", "<4>", "<6>", "<7>"]
                .iter()
                .any(|p| l.starts_with(p)),
            "no priority: {l}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l.starts_with("<6>") && l.contains("credlist serving")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("<3>") && l.contains("snapshot refused")));
    // journald stamps lines itself.
    assert!(!lines[0][3..].starts_with("20"), "{}", lines[0]);
}

#[test]
fn log_section_sets_format_and_an_invalid_filter_is_an_error() {
    let d = Daemon::new().clients("[log]\nlevel = \"info\"\nformat = \"json\"\n");
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path())])
        .env("CREDLIST_LOG", "inof")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("CREDLIST_LOG") && err.contains("inof"),
        "{err}"
    );

    let bad = Daemon::new().clients("[log]\nlevel = \"verbose\"\n");
    bad.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&bad.config_path()), "--check-config"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("log.level"));

    // Without CREDLIST_LOG the section rules: JSON lines.
    let mut child = credlist()
        .args(["serve", "--config", s(&d.config_path())])
        .env_remove("CREDLIST_LOG")
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.path("json.log")).unwrap())
        .spawn()
        .unwrap();
    let ready = poll(1500, || {
        try_http(&d.check_sock(), "GET", "/v1/health", None)
            .ok()
            .filter(|r| r.status == 200)
    });
    // SAFETY: signals only the daemon this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(ready.is_some());
    let text = std::fs::read_to_string(d.path("json.log")).unwrap();
    let first = text.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|_| panic!("{first}"));
    assert_eq!(v["level"], "INFO");
}

#[test]
fn the_watchdog_is_pinged_and_sigusr1_reopens_the_audit_register() {
    let d = Daemon::new();
    let path = d.path("notify");
    let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut d = d
        .env("NOTIFY_SOCKET", s(&path))
        .env("WATCHDOG_USEC", "200000")
        .start();
    let mut buf = vec![0u8; 4096];
    let mut pinged = false;
    for _ in 0..50 {
        let n = rx.recv(&mut buf).expect("a notification");
        if buf[..n] == *b"WATCHDOG=1" {
            pinged = true;
            break;
        }
    }
    assert!(pinged, "no WATCHDOG=1:\n{}", d.log());

    // Log rotation: the register is renamed, SIGUSR1 makes a new one.
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}).to_string();
    assert_eq!(
        http(&d.check_sock(), "POST", "/v1/check", Some(&body)).status,
        200
    );
    let rotated = d.path("log/audit.log.rotated");
    poll(500, || {
        std::fs::metadata(d.audit_path())
            .ok()
            .filter(|m| m.len() > 0)
    })
    .expect("the first record is written");
    std::fs::rename(d.audit_path(), &rotated).unwrap();
    d.signal(libc::SIGUSR1);
    let reopened = poll(1500, || {
        // Checks until one lands in a new file at the configured path.
        let _ = http(&d.check_sock(), "POST", "/v1/check", Some(&body));
        std::fs::metadata(d.audit_path())
            .ok()
            .filter(|m| m.len() > 0)
    });
    assert!(reopened.is_some(), "no new register:\n{}", d.log());
    assert!(d.log().contains("SIGUSR1"));
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
}

#[test]
fn check_config_verifies_the_snapshot_and_the_clients_matters() {
    let d = Daemon::new().clients(&format!(
        "[[client]]\nname = \"proc\"\nuid = {}\nmatters = [\"{MATTER}\"]\n",
        our_uid()
    ));
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path()), "--check-config"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains("all in the catalog"), "{out}");

    let d = Daemon::new().clients(&format!(
        "[[client]]\nname = \"proc\"\nuid = {}\nmatters = [\"gov_procurment\"]\n",
        our_uid()
    ));
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path()), "--check-config"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gov_procurment") && err.contains("client[0]"),
        "{err}"
    );

    let d = Daemon::empty();
    d.write_config();
    let o = credlist()
        .args(["serve", "--config", s(&d.config_path()), "--check-config"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("snapshot.path") && err.contains("current.snap"),
        "{err}"
    );
}

/// Starts the daemon with `fds` passed as systemd would (LISTEN_FDS from 3,
/// named `names`).
fn activated(d: &mut Daemon, fds: Vec<i32>, names: &str) {
    use std::os::unix::process::CommandExt;
    d.write_config();
    let log = std::fs::File::create(d.path("daemon.log")).unwrap();
    let n = fds.len();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "export LISTEN_PID=$$ LISTEN_FDS={n} LISTEN_FDNAMES={names}; exec \"$0\" serve --config \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_credlist"))
        .arg(d.config_path())
        .env_remove("NOTIFY_SOCKET")
        .env("CREDLIST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    // SAFETY: between fork and exec only async-signal-safe calls (fcntl,
    // dup2) move the listeners to descriptors 3, 4, ….
    unsafe {
        cmd.pre_exec(move || {
            let mut high = Vec::with_capacity(8);
            for fd in &fds {
                let h = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                if h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(h);
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    d.child = Some(cmd.spawn().unwrap());
}

#[test]
fn an_activated_tcp_socket_is_logged_and_held_to_the_loopback_and_token_rules() {
    use std::os::fd::AsRawFd;
    let token = "s3cret-token-0123456789";
    let clients = format!(
        "[[client]]\nname = \"web\"\ntoken = \"{token}\"\nmatters = [\"*\"]\npersons = true\n"
    );
    // Loopback: served, and a caller without the token is refused.
    let mut d = Daemon::new().clients(&clients);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    activated(&mut d, vec![tcp.as_raw_fd()], "tcp");
    let up = poll(1500, || {
        try_http(&d.check_sock(), "GET", "/v1/health", None)
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(up.is_some(), "{}", d.log());
    let body = json!({"matter": MATTER, "subjects": [{"code": BLACK_CODE}]}).to_string();
    let call = |auth: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        write!(
            s,
            "POST /v1/check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        parse_reply(&raw).unwrap().status
    };
    assert_eq!(call(""), 403);
    assert_eq!(call(&format!("Authorization: Bearer {token}\r\n")), 200);
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("listening")
            && l.contains("tcp")
            && l.contains("activated")
            && l.contains(&format!("127.0.0.1:{port}"))),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("listening") && l.contains("check") && l.contains("bound")),
        "{log}"
    );

    // Not loopback: refused at start.
    let mut d = Daemon::new().clients(&clients);
    let wide = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    activated(&mut d, vec![wide.as_raw_fd()], "tcp");
    let st = d.wait_exit();
    assert_eq!(st.code(), Some(1));
    assert!(d.log().contains("loopback"), "{}", d.log());

    // Loopback but no client with a token: every local user would have
    // full rights, so the start is refused.
    let mut d = Daemon::new();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    activated(&mut d, vec![tcp.as_raw_fd()], "tcp");
    let st = d.wait_exit();
    assert_eq!(st.code(), Some(1));
    assert!(
        d.log().contains("needs a [[client]] with a token"),
        "{}",
        d.log()
    );
}

/// Metric names in the daemon's exposition.
fn exported_metrics() -> std::collections::BTreeSet<String> {
    let mut d = Daemon::new().start();
    let text = http(&d.check_sock(), "GET", "/metrics", None).body;
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    let mut names: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    // Families declared but without a series yet (feedback before any
    // report), and a histogram's series.
    for l in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut it = l.split(' ');
        let (name, kind) = (it.next().unwrap(), it.next().unwrap_or(""));
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Metric names an expression uses (ours: credlist_* and process_*).
fn named_metrics(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\b(credlist_[a-z0-9_]+|process_[a-z0-9_]+)").unwrap();
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn alert_rules_and_dashboard_name_only_exported_metrics() {
    let exported = exported_metrics();
    let rules = std::fs::read_to_string(repo("systemd/credlist-alerts.yml")).unwrap();
    let exprs: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .collect();
    assert!(exprs.len() >= 7, "{exprs:?}");
    for e in &exprs {
        for m in named_metrics(e) {
            assert!(
                exported.contains(&m),
                "alert rule names {m}, not exported: {e}"
            );
        }
    }
    for topic in [
        "credlist_snapshot_age_seconds",
        "credlist_last_reload_successful",
        "credlist_audit_healthy",
        "credlist_audit_lost_records_total",
        "credlist_request_duration_seconds_bucket",
        "outcome=\"unavailable\"",
        "up{job=\"credlist\"}",
    ] {
        assert!(rules.contains(topic), "no alert on {topic}");
    }
    match Command::new("promtool")
        .args(["check", "rules", s(&repo("systemd/credlist-alerts.yml"))])
        .output()
    {
        Ok(o) => assert!(
            o.status.success(),
            "promtool check rules:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => eprintln!("promtool not found: alert rules not validated"),
    }

    let text = std::fs::read_to_string(repo("systemd/credlist-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    // Grafana migrates dashboards from schema 14 up; 36 and later use
    // datasource references as objects, as this one does.
    let schema = dash["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    let panels = dash["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    let mut ids = std::collections::BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate panel id"
        );
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "panel {} gridPos.{k}", p["title"]);
        }
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            let e = t["expr"].as_str().expect("expr");
            let named = named_metrics(e);
            assert!(!named.is_empty() || e.starts_with("up{"), "{e}");
            for m in named {
                assert!(
                    exported.contains(&m),
                    "panel {} names {m}, not exported",
                    p["title"]
                );
            }
        }
    }
}
