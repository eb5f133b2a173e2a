//! Shared by the reliability tests (`tests/integrity.rs`, `tests/crash.rs`,
//! `tests/hostile.rs`, `tests/privacy.rs`): the real `credlist` binary, a
//! daemon in a temporary folder, and small HTTP and batch clients.
//!
//! No helper asserts on timing: waits are bounded polls, every loop is
//! bounded, and only processes started here are signalled.
#![allow(dead_code)]

use credlist::wire::batch::{encode_request, encode_request_in, parse_response, Response, Version};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const DATA_DATE: &str = "2026-11-20";
/// 2026-11-20 in days since 1970-01-01.
pub const DATA_DAY: u32 = 20_777;
pub const MATTER: &str = "gov_procurement";
/// Black (court, FY-2025-0312), watch, suppressed red.
pub const BLACK_CODE: &str = "91350100MA2Y3K8L5G";
pub const BLACK_ENTRY: &str = "FY-2025-0312";
/// A natural person on the black list (GL-2026-0214).
pub const PERSON_CODE: &str = "350102198507162135";
/// A valid ID number on no list.
pub const UNLISTED_PERSON: &str = "110101199003071233";
/// No request may hang a test forever.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub fn credlist() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_credlist"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The demo relations (SPEC §8, `fixtures/README.md` "Demo relations").
pub const DEMO_RELATIONS: &str = "fixtures/relations/demo";

/// `credlist build` of fixture `inputs` as of the data date.
pub fn build_snapshot(out: &Path, inputs: &[&str]) {
    build_snapshot_with(out, inputs, &[]);
}

