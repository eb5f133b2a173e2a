//! `credlist report` (SPEC §9): the hand-worked register fixtures of
//! `fixtures/audit/` (see its README for the working), bad input, the HTML
//! page in a real headless browser, the generator, and the daemon end to
//! end (checks, feedback and a batch frame over its sockets, then the
//! report over its register).
//!
//! No test asserts on timing; every wait is a bounded poll and only
//! processes started here are signalled.

mod support;

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::*;

const A: &str = "fixtures/audit/daemon-a";
const B: &str = "fixtures/audit/daemon-b";
const APPROVALS: &str = "fixtures/audit/approvals.csv";

fn report(args: &[&str]) -> Output {
    credlist().arg("report").args(args).output().unwrap()
}

fn report_json(args: &[&str]) -> Value {
    let o = report(&[args, &["--json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn expected(name: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo(&format!("fixtures/audit/expected/{name}"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn two_registers_a_rotated_file_and_approvals_give_the_hand_worked_report() {
    let got = report_json(&["--audit", A, B, "--approvals", APPROVALS]);
    assert_eq!(got, expected("full.json"));
}

#[test]
fn the_period_filters_checks_and_frames_not_feedback() {
    // The registers in the other order: the merge does not depend on it.
    let got = report_json(&[
        "--audit",
        B,
        A,
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-22",
    ]);
    assert_eq!(got, expected("period.json"));
    assert!(
        got.get("must_query").is_none(),
        "must_query only with --approvals"
    );
}

#[test]
fn files_named_one_by_one_merge_like_their_folders() {
    let got = report_json(&[
        "--audit",
        "fixtures/audit/daemon-b/audit.log",
        "fixtures/audit/daemon-a/audit.log",
        "fixtures/audit/daemon-a/audit.log.1",
        "--approvals",
        APPROVALS,
    ]);
    assert_eq!(got, expected("full.json"));
}

#[test]
fn the_window_edge_moves_with_window_days() {
    let unchecked = |r: &Value| -> Vec<String> {
        r["must_query"]["unchecked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["approval_id"].as_str().unwrap().to_string())
            .collect()
    };
    let r30 = report_json(&["--audit", A, B, "--approvals", APPROVALS]);
    assert_eq!(unchecked(&r30), ["AP-3", "AP-4", "AP-6", "AP-10"]);
    let r29 = report_json(&[
        "--audit",
        A,
        B,
        "--approvals",
        APPROVALS,
        "--window-days",
        "29",
    ]);
    assert_eq!(unchecked(&r29), ["AP-3", "AP-4", "AP-6", "AP-9", "AP-10"]);
    let r31 = report_json(&[
        "--audit",
        A,
        B,
        "--approvals",
        APPROVALS,
        "--window-days",
        "31",
    ]);
    assert_eq!(unchecked(&r31), ["AP-4", "AP-6", "AP-10"]);
    // The period does not hide the checks that make an approval checked.
    let late = report_json(&[
        "--audit",
        A,
        B,
        "--approvals",
        APPROVALS,
        "--from",
        "2026-11-23",
    ]);
    assert_eq!(late["must_query"], r30["must_query"]);
}

#[test]
fn bad_lines_are_counted_warnings_naming_file_and_line() {
    let o = report(&["--audit", A, B]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    for want in [
        "Warnings: 2",
        "fixtures/audit/daemon-a/audit.log:7: torn last line",
        "fixtures/audit/daemon-b/audit.log:4: not a record",
        "By client and matter",
        "By measure",
        "By listing authority",
        "rate 28.6%",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let o = report(&["--audit", A, B, "--json"]);
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("daemon-a/audit.log:7: torn last line"),
        "{err}"
    );
    assert!(err.contains("daemon-b/audit.log:4: not a record"), "{err}");
    assert!(err.contains("2 warning(s)"), "{err}");
}

fn approvals_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("approvals.csv");
    std::fs::write(&f, text).unwrap();
    let o = report(&["--audit", A, "--approvals", s(&f)]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains(&format!("{}:", f.display())), "{err}");
    err
}

#[test]
fn a_bad_approvals_file_is_an_error_naming_file_and_line() {
    let h = "approval_id,client,matter,code,decided_on\n";
    let err = approvals_error(&format!("{h}AP-1,c,m,91350100MA2Y3K8L5G,2026-02-30\n"));
    assert!(err.contains(":2: decided_on \"2026-02-30\""), "{err}");
    let err = approvals_error(&format!(
        "{h}AP-1,c,m,91350100MA2Y3K8L5G,2026-11-20\nAP-2,c,m,1101011990030712,2026-11-20\n"
    ));
    assert!(err.contains(":3: code \"1101011990030712\""), "{err}");
    let err = approvals_error(&format!("{h}AP-1,c,m,91350100MA2Y3K8L5G\n"));
    assert!(err.contains(":2: 4 fields, expected 5"), "{err}");
    let err = approvals_error(&format!("{h}AP-1,,m,91350100MA2Y3K8L5G,2026-11-20\n"));
    assert!(err.contains(":2: client is empty"), "{err}");
    let err = approvals_error("id,client,matter,code,day\n");
    assert!(err.contains(":1: the header must be"), "{err}");
}

#[test]
fn a_pilot_era_code_in_approvals_is_matched_as_written_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("approvals.csv");
    std::fs::write(
        &f,
        "approval_id,client,matter,code,decided_on\nAP-1,procurement-system,gov_procurement,91350100m0001tgqxm,2026-11-20\n",
    )
    .unwrap();
    let o = report(&["--audit", A, "--approvals", s(&f), "--json"]);
    assert!(o.status.success());
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["must_query"]["unchecked"][0]["code"],
        "91350100M0001TGQXM"
    );
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains(":2: code 91350100M0001TGQXM fails its check"),
        "{err}"
    );
}

#[test]
fn usage_and_period_errors() {
    let o = report(&["--audit", A, "--from", "2026-11-22", "--to", "2026-11-21"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--from 2026-11-22 is after --to 2026-11-21")
    );
    let o = report(&["--audit", A, "--json", "--html", "/tmp/x.html"]);
    assert_eq!(o.status.code(), Some(2));
    let o = report(&["--audit", "fixtures/audit/no-such"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("fixtures/audit/no-such"));
}

#[test]
fn the_page_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let o = report(&[
        "--audit",
        A,
        B,
        "--approvals",
        APPROVALS,
        "--html",
        s(&page),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "client, measure, authority, day charts"
    );
    assert!(html.contains("id=\"unchecked\""));
    for id in ["AP-3", "AP-4", "AP-6", "AP-10"] {
        assert!(html.contains(&format!("<td>{id}</td>")), "{id}");
    }
    for banned in ["<script", "stylesheet", "url(", "@import", "https:", "src="] {
        assert!(!html.contains(banned), "the page holds {banned:?}");
    }
    let external: Vec<&str> = html
        .match_indices("http:")
        .map(|(i, _)| &html[i..(i + 34).min(html.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(external.is_empty(), "{external:?}");
}

/// Chromium, when installed (CI installs it: `.ci/run`).
fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CREDLIST_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs headless chromium with `args` on `url`, bounded to two minutes.
fn run_chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> (String, String) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let done = poll(1200, || child.try_wait().unwrap());
    if done.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish");
    }
    (t_out.join().unwrap(), t_err.join().unwrap())
}

#[test]
fn the_page_loads_in_a_headless_browser_without_console_errors_and_shows_its_charts() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium; .ci/run does)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let o = report(&[
        "--audit",
        A,
        B,
        "--approvals",
        APPROVALS,
        "--html",
        s(&page),
    ]);
    assert!(o.status.success());
    let url = format!("file://{}", page.display());
    let (dom, log) = run_chromium(&bin, &dir.path().join("p1"), &["--dump-dom"], &url);
    assert_eq!(dom.matches("<svg").count(), 4, "charts in the DOM:\n{dom}");
    assert!(dom.contains("<rect"), "bars drawn");
    assert!(dom.contains("id=\"unchecked\""));
    for bad in ["Uncaught", "ERROR:CONSOLE", ":CONSOLE("] {
        assert!(!log.contains(bad), "console output {bad:?}:\n{log}");
    }
    let png = dir.path().join("shot.png");
    let (_, log) = run_chromium(
        &bin,
        &dir.path().join("p2"),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1100,2400",
        ],
        &url,
    );
    assert!(!log.contains("Uncaught"), "{log}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 20_000,
        "a page with charts, not a blank one: {} bytes",
        bytes.len()
    );
}

#[test]
fn a_generated_register_reports_what_was_generated() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let gen = |p: &Path| {
        let o = credlist()
            .args([
                "gen",
                "--audit",
                s(p),
                "--checks",
                "3000",
                "--feedback",
                "600",
                "--seed",
                "5",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    gen(&log);
    let again = dir.path().join("again.log");
    gen(&again);
    assert_eq!(
        std::fs::read(&log).unwrap(),
        std::fs::read(&again).unwrap(),
        "deterministic"
    );
    let r = report_json(&["--audit", s(&log)]);
    let t = &r["totals"];
    assert_eq!(t["checks"], 3000);
    assert_eq!(t["batch_frames"], 3);
    assert_eq!(t["batch_codes"], 3 * 4096);
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(
        n("triggered"),
        n("applied") + n("not_applied") + n("no_feedback")
    );
    assert!(n("applied") > 0 && n("unmatched_feedback") > 0 && n("discretionary") > 0);
    let sum = |list: &str| -> u64 {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["triggered"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("clients"), n("triggered"));
    assert_eq!(sum("measures"), n("triggered"));
    assert!(sum("authorities") >= n("triggered"));
}

/// The triples an answer names in `must_apply` and `rewards` (triggered)
/// and `may_apply`, with the authorities of their entries.
fn triples(answer: &Value) -> (Vec<(String, String, BTreeSet<String>)>, usize) {
    let mut out = Vec::new();
    let mut may = 0;
    for item in answer["results"].as_array().unwrap() {
        let auth: BTreeMap<&str, &str> = item["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                (
                    h["entry_id"].as_str().unwrap(),
                    h["authority"].as_str().unwrap(),
                )
            })
            .collect();
        for list in ["must_apply", "rewards"] {
            for m in item[list].as_array().into_iter().flatten() {
                let auths = m["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| auth[e.as_str().unwrap()].to_string())
                    .collect();
                out.push((
                    item["code"].as_str().unwrap().to_string(),
                    m["id"].as_str().unwrap().to_string(),
                    auths,
                ));
            }
        }
        may += item["may_apply"].as_array().map_or(0, |v| v.len());
    }
    (out, may)
}

#[test]
fn the_daemon_register_reports_its_checks_and_feedback() {
    let uid = our_uid();
    let d = Daemon::new()
        .clients(&format!(
            "[[client]]\nname = \"procurement-system\"\nuid = {uid}\nmatters = [\"*\"]\npersons = true\n"
        ))
        .start();
    let ask = |matter: &str, codes: &[&str]| -> Value {
        let subjects: Vec<Value> = codes.iter().map(|c| json!({"code": c})).collect();
        let r = d.check(&json!({"matter": matter, "as_of": DATA_DATE, "subjects": subjects}));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let answers = [
        ask(MATTER, &[BLACK_CODE, UNLISTED_PERSON, "12345"]),
        ask("admin_licence", &[BLACK_CODE, PERSON_CODE]),
        ask("honours", &["91350000MA2XR58E7X"]),
    ];
    let mut all = Vec::new();
    let mut may = 0;
    for a in &answers {
        let (t, m) = triples(a);
        may += m;
        for (code, measure, auths) in t {
            all.push((
                a["receipt"].as_str().unwrap().to_string(),
                code,
                measure,
                auths,
            ));
        }
    }
    assert!(all.len() >= 3, "the fixtures trigger measures: {all:?}");
    let feedback = |receipt: &str, code: &str, measure: &str, applied: bool| {
        let fb = json!({"receipt": receipt, "code": code, "measure": measure, "applied": applied});
        let r = http(
            &d.check_sock(),
            "POST",
            "/v1/feedback",
            Some(&fb.to_string()),
        );
        assert_eq!(r.status, 204, "{}", r.body);
    };
    // First triple: not applied, then applied (the last decides).
    feedback(&all[0].0, &all[0].1, &all[0].2, false);
    feedback(&all[0].0, &all[0].1.to_lowercase(), &all[0].2, true);
    feedback(&all[1].0, &all[1].1, &all[1].2, false);
    // A receipt the daemon issued, a measure it never named for the code.
    feedback(&all[0].0, UNLISTED_PERSON, "P-PROC-01", true);
    let mut batch = Batch::connect(&d.batch_sock());
    let flags = batch.flags(9, MATTER, &[BLACK_CODE, UNLISTED_PERSON]);
    assert_eq!(flags.len(), 2);

    // Every record reaches the file within a flush interval.
    let lines = poll(600, || {
        let t = d.audit_text();
        (t.lines().count() >= 8).then_some(t)
    })
    .expect("8 audit records");
    for l in lines.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["v"], 3, "every record has its version: {l}");
    }
    // The record names each measure with its entries and their authorities.
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let item = &first["items"][0];
    let answered = &answers[0]["results"][0];
    for list in ["must_apply", "may_apply", "rewards"] {
        let rec: Vec<&Value> = item[list].as_array().into_iter().flatten().collect();
        let ans: Vec<&Value> = answered[list].as_array().unwrap().iter().collect();
        assert_eq!(rec.len(), ans.len(), "{list}");
        for (r, a) in rec.iter().zip(&ans) {
            assert_eq!(r["id"], a["id"]);
            let ids: Vec<&str> = r["entries"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            let want: Vec<&str> = a["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect();
            assert_eq!(ids, want);
        }
    }
    assert_eq!(item["must_apply"][0]["entries"][BLACK_ENTRY], "shi-fayuan");

    let r = report_json(&["--audit", s(&d.path("log"))]);
    let t = &r["totals"];
    assert_eq!(t["checks"], 3);
    // Items: 3 + 2 + 1, less the invalid "12345".
    assert_eq!(t["subjects"], 5);
    assert_eq!(t["triggered"], all.len() as u64);
    assert_eq!(t["applied"], 1);
    assert_eq!(t["not_applied"], 1);
    assert_eq!(t["no_feedback"], all.len() as u64 - 2);
    assert_eq!(t["discretionary"], may as u64);
    assert_eq!(t["unmatched_feedback"], 1);
    assert_eq!(t["batch_frames"], 1);
    assert_eq!(t["batch_codes"], 2);
    let clients: BTreeSet<(String, String)> = r["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["client"].as_str().unwrap().into(),
                c["matter"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [MATTER, "admin_licence", "honours"]
        .iter()
        .map(|m| ("procurement-system".to_string(), m.to_string()))
        .collect();
    assert_eq!(clients, want);
    // Per authority: one count per distinct authority of each triple.
    let mut per_auth: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, _, auths) in &all {
        for a in auths {
            *per_auth.entry(a.clone()).or_default() += 1;
        }
    }
    let got: BTreeMap<String, u64> = r["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["authority"].as_str().unwrap().into(),
                a["triggered"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, per_auth);
}
