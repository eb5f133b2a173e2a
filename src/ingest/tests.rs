//! The driver end to end: files decoded, validated and merged, with the
//! reject report's lines and reasons.

use super::*;
use proptest::prelude::*;

/// The data date of every test here.
fn as_of() -> Day {
    Day::parse("2026-11-21").unwrap()
}

/// Ingest options on `as_of()`.
fn options<'a>(cat: &'a Catalog, legacy: &'a LegacyCodes, encoding: Encoding) -> Options<'a> {
    Options {
        catalog: cat,
        as_of: as_of(),
        encoding,
        legacy,
    }
}

fn catalog() -> Catalog {
    Catalog::from_toml(
        "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
        "t",
    )
    .unwrap()
}

fn run(files: &[(&str, &[u8])], encoding: Encoding) -> (Builder, Stats, Vec<Reject>) {
    let files: Vec<(&str, &[u8], FileKind)> = files
        .iter()
        .map(|(n, b)| (*n, *b, FileKind::Entries))
        .collect();
    run_kinds(&files, encoding)
}

/// Files of either kind, read and merged in the order given.
fn run_kinds(
    files: &[(&str, &[u8], FileKind)],
    encoding: Encoding,
) -> (Builder, Stats, Vec<Reject>) {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let legacy = LegacyCodes::default();
    let mut ing = Ingest::new(options(&cat, &legacy, encoding));
    let mut rejects = Vec::new();
    for (name, bytes, kind) in files {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let read = match kind {
            FileKind::Entries => ing.read_file(&p, &|_| {}),
            FileKind::Relations => ing.read_relation_file(&p, &|_| {}),
        }
        .unwrap();
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
    assert_eq!(acc.arena.get(acc.entries[0].name()), "福州某某公司");
    assert_eq!(acc.authorities.values[0], "法院");

    let bad = b"entry_id,code,name,kind,domain,authority,listed_on\nE1,91350100M000100Y43,\xff\xfe,black,court,fy,2026-01-01\n";
    let (_, _, rejects) = run(&[("b.csv", bad)], Encoding::Utf8);
    assert_eq!(rejects[0].reason, Reason::MalformedRow);
    assert_eq!(rejects[0].line, 2);
}

#[test]
fn a_replacement_character_in_a_read_field_marks_the_row_malformed() {
    // GBK bytes that do not decode (a lead byte and a space) become U+FFFD.
    let gbk = b"entry_id,code,name,kind,domain,authority,listed_on\nE1,91350100M000100Y43,\x81 x,black,court,fy,2026-01-01\nE2,91350100M000100Y43,ok,black,court,fy,2026-01-01\n";
    let (acc, _, rejects) = run(&[("g.csv", gbk)], Encoding::Gbk);
    assert_eq!(
        keys(&rejects),
        vec![("g.csv".into(), 2, String::new(), Reason::MalformedRow)]
    );
    assert_eq!(acc.entries.len(), 1);
    // The same character written in UTF-8; in a column that is not read, it
    // does not matter.
    let utf8 = "entry_id,code,name,kind,domain,authority,listed_on,note\nE1,91350100M000100Y43,\u{FFFD},black,court,fy,2026-01-01,\nE2,91350100M000100Y43,ok,black,court,fy,2026-01-01,\u{FFFD}\n";
    let (acc, _, rejects) = run(&[("u.csv", utf8.as_bytes())], Encoding::Utf8);
    assert_eq!(
        keys(&rejects),
        vec![("u.csv".into(), 2, String::new(), Reason::MalformedRow)]
    );
    assert_eq!(acc.entries.len(), 1);
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

/// Reject rows as (file name, line, id, reason).
fn keys(rejects: &[Reject]) -> Vec<(String, u64, String, Reason)> {
    rejects
        .iter()
        .map(|r| {
            let name = r.file.rsplit('/').next().unwrap_or("").to_string();
            (name, r.line, r.entry_id.clone(), r.reason)
        })
        .collect()
}

const REL_HEAD: &str = "relation_id,org,party,role,from,until\n";

#[test]
fn relations_duplicates_namespaces_and_stats() {
    use crate::related::Role;
    let list = "entry_id,code,kind,domain,authority,listed_on\n\
        E1,91350100MA2Y3K8L5G,black,court,fy,2025-03-12\n";
    // R1 rejected first (bad date), then accepted; E1 as a relation id is
    // no duplicate of the entry; R2 repeats across files.
    let a = format!(
        "{REL_HEAD}R1,91350100MA2Y3K8L5G,350102198507162135,legal_rep,2020-13-01,\n\
         R1,91350100MA2Y3K8L5G,350102198507162135,legal_rep,2020-01-01,\n\
         E1,91350100MA2Y3K8L5G,350103720528151,principal,2015-01-01,2025-06-30\n\
         R2,350103196001014976,91350102MA31FE2N4E,shareholder,2021-05-01,\n\
         \n\
         R1,91350100MA2Y3K8L5G,350102198507162135,director,2020-01-01,\n"
    );
    let b = format!(
        "{REL_HEAD}R2,91350100MA2Y3K8L5G,350102198507162135,director,2020-01-01,\n\
         R3,91350100MA2Y3K8L5G,350102198507162135,chairman,2020-01-01,\n\
         R4,91350100MA2Y3K8L5G\n"
    );
    let (acc, stats, rejects) = run_kinds(
        &[
            ("l.csv", list.as_bytes(), FileKind::Entries),
            ("a.csv", a.as_bytes(), FileKind::Relations),
            ("b.csv", b.as_bytes(), FileKind::Relations),
        ],
        Encoding::Utf8,
    );
    let s = |x: &str| x.to_string();
    assert_eq!(
        keys(&rejects),
        vec![
            (s("a.csv"), 2, s("R1"), Reason::BadDate),
            (s("a.csv"), 7, s("R1"), Reason::DuplicateRelationId),
            (s("b.csv"), 2, s("R2"), Reason::DuplicateRelationId),
            (s("b.csv"), 3, s("R3"), Reason::UnknownRole),
            (s("b.csv"), 4, s(""), Reason::MalformedRow),
        ]
    );
    assert_eq!((acc.entries.len(), acc.relations.len()), (1, 3));
    let ids: Vec<&str> = acc
        .relations
        .iter()
        .map(|r| acc.arena.get(r.relation_id))
        .collect();
    assert_eq!(ids, ["R1", "E1", "R2"]);
    // E1's party was upgraded; R2's org is valid both ways (a person), its
    // party an organisation.
    let r = &acc.relations[1];
    assert_eq!(r.facts.role, Role::Principal);
    assert_eq!(r.facts.until, Some(Day::parse("2025-06-30").unwrap()));
    let r = &acc.relations[2];
    assert_eq!(r.facts.role, Role::Shareholder);
    assert!(r.facts.until.is_none());
    assert_eq!((stats.rows, stats.relation_rows), (9, 8));
    assert_eq!((stats.files, stats.relation_files), (3, 2));
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.relations_by_role, [1, 1, 0, 0, 1, 0]);
    assert_eq!(stats.rejected_total(), 5);
    assert_eq!(stats.relations_rejected_total(), 5);
    assert_eq!(
        stats.relations_rejected.get("duplicate_relation_id"),
        Some(&2)
    );
    assert_eq!(stats.upgraded_ids, 1);
}

#[test]
fn relation_kinds_of_codes_reach_the_builder() {
    let a = format!(
        "{REL_HEAD}R1,350103196001014976,350102198507162135,legal_rep,2020-01-01,\n\
         R2,123501004880123464,91350102MA31FE2N4E,shareholder,2020-01-01,\n\
         R3,350102198507162135,350102198507162135,legal_rep,2020-01-01,\n"
    );
    let (acc, _, rejects) = run_kinds(
        &[("a.csv", a.as_bytes(), FileKind::Relations)],
        Encoding::Utf8,
    );
    assert_eq!(
        keys(&rejects),
        vec![("a.csv".into(), 4, "R3".into(), Reason::BadCode)]
    );
    let kinds: Vec<(bool, bool)> = acc
        .relations
        .iter()
        .map(|r| (r.org_person, r.party_person))
        .collect();
    assert_eq!(kinds, [(true, true), (false, false)]);
    assert_eq!(
        acc.relations[0].org.key().to_code().as_str(),
        "350103196001014976"
    );
}

#[test]
fn relations_in_gbk_and_jsonl() {
    // Full-width codes and a Chinese column (ignored) in a GBK export.
    let (text, _, _) = encoding_rs::GBK.encode(
        "relation_id,org,party,role,from,until,备注\n\
         G1,９１３５０１００ＭＡ２Ｙ３Ｋ８Ｌ５Ｇ,３５０１０２１９８５０７１６２１３５,legal_rep,2020-01-01,,法定代表人\n",
    );
    let (acc, stats, rejects) = run_kinds(&[("g.csv", &text, FileKind::Relations)], Encoding::Gbk);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(acc.relations.len(), 1);
    assert_eq!(stats.ignored_columns.len(), 1);
    assert_eq!(
        acc.relations[0].party.key().to_code().as_str(),
        "350102198507162135"
    );

    let j = "{\"relation_id\":\"J1\",\"org\":\"91350100MA2Y3K8L5G\",\"party\":\"350102198507162135\",\"role\":\"manager\",\"from\":\"2020-01-01\",\"until\":null}\n\
             \n\
             {\"relation_id\":\"J2\",\"org\":\"91350100MA2Y3K8L5G\",\"party\":\"350102198507162135\",\"role\":\"manager\"}\n\
             [1]\n\
             {\"relation_id\":\"J3\",\"org\":\"91350100MA2Y3K8L5G\",\"party\":\"350102198507162135\",\"role\":\"manager\",\"from\":\"2020-01-01\",\"until\":\"2019-01-01\"}\n";
    let (acc, _, rejects) = run_kinds(
        &[("r.jsonl", j.as_bytes(), FileKind::Relations)],
        Encoding::Utf8,
    );
    let got: Vec<(u64, Reason)> = rejects.iter().map(|r| (r.line, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (3, Reason::MissingField),
            (4, Reason::MalformedRow),
            (5, Reason::DateOrder)
        ]
    );
    assert_eq!(acc.relations.len(), 1);
}

proptest! {
        /// Arbitrary bytes as a relation file never panic, and every row
        /// is either accepted or rejected.
        #[test]
        fn relation_files_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut csv = REL_HEAD.as_bytes().to_vec();
            csv.extend_from_slice(&body);
            let (acc, stats, rejects) = run_kinds(
                &[("r.csv", &csv, FileKind::Relations), ("r.jsonl", &body, FileKind::Relations)],
                Encoding::Utf8,
            );
            prop_assert_eq!(stats.rows, acc.relations.len() as u64 + rejects.len() as u64);
            prop_assert_eq!(stats.rows, stats.relation_rows);
            prop_assert!(acc.entries.is_empty());
        }
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

#[test]
fn a_column_without_a_header_name_is_reported() {
    let csv = "code,entry_id,kind,domain,authority,listed_on,\n\
        91350100M000100Y43,E1,black,court,fy,2026-01-01,note\n";
    let (acc, stats, rejects) = run(&[("a.csv", csv.as_bytes())], Encoding::Utf8);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(acc.entries.len(), 1);
    assert_eq!(stats.ignored_columns.len(), 1);
    assert!(
        stats.ignored_columns[0].ends_with("a.csv: column 7 (no header)"),
        "{:?}",
        stats.ignored_columns
    );
}

#[test]
fn merging_all_files_at_once_equals_merging_them_one_by_one() {
    let head = "entry_id,code,kind,domain,authority,listed_on\n";
    let rhead = "relation_id,org,party,role,from,until\n";
    let org = "91350100M000100Y43";
    let party = "35010219500101000X";
    let a = format!("{head}E1,{org},black,court,fy,2026-01-01\nE2,{org},red,court,fy,2026-13-01\nE3,{org},red,tax,sw,2026-01-01\nE1,{org},red,tax,sw,2026-01-02\n");
    let b = format!("{head}E2,{org},red,court,zz,2026-01-01\nE3,{org},red,tax,sw,2026-01-01\nE4,{org},watch,tax,fy,2026-01-01\n");
    let r1 = format!(
        "{rhead}R1,{org},{party},legal_rep,2020-01-01,\nR1,{org},{party},director,2020-01-01,\n"
    );
    let r2 = format!(
        "{rhead}R2,{org},{party},manager,2020-01-01,\nR1,{org},{party},manager,2020-01-01,\n"
    );
    let files: Vec<(&str, &[u8], FileKind)> = vec![
        ("a.csv", a.as_bytes(), FileKind::Entries),
        ("b.csv", b.as_bytes(), FileKind::Entries),
        ("r1.csv", r1.as_bytes(), FileKind::Relations),
        ("r2.csv", r2.as_bytes(), FileKind::Relations),
    ];
    let (acc, stats, rejects) = run_kinds(&files, Encoding::Utf8);

    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let legacy = LegacyCodes::default();
    let mut ing = Ingest::new(options(&cat, &legacy, Encoding::Utf8));
    let reads = files
        .iter()
        .map(|(name, bytes, kind)| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            match kind {
                FileKind::Entries => ing.read_file(&p, &|_| {}),
                FileKind::Relations => ing.read_relation_file(&p, &|_| {}),
            }
            .unwrap()
        })
        .collect();
    let mut all_rejects = Vec::new();
    ing.merge_all(reads, &mut |r| {
        all_rejects.push(r);
        Ok(())
    })
    .unwrap();
    let strip = |v: &[Reject]| -> Vec<String> {
        v.iter()
            .map(|r| {
                let name = std::path::Path::new(&r.file)
                    .file_name()
                    .unwrap()
                    .to_owned();
                format!(
                    "{name:?} {} {} {:?} {}",
                    r.line, r.entry_id, r.reason, r.message
                )
            })
            .collect()
    };
    assert_eq!(strip(&rejects), strip(&all_rejects));
    assert_eq!(rejects.len(), 5, "{rejects:?}");
    let mut stats_all = ing.stats.clone();
    stats_all.ignored_columns.clear();
    let mut stats = stats;
    stats.ignored_columns.clear();
    assert_eq!(stats, stats_all);
    assert_eq!(
        format!("{:?}", acc.entries),
        format!("{:?}", ing.acc.entries)
    );
    assert_eq!(
        format!("{:?}", acc.relations),
        format!("{:?}", ing.acc.relations)
    );
    assert_eq!(acc.arena.to_vec(), ing.acc.arena.to_vec());
    assert_eq!(acc.authorities.values, ing.acc.authorities.values);
}

