//! End-to-end tests of the `credlist` command line.
//!
//! Every test runs the real binary from the crate root against the small,
//! hand-made data set in `fixtures/` and compares its output with the
//! expected results in `fixtures/expected/`, which were worked out by hand
//! from the rules of the specification (effective windows, derived watch
//! after a black exit, suppression of red entries, subject status, measures).
//!
//! Free-text fields are compared loosely: an `error` must be present and
//! non-empty and name what is wrong (see `ERROR_KEYWORDS`), a `warning` must
//! be present exactly when expected and non-empty, and a reject `message`
//! must be non-empty. Everything else is compared exactly.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CATALOG: &str = "fixtures/catalog.toml";
const LEGACY_CODES: &str = "fixtures/legacy-codes.txt";
const DEMO_LISTS: &str = "fixtures/lists";
const DATA_DATE: &str = "2026-11-20";

/// Accepted rows of `fixtures/lists` (all of them).
const DEMO_ENTRIES: usize = 32;
/// Rows of `fixtures/bad` that are rejected (see `fixtures/expected/bad.rejects.csv`).
const BAD_REJECTS: usize = 55;

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

fn credlist() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credlist"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "`credlist {}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(args: &[&str]) -> Output {
    credlist()
        .args(args)
        .output()
        .expect("could not start the credlist binary")
}

fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "expected exit status 0: {}",
        describe(args, &out)
    );
    out
}

fn run_exit(args: &[&str], code: i32) -> Output {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit status {code}: {}",
        describe(args, &out)
    );
    out
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = credlist()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start the credlist binary");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "expected exit status 0: {}",
        describe(args, &out)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

// ---------------------------------------------------------------------------
// Building snapshots
// ---------------------------------------------------------------------------

struct Build {
    out: Output,
    args: Vec<String>,
    snap: PathBuf,
    rejects: PathBuf,
}

/// `credlist build --catalog fixtures/catalog.toml --as-of AS_OF --out DIR/NAME.snap
/// --rejects DIR/NAME.rejects.csv EXTRA... INPUTS...`, without judging the outcome.
fn build(dir: &Path, name: &str, as_of: &str, extra: &[&str], inputs: &[&str]) -> Build {
    let snap = dir.join(format!("{name}.snap"));
    let rejects = dir.join(format!("{name}.rejects.csv"));
    let mut args: Vec<String> = vec!["build".into(), "--catalog".into(), CATALOG.into()];
    args.extend([
        "--as-of".into(),
        as_of.into(),
        "--out".into(),
        s(&snap).into(),
    ]);
    args.extend(["--rejects".into(), s(&rejects).into()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(inputs.iter().map(|a| a.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&argv);
    Build {
        out,
        args,
        snap,
        rejects,
    }
}

impl Build {
    fn describe(&self) -> String {
        let argv: Vec<&str> = self.args.iter().map(String::as_str).collect();
        describe(&argv, &self.out)
    }

    fn assert_ok(&self) -> &Self {
        assert!(
            self.out.status.success(),
            "build should succeed: {}",
            self.describe()
        );
        assert!(
            self.snap.is_file(),
            "build succeeded but wrote no snapshot: {}",
            self.describe()
        );
        self
    }

    fn assert_no_rejects(&self) -> &Self {
        let rows = read_rejects(&self.rejects);
        assert!(
            rows.is_empty(),
            "expected no rejected rows, got {rows:#?}\n{}",
            self.describe()
        );
        self
    }
}

/// The demo snapshot: `fixtures/lists` with the legacy-codes file, data date 2026-11-20.
fn demo_snapshot(dir: &Path) -> PathBuf {
    let b = build(
        dir,
        "demo",
        DATA_DATE,
        &["--legacy-codes", LEGACY_CODES],
        &[DEMO_LISTS],
    );
    b.assert_ok().assert_no_rejects();
    b.snap
}

#[derive(Debug, PartialEq)]
struct Reject {
    file: String,
    line: String,
    entry_id: String,
    reason: String,
    message: String,
}

fn parse_rejects(text: &str, origin: &str) -> Vec<Reject> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .unwrap_or_else(|e| panic!("{origin}: bad header: {e}"))
        .clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["file", "line", "entry_id", "reason", "message"],
        "{origin}: reject report header"
    );
    rdr.records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{origin}: unreadable reject row: {e}"));
            assert_eq!(
                r.len(),
                5,
                "{origin}: reject row {r:?} should have 5 fields"
            );
            Reject {
                file: r[0].to_string(),
                line: r[1].to_string(),
                entry_id: r[2].to_string(),
                reason: r[3].to_string(),
                message: r[4].to_string(),
            }
        })
        .collect()
}

fn read_rejects(path: &Path) -> Vec<Reject> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "the reject report {} should have been written: {e}",
            path.display()
        )
    });
    parse_rejects(&text, &path.display().to_string())
}

