//! End-to-end tests of what list authorities publish and announce:
//! `credlist publish`, `credlist notices` and the reporting deadline of
//! `credlist inspect`, running the real binary.
//!
//! The data: `fixtures/publication/old` (built as of 2026-11-13) and
//! `fixtures/publication/new` (as of 2026-11-20), an OLD/NEW pair in which
//! every exit reason occurs; `fixtures/publication/deadline` for the
//! reporting deadline. The expected outputs in `fixtures/expected/` were
//! worked out by hand from SPEC §3 and §10 (see `fixtures/README.md`).

mod support;

use regex::Regex;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::{credlist, repo, s};

const OLD_DATE: &str = "2026-11-13";
const NEW_DATE: &str = "2026-11-20";

fn run(args: &[&str]) -> Output {
    credlist()
        .args(args)
        .output()
        .expect("could not start credlist")
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "`credlist {}` exited with {:?}\n--- stderr ---\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(args: &[&str]) -> Vec<u8> {
    let out = run(args);
    assert!(out.status.success(), "{}", describe(args, &out));
    out.stdout
}

fn run_exit(args: &[&str], code: i32) -> Output {
    let out = run(args);
    assert_eq!(out.status.code(), Some(code), "{}", describe(args, &out));
    out
}

/// `credlist build` of `inputs` as of `as_of` into `dir/name.snap`.
fn build(dir: &Path, name: &str, as_of: &str, catalog: &str, inputs: &[&str]) -> PathBuf {
    let snap = dir.join(format!("{name}.snap"));
    let rejects = dir.join(format!("{name}.rejects.csv"));
    let mut args = vec!["build", "--catalog", catalog, "--as-of", as_of];
    args.extend(["--out", s(&snap), "--rejects", s(&rejects)]);
    args.extend(inputs);
    run_ok(&args);
    let rejected = std::fs::read_to_string(&rejects).unwrap_or_default();
    assert_eq!(
        rejected.lines().count(),
        1,
        "{name}: expected no rejects:\n{rejected}"
    );
    snap
}

fn pair(dir: &Path) -> (PathBuf, PathBuf) {
    let cat = "fixtures/catalog.toml";
    (
        build(dir, "old", OLD_DATE, cat, &["fixtures/publication/old"]),
        build(dir, "new", NEW_DATE, cat, &["fixtures/publication/new"]),
    )
}

fn expected(rel: &str) -> Vec<u8> {
    std::fs::read(repo(&format!("fixtures/expected/{rel}")))
        .unwrap_or_else(|e| panic!("cannot read fixtures/expected/{rel}: {e}"))
}

fn assert_same_text(got: &[u8], want: &[u8], what: &str) {
    let (g, w) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    if g != w {
        for (i, (a, b)) in g.lines().zip(w.lines()).enumerate() {
            assert_eq!(a, b, "{what}: line {} differs", i + 1);
        }
        panic!(
            "{what}: got {} lines, expected {}\n{g}",
            g.lines().count(),
            w.lines().count()
        );
    }
}

// ---------------------------------------------------------------------------
// publish
// ---------------------------------------------------------------------------

#[test]
fn publish_csv_has_every_in_force_hit_masked_and_sorted_with_a_bom() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = pair(dir.path());
    let want = expected("publish-new-2026-11-20.csv");
    assert_eq!(
        &want[..3],
        b"\xEF\xBB\xBF",
        "the expected file starts with a BOM"
    );
    let got = run_ok(&[
        "publish",
        "--snapshot",
        s(&new),
        "--kinds",
        "red,black,watch",
    ]);
    assert_same_text(&got, &want, "publish --kinds red,black,watch");
    assert_eq!(&got[..3], b"\xEF\xBB\xBF");

    // --no-bom: the same bytes without the mark.
    let got = run_ok(&[
        "publish",
        "--snapshot",
        s(&new),
        "--kinds",
        "watch,red,black",
        "--no-bom",
    ]);
    assert_eq!(got, want[3..], "--no-bom");

    // --as-of defaults to the data date.
    let got = run_ok(&[
        "publish",
        "--snapshot",
        s(&new),
        "--kinds",
        "red,black,watch",
        "--as-of",
        NEW_DATE,
    ]);
    assert_eq!(got, want);
}

