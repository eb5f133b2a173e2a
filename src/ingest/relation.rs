//! One relation row (SPEC §8) checked against §1/§8: the first reason kind
//! that applies, in the reject report's precedence order.
//!
//! The order is §8's: `bad_code` (the organisation, then the party),
//! `missing_field`, `unknown_role`, `bad_date`, `date_order`; the
//! duplicate check needs the run's state and is the driver's, and
//! `malformed_row` is the decoder's. As for list entries, a value too long
//! to store is a `malformed_row` before anything else.

use super::legacy::LegacyCodes;
use super::reject::Reason;
use super::row::{self, MAX_FIELD_BYTES};
use crate::codes::{self, Code, CodeKind};
use crate::date::Day;
use crate::related::{RelationFacts, Role};

/// The §8 relation fields, in the order raw rows carry them.
pub(crate) const RELATION_FIELDS: [&str; 6] =
    ["relation_id", "org", "party", "role", "from", "until"];
pub(crate) const F_RELATION_ID: usize = 0;
const F_ORG: usize = 1;
const F_PARTY: usize = 2;
const F_ROLE: usize = 3;
const F_FROM: usize = 4;
const F_UNTIL: usize = 5;

/// A validated relation row, before the duplicate check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidRelation {
    pub(crate) org: Code,
    /// The organisation's code also passes the ID reading, so it counts as
    /// a natural person under §1.
    pub(crate) org_person: bool,
    pub(crate) party: Code,
    pub(crate) party_person: bool,
    pub(crate) facts: RelationFacts,
    /// Warnings counted in the summary, over both codes: org-code
    /// mismatch, legacy code, 15→18.
    pub(crate) org_warning: bool,
    pub(crate) legacy: bool,
    pub(crate) upgraded: bool,
}

type Rejected = (Reason, String);

/// Checks one relation row in the reason order of the reject report (all
/// but the duplicate check). `as_of` bounds birth dates; `legacy` names
/// the codes accepted despite their check character.
pub(crate) fn validate(
    f: &[&str; 6],
    as_of: Day,
    legacy: &LegacyCodes,
) -> Result<ValidRelation, Rejected> {
    check_lengths(f)?;
    let org = parse_org(f[F_ORG], as_of, legacy)?;
    let party =
        row::parse_code(f[F_PARTY], as_of, legacy).map_err(|(r, m)| (r, format!("party {m}")))?;
    check_required(f)?;
    let (org, org_legacy) = org.expect("org is present: checked above");
    let (party, party_legacy) = party.expect("party is present: checked above");
    let role = Role::parse(f[F_ROLE]).ok_or_else(|| {
        (
            Reason::UnknownRole,
            format!("unknown role {:?} (expected {})", f[F_ROLE], Role::names()),
        )
    })?;
    let facts = RelationFacts {
        role,
        from: date(f, F_FROM)?.expect("required"),
        until: date(f, F_UNTIL)?,
    };
    if let Some(until) = facts.until.filter(|&u| u < facts.from) {
        return Err((
            Reason::DateOrder,
            format!("until {until} is before from {}", facts.from),
        ));
    }
    let upgraded = party.kind == CodeKind::Person && crate::codes::char_len(f[F_PARTY]) == 15;
    Ok(ValidRelation {
        org_person: org.kind == CodeKind::Person,
        org: org.code,
        party_person: party.kind == CodeKind::Person,
        party: party.code,
        facts,
        org_warning: (org.warning.is_some() && !org_legacy)
            || (party.warning.is_some() && !party_legacy),
        legacy: org_legacy || party_legacy,
        upgraded,
    })
}

/// `malformed_row`: a value too long to store.
fn check_lengths(f: &[&str; 6]) -> Result<(), Rejected> {
    match (0..RELATION_FIELDS.len()).find(|&i| f[i].len() > MAX_FIELD_BYTES) {
        Some(i) => Err((
            Reason::MalformedRow,
            format!(
                "field {} is longer than {MAX_FIELD_BYTES} bytes",
                RELATION_FIELDS[i]
            ),
        )),
        None => Ok(()),
    }
}