/// Compares file, line, entry_id and reason exactly; the message must be non-empty.
fn assert_rejects(got: &[Reject], expected: &[Reject], context: &str) {
    let key = |r: &Reject| format!("{},{},{},{}", r.file, r.line, r.entry_id, r.reason);
    let got_keys: Vec<String> = got.iter().map(key).collect();
    let exp_keys: Vec<String> = expected.iter().map(key).collect();
    if got_keys != exp_keys {
        let missing: Vec<&String> = exp_keys.iter().filter(|k| !got_keys.contains(k)).collect();
        let unexpected: Vec<&String> = got_keys.iter().filter(|k| !exp_keys.contains(k)).collect();
        panic!(
            "{context}: reject report differs\nmissing rows: {missing:#?}\nunexpected rows: {unexpected:#?}\n\
             got (in order): {got_keys:#?}"
        );
    }
    for r in got {
        assert!(
            !r.message.trim().is_empty(),
            "{context}: reject row {} has an empty message",
            key(r)
        );
    }
}

// ---------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------

/// Parses a stream of JSON values (one per line, or pretty-printed one after another).
fn json_stream(bytes: &[u8], context: &str) -> Vec<Value> {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("{context}: output is not UTF-8: {e}"));
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| {
            v.unwrap_or_else(|e| {
                panic!("{context}: output is not a stream of JSON values: {e}\n{text}")
            })
        })
        .collect()
}

fn read_jsonl(rel: &str) -> Vec<Value> {
    read_fixture(rel)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{rel}: bad JSON line {l}: {e}"))
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

/// Key words an `error` must contain (case-insensitive), chosen by the
/// expected message: the first of these that the expected message contains.
const ERROR_KEYWORDS: &[&str] = &["length", "forbidden", "division", "birth", "check"];

fn error_keyword(expected: &str) -> &'static str {
    let lower = expected.to_lowercase();
    ERROR_KEYWORDS
        .iter()
        .copied()
        .find(|k| lower.contains(k))
        .unwrap_or_else(|| panic!("expected error {expected:?} names none of {ERROR_KEYWORDS:?}"))
}

/// `error` and `warning` are free text: present exactly when expected, a
/// non-empty string, and an error names what is wrong.
fn assert_free_text(context: &str, key: &str, got: Option<&Value>, expected: Option<&Value>) {
    match (got, expected) {
        (None, None) => {}
        (Some(g), None) => panic!("{context}: unexpected `{key}`: {g}"),
        (None, Some(e)) => panic!("{context}: missing `{key}` (expected something like {e})"),
        (Some(g), Some(e)) => {
            let g = g
                .as_str()
                .unwrap_or_else(|| panic!("{context}: `{key}` should be a string, got {g}"));
            assert!(!g.trim().is_empty(), "{context}: `{key}` is empty");
            if key == "error" {
                let word = error_keyword(e.as_str().unwrap());
                assert!(
                    g.to_lowercase().contains(word),
                    "{context}: error {g:?} should say what is wrong (expected the word {word:?}, as in {e})"
                );
            }
        }
    }
}

/// Compares one result item. `strict`: the item must have exactly the
/// expected keys; otherwise keys the expectation does not mention are ignored.
fn assert_item(context: &str, got: &Value, expected: &Value, strict: bool) {
    let mut g: Map<String, Value> = got
        .as_object()
        .unwrap_or_else(|| panic!("{context}: expected a JSON object, got {got}"))
        .clone();
    let mut e: Map<String, Value> = expected.as_object().unwrap().clone();
    for key in ["error", "warning"] {
        let (gv, ev) = (g.remove(key), e.remove(key));
        if strict || ev.is_some() {
            assert_free_text(context, key, gv.as_ref(), ev.as_ref());
        }
    }
    if !strict {
        g.retain(|k, _| e.contains_key(k));
    }
    let (g, e) = (Value::Object(g), Value::Object(e));
    assert!(
        g == e,
        "{context}: result differs\n--- got ---\n{}\n--- expected ---\n{}",
        pretty(&g),
        pretty(&e)
    );
}

fn assert_items(context: &str, got: &[Value], expected: &[Value], strict: bool) {
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let what = e
            .get("input")
            .or_else(|| e.get("code"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_item(&format!("{context}, item {} ({what})", i + 1), g, e, strict);
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "{context}: expected {} result items, got {}:\n{}",
        expected.len(),
        got.len(),
        got.iter().map(pretty).collect::<Vec<_>>().join("\n")
    );
}

/// Count maps (`by_kind`, `by_authority`, ...) without zero entries.
fn counts(v: &Value, context: &str) -> BTreeMap<String, u64> {
    v.as_object()
        .unwrap_or_else(|| panic!("{context}: expected an object of counts, got {v}"))
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n.as_u64()
                    .unwrap_or_else(|| panic!("{context}: count {k} = {n}")),
            )
        })
        .filter(|(_, n)| *n != 0)
        .collect()
}

// ---------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------

fn check(snap: &Path, matter: Option<&str>, as_of: &str, codes: &[&str]) -> Vec<Value> {
    let mut args = vec!["check", "--snapshot", s(snap), "--as-of", as_of];
    if let Some(m) = matter {
        args.extend(["--matter", m]);
    }
    args.extend(codes);
    let out = run_ok(&args);
    json_stream(&out.stdout, &describe(&args, &out))
}

