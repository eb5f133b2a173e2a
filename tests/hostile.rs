//! Hostile and broken clients against the real daemon: slowloris, floods
//! of idle connections over `max_connections`, half-closed sockets,
//! clients that never read, absurd batch lengths and pipelined garbage.
//! In every case other clients must keep getting correct answers; no test
//! asserts on timing.

mod support;

use credlist::wire::batch::encode_request;
use serde_json::json;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn check_body() -> String {
    json!({"matter": MATTER, "as_of": DATA_DATE, "subjects": [{"code": BLACK_CODE}, {"code": "91350100MA2Y3K8L5H"}]}).to_string()
}

/// One check on a new connection: the black subject is black.
fn correct_answer(d: &Daemon) {
    let r = http_eventually(&d.check_sock(), "POST", "/v1/check", Some(&check_body()));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["results"][0]["status"], "black");
    assert_eq!(v["results"][1]["valid"], false);
}

/// One batch frame on a new connection.
fn correct_batch(d: &Daemon) {
    let mut b = Batch::connect(&d.batch_sock());
    let f = b.flags(42, MATTER, &[BLACK_CODE, "91350100MA2Y3K8L5H"]);
    assert!(is_black_flag(f[0]) && f[1] == 1, "{f:?}");
}

/// Answers checks on other connections until stopped; every answer must
/// be correct. Returns how many were answered.
fn bystander(d: &Daemon, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let (check, batch) = (d.check_sock(), d.batch_sock());
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) && n < 100_000 {
            let r = http_eventually(&check, "POST", "/v1/check", Some(&check_body()));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["results"][0]["status"], "black");
            let mut b = Batch::connect(&batch);
            let f = b.flags(n as u64, MATTER, &[BLACK_CODE]);
            assert!(is_black_flag(f[0]));
            n += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    })
}

fn open_fds(d: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn slowloris_headers_are_cut_off_by_the_read_timeout_while_others_are_answered() {
    let d = Daemon::new()
        .limits("read_timeout_ms = 1000\nidle_timeout_ms = 20000")
        .start();
    let stop = Arc::new(AtomicBool::new(false));
    let other = bystander(&d, stop.clone());
    // Eight clients send a request head one byte every 100 ms; the head
    // is 300 bytes (30 s at that pace) unless the daemon cuts it off.
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nHost: localhost\r\nX-Slow: {}\r\n",
        "a".repeat(250)
    );
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let (sock, head) = (d.check_sock(), head.clone());
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(sock).unwrap();
                s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                for (sent, b) in head.bytes().enumerate() {
                    if s.write_all(&[b]).is_err() {
                        return sent;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                head.len()
            })
        })
        .collect();
    // And four send a batch frame the same way.
    let frame = encode_request(1, DATA_DAY, MATTER, &codes18(&[BLACK_CODE; 16]));
    let slow_batch: Vec<_> = (0..4)
        .map(|_| {
            let (sock, frame) = (d.batch_sock(), frame.clone());
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(sock).unwrap();
                for (sent, b) in frame.iter().enumerate() {
                    if s.write_all(&[*b]).is_err() {
                        return sent;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                frame.len()
            })
        })
        .collect();
    for h in slow {
        let sent = h.join().unwrap();
        assert!(
            sent < head.len(),
            "a slow head of {sent} bytes was never cut off"
        );
    }
    for h in slow_batch {
        let sent = h.join().unwrap();
        assert!(sent < frame.len(), "a slow frame was never cut off");
    }
    stop.store(true, Ordering::SeqCst);
    let answered = other.join().unwrap();
    assert!(answered > 0);
    correct_answer(&d);
}

/// Raises this process's open-file limit (the daemon inherits it).
fn raise_nofile(want: u64) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        if r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    r.rlim_cur
}