/// `bad_code` for the organisation: a present code that fails the USCC
/// reading of §1 and is not a named legacy code. `None` when absent (a
/// missing field, found later); else the parsed code and whether it was
/// accepted as a legacy code. An all-digit code valid both ways is
/// accepted, with `kind` `Person`.
fn parse_org(
    raw: &str,
    as_of: Day,
    legacy: &LegacyCodes,
) -> Result<Option<(codes::Parsed, bool)>, Rejected> {
    if raw.is_empty() {
        return Ok(None);
    }
    // Most codes arrive canonical: no allocation then.
    let norm: std::borrow::Cow<str> = if raw
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        raw.into()
    } else {
        codes::normalize(raw).into()
    };
    let e = match codes::parse_uscc(&norm, as_of) {
        Ok(p) => return Ok(Some((p, false))),
        Err(e) => e,
    };
    if let Ok(b) = <[u8; 18]>::try_from(norm.as_bytes()) {
        if codes::check_uscc_structure(&b).is_ok() && legacy.contains(&b) {
            let kind = match codes::classify(&b, as_of) {
                Some(CodeKind::Person) => CodeKind::Person,
                _ => CodeKind::Org,
            };
            let parsed = codes::Parsed {
                code: Code(b),
                kind,
                warning: Some(format!("legacy code: {e}")),
            };
            return Ok(Some((parsed, true)));
        }
    }
    // Say so when the code is a valid ID number: the most likely mistake
    // is a person's code in the organisation's column.
    let person = codes::parse_normalized(&norm, as_of).is_ok_and(|p| p.kind == CodeKind::Person);
    let message = match e {
        _ if person && norm.len() == 15 => {
            "org code is a 15-digit citizen ID number, not an organisation's USCC".to_string()
        }
        _ if person => {
            format!("org code is a citizen ID number, not an organisation's USCC (as a USCC: {e})")
        }
        codes::CodeError::Length { got } => {
            format!("org code: wrong length: a USCC has 18 characters, got {got}")
        }
        e => format!("org code (as a USCC): {e}"),
    };
    Err((Reason::BadCode, message))
}

/// `missing_field`: a required field empty or absent.
fn check_required(f: &[&str; 6]) -> Result<(), Rejected> {
    let required = [F_RELATION_ID, F_ORG, F_PARTY, F_ROLE, F_FROM];
    match required.into_iter().find(|&i| f[i].is_empty()) {
        Some(i) => Err((
            Reason::MissingField,
            format!("missing required field {}", RELATION_FIELDS[i]),
        )),
        None => Ok(()),
    }
}

