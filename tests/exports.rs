//! Input as the platforms export it (issue 13): Chinese header names as
//! aliases of the §2 fields, Chinese kind names, GBK, `.xlsx` workbooks,
//! and a wrong header as one error for the file.
//!
//! `fixtures/zh-utf8/list.csv`, `fixtures/zh-gbk/list.csv` and the workbook
//! written here hold the entries of `fixtures/gbk/list.csv` under other
//! header names, so every build must answer exactly
//! `fixtures/expected/check-gbk-honours-2026-11-20.jsonl`.

mod support;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use serde_json::Value;
use std::path::Path;
use support::{credlist, repo, s};

const DATA_DATE: &str = "2026-11-20";
/// The subjects of `fixtures/gbk/list.csv`, in the expected file's order.
const CODES: [&str; 4] = [
    "350121197904121032",
    "91350121MA2XQ7D554",
    "91350104MA32HB6T2C",
    "12350100488020178B",
];

/// `credlist build` of `inputs` into `dir/out.snap`; the process output.
fn build(dir: &Path, extra: &[&str], inputs: &[&str]) -> std::process::Output {
    credlist()
        .args(["build", "--catalog", "fixtures/catalog.toml"])
        .args(["--as-of", DATA_DATE, "--out", s(&dir.join("out.snap"))])
        .args(["--rejects", s(&dir.join("rejects.csv"))])
        .args(extra)
        .args(inputs)
        .output()
        .unwrap()
}

fn describe(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The reject report's rows after its header.
fn rejects(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("rejects.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// The snapshot in `dir` answers the GBK fixture's expected check output.
fn answers_like_the_gbk_fixture(dir: &Path) {
    let o = credlist()
        .args(["check", "--snapshot", s(&dir.join("out.snap"))])
        .args(["--matter", "honours", "--as-of", DATA_DATE])
        .args(CODES)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", describe(&o));
    let parse = |text: &str| -> Vec<Value> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let got = parse(&String::from_utf8(o.stdout).unwrap());
    let want = parse(
        &std::fs::read_to_string(repo("fixtures/expected/check-gbk-honours-2026-11-20.jsonl"))
            .unwrap(),
    );
    assert_eq!(got, want);
}

#[test]
fn chinese_headers_and_kinds_in_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let o = build(dir.path(), &[], &["fixtures/zh-utf8/list.csv"]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(rejects(dir.path()).is_empty());
    // The export's row number column is not a §2 field: named, not refused.
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("序号"), "ignored column named: {text}");
    answers_like_the_gbk_fixture(dir.path());
}

#[test]
fn chinese_headers_in_gbk() {
    let dir = tempfile::tempdir().unwrap();
    let o = build(
        dir.path(),
        &["--encoding", "gbk"],
        &["fixtures/zh-gbk/list.csv"],
    );
    assert!(o.status.success(), "{}", describe(&o));
    assert!(rejects(dir.path()).is_empty());
    answers_like_the_gbk_fixture(dir.path());
}

/// Header names of the workbook: the platform's export of the GBK fixture.
const SHEET_HEADER: [&str; 13] = [
    "序号",
    "名单编号",
    "统一社会信用代码或证件号码",
    "主体名称",
    "名单类型",
    "领域",
    "认定部门",
    "认定文书号",
    "认定日期",
    "有效期至",
    "状态",
    "退出日期",
    "关注期至",
];

/// Writes the workbook: a title-less first sheet with the header in row 1,
/// a blank row 3, `认定日期` as date cells and `有效期至` as text, a bad
/// date in sheet row 7, and a second sheet that must not be read.
fn write_workbook(path: &Path) {
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let sheet = book.add_worksheet();
    for (c, h) in SHEET_HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    // (sheet row index, entry_id, code, name, kind, domain, authority,
    //  basis, listed_on (y, m, d), valid_until text, status)
    type Row<'a> = (
        u32,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        (u16, u8, u8),
        &'a str,
        &'a str,
    );
    let rows: [Row; 4] = [
        (
            1,
            "CS-2026-0301",
            "12350100488020178B",
            "福州市仓山区启明职业培训学校",
            "黑名单",
            "court",
            "仓山区人民法院",
            "（2026）闽0104执301号",
            (2026, 3, 1),
            "",
            "active",
        ),
        (
            3,
            "CS-2026-0302",
            "350121197904121032",
            "王某某",
            "黑名单",
            "court",
            "仓山区人民法院",
            "（2026）闽0104执302号",
            (2026, 3, 2),
            "2027-03-01",
            "active",
        ),
        (
            4,
            "CS-R-2026-0017",
            "91350104MA32HB6T2C",
            "福建鑫源建材有限公司",
            "红名单",
            "market",
            "仓山区市场监督管理局",
            "2025年度“守合同重信用”企业",
            (2026, 6, 18),
            "2028-06-17",
            "active",
        ),
        (
            5,
            "CS-W-2026-0045",
            "９１３５０１２１ＭＡ２ＸＱ７Ｄ５５４",
            "福州青山化工有限公司",
            "重点关注名单",
            "environment",
            "仓山区生态环境局",
            "榕仓环〔2026〕45号 重点排污单位",
            (2026, 4, 15),
            "2027-04-14",
            "objection",
        ),
    ];
    for (r, id, code, name, kind, domain, authority, basis, (y, m, d), until, status) in rows {
        sheet.write_number(r, 0, f64::from(r)).unwrap();
        for (c, v) in [
            (1, id),
            (2, code),
            (3, name),
            (4, kind),
            (5, domain),
            (6, authority),
            (7, basis),
        ] {
            sheet.write_string(r, c, v).unwrap();
        }
        let day = ExcelDateTime::from_ymd(y, m, d).unwrap();
        sheet.write_datetime_with_format(r, 8, &day, &date).unwrap();
        if !until.is_empty() {
            sheet.write_string(r, 9, until).unwrap();
        }
        sheet.write_string(r, 10, status).unwrap();
    }
    // Sheet row 7 (index 6): a date that does not exist, written as text.
    for (c, v) in [
        (1, "CS-2026-0399"),
        (2, "91350104MA32HB6T2C"),
        (4, "黑名单"),
        (5, "court"),
        (6, "仓山区人民法院"),
        (8, "2026-02-30"),
    ] {
        sheet.write_string(6, c, v).unwrap();
    }
    let other = book.add_worksheet();
    other.write_string(0, 0, "not read").unwrap();
    book.save(path).unwrap();
}

#[test]
fn xlsx_workbook_first_sheet_with_sheet_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.xlsx");
    write_workbook(&input);
    let o = build(dir.path(), &["--max-reject-ratio", "0.5"], &[s(&input)]);
    assert!(o.status.success(), "{}", describe(&o));
    let r = rejects(dir.path());
    assert_eq!(r.len(), 1, "{r:?}");
    let want = format!("{},7,CS-2026-0399,bad_date,", s(&input));
    assert!(r[0].starts_with(&want), "{} should start with {want}", r[0]);
    answers_like_the_gbk_fixture(dir.path());
}