/// `files` read by [`Ingest::read_all`] with room for `reserve` entries
/// reserved (`None`: each file read and merged on its own), merged; the
/// snapshot's bytes, the stats and the reject report.
fn read_all_with(
    files: &[(String, FileKind)],
    reserve: Option<usize>,
) -> (Vec<u8>, Stats, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog();
    let legacy = LegacyCodes::default();
    let day = as_of();
    let mut ing = Ingest::new(options(&cat, &legacy, Encoding::Utf8));
    let mut lists = Vec::new();
    let mut relations = Vec::new();
    for (i, (text, kind)) in files.iter().enumerate() {
        let p = dir.path().join(format!("f{i}.csv"));
        std::fs::write(&p, text).unwrap();
        match kind {
            FileKind::Entries => lists.push(p),
            FileKind::Relations => relations.push(p),
        }
    }
    let mut rejects = Vec::new();
    let mut on_reject = |r: Reject| {
        let name = std::path::Path::new(&r.file)
            .file_name()
            .unwrap()
            .to_owned();
        rejects.push(format!("{name:?} {} {} {}", r.line, r.entry_id, r.message));
        Ok(())
    };
    match reserve {
        // Each file on its own, merged one by one, as pushed.
        None => {
            for p in &lists {
                let read = ing.read_file(p, &|_| {}).unwrap();
                ing.merge(read, &mut on_reject).unwrap();
            }
            for p in &relations {
                let read = ing.read_relation_file(p, &|_| {}).unwrap();
                ing.merge(read, &mut on_reject).unwrap();
            }
        }
        Some(rows) => {
            ing.reserve(rows, 0);
            let reads = ing.read_all(&lists, &relations, &|_| {}).unwrap();
            ing.merge_reads(reads, &mut on_reject).unwrap();
        }
    }
    let bytes = ing
        .acc
        .finish(&cat, day, crate::snapshot::Meta::default())
        .unwrap()
        .to_bytes();
    (bytes, ing.stats, rejects)
}