/// `bad_date`: field `i` as a date, `None` when empty. Dates before
/// 1970-01-01 are refused as for list entries (the snapshot stores days
/// since then as `u32`).
fn date(f: &[&str; 6], i: usize) -> Result<Option<Day>, Rejected> {
    let s = f[i];
    if s.is_empty() {
        return Ok(None);
    }
    let name = RELATION_FIELDS[i];
    let d = Day::parse(s).map_err(|e| (Reason::BadDate, format!("{name}: {e}")))?;
    if d < Day(0) {
        return Err((Reason::BadDate, format!("{name}: {s} is before 1970-01-01")));
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A listed organisation, a person, an all-digit USCC whose ID reading
    /// fails, an all-digit code valid both ways, the pilot-era legacy code.
    const ORG: &str = "91350100MA2Y3K8L5G";
    const PERSON: &str = "350102198507162135";
    const DIGIT_ORG: &str = "123501004880123464";
    const BOTH_WAYS: &str = "350103196001014976";
    const LEGACY: &str = "91350100M0001TGQXM";

    fn row<'a>(overrides: &[(&str, &'a str)]) -> [&'a str; 6] {
        let mut f: [&'a str; 6] = ["R1", ORG, PERSON, "legal_rep", "2020-01-01", ""];
        for (k, v) in overrides {
            f[RELATION_FIELDS.iter().position(|x| x == k).unwrap()] = v;
        }
        f
    }

    fn check(fields: [&str; 6]) -> Result<ValidRelation, Reason> {
        let legacy = LegacyCodes::parse(&format!("{LEGACY} # Fuzhou pilot\n"), "l").unwrap();
        let as_of = Day::parse("2026-11-20").unwrap();
        validate(&fields, as_of, &legacy).map_err(|(r, m)| {
            assert!(!m.is_empty());
            r
        })
    }

    #[test]
    fn reasons_table() {
        use Reason::*;
        type Case = (Vec<(&'static str, &'static str)>, Result<(), Reason>);
        let long = "R".repeat(MAX_FIELD_BYTES + 1);
        let long: &'static str = Box::leak(long.into_boxed_str());
        let cases: Vec<Case> = vec![
            (vec![], Ok(())),
            // Codes: the USCC reading for org, any §1 code for party.
            (vec![("org", "91350100MA2Y3K8L5H")], Err(BadCode)),
            (vec![("org", PERSON)], Err(BadCode)),
            (vec![("org", "350103720528151")], Err(BadCode)),
            (vec![("org", DIGIT_ORG)], Ok(())),
            (vec![("org", BOTH_WAYS)], Ok(())),
            (vec![("org", LEGACY)], Ok(())),
            (vec![("org", "91350100M0001TGQXN")], Err(BadCode)),
            (vec![("org", "9135A100MA2Y3K8L5G")], Err(BadCode)),
            (vec![("party", ORG)], Ok(())),
            (vec![("party", LEGACY)], Ok(())),
            (vec![("party", "350103720528151")], Ok(())),
            (vec![("party", "35010219850716213X")], Err(BadCode)),
            (vec![("party", "350102199902301234")], Err(BadCode)),
            // Required fields.
            (vec![("relation_id", "")], Err(MissingField)),
            (vec![("org", "")], Err(MissingField)),
            (vec![("party", "")], Err(MissingField)),
            (vec![("role", "")], Err(MissingField)),
            (vec![("from", "")], Err(MissingField)),
            (vec![("until", "")], Ok(())),
            // Roles are §8's names, exactly.
            (vec![("role", "chairman")], Err(UnknownRole)),
            (vec![("role", "Legal_Rep")], Err(UnknownRole)),
            (vec![("role", "shareholder")], Ok(())),
            // Dates.
            (vec![("from", "2020-02-30")], Err(BadDate)),
            (vec![("until", "2020/12/31")], Err(BadDate)),
            (vec![("from", "1969-12-31")], Err(BadDate)),
            (vec![("until", "2019-12-31")], Err(DateOrder)),
            (vec![("until", "2020-01-01")], Ok(())),
            // Precedence.
            (vec![("org", "X"), ("party", "Y")], Err(BadCode)),
            (vec![("party", "Y"), ("relation_id", "")], Err(BadCode)),
            (vec![("org", PERSON), ("role", "")], Err(BadCode)),
            (
                vec![("relation_id", ""), ("role", "boss")],
                Err(MissingField),
            ),
            (
                vec![("role", "boss"), ("from", "2020-13-01")],
                Err(UnknownRole),
            ),
            (
                vec![("from", "2020-13-01"), ("until", "2019-01-01")],
                Err(BadDate),
            ),
            (vec![("until", "2019-13-01")], Err(BadDate)),
            (vec![("relation_id", long), ("org", "X")], Err(MalformedRow)),
        ];
        for (over, want) in cases {
            let got = check(row(&over)).map(|_| ());
            assert_eq!(got, want, "{over:?}");
        }
    }

    #[test]
    fn kinds_normalisation_and_warnings() {
        let v = check(row(&[])).unwrap();
        assert_eq!((v.org_person, v.party_person), (false, true));
        assert_eq!(v.facts.role, Role::LegalRep);

        // All-digit org valid both ways: accepted, and a natural person.
        let v = check(row(&[("org", BOTH_WAYS)])).unwrap();
        assert!(v.org_person);
        let v = check(row(&[("org", DIGIT_ORG)])).unwrap();
        assert!(!v.org_person);

        // Codes are normalised; a 15-digit party ID is upgraded.
        let v = check(row(&[
            ("org", "\u{3000}９１３５０１００ma2y3k8l5g "),
            ("party", "350103720528151"),
        ]))
        .unwrap();
        assert_eq!(v.org.as_str(), ORG);
        assert_eq!(v.party.as_str(), "35010319720528151X");
        assert!(v.upgraded && v.party_person);

        // An organisation as party; the legacy code counted.
        let v = check(row(&[("party", LEGACY)])).unwrap();
        assert!(!v.party_person && v.legacy && !v.org_warning);
        // GB 11714 mismatch (char 17) on the org: a counted warning.
        let v = check(row(&[("org", "91350102MA2YN8KC7D")])).unwrap();
        assert!(v.org_warning && !v.legacy);
    }

    #[test]
    fn messages_say_which_code() {
        let msg = |over: &[(&str, &'static str)]| {
            let legacy = LegacyCodes::default();
            let as_of = Day::parse("2026-11-20").unwrap();
            validate(&row(over), as_of, &legacy).unwrap_err().1
        };
        assert!(msg(&[("org", PERSON)]).contains("citizen ID number"));
        assert!(msg(&[("party", "X")]).starts_with("party code"));
        assert!(msg(&[("role", "boss")]).contains("legal_rep"));
        assert!(msg(&[("until", "2019-12-31")]).contains("before from"));
    }

    /// Values near the valid ones: codes, dates, roles, and noise.
    fn field_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,20}",
            "[0-9]{15,18}",
            "9135[0-9]{4}[0-9A-Y]{10}",
            "(19[0-9]{2}|20[0-9]{2})-[01][0-9]-[0-3][0-9]",
            proptest::sample::select(vec![
                ORG,
                PERSON,
                DIGIT_ORG,
                BOTH_WAYS,
                LEGACY,
                "350103720528151",
                "legal_rep",
                "principal",
                "director",
                "shareholder",
                "2019-12-31",
                "2020-01-01",
            ])
            .prop_map(str::to_string),
        ]
    }

    proptest! {
        /// Arbitrary field values never panic; rows that differ from a good
        /// row in one field classify like the table's single-field cases.
        #[test]
        fn validate_never_panics(fields in proptest::array::uniform6("\\PC{0,20}")) {
            let f: [&str; 6] = std::array::from_fn(|i| fields[i].as_str());
            let _ = check(f);
        }

        #[test]
        fn one_field_classifies_like_the_table(i in 0usize..6, v in field_value()) {
            let mut f = row(&[]);
            f[i] = v.trim();
            let got = check(f);
            let v = f[i];
            let legacy = LegacyCodes::parse(&format!("{LEGACY}\n"), "l").unwrap();
            let as_of = Day::parse("2026-11-20").unwrap();
            let want: Result<(), Reason> = match i {
                F_RELATION_ID => if v.is_empty() { Err(Reason::MissingField) } else { Ok(()) },
                F_ORG | F_PARTY if v.is_empty() => Err(Reason::MissingField),
                F_ORG => {
                    let n = codes::normalize(v);
                    let ok = codes::parse_uscc(&n, as_of).is_ok() || legacy.contains(n.as_bytes());
                    if ok { Ok(()) } else { Err(Reason::BadCode) }
                }
                F_PARTY => {
                    let n = codes::normalize(v);
                    let ok = codes::parse(v, as_of).is_ok() || legacy.contains(n.as_bytes());
                    if ok { Ok(()) } else { Err(Reason::BadCode) }
                }
                F_ROLE if v.is_empty() => Err(Reason::MissingField),
                F_ROLE => Role::parse(v).map(|_| ()).ok_or(Reason::UnknownRole),
                F_FROM if v.is_empty() => Err(Reason::MissingField),
                F_FROM => match Day::parse(v) {
                    Ok(d) if d >= Day(0) => Ok(()),
                    _ => Err(Reason::BadDate),
                },
                _ if v.is_empty() => Ok(()),
                _ => match Day::parse(v) {
                    Ok(d) if d < Day(0) => Err(Reason::BadDate),
                    Ok(d) if d < Day::parse("2020-01-01").unwrap() => Err(Reason::DateOrder),
                    Ok(_) => Ok(()),
                    Err(_) => Err(Reason::BadDate),
                },
            };
            prop_assert_eq!(got.map(|_| ()), want, "field {} = {:?}", RELATION_FIELDS[i], v);
        }
    }
}