/// Runs a check and compares it with `fixtures/expected/<expected>`.
fn assert_check(snap: &Path, matter: Option<&str>, as_of: &str, codes: &[&str], expected: &str) {
    let exp = read_jsonl(&format!("fixtures/expected/{expected}"));
    // The expectation echoes each input spelling (as `input`, or as `code` when unchanged).
    let spelled: Vec<&str> = exp
        .iter()
        .map(|e| {
            e.get("input")
                .or_else(|| e.get("code"))
                .and_then(Value::as_str)
                .unwrap()
        })
        .collect();
    assert_eq!(
        spelled, codes,
        "fixture {expected} does not match the codes of its test"
    );
    let got = check(snap, matter, as_of, codes);
    let context = format!(
        "check --matter {} --as-of {as_of} ({expected})",
        matter.unwrap_or("(none)")
    );
    assert_items(&context, &got, &exp, true);
}

const FW_MINTAI: &str = "\u{ff19}\u{ff11}\u{ff13}\u{ff15}\u{ff10}\u{ff10}\u{ff10}\u{ff10}\u{ff2d}\u{ff21}\u{ff12}\u{ff38}\u{ff32}\u{ff15}\u{ff18}\u{ff25}\u{ff17}\u{ff38}";

/// Codes of `check-gov_procurement-2026-11-20.jsonl`, in input spelling.
fn procurement_codes() -> Vec<&'static str> {
    vec![
        "91350100MA2Y3K8L5G",          // black + watch + red (suppressed): three lists
        "91350102MA31FE2N4E",          // watch; red suppressed by watch
        "91350121MA2XQ7D554",          // derived watch (environment, 180 days); tax red suppressed
        "91350104MA32HB6T2C",          // repaired black, valid_until+1 earlier than exited_on
        "91350100MA2YLK0R1F",          // repaired black, exited_on tomorrow: still black
        "92350103ma33cg1u6u",          // lower case; revoked black gives nothing; red rewards
        "91350181MA2XU4PD04",          // objection black ran out: suspended derived watch
        "91350105MA34JN9W17",          // objection black (suspended) + watch
        FW_MINTAI,                     // full-width spelling; two reds, one domain-limited reward
        "123501004880123464",          // all-digit USCC, red without a procurement reward
        "91350111MA2Y7W3Q9J",          // red ran out + red revoked: clear
        "91350128MA33PT2K74",          // status expired, past valid_until: clear
        "91350121MA2XJ6LA6E",          // status expired black: derived watch
        "91350102MA35D0HY4H",          // red listed in the future: clear
        "91350102MA2YN8KC7D",          // organisation-code check wrong: warning
        "91350102MA2Y1B7M13",          // watch, last day tomorrow
        "91350100m0001tgqxm",          // pilot-era code, check fails, listed: warning
        "350102198507162135",          // person, black
        "350103720528151",             // 15-digit ID, black on its last day
        "350104198806021538",          // person listed tomorrow: clear
        "350111198811204527",          // person, red
        "35012119790412118x",          // person with check X in lower case, watch
        "350103199103082412",          // valid person, not listed
        "\u{3000}12350100488060217n ", // U+3000 and space around a lower-case unlisted code
        "9135010",                     // wrong length
        "91350100ma2y3k8i5g",          // forbidden character I
        "9135A100MA2Y3K8L5C",          // division code not digits
        "91350100MA2Y3K8L5H",          // wrong check character
        "350102199902301021",          // impossible birth date
        "350102198507162136",          // wrong ID check character
        "123501004880123465",          // both readings fail: the ID reading's failure (birth date)
    ]
}

#[test]
fn check_gov_procurement_on_the_data_date() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let codes = procurement_codes();
    assert_check(
        &snap,
        Some("gov_procurement"),
        DATA_DATE,
        &codes,
        "check-gov_procurement-2026-11-20.jsonl",
    );
}

#[test]
fn check_admin_licence_rewards_and_punishments() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let codes = [
        "91350100MA2Y3K8L5G",
        "91350121MA2XQ7D554",
        "92350103MA33CG1U6U",
        "91350105MA34JN9W17",
        "91350000MA2XR58E7X",
        "123501004880123464",
        "91350102MA35D0HY4H",
        "350111198811204527",
        "91350102MA2YN8KC7D",
    ];
    assert_check(
        &snap,
        Some("admin_licence"),
        DATA_DATE,
        &codes,
        "check-admin_licence-2026-11-20.jsonl",
    );
}

#[test]
fn check_without_matter_has_empty_measure_lists() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let codes = [
        "91350100MA2Y3K8L5G",
        "91350181MA2XU4PD04",
        "\u{3000}91350100M0001TGQXM\u{3000}",
        "91350000MA2XR58E7X",
        "350103720528151",
        "9135010",
    ];
    assert_check(
        &snap,
        None,
        DATA_DATE,
        &codes,
        "check-none-2026-11-20.jsonl",
    );
}

#[test]
fn check_fund_project_on_the_last_black_day_and_the_exit_day() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let codes = [
        "91350121MA2XQ7D554",
        "91350104MA32HB6T2C",
        "91350181MA2XU4PD04",
        "91350105MA34JN9W17",
        "91350000MA2XR58E7X",
        "91350128MA33PT2K74",
        "91350100M0001TGQXM",
    ];
    for as_of in ["2026-08-31", "2026-09-01"] {
        assert_check(
            &snap,
            Some("fund_project"),
            as_of,
            &codes,
            &format!("check-fund_project-{as_of}.jsonl"),
        );
    }
}