#[test]
fn xlsx_found_in_folders() {
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists");
    std::fs::create_dir(&lists).unwrap();
    write_workbook(&lists.join("export.xlsx"));
    // A spreadsheet's lock file is not a list file.
    std::fs::write(lists.join("~$export.xlsx"), b"lock").unwrap();
    let o = build(dir.path(), &["--max-reject-ratio", "0.5"], &[s(&lists)]);
    assert!(o.status.success(), "{}", describe(&o));
    answers_like_the_gbk_fixture(dir.path());
}

#[test]
fn a_wrong_header_is_one_error_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "CS-1,12350100488020178B,91350104MA32HB6T2C,黑名单,court,fy,2026-03-01\n\
                CS-2,12350100488020178B,91350104MA32HB6T2C,黑名单,court,fy,2026-03-01\n";
    let cases = [
        (
            "two.csv",
            "名单编号,统一社会信用代码,code,名单类型,领域,认定单位,认定日期\n",
            "columns 2 (\"统一社会信用代码\") and 3 (\"code\") both give the field code",
        ),
        (
            "missing.csv",
            "名单编号,统一社会信用代码,名称,名单类型,领域,认定单位,备注\n",
            "no column for the required field listed_on (or 认定日期 / 列入日期)",
        ),
    ];
    for (name, header, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{header}{rows}")).unwrap();
        let o = build(dir.path(), &[], &[s(&p)]);
        assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("{}:1: header: ", s(&p))) && err.contains(want),
            "{name}: {err}"
        );
        assert!(!dir.path().join("out.snap").exists());
    }
}