#[test]
fn publish_defaults_to_red_and_black_and_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = pair(dir.path());
    let got = run_ok(&["publish", "--snapshot", s(&new), "--format", "jsonl"]);
    assert_same_text(
        &got,
        &expected("publish-new-default.jsonl"),
        "publish --format jsonl",
    );
}

#[test]
fn publish_out_writes_the_file_whole_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = pair(dir.path());
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("公示-2026-11-20.csv");
    std::fs::write(&out, "an older file that is replaced").unwrap();
    let stdout = run_ok(&[
        "publish",
        "--snapshot",
        s(&new),
        "--kinds",
        "red,black,watch",
        "--out",
        s(&out),
    ]);
    assert!(stdout.is_empty(), "nothing on stdout with --out");
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected("publish-new-2026-11-20.csv")
    );
    let names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["公示-2026-11-20.csv"]);

    // A folder that does not exist: an error naming the path, exit 1.
    let bad = dir.path().join("missing").join("x.csv");
    let o = run_exit(&["publish", "--snapshot", s(&new), "--out", s(&bad)], 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(s(&bad)), "{err}");
}

#[test]
fn publish_refuses_an_unknown_kind_as_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = pair(dir.path());
    run_exit(
        &["publish", "--snapshot", s(&new), "--kinds", "red,grey"],
        2,
    );
    run_exit(&["publish", "--snapshot", s(&new), "--format", "xlsx"], 2);
    let o = run_exit(&["publish", "--snapshot", "no/such.snap"], 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such.snap"));
}

// ---------------------------------------------------------------------------
// notices
// ---------------------------------------------------------------------------

fn notices_json(args: &[&str]) -> Value {
    let mut v: Value = serde_json::from_slice(&run_ok(args)).expect("notices --json is JSON");
    for side in ["old", "new"] {
        assert!(v[side]["snapshot"]
            .as_str()
            .is_some_and(|id| id.len() == 32));
        v[side]["snapshot"] = Value::from("*");
    }
    v
}

#[test]
fn notices_json_lists_every_exit_reason_per_authority() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = pair(dir.path());
    let got = notices_json(&["notices", s(&old), s(&new), "--json"]);
    let want: Value = serde_json::from_slice(&expected("notices.json")).unwrap();
    if got != want {
        panic!(
            "notices differ from fixtures/expected/notices.json:\n{}",
            serde_json::to_string_pretty(&got).unwrap()
        );
    }
    // Every reason but none else, each once at least.
    let mut reasons: Vec<&str> = got["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["exited"].as_array().unwrap())
        .map(|x| x["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(
        reasons,
        [
            "changed",
            "expired",
            "removed",
            "repaired",
            "revoked",
            "suppressed"
        ]
    );
}

#[test]
fn notices_text_says_the_same_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = pair(dir.path());
    let got = run_ok(&["notices", s(&old), s(&new)]);
    let got = String::from_utf8(got).unwrap();
    let mut lines = got.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!("old {}", s(&old))) && first.ends_with("as of 2026-11-13"),
        "{first}"
    );
    let second = lines.next().unwrap();
    assert!(
        second.starts_with(&format!("new {}", s(&new))) && second.ends_with("as of 2026-11-20"),
        "{second}"
    );
    let rest: Vec<&str> = lines.collect();
    let want = String::from_utf8(expected("notices.txt")).unwrap();
    assert_eq!(rest, want.lines().collect::<Vec<_>>());
}

#[test]
fn notices_on_other_dates_of_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = pair(dir.path());
    // NEW on 2026-11-20 and on 2026-11-21: only SC-R-2024-1121 (valid to
    // 2026-11-20) leaves, expired.
    let v = notices_json(&[
        "notices",
        s(&new),
        s(&new),
        "--old-as-of",
        "2026-11-20",
        "--new-as-of",
        "2026-11-21",
        "--json",
    ]);
    assert_eq!(v["old"]["as_of"], "2026-11-20");
    assert_eq!(v["new"]["as_of"], "2026-11-21");
    assert_eq!(
        v["totals"],
        serde_json::json!({"listed": 0, "exited": 1, "warnings": 0, "escalations": 0})
    );
    let a = &v["authorities"][0];
    assert_eq!(a["authority"], "market-bureau");
    assert_eq!(a["exited"][0]["entry_id"], "SC-R-2024-1121");
    assert_eq!(a["exited"][0]["reason"], "expired");
    assert_eq!(v["authorities"].as_array().unwrap().len(), 1);

    // The same snapshot on the same day: nothing to announce.
    let v = notices_json(&["notices", s(&new), s(&new), "--json"]);
    assert_eq!(v["authorities"], serde_json::json!([]));
}

