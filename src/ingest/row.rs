//! One list-entry row checked against SPEC §1/§2: the first reason kind
//! that applies, in the reject report's precedence order.

use super::decode::FieldSpec;
use super::legacy::LegacyCodes;
use super::reject::Reason;
use crate::catalog::Catalog;
use crate::codes::{self, Code, CodeKind, Parsed};
use crate::date::Day;
use crate::entry::{Facts, Kind, Status};

/// The §2 fields, in the order raw rows carry them.
pub(crate) const FIELDS: [&str; NFIELDS] = [
    "entry_id",
    "code",
    "name",
    "kind",
    "domain",
    "authority",
    "basis",
    "listed_on",
    "valid_until",
    "status",
    "exited_on",
    "watch_until",
    "reported_on",
];
/// Number of §2 fields.
pub(crate) const NFIELDS: usize = 13;

/// Header names (and JSON keys) of the platforms' exports accepted for
/// the §2 fields, besides the fields' own names (README "Input files").
pub(crate) const ALIASES: &[(&str, usize)] = &[
    ("名单编号", F_ENTRY_ID),
    ("记录编号", F_ENTRY_ID),
    ("统一社会信用代码", F_CODE),
    ("证件号码", F_CODE),
    ("身份证号码", F_CODE),
    ("统一社会信用代码或证件号码", F_CODE),
    ("主体名称", F_NAME),
    ("名称", F_NAME),
    ("姓名", F_NAME),
    ("名单类型", F_KIND),
    ("领域", F_DOMAIN),
    ("认定部门", F_AUTHORITY),
    ("认定单位", F_AUTHORITY),
    ("认定文书号", F_BASIS),
    ("认定依据", F_BASIS),
    ("认定日期", F_LISTED_ON),
    ("列入日期", F_LISTED_ON),
    ("有效期至", F_VALID_UNTIL),
    ("有效期截止日期", F_VALID_UNTIL),
    ("状态", F_STATUS),
    ("退出日期", F_EXITED_ON),
    ("移出日期", F_EXITED_ON),
    ("关注期至", F_WATCH_UNTIL),
];

/// The §2 fields a header must have a column for.
const REQUIRED: &[usize] = &[
    F_ENTRY_ID,
    F_CODE,
    F_KIND,
    F_DOMAIN,
    F_AUTHORITY,
    F_LISTED_ON,
];

/// How list-entry files name their fields.
pub(crate) const ENTRY_FIELDS: FieldSpec<NFIELDS> = FieldSpec {
    names: FIELDS,
    aliases: ALIASES,
    required: REQUIRED,
};

/// Longest field value accepted; the snapshot stores string lengths as u16.
pub(crate) const MAX_FIELD_BYTES: usize = 4096;
const _: () = assert!(MAX_FIELD_BYTES <= u16::MAX as usize);
pub(crate) const F_ENTRY_ID: usize = 0;
const F_CODE: usize = 1;
pub(crate) const F_NAME: usize = 2;
const F_KIND: usize = 3;
const F_DOMAIN: usize = 4;
pub(crate) const F_AUTHORITY: usize = 5;
pub(crate) const F_BASIS: usize = 6;
const F_LISTED_ON: usize = 7;
const F_VALID_UNTIL: usize = 8;
const F_STATUS: usize = 9;
const F_EXITED_ON: usize = 10;
const F_WATCH_UNTIL: usize = 11;
const F_REPORTED_ON: usize = 12;

/// A row as read: field values (trimmed; empty = absent).
pub(crate) struct RawRow<'r> {
    pub(crate) fields: [&'r str; NFIELDS],
}

/// A validated row, before the duplicate check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Valid {
    pub(crate) code: Code,
    pub(crate) kind_of_code: CodeKind,
    pub(crate) facts: Facts,
    /// The day the listing reached the platform (§10), if given.
    pub(crate) reported_on: Option<Day>,
    /// Warnings counted in the summary: org-code mismatch, legacy code, 15→18.
    pub(crate) org_warning: bool,
    pub(crate) legacy: bool,
    pub(crate) upgraded: bool,
}

type Rejected = (Reason, String);