#[test]
fn check_honours_the_day_after_the_data_date() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let codes = [
        "91350100MA2Y3K8L5G",
        "91350100MA2YLK0R1F",
        "91350121MA2XJ6LA6E",
        "350103720528151",
        "350104198806021538",
        "91350102MA2Y1B7M13",
    ];
    assert_check(
        &snap,
        Some("honours"),
        "2026-11-21",
        &codes,
        "check-honours-2026-11-21.jsonl",
    );
}

#[test]
fn check_honours_on_the_last_watch_day_and_the_day_after() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let codes = [
        "91350100MA2Y3K8L5G",
        "91350121MA2XQ7D554",
        "91350100MA2YLK0R1F",
        "91350181MA2XU4PD04",
        "91350000MA2XR58E7X",
    ];
    for as_of in ["2026-12-27", "2026-12-28"] {
        assert_check(
            &snap,
            Some("honours"),
            as_of,
            &codes,
            &format!("check-honours-{as_of}.jsonl"),
        );
    }
}

#[test]
fn check_reads_codes_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let expected = read_jsonl("fixtures/expected/check-honours-2026-11-21.jsonl");
    let stdin: String = expected
        .iter()
        .map(|e| {
            format!(
                "{}\n",
                e.get("input")
                    .or_else(|| e.get("code"))
                    .and_then(Value::as_str)
                    .unwrap()
            )
        })
        .collect();
    let args = [
        "check",
        "--snapshot",
        s(&snap),
        "--matter",
        "honours",
        "--as-of",
        "2026-11-21",
    ];
    let out = run_with_stdin(&args, &stdin);
    let got = json_stream(&out.stdout, &describe(&args, &out));
    assert_items("check with codes on stdin", &got, &expected, true);
}

#[test]
fn check_unknown_matter_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let args = [
        "check",
        "--snapshot",
        s(&snap),
        "--matter",
        "no_such_matter",
        "--as-of",
        DATA_DATE,
        "91350100MA2Y3K8L5G",
    ];
    let out = run_exit(&args, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no_such_matter"),
        "the error should name the unknown matter: {}",
        describe(&args, &out)
    );
}

// ---------------------------------------------------------------------------
// sweep, screen
// ---------------------------------------------------------------------------

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn sweep_lists_suppressed_red_entries() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    for (as_of, expected) in [
        (DATA_DATE, "sweep.csv"),
        ("2026-12-28", "sweep-2026-12-28.csv"),
    ] {
        let args = ["sweep", "--snapshot", s(&snap), "--as-of", as_of];
        let out = run_ok(&args);
        let got = lines(&String::from_utf8_lossy(&out.stdout));
        let exp = lines(&read_fixture(&format!("fixtures/expected/{expected}")));
        assert_eq!(
            got, exp,
            "sweep --as-of {as_of} differs from fixtures/expected/{expected}"
        );
    }
}

fn assert_screen(as_: &str, candidates: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let args = [
        "screen",
        "--snapshot",
        s(&snap),
        "--as",
        as_,
        "--as-of",
        DATA_DATE,
        candidates,
    ];
    let out = run_ok(&args);
    let got = json_stream(&out.stdout, &describe(&args, &out));
    let exp = read_jsonl(&format!("fixtures/expected/{expected}"));
    assert_items(
        &format!("screen --as {as_} {candidates}"),
        &got,
        &exp,
        false,
    );
}

#[test]
fn screen_red_candidates_against_black_and_watch() {
    assert_screen("red", "fixtures/screen/candidates.txt", "screen-red.jsonl");
}

#[test]
fn screen_black_candidates_against_red() {
    assert_screen(
        "black",
        "fixtures/screen/candidates.csv",
        "screen-black.jsonl",
    );
}

// ---------------------------------------------------------------------------
// inspect, diff
// ---------------------------------------------------------------------------