#[test]
fn thousands_of_idle_connections_stay_within_max_connections_and_others_are_served() {
    let limit = raise_nofile(8192);
    let n = 2000.min(limit.saturating_sub(200) as usize);
    assert!(n >= 500, "open-file limit {limit} too low for the test");
    // A long idle timeout: only the connection limit can save the day.
    let d = Daemon::new()
        .limits("max_connections = 64\nidle_timeout_ms = 120000")
        .start();
    let base = open_fds(&d);
    let mut idle = Vec::with_capacity(n);
    for i in 0..n {
        let sock = if i % 4 == 3 {
            d.batch_sock()
        } else {
            d.check_sock()
        };
        match UnixStream::connect(&sock) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect {i}: {e}"),
        }
    }
    // New clients are answered, on both sockets, while the idle ones
    // stay connected on our side.
    for _ in 0..20 {
        correct_answer(&d);
        correct_batch(&d);
    }
    // The daemon holds at most max_connections of them (plus its own
    // files and sockets); the rest were closed (EOF on our side).
    let held = open_fds(&d).saturating_sub(base);
    assert!(held <= 64 + 4, "the daemon holds {held} extra descriptors");
    let open = idle
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            matches!((&**s).read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert!(open <= 64, "{open} of {n} idle connections still open");
    drop(idle);
    correct_answer(&d);
}

#[test]
fn half_closed_sockets_get_their_answers_then_eof() {
    let d = Daemon::new().start();
    // HTTP: a keep-alive request, then our write side closed.
    let mut s = UnixStream::connect(d.check_sock()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(&keepalive_request("POST", "/v1/check", &check_body()))
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = parse_reply(&raw).unwrap();
    assert_eq!(r.json()["results"][0]["status"], "black");
    // Half a head, then closed: no answer, the connection ends.
    let mut s = UnixStream::connect(d.check_sock()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"POST /v1/check HTTP/1.1\r\nContent-Le")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    // Batch: two frames, then our write side closed: both answered.
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(
        1,
        DATA_DAY,
        MATTER,
        &codes18(&[BLACK_CODE]),
    ));
    b.send(&encode_request(2, DATA_DAY, "", &codes18(&[BLACK_CODE])));
    b.0.shutdown(Shutdown::Write).unwrap();
    assert!(is_black_flag(flags_of(b.recv(), 1)[0]));
    assert!(is_black_flag(flags_of(b.recv(), 2)[0]));
    assert!(b.closed());
    // Batch: half a frame, then closed.
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&encode_request(3, DATA_DAY, MATTER, &codes18(&[BLACK_CODE]))[..30]);
    b.0.shutdown(Shutdown::Write).unwrap();
    assert!(b.closed());
    // Our read side closed before the answer: the daemon copes.
    let mut s = UnixStream::connect(d.check_sock()).unwrap();
    s.shutdown(Shutdown::Read).unwrap();
    let _ = s.write_all(&keepalive_request("POST", "/v1/check", &check_body()));
    drop(s);
    correct_answer(&d);
    correct_batch(&d);
}

#[test]
fn clients_that_never_read_their_answers_do_not_grow_the_daemon() {
    let d = Daemon::new()
        .limits("idle_timeout_ms = 3000\nread_timeout_ms = 3000")
        .start();
    correct_answer(&d);
    correct_batch(&d);
    let before = d.rss_kib();
    // Four batch clients push frames of 1000 codes and never read; four
    // HTTP clients pipeline checks and never read. Each stops when its
    // writes block (the daemon stopped reading) for two seconds. Three
    // waves: memory must not grow with the waves.
    // Frames of 1000 codes: under the size the daemon answers with
    // block_in_place, whose thread churn has an RSS trend of its own
    // (measured apart from this test, which is about buffering).
    let codes: Vec<&str> = vec![BLACK_CODE; 1000];
    let frame = encode_request(9, DATA_DAY, MATTER, &codes18(&codes));
    let mut rss = Vec::new();
    for wave in 0..3 {
        let mut pushers = Vec::new();
        for i in 0..8 {
            let (sock, bytes) = if i % 2 == 0 {
                (d.batch_sock(), frame.clone())
            } else {
                (
                    d.check_sock(),
                    keepalive_request("POST", "/v1/check", &check_body()),
                )
            };
            pushers.push(std::thread::spawn(move || {
                let mut s = UnixStream::connect(sock).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut sent = 0usize;
                // At most 256 MiB each.
                while sent < 256 << 20 {
                    if s.write_all(&bytes).is_err() {
                        break;
                    }
                    sent += bytes.len();
                }
                (s, sent)
            }));
        }
        let held: Vec<(UnixStream, usize)> =
            pushers.into_iter().map(|h| h.join().unwrap()).collect();
        let sent: usize = held.iter().map(|h| h.1).sum();
        // While they sit there unread, others are answered.
        for _ in 0..10 {
            correct_answer(&d);
            correct_batch(&d);
        }
        let now = d.rss_kib();
        eprintln!(
            "wave {wave}: never-reading clients sent {} MiB; daemon RSS {before} KiB -> {now} KiB",
            sent >> 20
        );
        // The daemon stopped reading: what it took is bounded by socket
        // buffers and max_frames_in_flight, not by what the clients offer.
        assert!(
            sent < 64 << 20,
            "wave {wave}: the daemon read {sent} bytes without being read"
        );
        rss.push(now);
        drop(held);
    }
    assert!(
        rss[2] < rss[0] + 32 * 1024,
        "RSS keeps growing with each wave: {rss:?} KiB"
    );
    assert!(
        rss[0] < before + 256 * 1024,
        "RSS {before} KiB -> {rss:?} KiB"
    );
    correct_answer(&d);
}