/// Checks one row against §1/§2 in the reason order of the reject report
/// (all but the duplicate check, which needs the run's state). `as_of`
/// bounds birth dates; `legacy` names the codes accepted despite their
/// check character.
pub(crate) fn validate(
    row: &RawRow,
    catalog: &Catalog,
    as_of: Day,
    legacy: &LegacyCodes,
) -> Result<Valid, Rejected> {
    let f = &row.fields;
    check_lengths(f)?;
    let code = parse_code(f[F_CODE], as_of, legacy)?;
    check_required(f)?;
    let (parsed, legacy) = code.expect("code is present: checked above");
    let kind = parse_kind(f[F_KIND])?;
    let domain = catalog.domain_index(f[F_DOMAIN]).ok_or_else(|| {
        (
            Reason::UnknownDomain,
            format!("unknown domain {:?} (not in the catalog)", f[F_DOMAIN]),
        )
    })?;
    let status = parse_status(f[F_STATUS])?;
    let facts = Facts {
        kind,
        status,
        domain,
        listed_on: date(f, F_LISTED_ON)?.expect("required"),
        valid_until: date(f, F_VALID_UNTIL)?,
        exited_on: date(f, F_EXITED_ON)?,
        watch_until: date(f, F_WATCH_UNTIL)?,
    };
    let reported_on = date(f, F_REPORTED_ON)?;
    check_date_order(&facts, reported_on)?;
    let upgraded = parsed.kind == CodeKind::Person && crate::codes::char_len(f[F_CODE]) == 15;
    Ok(Valid {
        code: parsed.code,
        kind_of_code: parsed.kind,
        facts,
        reported_on,
        org_warning: parsed.warning.is_some() && !legacy,
        legacy,
        upgraded,
    })
}

/// `malformed_row`: a value too long to store.
fn check_lengths(f: &[&str; NFIELDS]) -> Result<(), Rejected> {
    match (0..FIELDS.len()).find(|&i| f[i].len() > MAX_FIELD_BYTES) {
        Some(i) => Err((
            Reason::MalformedRow,
            format!("field {} is longer than {MAX_FIELD_BYTES} bytes", FIELDS[i]),
        )),
        None => Ok(()),
    }
}

/// `bad_code`: a present code that fails §1 and is not a named legacy
/// code. `None` when the code is absent (a missing field, found next);
/// else the parsed code and whether it was accepted as a legacy code.
pub(crate) fn parse_code(
    raw: &str,
    as_of: Day,
    legacy: &LegacyCodes,
) -> Result<Option<(Parsed, bool)>, Rejected> {
    if raw.is_empty() {
        return Ok(None);
    }
    let e = match codes::parse(raw, as_of) {
        Ok(p) => return Ok(Some((p, false))),
        Err(e) => e,
    };
    let norm = codes::normalize(raw);
    let structural = <[u8; 18]>::try_from(norm.as_bytes())
        .ok()
        .filter(|b| codes::check_uscc_structure(b).is_ok() && legacy.contains(b));
    match structural {
        Some(b) => Ok(Some((
            Parsed {
                code: Code(b),
                kind: CodeKind::Org,
                warning: Some(format!("legacy code: {e}")),
            },
            true,
        ))),
        None => Err((Reason::BadCode, format!("code: {e}"))),
    }
}

/// `missing_field`: a required field empty, `exited_on` for `repaired` and
/// `valid_until` for `expired` included.
fn check_required(f: &[&str; NFIELDS]) -> Result<(), Rejected> {
    let extra = match f[F_STATUS] {
        "repaired" => Some(F_EXITED_ON),
        "expired" => Some(F_VALID_UNTIL),
        _ => None,
    };
    let required = [
        F_ENTRY_ID,
        F_CODE,
        F_KIND,
        F_DOMAIN,
        F_AUTHORITY,
        F_LISTED_ON,
    ];
    let Some(i) = required.into_iter().chain(extra).find(|&i| f[i].is_empty()) else {
        return Ok(());
    };
    let why = match i {
        F_EXITED_ON => " (required for status repaired)",
        F_VALID_UNTIL => " (required for status expired)",
        _ => "",
    };
    Err((
        Reason::MissingField,
        format!("missing required field {}{why}", FIELDS[i]),
    ))
}

/// A kind: its §2 name, or the list's Chinese name.
fn parse_kind(s: &str) -> Result<Kind, Rejected> {
    let alias = match s {
        "红名单" => Some(Kind::Red),
        "黑名单" => Some(Kind::Black),
        "重点关注名单" => Some(Kind::Watch),
        _ => None,
    };
    alias.or_else(|| Kind::parse(s)).ok_or_else(|| {
        (
            Reason::UnknownKind,
            format!("unknown kind {s:?} (expected red, black or watch, or 红名单, 黑名单 or 重点关注名单)"),
        )
    })
}

/// An empty status is `active`.
fn parse_status(s: &str) -> Result<Status, Rejected> {
    if s.is_empty() {
        return Ok(Status::Active);
    }
    Status::parse(s).ok_or_else(|| {
        (
            Reason::UnknownStatus,
            format!(
                "unknown status {s:?} (expected active, objection, revoked, repaired or expired)"
            ),
        )
    })
}

/// `bad_date`: field `i` as a date, `None` when empty.
fn date(f: &[&str; NFIELDS], i: usize) -> Result<Option<Day>, Rejected> {
    let s = f[i];
    if s.is_empty() {
        return Ok(None);
    }
    let d = Day::parse(s).map_err(|e| (Reason::BadDate, format!("{}: {e}", FIELDS[i])))?;
    if d < Day(0) {
        return Err((
            Reason::BadDate,
            format!("{}: {s} is before 1970-01-01", FIELDS[i]),
        ));
    }
    Ok(Some(d))
}