#[test]
fn entries_read_into_the_slab_build_the_same_snapshot() {
    // Runs are a few entries in tests: files fill several, leave room in
    // their last, and the slab runs out part way when little is reserved.
    const { assert!(crate::snapshot::SLAB_RUN < 10) };
    let code = |i: u64| crate::gen::subject_code(7, i % 23).to_string();
    let head = "entry_id,code,name,kind,domain,authority,basis,listed_on\n";
    let mut files = Vec::new();
    for f in 0..4u64 {
        let mut text = head.to_string();
        for r in 0..(9 + 5 * f) {
            let n = f * 100 + r;
            // Ids repeat across and within files; some rows are rejected.
            let id = if r % 4 == 3 {
                format!("E{}", r % 6)
            } else {
                format!("E{n}")
            };
            let day = if r % 7 == 5 {
                "2026-13-01"
            } else {
                "2026-01-02"
            };
            let kind = ["red", "black", "watch"][(n % 3) as usize];
            text.push_str(&format!(
                "{id},{},名{n},{kind},court,auth{},b{n},{day}\n",
                code(n),
                n % 3
            ));
        }
        files.push((text, FileKind::Entries));
    }
    let rhead = "relation_id,org,party,role,from,until\n";
    let rel = format!(
        "{rhead}R1,{},{},legal_rep,2020-01-01,\nR1,{},{},director,2020-01-01,\n",
        code(1),
        code(2),
        code(3),
        code(4)
    );
    files.push((rel, FileKind::Relations));
    let (bytes, stats, rejects) = read_all_with(&files, None);
    assert!(rejects.len() > 8, "{rejects:?}");
    for reserve in [0, 1, 7, 20, 1000] {
        let (b, s, r) = read_all_with(&files, Some(reserve));
        assert_eq!(r, rejects, "reserve {reserve}");
        assert_eq!(s, stats, "reserve {reserve}");
        assert!(b == bytes, "reserve {reserve}: the snapshots differ");
    }
}