#[test]
fn absurd_batch_lengths_get_an_error_frame_and_the_connection_closed() {
    let d = Daemon::new().limits("max_batch_codes = 4096").start();
    let before = d.rss_kib();
    let good = encode_request(77, DATA_DAY, MATTER, &codes18(&[BLACK_CODE]));
    let with_len = |len: u32| {
        let mut f = good.clone();
        f[..4].copy_from_slice(&len.to_le_bytes());
        f
    };
    // (bytes, expected status, expected request id)
    // Offsets: len 0, version 4, op 5, request_id 6, as_of 14,
    // matter_len 18, matter 20, n 20 + matter_len.
    let mut n_max = good.clone();
    let at = 20 + MATTER.len();
    n_max[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut mlen = good.clone();
    mlen[18..20].copy_from_slice(&u16::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, u8, u64)> = vec![
        ("len 0xFFFFFFFF", with_len(u32::MAX), 2, 77),
        ("len 0x80000000", with_len(0x8000_0000), 2, 77),
        ("len 0", vec![0, 0, 0, 0], 1, 0),
        ("len 0 then more", with_len(0), 1, 0),
        ("len 5", with_len(5), 1, 0),
        ("n 0xFFFFFFFF", n_max, 2, 77),
        ("matter_len 0xFFFF", mlen, 1, 77),
    ];
    for (what, bytes, status, rid) in cases {
        let mut b = Batch::connect(&d.batch_sock());
        b.send(&bytes);
        let (st, got_rid, msg) = error_of(b.recv());
        assert_eq!((st, got_rid), (status, rid), "{what}: {msg}");
        assert!(b.closed(), "{what}: the connection stays open");
        correct_batch(&d);
    }
    // A huge declared length followed by a trickle never makes the daemon
    // wait for (or buffer) gigabytes.
    let mut b = Batch::connect(&d.batch_sock());
    b.send(&with_len(u32::MAX)[..24]);
    let (st, _, _) = error_of(b.recv());
    assert_eq!(st, 2);
    let after = d.rss_kib();
    assert!(
        after < before + 32 * 1024,
        "RSS {before} KiB -> {after} KiB"
    );
    correct_batch(&d);
    correct_answer(&d);
}

#[test]
fn pipelined_garbage_on_the_http_socket_is_refused_and_others_are_answered() {
    let d = Daemon::new().start();
    let good = keepalive_request("POST", "/v1/check", &check_body());
    let garbage: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe garbage\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"POST /v1/check HTTP/1.1\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"POST /v1/check HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
        b"POST /v1/check HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        format!("GET /{} HTTP/1.1\r\n\r\n", "x".repeat(70_000)).into_bytes(),
        [&good[..], b"\r\n\r\n\r\nNOT HTTP AT ALL\x00\x00\r\n\r\n"].concat(),
    ];
    for g in &garbage {
        // A good request, then garbage, then another good request.
        let mut s = UnixStream::connect(d.check_sock()).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut all = good.clone();
        all.extend_from_slice(g);
        all.extend_from_slice(&good);
        let _ = s.write_all(&all);
        let _ = s.shutdown(Shutdown::Write);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let (first, used) = parse_one_reply(&raw)
            .unwrap()
            .expect("the good request before the garbage is answered");
        assert_eq!(first.status, 200);
        assert_eq!(first.json()["results"][0]["status"], "black");
        // Whatever follows is an HTTP error or the end of the connection,
        // never an answer made of the garbage.
        if let Ok(Some((next, _))) = parse_one_reply(&raw[used..]) {
            assert!(
                next.status == 200 || (400..500).contains(&next.status),
                "{} {}",
                next.status,
                next.body
            );
        }
        correct_answer(&d);
    }
    // Garbage alone.
    for g in &garbage[..garbage.len() - 1] {
        let mut s = UnixStream::connect(d.check_sock()).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let _ = s.write_all(g);
        let _ = s.shutdown(Shutdown::Write);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        if let Ok(Some((r, _))) = parse_one_reply(&raw) {
            assert!((400..500).contains(&r.status), "{} {}", r.status, r.body);
        }
    }
    correct_answer(&d);
    correct_batch(&d);
}