/// `date_order`: a later date (`reported_on` included) before `listed_on`,
/// or `watch_until` before the exit day.
fn check_date_order(facts: &Facts, reported_on: Option<Day>) -> Result<(), Rejected> {
    let listed_on = facts.listed_on;
    for (i, d) in [
        (F_VALID_UNTIL, facts.valid_until),
        (F_EXITED_ON, facts.exited_on),
        (F_WATCH_UNTIL, facts.watch_until),
        (F_REPORTED_ON, reported_on),
    ] {
        if let Some(d) = d {
            if d < listed_on {
                return Err((
                    Reason::DateOrder,
                    format!("{} {d} is before listed_on {listed_on}", FIELDS[i]),
                ));
            }
        }
    }
    if let (Some(w), Some(x)) = (facts.watch_until, crate::rules::exit_day(facts)) {
        if w < x {
            return Err((
                Reason::DateOrder,
                format!("watch_until {w} is before the exit day {x}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn catalog() -> Catalog {
        Catalog::from_toml(
            "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
            "t",
        )
        .unwrap()
    }

    const ORG: &str = "91350100M000100Y43";

    fn row<'a>(overrides: &[(&str, &'a str)]) -> [&'a str; NFIELDS] {
        let mut f: [&'a str; NFIELDS] = [
            "E1",
            ORG,
            "某公司",
            "black",
            "court",
            "fy",
            "",
            "2026-01-01",
            "",
            "",
            "",
            "",
            "",
        ];
        for (k, v) in overrides {
            f[FIELDS.iter().position(|x| x == k).unwrap()] = v;
        }
        f
    }

    fn check(fields: [&str; NFIELDS]) -> Result<Valid, Reason> {
        let cat = catalog();
        let legacy = LegacyCodes::parse("91350100M0001TGQXM # Fuzhou pilot\n", "l").unwrap();
        let as_of = Day::parse("2026-11-21").unwrap();
        validate(&RawRow { fields }, &cat, as_of, &legacy).map_err(|(r, m)| {
            assert!(!m.is_empty());
            r
        })
    }

    #[test]
    fn reasons_table() {
        use Reason::*;
        type Case = (Vec<(&'static str, &'static str)>, Result<(), Reason>);
        let cases: Vec<Case> = vec![
            (vec![], Ok(())),
            (vec![("code", "91350100M000100Y44")], Err(BadCode)),
            (vec![("code", "91350100M0001TGQXM")], Ok(())),
            (vec![("code", "91350100M0001TGQXN")], Err(BadCode)),
            (vec![("code", "")], Err(MissingField)),
            (vec![("entry_id", "")], Err(MissingField)),
            (vec![("authority", "")], Err(MissingField)),
            (vec![("status", "repaired")], Err(MissingField)),
            (vec![("status", "expired")], Err(MissingField)),
            (vec![("kind", "grey")], Err(UnknownKind)),
            (vec![("domain", "sea")], Err(UnknownDomain)),
            (vec![("status", "gone")], Err(UnknownStatus)),
            (vec![("listed_on", "2026-02-30")], Err(BadDate)),
            (vec![("watch_until", "2026/03/01")], Err(BadDate)),
            (vec![("valid_until", "2025-12-31")], Err(DateOrder)),
            // §10 reported_on: a real date, not before listed_on.
            (vec![("reported_on", "2026-01-01")], Ok(())),
            (vec![("reported_on", "2026-01-32")], Err(BadDate)),
            (vec![("reported_on", "2025-12-31")], Err(DateOrder)),
            (
                vec![("status", "repaired"), ("exited_on", "2025-12-01")],
                Err(DateOrder),
            ),
            (
                vec![("valid_until", "2026-06-30"), ("watch_until", "2026-06-30")],
                Err(DateOrder),
            ),
            (
                vec![("valid_until", "2026-06-30"), ("watch_until", "2026-07-01")],
                Ok(()),
            ),
            // Precedence: bad code before a missing field; kind before domain.
            (vec![("code", "X"), ("domain", "")], Err(BadCode)),
            (vec![("kind", "grey"), ("domain", "sea")], Err(UnknownKind)),
            (
                vec![("status", "expired"), ("valid_until", "2026-13-01")],
                Err(BadDate),
            ),
        ];
        for (over, want) in cases {
            let got = check(row(&over)).map(|_| ());
            assert_eq!(got, want, "{over:?}");
        }
    }

    proptest! {
        /// Arbitrary field values never panic and always yield a reason.
        #[test]
        fn validate_never_panics(fields in proptest::array::uniform13("\\PC{0,20}")) {
            let f: [&str; NFIELDS] = std::array::from_fn(|i| fields[i].as_str());
            let _ = check(f);
        }
    }
}