/// `credlist build` of `inputs` and the relation files or folders
/// `relations` as of the data date.
pub fn build_snapshot_with(out: &Path, inputs: &[&str], relations: &[&str]) {
    let o = credlist()
        .args([
            "build",
            "--catalog",
            "fixtures/catalog.toml",
            "--legacy-codes",
            "fixtures/legacy-codes.txt",
        ])
        .args(["--as-of", DATA_DATE, "--out", s(out)])
        .args(relations.iter().flat_map(|r| ["--relations", r]))
        .args(inputs)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A loopback port free a moment ago (for a daemon's TCP listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn our_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Polls `f` every 20 ms until it returns `Some`, at most `tries` times.
pub fn poll<T>(tries: usize, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..tries {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A temporary folder with a snapshot and a config, and maybe a daemon.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    /// Lines of `[limits]`.
    pub limits: String,
    /// `[[client]]` tables.
    pub clients: String,
    /// Lines of `[audit]` (the path included); default `log/audit.log`.
    pub audit: Option<String>,
    /// More lines of `[check]`.
    pub check_extra: String,
    /// `[state] dir`; default `state/`.
    pub state_dir: Option<PathBuf>,
    /// `CREDLIST_LOG`; default `info`.
    pub log_level: String,
    pub env: Vec<(String, String)>,
    /// More sections of the config (e.g. `[receipts]`), before the clients.
    pub extra: String,
}

impl Daemon {
    /// A folder with `current.snap` built from `fixtures/lists`.
    pub fn new() -> Daemon {
        let d = Daemon::empty();
        build_snapshot(&d.path("current.snap"), &["fixtures/lists"]);
        d
    }

    /// A folder with `current.snap` built from `fixtures/lists` and the
    /// demo relations.
    pub fn with_relations() -> Daemon {
        let d = Daemon::empty();
        build_snapshot_with(
            &d.path("current.snap"),
            &["fixtures/lists"],
            &[DEMO_RELATIONS],
        );
        d
    }

    /// A folder without a snapshot.
    pub fn empty() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("clr")
            .tempdir_in("/tmp")
            .unwrap();
        Daemon {
            dir,
            child: None,
            limits: String::new(),
            clients: String::new(),
            audit: None,
            check_extra: String::new(),
            state_dir: None,
            log_level: "info".into(),
            env: Vec::new(),
            extra: String::new(),
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Daemon {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    pub fn limits(mut self, l: &str) -> Daemon {
        self.limits = l.to_string();
        self
    }
    pub fn clients(mut self, c: &str) -> Daemon {
        self.clients = c.to_string();
        self
    }
    pub fn audit(mut self, lines: &str) -> Daemon {
        self.audit = Some(lines.to_string());
        self
    }
    pub fn check_extra(mut self, lines: &str) -> Daemon {
        self.check_extra = lines.to_string();
        self
    }
    pub fn state_dir(mut self, p: &Path) -> Daemon {
        self.state_dir = Some(p.to_path_buf());
        self
    }
    pub fn extra(mut self, sections: &str) -> Daemon {
        self.extra = sections.to_string();
        self
    }
    pub fn log_level(mut self, l: &str) -> Daemon {
        self.log_level = l.to_string();
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn check_sock(&self) -> PathBuf {
        self.path("check.sock")
    }
    pub fn batch_sock(&self) -> PathBuf {
        self.path("batch.sock")
    }
    pub fn admin_sock(&self) -> PathBuf {
        self.path("admin.sock")
    }
    pub fn config_path(&self) -> PathBuf {
        self.path("credlist.toml")
    }
    pub fn audit_path(&self) -> PathBuf {
        self.path("log/audit.log")
    }
    pub fn holds_log(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.path("state"))
            .join("holds.log")
    }

    pub fn write_config(&self) {
        let d = self.dir.path();
        let state = self.state_dir.clone().unwrap_or_else(|| d.join("state"));
        let text = format!(
            "[snapshot]\npath = \"{snap}\"\n[state]\ndir = \"{state}\"\n[audit]\n{audit}\n\
             [check]\nsocket = \"{check}\"\nmode = \"0660\"\n{check_extra}\n[batch]\nsocket = \"{batch}\"\nmode = \"0660\"\n\
             [admin]\nsocket = \"{admin}\"\n[limits]\n{limits}\n{extra}\n{clients}\n",
            snap = s(&d.join("current.snap")),
            state = s(&state),
            audit = self
                .audit
                .clone()
                .unwrap_or_else(|| format!("path = \"{}\"", s(&self.audit_path()))),
            check_extra = self.check_extra,
            check = s(&self.check_sock()),
            batch = s(&self.batch_sock()),
            admin = s(&self.admin_sock()),
            limits = self.limits,
            extra = self.extra,
            clients = self.clients,
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// Starts the daemon and waits until `/v1/health` answers.
    pub fn start(mut self) -> Daemon {
        self.spawn();
        self
    }

    pub fn spawn(&mut self) {
        self.write_config();
        self.spawn_as_is();
    }

    /// Starts the daemon on the config file as it is now.
    pub fn spawn_as_is(&mut self) {
        self.launch();
        self.wait_ready();
    }

    /// Starts the daemon on the config file as it is now, without waiting
    /// for it to serve.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("daemon.log"))
            .unwrap();
        let child = credlist()
            .args(["serve", "--config", s(&self.config_path())])
            .env("CREDLIST_LOG", &self.log_level)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    pub fn wait_ready(&mut self) {
        for _ in 0..1500 {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "the daemon exited with {st} before serving:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = try_http(&self.check_sock(), "GET", "/v1/health", None) {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not become ready:\n{}", self.log());
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill sends a signal to the daemon this test started.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        for _ in 0..3000 {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not exit:\n{}", self.log());
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// `VmRSS` of the daemon in KiB.
    pub fn rss_kib(&self) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    pub fn check(&self, body: &Value) -> Reply {
        http(
            &self.check_sock(),
            "POST",
            "/v1/check",
            Some(&body.to_string()),
        )
    }

    /// The status of `BLACK_CODE` as the daemon answers it now.
    pub fn black_status(&self) -> String {
        let r = self.check(
            &json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["results"][0]["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        http(
            &self.admin_sock(),
            method,
            path,
            body.map(|b| b.to_string()).as_deref(),
        )
    }

    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(self.audit_path()).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1 over Unix sockets
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    pub fn error_kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub fn request_bytes(method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let body = body.unwrap_or("");
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A keep-alive request (no `Connection: close`).
pub fn keepalive_request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub fn parse_reply(raw: &[u8]) -> Result<Reply, String> {
    let (r, used) =
        parse_one_reply(raw)?.ok_or_else(|| format!("incomplete reply of {} bytes", raw.len()))?;
    if used != raw.len() {
        return Err(format!("{} bytes after the reply", raw.len() - used));
    }
    Ok(r)
}

/// Parses one reply with a Content-Length at the start of `raw`:
/// `None` when incomplete.
pub fn parse_one_reply(raw: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let start = end + 4;
    if raw.len() < start + len {
        return Ok(None);
    }
    let body = String::from_utf8(raw[start..start + len].to_vec()).map_err(|e| e.to_string())?;
    Ok(Some((
        Reply {
            status,
            headers,
            body,
        },
        start + len,
    )))
}

pub fn try_http(
    sock: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Reply, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(&request_bytes(method, path, body))
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    parse_reply(&raw)
}

pub fn http(sock: &Path, method: &str, path: &str, body: Option<&str>) -> Reply {
    try_http(sock, method, path, body)
        .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", sock.display()))
}

/// Retries `try_http` for a while (a connection limit may be full).
pub fn http_eventually(sock: &Path, method: &str, path: &str, body: Option<&str>) -> Reply {
    let started = Instant::now();
    loop {
        match try_http(sock, method, path, body) {
            Ok(r) => return r,
            Err(e) if started.elapsed() > IO_TIMEOUT => panic!("{method} {path}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---------------------------------------------------------------------------
// The batch protocol
// ---------------------------------------------------------------------------

pub struct Batch(pub UnixStream);

impl Batch {
    pub fn connect(sock: &Path) -> Batch {
        let s = UnixStream::connect(sock).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Batch(s)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }

    pub fn recv(&mut self) -> Response {
        self.recv_versioned().1
    }

    /// One response frame and the version byte it was sent in.
    pub fn recv_versioned(&mut self) -> (u8, Response) {
        let frame = self.recv_raw();
        let (r, used) = parse_response(&frame).unwrap().unwrap();
        assert_eq!(used, frame.len());
        (frame[4], r)
    }

    /// The bytes of one response frame, `len` included.
    pub fn recv_raw(&mut self) -> Vec<u8> {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).expect("a response frame");
        let n = u32::from_le_bytes(len) as usize;
        let mut frame = len.to_vec();
        frame.resize(4 + n, 0);
        self.0.read_exact(&mut frame[4..]).unwrap();
        frame
    }

    /// One version-2 frame of `codes`, its u16 flags.
    pub fn flags_v2(&mut self, rid: u64, matter: &str, codes: &[&str]) -> Vec<u16> {
        self.send(&encode_request_in(
            Version::V2,
            rid,
            DATA_DAY,
            matter,
            &codes18(codes),
        ));
        let (v, r) = self.recv_versioned();
        assert_eq!(v, 2, "a version-2 frame is answered in version 2");
        match r {
            Response::FlagsV2 { request_id, flags } => {
                assert_eq!(request_id, rid);
                flags
            }
            other => panic!("expected version-2 flags, got {other:?}"),
        }
    }

    /// True when the daemon has closed the connection (EOF or reset).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.0.read(&mut b), Ok(0) | Err(_))
    }

    /// One frame of `codes`, its flags.
    pub fn flags(&mut self, rid: u64, matter: &str, codes: &[&str]) -> Vec<u8> {
        self.send(&encode_request(rid, DATA_DAY, matter, &codes18(codes)));
        flags_of(self.recv(), rid)
    }
}

pub fn codes18(codes: &[&str]) -> Vec<[u8; 18]> {
    codes
        .iter()
        .map(|c| c.as_bytes().try_into().expect("18-byte code"))
        .collect()
}

/// The request id and flags of a flags frame.
pub fn id_and_flags(r: Response) -> (u64, Vec<u8>) {
    match r {
        Response::Flags { request_id, flags } => (request_id, flags),
        other => panic!("expected flags, got {other:?}"),
    }
}

pub fn flags_of(r: Response, rid: u64) -> Vec<u8> {
    match r {
        Response::Flags { request_id, flags } => {
            assert_eq!(request_id, rid);
            flags
        }
        other => panic!("expected flags, got {other:?}"),
    }
}

pub fn error_of(r: Response) -> (u8, u64, String) {
    match r {
        Response::Error {
            status,
            request_id,
            message,
        } => (status, request_id, message),
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// BLACK (bit1) set, UNANSWERED (bit0) clear: the black fixture subject
/// as a batch caller sees it.
pub fn is_black_flag(f: u8) -> bool {
    f & 1 == 0 && f & 2 != 0
}