/// Found by fuzzing the batch connection (`batch_conn`): an `as_of` near
/// u32::MAX overflowed the date conversion of the audit record.
#[test]
fn a_batch_as_of_at_u32_max_is_answered_and_audited_with_its_real_date() {
    let d = Daemon::new().start();
    let mut b = Batch::connect(&d.batch_sock());
    for (rid, as_of) in [(1u64, u32::MAX), (2, i32::MAX as u32 - 719_468), (3, 1)] {
        b.send(&encode_request(
            rid,
            as_of,
            MATTER,
            &codes18(&[BLACK_CODE, UNLISTED_PERSON]),
        ));
        let f = flags_of(b.recv(), rid);
        assert_eq!(f.len(), 2);
        // An unlisted ID number born after the evaluation day is invalid.
        if rid == 3 {
            assert_eq!(f[1], 1, "{f:?}");
        }
    }
    correct_batch(&d);
    let text = poll(500, || {
        let t = d.audit_text();
        (t.contains("\"request_id\":3") && t.contains("\"request_id\":1,")).then_some(t)
    })
    .expect("audit records");
    assert!(text.contains("\"as_of\":\"5881580-07-11\""), "{text}");
    assert!(text.contains("\"as_of\":\"5879610-09-09\""), "{text}");
    assert!(text.contains("\"as_of\":\"1970-01-02\""), "{text}");
}

/// Sends `request` one byte every `pace` on `s` until the daemon closes
/// the connection or answers: how many bytes were sent, and what came
/// back (empty when it closed without an answer).
fn trickle<S: Read + Write>(
    mut s: S,
    set_nonblocking: impl Fn(&S, bool),
    request: &[u8],
    pace: Duration,
) -> (usize, Vec<u8>) {
    let mut got = Vec::new();
    for (sent, b) in request.iter().enumerate() {
        set_nonblocking(&s, false);
        if s.write_all(&[*b]).is_err() {
            return (sent, got);
        }
        std::thread::sleep(pace);
        set_nonblocking(&s, true);
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (sent + 1, got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return (sent + 1, got),
            }
        }
    }
    // Everything sent: read whatever answer comes.
    set_nonblocking(&s, false);
    let _ = s.read_to_end(&mut got);
    (request.len(), got)
}

/// A trickling client's thread: bytes sent, bytes received.
type Trickled = std::thread::JoinHandle<(usize, Vec<u8>)>;