#[test]
fn inspect_json_counts_and_expiring_entries() {
    let dir = tempfile::tempdir().unwrap();
    let snap = demo_snapshot(dir.path());
    let args = ["inspect", s(&snap), "--json"];
    let out = run_ok(&args);
    let got: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect --json is not JSON ({e}): {}",
            describe(&args, &out)
        )
    });
    let exp: Value = serde_json::from_str(&read_fixture("fixtures/expected/inspect.json")).unwrap();

    assert!(
        got.get("format_version").is_some_and(|v| !v.is_null()),
        "inspect: no format_version in {got}"
    );
    assert!(
        got["snapshot_id"].as_str().is_some_and(|id| !id.is_empty()),
        "inspect: snapshot_id should be a non-empty string in {got}"
    );
    assert_eq!(got["data_date"], exp["data_date"], "inspect: data_date");
    assert_eq!(
        got["entries"], exp["entries"],
        "inspect: entries (accepted rows)"
    );
    assert_eq!(exp["entries"].as_u64(), Some(DEMO_ENTRIES as u64));
    assert_eq!(got["subjects"], exp["subjects"], "inspect: subjects");
    for key in ["by_kind", "by_domain", "by_authority"] {
        assert_eq!(
            counts(&got[key], key),
            counts(&exp[key], key),
            "inspect: {key}"
        );
    }
    assert_eq!(
        got["expiring"]["count"], exp["expiring"]["count"],
        "inspect: expiring.count"
    );
    let ids = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v["expiring"]["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("inspect: expiring.entries should be an array in {v}"))
            .iter()
            .map(|e| e["entry_id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&got), ids(&exp), "inspect: expiring entries");
}

const ENTRY_KEYS: &[&str] = &[
    "entry_id",
    "code",
    "kind",
    "domain",
    "authority",
    "listed_on",
    "valid_until",
    "status",
];

/// An added/removed entry, reduced to the compared keys (an empty `valid_until` reads as null).
fn entry_summary(v: &Value) -> Value {
    let mut m = Map::new();
    for &k in ENTRY_KEYS {
        let mut val = v.get(k).cloned().unwrap_or(Value::Null);
        if k == "valid_until" && val == Value::String(String::new()) {
            val = Value::Null;
        }
        m.insert(k.to_string(), val);
    }
    Value::Object(m)
}

#[test]
fn diff_json_lists_and_counts_changes() {
    let dir = tempfile::tempdir().unwrap();
    let old = build(dir.path(), "old", "2026-11-19", &[], &["fixtures/diff/old"]);
    old.assert_ok().assert_no_rejects();
    let new = build(dir.path(), "new", DATA_DATE, &[], &["fixtures/diff/new"]);
    new.assert_ok().assert_no_rejects();

    let args = ["diff", s(&old.snap), s(&new.snap), "--json"];
    let out = run_ok(&args);
    let got: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("diff --json is not JSON ({e}): {}", describe(&args, &out)));
    let exp: Value = serde_json::from_str(&read_fixture("fixtures/expected/diff.json")).unwrap();

    for key in ["added", "removed"] {
        let summarise = |v: &Value| -> Vec<Value> {
            v[key]
                .as_array()
                .unwrap_or_else(|| panic!("diff: `{key}` should be an array in {v}"))
                .iter()
                .map(entry_summary)
                .collect()
        };
        assert_eq!(summarise(&got), summarise(&exp), "diff: {key}");
    }
    let changed = |v: &Value| -> Vec<(String, Vec<String>)> {
        v["changed"]
            .as_array()
            .unwrap_or_else(|| panic!("diff: `changed` should be an array in {v}"))
            .iter()
            .map(|c| {
                let fields = c["fields"].as_array().map(|f| {
                    f.iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect()
                });
                (
                    c["entry_id"].as_str().unwrap_or_default().to_string(),
                    fields.unwrap_or_default(),
                )
            })
            .collect()
    };
    assert_eq!(changed(&got), changed(&exp), "diff: changed");
    for part in ["added", "removed", "changed"] {
        let (g, e) = (&got["counts"][part], &exp["counts"][part]);
        assert_eq!(g["total"], e["total"], "diff: counts.{part}.total");
        for key in ["by_kind", "by_authority"] {
            let ctx = format!("diff: counts.{part}.{key}");
            assert_eq!(counts(&g[key], &ctx), counts(&e[key], &ctx), "{ctx}");
        }
    }
}

// ---------------------------------------------------------------------------
// build: rejects, reject ratio, legacy codes, encodings, determinism
// ---------------------------------------------------------------------------

#[test]
fn bad_inputs_give_the_expected_reject_report() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(
        dir.path(),
        "bad",
        DATA_DATE,
        &["--max-reject-ratio", "1"],
        &["fixtures/bad"],
    );
    b.assert_ok();
    let expected = parse_rejects(
        &read_fixture("fixtures/expected/bad.rejects.csv"),
        "fixtures/expected/bad.rejects.csv",
    );
    assert_eq!(expected.len(), BAD_REJECTS);
    assert_rejects(&read_rejects(&b.rejects), &expected, "build fixtures/bad");
}

#[test]
fn reject_ratio_over_the_limit_fails_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let expected = parse_rejects(
        &read_fixture("fixtures/expected/bad.rejects.csv"),
        "fixtures/expected/bad.rejects.csv",
    );

    // Default limit (0.001) and an explicit 0.5: 55 of 66 rows are rejected.
    for (name, extra) in [
        ("default", &[][..]),
        ("half", &["--max-reject-ratio", "0.5"][..]),
    ] {
        let b = build(dir.path(), name, DATA_DATE, extra, &["fixtures/bad"]);
        assert_eq!(
            b.out.status.code(),
            Some(1),
            "build over the reject limit should exit 1: {}",
            b.describe()
        );
        assert!(
            !b.snap.exists(),
            "a failed build must not write {}: {}",
            b.snap.display(),
            b.describe()
        );
        assert!(
            !b.out.stderr.is_empty(),
            "a failed build should say why: {}",
            b.describe()
        );
        assert_rejects(
            &read_rejects(&b.rejects),
            &expected,
            &format!("failed build ({name})"),
        );
    }

    let b = build(
        dir.path(),
        "lenient",
        DATA_DATE,
        &["--max-reject-ratio", "0.9"],
        &["fixtures/bad"],
    );
    b.assert_ok();
}