// ---------------------------------------------------------------------------
// privacy at scale
// ---------------------------------------------------------------------------

/// No full ID number and no full name of a natural person appears in what
/// is published or announced, over a generated data set of 100 000 entries.
#[test]
fn no_full_id_number_or_person_name_is_published_at_scale() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    run_ok(&[
        "gen",
        "--entries",
        "100000",
        "--out",
        s(&data),
        "--files",
        "2",
    ]);
    let cat = data.join("catalog.toml");
    let snap = build(
        dir.path(),
        "gen",
        NEW_DATE,
        s(&cat),
        &[s(&data.join("lists"))],
    );

    // The persons of the input, as §1 classifies their codes.
    let day = credlist::date::Day::parse(NEW_DATE).unwrap();
    let (mut codes, mut names) = (HashSet::new(), HashSet::new());
    for f in std::fs::read_dir(data.join("lists")).unwrap() {
        let mut r = csv::Reader::from_path(f.unwrap().path()).unwrap();
        for row in r.records() {
            let row = row.unwrap();
            let parsed = credlist::codes::parse(&row[1], day).unwrap();
            if parsed.kind == credlist::codes::CodeKind::Person {
                codes.insert(parsed.code.as_str().to_string());
                if row[2].chars().count() > 1 {
                    names.insert(row[2].to_string());
                }
            }
        }
    }
    assert!(
        codes.len() > 10_000 && !names.is_empty(),
        "persons in the data set"
    );
    let mut alternatives: Vec<String> = names.iter().map(|n| regex::escape(n)).collect();
    alternatives.sort_unstable();
    let name_re = Regex::new(&alternatives.join("|")).unwrap();
    let id_re = Regex::new(r"[0-9]{17}[0-9X]").unwrap();
    let masked_re = Regex::new(r"[0-9]{6}\*{8}[0-9X]{4}").unwrap();

    let outputs = [
        (
            "publish csv",
            run_ok(&[
                "publish",
                "--snapshot",
                s(&snap),
                "--kinds",
                "red,black,watch",
            ]),
        ),
        (
            "publish jsonl",
            run_ok(&[
                "publish",
                "--snapshot",
                s(&snap),
                "--kinds",
                "watch,black",
                "--format",
                "jsonl",
            ]),
        ),
        (
            "notices text",
            run_ok(&["notices", s(&snap), s(&snap), "--old-as-of", "2026-06-01"]),
        ),
        (
            "notices json",
            run_ok(&[
                "notices",
                s(&snap),
                s(&snap),
                "--old-as-of",
                "2026-06-01",
                "--json",
            ]),
        ),
    ];
    for (what, out) in &outputs {
        let text = String::from_utf8_lossy(out);
        assert!(
            masked_re.find_iter(&text).count() > 1000,
            "{what}: masked persons are published"
        );
        for m in id_re.find_iter(&text) {
            assert!(
                !codes.contains(m.as_str()),
                "{what}: a person's full ID number appears: {}",
                m.as_str()
            );
        }
        if let Some(m) = name_re.find(&text) {
            panic!("{what}: a person's full name appears: {}", m.as_str());
        }
    }
}

// ---------------------------------------------------------------------------
// reporting deadline
// ---------------------------------------------------------------------------

const CALENDAR: &str = "fixtures/calendar-2026-2027.toml";

fn deadline_snapshot(dir: &Path) -> PathBuf {
    build(
        dir,
        "deadline",
        NEW_DATE,
        "fixtures/catalog.toml",
        &["fixtures/publication/deadline"],
    )
}

fn inspect_json(args: &[&str]) -> Value {
    serde_json::from_slice(&run_ok(args)).expect("inspect --json is JSON")
}