/// Regression (issue 14): a request trickled one byte at a time, head or
/// body, is closed `read_timeout_ms` after its first byte on the check,
/// admin and TCP listeners alike (it used to be answered 200 after the
/// whole trickle).
#[test]
fn slow_requests_are_cut_off_at_the_read_timeout_on_every_listener() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A TCP listener needs a token client; this process is served on the
    // Unix sockets by its uid.
    let d = Daemon::new()
        .limits("read_timeout_ms = 1000\nidle_timeout_ms = 60000")
        .check_extra(&format!("tcp = \"127.0.0.1:{port}\""))
        .clients(&format!(
            "[[client]]\nname = \"web\"\ntoken = \"trickle-token-0123456789\"\nmatters = [\"*\"]\n\
             [[client]]\nname = \"tests\"\nuid = {uid}\nmatters = [\"*\"]\npersons = true\n",
            uid = our_uid()
        ))
        .start();
    let pace = Duration::from_millis(250);
    // 36 bytes: 9 s at this pace, against a 1 s read timeout.
    let head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let admin_head = b"GET /v1/admin/stats HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let mut body_req = b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\n".to_vec();
    let head_len = body_req.len();
    body_req.extend_from_slice(&[b' '; 36]);
    let unix = |s: &UnixStream, on: bool| s.set_nonblocking(on).unwrap();
    let tcp = |s: &std::net::TcpStream, on: bool| s.set_nonblocking(on).unwrap();
    let cases: Vec<(&str, Trickled, usize)> = vec![
        (
            "check head",
            {
                let (sock, r) = (d.check_sock(), head.clone());
                std::thread::spawn(move || {
                    trickle(UnixStream::connect(sock).unwrap(), unix, &r, pace)
                })
            },
            head.len(),
        ),
        (
            "admin head",
            {
                let (sock, r) = (d.admin_sock(), admin_head.clone());
                std::thread::spawn(move || {
                    trickle(UnixStream::connect(sock).unwrap(), unix, &r, pace)
                })
            },
            admin_head.len(),
        ),
        (
            "tcp head",
            {
                let r = head.clone();
                std::thread::spawn(move || {
                    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                    trickle(s, tcp, &r, pace)
                })
            },
            head.len(),
        ),
        (
            "check body",
            {
                let (sock, r) = (d.check_sock(), body_req.clone());
                std::thread::spawn(move || {
                    // The head at once, the body trickled.
                    let mut s = UnixStream::connect(sock).unwrap();
                    s.write_all(&r[..head_len]).unwrap();
                    let (sent, got) = trickle(s, unix, &r[head_len..], pace);
                    (head_len + sent, got)
                })
            },
            body_req.len(),
        ),
    ];
    for (what, h, len) in cases {
        let (sent, got) = h.join().unwrap();
        let answer = String::from_utf8_lossy(&got).to_string();
        eprintln!(
            "{what}: closed after {sent} of {len} bytes: {:?}",
            answer.lines().next()
        );
        assert!(sent < len, "{what}: the whole slow request was read");
        assert!(
            got.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{what}: answered {answer:?}"
        );
    }
    correct_answer(&d);
}