#[test]
fn legacy_code_is_rejected_without_the_legacy_codes_file() {
    let dir = tempfile::tempdir().unwrap();
    let legacy_reject = [Reject {
        file: "fixtures/lists/procurement-social.csv".into(),
        line: "3".into(),
        entry_id: "CG-2026-0108".into(),
        reason: "bad_code".into(),
        message: String::new(),
    }];

    let b = build(
        dir.path(),
        "nolegacy",
        DATA_DATE,
        &["--max-reject-ratio", "1"],
        &[DEMO_LISTS],
    );
    b.assert_ok();
    assert_rejects(
        &read_rejects(&b.rejects),
        &legacy_reject,
        "build without --legacy-codes",
    );
    let args = ["inspect", s(&b.snap), "--json"];
    let info: Value = serde_json::from_slice(&run_ok(&args).stdout).expect("inspect --json");
    assert_eq!(
        info["entries"].as_u64(),
        Some(DEMO_ENTRIES as u64 - 1),
        "inspect: entries without the legacy row"
    );

    // 1 of 32 rows is over the default limit of 0.001.
    let b = build(dir.path(), "strict", DATA_DATE, &[], &[DEMO_LISTS]);
    assert_eq!(
        b.out.status.code(),
        Some(1),
        "1/32 rejected is over the default limit: {}",
        b.describe()
    );
    assert!(
        !b.snap.exists(),
        "a failed build must not write a snapshot: {}",
        b.describe()
    );
}

#[test]
fn reject_report_defaults_to_the_snapshot_path() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("plain.snap");
    let args = [
        "build",
        "--catalog",
        CATALOG,
        "--as-of",
        DATA_DATE,
        "--out",
        s(&snap),
        "--max-reject-ratio",
        "1",
        DEMO_LISTS,
    ];
    run_ok(&args);
    let rows = read_rejects(&dir.path().join("plain.snap.rejects.csv"));
    assert_eq!(
        rows.len(),
        1,
        "one rejected row (the pilot-era code): {rows:#?}"
    );
    assert_eq!(rows[0].reason, "bad_code");
}

#[test]
fn gbk_export_builds_and_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(
        dir.path(),
        "gbk",
        DATA_DATE,
        &["--encoding", "gbk"],
        &["fixtures/gbk/list.csv"],
    );
    b.assert_ok().assert_no_rejects();
    let codes = [
        "350121197904121032",
        "91350121MA2XQ7D554",
        "91350104MA32HB6T2C",
        "12350100488020178B",
    ];
    assert_check(
        &b.snap,
        Some("honours"),
        DATA_DATE,
        &codes,
        "check-gbk-honours-2026-11-20.jsonl",
    );
}

#[test]
fn gbk_export_read_as_utf8_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(
        dir.path(),
        "gbk-as-utf8",
        DATA_DATE,
        &["--max-reject-ratio", "1"],
        &["fixtures/gbk/list.csv"],
    );
    assert!(
        b.out.status.success(),
        "with --max-reject-ratio 1 the build succeeds: {}",
        b.describe()
    );
    let expected: Vec<Reject> = (2..=5)
        .map(|line| Reject {
            file: "fixtures/gbk/list.csv".into(),
            line: line.to_string(),
            entry_id: String::new(),
            reason: "malformed_row".into(),
            message: String::new(),
        })
        .collect();
    assert_rejects(
        &read_rejects(&b.rejects),
        &expected,
        "GBK file read as UTF-8",
    );
}

#[test]
fn same_inputs_give_a_byte_identical_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::read(demo_snapshot(dir.path())).unwrap();
    let other = tempfile::tempdir().unwrap();
    let second = std::fs::read(demo_snapshot(other.path())).unwrap();
    assert!(
        first == second,
        "two builds of the same inputs differ ({} vs {} bytes)",
        first.len(),
        second.len()
    );
}

#[test]
fn huge_pages_change_nothing_in_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let refused = std::fs::read(demo_snapshot(dir.path())).unwrap();
    let b = build(
        dir.path(),
        "huge",
        DATA_DATE,
        &["--legacy-codes", LEGACY_CODES, "--huge-pages"],
        &[DEMO_LISTS],
    );
    b.assert_ok().assert_no_rejects();
    let allowed = std::fs::read(&b.snap).unwrap();
    assert!(
        refused == allowed,
        "--huge-pages changed the snapshot ({} vs {} bytes)",
        refused.len(),
        allowed.len()
    );
}

#[test]
fn damaged_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(demo_snapshot(dir.path())).unwrap();
    assert!(bytes.len() > 16, "the snapshot is suspiciously small");

    let truncated = dir.path().join("truncated.snap");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    let corrupted = dir.path().join("corrupted.snap");
    std::fs::write(&corrupted, &flipped).unwrap();

    for bad in [&truncated, &corrupted] {
        let args = [
            "check",
            "--snapshot",
            s(bad),
            "--as-of",
            DATA_DATE,
            "91350100MA2Y3K8L5G",
        ];
        let out = run_exit(&args, 1);
        assert!(
            !out.stderr.is_empty(),
            "refusing a snapshot should say why: {}",
            describe(&args, &out)
        );
        run_exit(&["inspect", s(bad), "--json"], 1);
    }
}