#[test]
fn inspect_deadline_counts_working_days_with_the_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let snap = deadline_snapshot(dir.path());
    let plain = inspect_json(&["inspect", s(&snap), "--json"]);
    assert!(plain.get("deadline").is_none(), "no deadline unless asked");
    let mut with = inspect_json(&["inspect", s(&snap), "--json", "--calendar", CALENDAR]);
    let deadline = with
        .as_object_mut()
        .unwrap()
        .remove("deadline")
        .expect("deadline");
    assert_eq!(with, plain, "the rest of inspect is unchanged");
    let want: Value = serde_json::from_slice(&expected("deadline-calendar.json")).unwrap();
    assert_eq!(
        deadline,
        want,
        "{}",
        serde_json::to_string_pretty(&deadline).unwrap()
    );

    // Six working days allowed: nobody is late with the calendar.
    let six = inspect_json(&[
        "inspect",
        s(&snap),
        "--json",
        "--calendar",
        CALENDAR,
        "--deadline-days",
        "6",
    ]);
    assert_eq!(six["deadline"]["days"], 6);
    assert_eq!(six["deadline"]["late"], 0);
}

#[test]
fn inspect_deadline_without_a_calendar_counts_monday_to_friday() {
    let dir = tempfile::tempdir().unwrap();
    let snap = deadline_snapshot(dir.path());
    let v = inspect_json(&["inspect", s(&snap), "--json", "--deadline-days", "5"]);
    let want: Value = serde_json::from_slice(&expected("deadline-weekdays.json")).unwrap();
    assert_eq!(v["deadline"], want);
}

#[test]
fn inspect_text_without_the_flags_is_unchanged_and_with_them_adds_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let snap = deadline_snapshot(dir.path());
    let plain = String::from_utf8(run_ok(&["inspect", s(&snap)])).unwrap();
    assert!(!plain.contains("reporting deadline"));
    let with = String::from_utf8(run_ok(&["inspect", s(&snap), "--calendar", CALENDAR])).unwrap();
    let added = with
        .strip_prefix(&plain)
        .expect("the deadline part is appended");
    assert!(
        added.starts_with("reporting deadline: 5 working days"),
        "{added}"
    );
    assert!(
        added.contains(
            "late FY-2026-1162 black listed 2026-11-06 reported 2026-11-16 (6 working days)"
        ),
        "{added}"
    );
}

#[test]
fn a_bad_calendar_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let snap = deadline_snapshot(dir.path());
    let cal = dir.path().join("bad-calendar.toml");
    std::fs::write(&cal, "holidays = [\"2026-10-01\", \"2026-10-32\"]\n").unwrap();
    let o = run_exit(&["inspect", s(&snap), "--calendar", s(&cal)], 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(s(&cal)) && err.contains("holidays[1]"),
        "{err}"
    );
    let o = run_exit(
        &["inspect", s(&snap), "--calendar", "no/such/calendar.toml"],
        1,
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/calendar.toml"));
}

#[test]
fn reported_on_is_a_date_not_before_listed_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("reported.csv");
    std::fs::write(
        &input,
        "entry_id,code,kind,domain,authority,listed_on,reported_on\n\
         A1,91350100MA2Y5K011J,black,court,shi-fayuan,2026-11-04,2026-11-04\n\
         A2,91350100MA31HQ0236,black,court,shi-fayuan,2026-11-04,2026-11-03\n\
         A3,91350100MA2XJ7038M,black,court,shi-fayuan,2026-11-04,2026-11-31\n\
         A4,91350100MA34TB0474,black,court,shi-fayuan,2026-11-04,\n",
    )
    .unwrap();
    let snap = dir.path().join("r.snap");
    let rejects = dir.path().join("r.rejects.csv");
    run_ok(&[
        "build",
        "--catalog",
        "fixtures/catalog.toml",
        "--as-of",
        NEW_DATE,
        "--max-reject-ratio",
        "1",
        "--out",
        s(&snap),
        "--rejects",
        s(&rejects),
        s(&input),
    ]);
    let mut r = csv::Reader::from_path(&rejects).unwrap();
    let got: Vec<(String, String, String)> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            (x[1].to_string(), x[2].to_string(), x[3].to_string())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("3".into(), "A2".into(), "date_order".into()),
            ("4".into(), "A3".into(), "bad_date".into())
        ]
    );
    let v = inspect_json(&["inspect", s(&snap), "--json", "--deadline-days", "5"]);
    assert_eq!(v["deadline"]["entries"], 2);
    assert_eq!(v["deadline"]["reported"], 1);
}
