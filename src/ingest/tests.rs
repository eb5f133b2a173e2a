//! The driver end to end: files decoded, validated and merged, with the
//! reject report's lines and reasons.

use super::*;
use proptest::prelude::*;

fn catalog() -> Catalog {
    Catalog::from_toml(
        "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
        "t",
    )
    .unwrap()
}

fn run(files: &[(&str, &[u8])], encoding: Encoding) -> (Builder, Stats, Vec<Reject>) {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let legacy = LegacyCodes::default();
    let mut ing = Ingest::new(Options {
        catalog: &cat,
        as_of: Day::parse("2026-11-21").unwrap(),
        encoding,
        legacy: &legacy,
    });
    let mut rejects = Vec::new();
    for (name, bytes) in files {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let read = ing.read_file(&p, &|_| {}).unwrap();
        ing.merge(read, &mut |r| {
            rejects.push(r);
            Ok(())
        })
        .unwrap();
    }
    (ing.acc, ing.stats, rejects)
}

#[test]
fn duplicates_across_files_keep_the_first() {
    let head = "entry_id,code,kind,domain,authority,listed_on\n";
    let a = format!("{head}E1,91350100M000100Y43,black,court,fy,2026-01-01\nE2,91350100M000100Y43,red,court,fy,2026-13-01\n");
    let b = format!("{head}E2,91350100M000100Y43,red,court,fy,2026-01-01\nE1,91350100M000100Y43,red,tax,sw,2026-01-01\n");
    let (acc, stats, rejects) = run(
        &[("a.csv", a.as_bytes()), ("b.csv", b.as_bytes())],
        Encoding::Utf8,
    );
    let got: Vec<(&str, u64, &str, Reason)> = rejects
        .iter()
        .map(|r| {
            (
                &r.file[r.file.len() - 5..],
                r.line,
                r.entry_id.as_str(),
                r.reason,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a.csv", 3, "E2", Reason::BadDate),
            ("b.csv", 3, "E1", Reason::DuplicateEntryId)
        ]
    );
    assert_eq!(acc.entries.len(), 2);
    assert_eq!((stats.rows, stats.accepted), (4, 2));
}

#[test]
fn csv_lines_columns_bom_and_duplicates() {
    let csv = "\u{FEFF}code,entry_id,kind,domain,authority,listed_on,extra\n\
        91350100M000100Y43,E1,black,court,fy,2026-01-01,x\n\
        \n\
        91350100M000100Y43,E2,black,court,fy\n\
        91350100M000100Y43,E1,red,tax,sw,2026-01-01,x\n\
        91350100M000100Y44,E3,red,tax,sw,2026-01-01,x\n\
        91350100M000100Y43,E3,red,tax,sw,2026-01-01,x\n";
    let (acc, stats, rejects) = run(&[("a.csv", csv.as_bytes())], Encoding::Utf8);
    let got: Vec<(u64, &str, Reason)> = rejects
        .iter()
        .map(|r| (r.line, r.entry_id.as_str(), r.reason))
        .collect();
    assert_eq!(
        got,
        vec![
            (4, "", Reason::MalformedRow),
            (5, "E1", Reason::DuplicateEntryId),
            (6, "E3", Reason::BadCode)
        ]
    );
    assert_eq!(acc.entries.len(), 2);
    assert_eq!(stats.rows, 5);
    assert_eq!(stats.ignored_columns.len(), 1);
}

#[test]
fn physical_lines_with_crlf_and_blank_lines() {
    let row = "91350100M000100Y43,E{},black,court,fy,2026-01-01";
    for nl in ["\n", "\r\n"] {
        let mut csv = format!("code,entry_id,kind,domain,authority,listed_on{nl}");
        // Lines 2..: a row, two blank lines, a row, one blank, then a bad row.
        csv += &format!("{}{nl}{nl}{nl}", row.replace("{}", "1"));
        csv += &format!("{}{nl}{nl}", row.replace("{}", "1"));
        csv += &format!("x{nl}");
        let (_, _, rejects) = run(&[("l.csv", csv.as_bytes())], Encoding::Utf8);
        let lines: Vec<u64> = rejects.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![5, 7], "terminator {nl:?}");
    }
}

#[test]
fn gbk_and_bad_bytes() {
    let (text, _, _) = encoding_rs::GBK.encode("entry_id,code,name,kind,domain,authority,listed_on\nE1,91350100M000100Y43,福州某某公司,black,court,法院,2026-01-01\n");
    let (acc, _, rejects) = run(&[("g.csv", &text)], Encoding::Gbk);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(acc.arena.get(acc.entries[0].name), "福州某某公司");
    assert_eq!(acc.authorities.values[0], "法院");

    let bad = b"entry_id,code,name,kind,domain,authority,listed_on\nE1,91350100M000100Y43,\xff\xfe,black,court,fy,2026-01-01\n";
    let (_, _, rejects) = run(&[("b.csv", bad)], Encoding::Utf8);
    assert_eq!(rejects[0].reason, Reason::MalformedRow);
    assert_eq!(rejects[0].line, 2);
}

#[test]
fn jsonl_rows() {
    let j = "{\"entry_id\":\"J1\",\"code\":\"91350100M000100Y43\",\"kind\":\"red\",\"domain\":\"tax\",\"authority\":\"sw\",\"listed_on\":\"2026-01-01\",\"valid_until\":null}\n\
             \n\
             {not json}\n\
             {\"entry_id\":\"J2\",\"code\":\"91350100M000100Y43\",\"kind\":[1],\"domain\":\"tax\",\"authority\":\"sw\",\"listed_on\":\"2026-01-01\"}\n\
             {\"entry_id\":\"J3\",\"code\":\"91350100M000100Y43\",\"kind\":\"red\",\"domain\":\"tax\",\"authority\":\"sw\"}\n";
    let (acc, stats, rejects) = run(&[("a.jsonl", j.as_bytes())], Encoding::Utf8);
    let got: Vec<(u64, Reason)> = rejects.iter().map(|r| (r.line, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (3, Reason::MalformedRow),
            (4, Reason::MalformedRow),
            (5, Reason::MissingField)
        ]
    );
    assert_eq!(acc.entries.len(), 1);
    assert_eq!(stats.rows, 4);
}

proptest! {
        /// Arbitrary bytes as a CSV or JSONL file never panic, and every row
        /// is either accepted or rejected.
        #[test]
        fn files_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut csv = b"entry_id,code,kind,domain,authority,listed_on\n".to_vec();
            csv.extend_from_slice(&body);
            let (acc, stats, rejects) = run(&[("f.csv", &csv), ("f.jsonl", &body)], Encoding::Utf8);
            prop_assert_eq!(stats.rows, acc.entries.len() as u64 + rejects.len() as u64);
        }
}