// ---------------------------------------------------------------------------
// build: relation files (SPEC §8 input)
// ---------------------------------------------------------------------------

const DEMO_RELATIONS: &str = "fixtures/relations/demo";
const BAD_RELATIONS: &str = "fixtures/relations/bad";
/// Relation rows of `fixtures/relations/bad`, and those rejected (see
/// `fixtures/expected/bad-relations.rejects.csv`).
const BAD_RELATION_ROWS: usize = 44;
const BAD_RELATION_REJECTS: usize = 38;

fn stdout_of(b: &Build) -> String {
    String::from_utf8_lossy(&b.out.stdout).into_owned()
}

#[test]
fn demo_relations_build_without_rejects_and_are_counted_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(
        dir.path(),
        "rel",
        DATA_DATE,
        &[
            "--legacy-codes",
            LEGACY_CODES,
            "--relations",
            DEMO_RELATIONS,
        ],
        &[DEMO_LISTS],
    );
    b.assert_ok().assert_no_rejects();
    let out = stdout_of(&b);
    for line in [
        "rows read    47 (32 entry rows, 15 relation rows)",
        "accepted     47 (32 entries, 15 relations)",
        "relations    legal_rep 6, principal 2, manager 1, director 2, shareholder 3, professional 1",
        "relation rows rejected 0",
    ] {
        assert!(out.contains(line), "summary should say {line:?}: {}", b.describe());
    }
}

#[test]
fn bad_relations_give_the_expected_reject_report() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(
        dir.path(),
        "badrel",
        DATA_DATE,
        &[
            "--legacy-codes",
            LEGACY_CODES,
            "--max-reject-ratio",
            "1",
            "--relations",
            BAD_RELATIONS,
        ],
        &[DEMO_LISTS],
    );
    b.assert_ok();
    let expected = parse_rejects(
        &read_fixture("fixtures/expected/bad-relations.rejects.csv"),
        "fixtures/expected/bad-relations.rejects.csv",
    );
    assert_eq!(expected.len(), BAD_RELATION_REJECTS);
    assert_rejects(
        &read_rejects(&b.rejects),
        &expected,
        "build --relations fixtures/relations/bad",
    );
    let out = stdout_of(&b);
    let rows = format!("({DEMO_ENTRIES} entry rows, {BAD_RELATION_ROWS} relation rows)");
    for line in [
        rows.as_str(),
        "relations    legal_rep 3, principal 2, manager 0, director 1, shareholder 0, professional 0",
        "relation rows rejected 38",
        "duplicate_relation_id  2",
        "unknown_role           4",
    ] {
        assert!(out.contains(line), "summary should say {line:?}: {}", b.describe());
    }
}

#[test]
fn relation_rows_count_in_the_reject_ratio() {
    // 38 of 32 + 44 = 76 rows rejected: exactly half.
    let dir = tempfile::tempdir().unwrap();
    for (name, ratio, ok) in [("under", "0.49", false), ("at", "0.5", true)] {
        let b = build(
            dir.path(),
            name,
            DATA_DATE,
            &[
                "--legacy-codes",
                LEGACY_CODES,
                "--max-reject-ratio",
                ratio,
                "--relations",
                BAD_RELATIONS,
            ],
            &[DEMO_LISTS],
        );
        if ok {
            b.assert_ok();
        } else {
            assert_eq!(b.out.status.code(), Some(1), "{}", b.describe());
            assert!(!b.snap.exists(), "{}", b.describe());
        }
        assert_eq!(read_rejects(&b.rejects).len(), BAD_RELATION_REJECTS);
    }
}

#[test]
fn relation_files_go_into_the_snapshot_id() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(demo_snapshot(dir.path())).unwrap();
    let with = |name: &str, relations: &str| {
        let b = build(
            dir.path(),
            name,
            DATA_DATE,
            &["--legacy-codes", LEGACY_CODES, "--relations", relations],
            &[DEMO_LISTS],
        );
        b.assert_ok().assert_no_rejects();
        std::fs::read(&b.snap).unwrap()
    };
    let a = with("a", DEMO_RELATIONS);
    let a2 = with("a2", DEMO_RELATIONS);
    let one = with("one", "fixtures/relations/demo/legal-reps.csv");
    assert!(a == a2, "the same relation files give the same snapshot");
    assert!(a != plain, "relation files change the snapshot");
    assert!(
        a != one,
        "a different set of relation files changes the snapshot"
    );
}

#[test]
fn gbk_relations_build() {
    let dir = tempfile::tempdir().unwrap();
    let b = build(
        dir.path(),
        "gbkrel",
        DATA_DATE,
        &[
            "--encoding",
            "gbk",
            "--relations",
            "fixtures/gbk/relations.csv",
        ],
        &["fixtures/gbk/list.csv"],
    );
    b.assert_ok().assert_no_rejects();
    assert!(
        stdout_of(&b).contains(
            "relations    legal_rep 1, principal 0, manager 0, director 0, shareholder 1"
        ),
        "{}",
        b.describe()
    );
}