/// Runs `tests/flood_client.py` on `sock` with `n` connections for
/// `seconds` while this process calls `/v1/health` on new connections
/// every 20 ms: (answered, failed) calls.
fn flood_and_count(d: &Daemon, n: usize, seconds: u32) -> (usize, usize) {
    let mut flood = std::process::Command::new("python3")
        .arg(repo("tests/flood_client.py"))
        .arg(d.check_sock())
        .arg(n.to_string())
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    // Let the flood fill its places first.
    std::thread::sleep(Duration::from_secs(1));
    let (mut ok, mut failed) = (0, 0);
    // Bounded: the flood ends by itself after `seconds`.
    while flood.try_wait().unwrap().is_none() && ok + failed < 100_000 {
        match try_http(&d.check_sock(), "GET", "/v1/health", None) {
            Ok(r) if r.status == 200 => ok += 1,
            Ok(r) => panic!("health answered {}: {}", r.status, r.body),
            Err(_) => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = flood.wait_with_output().unwrap();
    let opened = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!("flood of {n}: {opened} connections opened; health {ok} answered, {failed} failed");
    (ok, failed)
}

/// Regression (issue 14): one local peer holding 1024 one-byte requests
/// open (reopening each one closed) at the default limits: other callers
/// keep getting answers (the flooder is held to its per-peer share).
#[test]
fn one_peer_flooding_slow_requests_does_not_lock_out_other_callers() {
    let limit = raise_nofile(8192);
    assert!(
        limit >= 2048,
        "open-file limit {limit} too low for the test"
    );
    let d = Daemon::new().start();
    let (ok, failed) = flood_and_count(&d, 1024, 6);
    assert!(
        ok > 0 && failed * 100 <= ok + failed,
        "{failed} of {} failed",
        ok + failed
    );
    correct_answer(&d);
}

/// With no per-peer limit to help (one peer may take every place), the
/// peer holding the most places gives one up at the limit: a flood of
/// slow requests evicts itself, and other callers keep getting answers.
#[test]
fn a_flood_at_the_connection_limit_evicts_its_own_oldest_requests() {
    let limit = raise_nofile(8192);
    assert!(
        limit >= 1024,
        "open-file limit {limit} too low for the test"
    );
    let d = Daemon::new()
        .limits("max_connections = 64\nmax_connections_per_peer = 64")
        .start();
    let (ok, failed) = flood_and_count(&d, 256, 6);
    assert!(
        ok > 0 && failed * 100 <= ok + failed,
        "{failed} of {} failed",
        ok + failed
    );
    correct_answer(&d);
    correct_batch(&d);
}

/// Regression (issue 14): 100 batch connections each send a large legal
/// frame less its last byte and never finish: the daemon holds at most
/// `max_inflight_bytes` of them (plus a read buffer a connection), not a
/// frame a connection; small frames and checks are still answered.
#[test]
fn large_unfinished_frames_stay_within_the_inflight_budget() {
    let limit = raise_nofile(8192);
    assert!(limit >= 512, "open-file limit {limit} too low for the test");
    const BUDGET: u64 = 16 << 20;
    let d = Daemon::new()
        .limits(&format!(
            "max_batch_codes = 100000\nmax_inflight_bytes = {BUDGET}\n\
             read_timeout_ms = 60000\nidle_timeout_ms = 60000"
        ))
        .start();
    correct_batch(&d);
    correct_answer(&d);
    let before = d.rss_kib();
    let codes = vec![BLACK_CODE; 100_000];
    let frame = Arc::new(encode_request(5, DATA_DAY, MATTER, &codes18(&codes)));
    let conns = 100;
    let senders: Vec<_> = (0..conns)
        .map(|_| {
            let (sock, frame) = (d.batch_sock(), frame.clone());
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(sock).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
                // Blocks once the daemon stops reading: then it holds.
                let _ = s.write_all(&frame[..frame.len() - 1]);
                s
            })
        })
        .collect();
    let held: Vec<UnixStream> = senders.into_iter().map(|h| h.join().unwrap()).collect();
    // Others are served meanwhile.
    correct_batch(&d);
    correct_answer(&d);
    let after = d.rss_kib();
    let grew = after.saturating_sub(before);
    // The documented bound: the budget, 128 KiB a connection, and 16 MiB
    // of allocator slack; without the budget, 100 frames of 1.8 MB.
    let bound = BUDGET / 1024 + conns * 128 + 16 * 1024;
    eprintln!(
        "{conns} connections x {} bytes less one: RSS {before} KiB -> {after} KiB (+{grew} KiB; bound {bound} KiB)",
        frame.len()
    );
    assert!(grew < bound, "RSS grew {grew} KiB, over {bound} KiB");
    drop(held);
    correct_batch(&d);
}

/// A frame whose header declares more than `max_batch_codes` codes is
/// refused when its first 20 bytes are in, without waiting for its body.
#[test]
fn a_frame_declaring_too_many_codes_is_refused_from_its_header() {
    let d = Daemon::new()
        .limits("max_batch_codes = 1000\nread_timeout_ms = 60000")
        .start();
    let frame = encode_request(31, DATA_DAY, "", &codes18(&[BLACK_CODE; 1001]));
    let mut b = Batch::connect(&d.batch_sock());
    // The header only: the body never comes.
    b.send(&frame[..24]);
    let (st, rid, msg) = error_of(b.recv());
    assert_eq!((st, rid), (2, 31), "{msg}");
    assert!(b.closed());
    correct_batch(&d);
}