#[test]
fn relations_folder_without_files_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let b = build(
        dir.path(),
        "norel",
        DATA_DATE,
        &["--relations", s(&empty)],
        &[DEMO_LISTS],
    );
    assert_eq!(b.out.status.code(), Some(1), "{}", b.describe());
    assert!(
        String::from_utf8_lossy(&b.out.stderr).contains("no relation files"),
        "{}",
        b.describe()
    );
}

// ---------------------------------------------------------------------------
// usage
// ---------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    run_exit(&["build", "--no-such-flag"], 2);
    run_exit(&["no-such-command"], 2);
    run_exit(&["check", "--snapshot"], 2);
}

/// The demo snapshot with the demo relations (§8).
fn relations_snapshot(dir: &Path) -> PathBuf {
    let b = build(
        dir,
        "related",
        DATA_DATE,
        &[
            "--legacy-codes",
            LEGACY_CODES,
            "--relations",
            DEMO_RELATIONS,
        ],
        &[DEMO_LISTS],
    );
    b.assert_ok().assert_no_rejects();
    b.snap
}

/// §8 rules 1–4 on the demo relations: present and former legal
/// representatives, a person in two roles, a derived watch, an objection,
/// a professional, a principal rewarded through a red organisation, an
/// organisation's listed parties, and an all-digit code valid both ways.
#[test]
fn check_market_entry_through_relations() {
    let dir = tempfile::tempdir().unwrap();
    let snap = relations_snapshot(dir.path());
    assert_check(
        &snap,
        Some("market_entry"),
        DATA_DATE,
        &[
            "350102198001010011",
            "350102197503150028",
            "91350100MA2Y3K8L5G",
            "91350102ma31fe2n4e",
            "350102198507162135",
            "91350105MA34JN9W17",
            "350103196001014976",
            "35012119790412118X",
            "91350102MA2YN8KC7D",
            "350121198511110054",
            "91350121MA2XQ7D554",
        ],
        "check-market_entry-relations-2026-11-20.jsonl",
    );
}

/// Honours revoked through every role; the day an organisation's black
/// ends (its derived watch no longer fires the black-only measure) and the
/// day a legal representative's own listing starts.
#[test]
fn check_honours_through_relations_on_both_sides_of_a_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let snap = relations_snapshot(dir.path());
    assert_check(
        &snap,
        Some("honours"),
        DATA_DATE,
        &[
            "350102198001010011",
            "91350102ma31fe2n4e",
            "350102198507162135",
            "91350102MA2YN8KC7D",
        ],
        "check-honours-relations-2026-11-20.jsonl",
    );
    assert_check(
        &snap,
        Some("honours"),
        "2026-11-21",
        &["91350102ma31fe2n4e", "91350102MA2YN8KC7D"],
        "check-honours-relations-2026-11-21.jsonl",
    );
}

/// Relations never change a code's own status or hits (§8 rule 5): every
/// code of the procurement check answers the same with and without them.
#[test]
fn relations_never_change_status_or_hits_of_the_demo_codes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = demo_snapshot(dir.path());
    let related = relations_snapshot(dir.path());
    let codes = procurement_codes();
    let a = check(&plain, Some("gov_procurement"), DATA_DATE, &codes);
    let b = check(&related, Some("gov_procurement"), DATA_DATE, &codes);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["status"], y["status"], "{}", x["code"]);
        assert_eq!(x["hits"], y["hits"], "{}", x["code"]);
    }
}

#[test]
fn inspect_and_diff_count_relations_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let plain = demo_snapshot(dir.path());
    let related = relations_snapshot(dir.path());
    let out = run_ok(&["inspect", s(&related), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["relations"];
    // 15 relations; REL-0002 and REL-0007 ended before the data date.
    assert_eq!(r["total"], 15);
    assert_eq!(r["in_effect"], 13);
    assert_eq!(r["by_role"]["legal_rep"], 6);
    assert_eq!(r["by_role"]["shareholder"], 3);
    assert_eq!(r["by_role"]["principal"], 2);
    assert_eq!(r["by_role"]["director"], 2);
    assert_eq!(r["by_role"]["manager"], 1);
    assert_eq!(r["by_role"]["professional"], 1);
    assert_eq!(r["in_effect_by_role"]["legal_rep"], 5);
    assert_eq!(r["in_effect_by_role"]["manager"], 0);
    let out = run_ok(&["diff", s(&plain), s(&related), "--json"]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["added"].as_array().unwrap().len(), 0);
    assert_eq!(d["relations"]["counts"]["added"]["total"], 15);
    assert_eq!(d["relations"]["counts"]["added"]["by_role"]["legal_rep"], 6);
    let first = &d["relations"]["added"][0];
    assert_eq!(first["relation_id"], "REL-0001");
    assert_eq!(first["org"], "91350100MA2Y3K8L5G");
    assert_eq!(first["party"], "350102198001010011");
    assert_eq!(first["role"], "legal_rep");
    assert_eq!(first["from"], "2025-07-01");
    assert_eq!(first["until"], Value::Null);
    let out = run_ok(&["diff", s(&related), s(&plain)]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("relations removed        15   by role:"),
        "{text}"
    );
    assert!(text.contains("- relation REL-0007 35010319720528151X manager of 91350181MA2XU4PD04 from 2019-09-01 until 2026-03-31"), "{text}");
}
