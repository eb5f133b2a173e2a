//! Deterministic generator of realistic list data at any scale (`credlist
//! gen`), for benchmarks and load tests.
//!
//! The same seed and size always give the same bytes: the random source is
//! a hand-written SplitMix64, whose output, unlike a library generator's,
//! cannot change under a dependency upgrade. Codes are derived from subject
//! numbers, so they are unique and valid by construction, and a load
//! generator can rebuild any subject's code (and codes of unlisted
//! subjects, for misses) from the seed alone.
//!
//! Mix (SPEC §7): 40% black, 40% red, 20% watch entries; 20% of subjects on
//! two or more lists; 70% organisations, 30% natural persons.
//!
//! Relations (SPEC §8, [`RelationStream`]): every listed organisation has a
//! legal representative, a third of them a second role, a tenth of the
//! parties are themselves listed subjects. Parties that are not listed get
//! codes of their own ([`party_code`]), in administrative divisions no
//! subject uses, so that they are never a subject's code or a load
//! generator's miss.

use crate::catalog::Catalog;
use crate::codes::{id_check_char, org_check_char, uscc_check_char, Code};
use crate::date::Day;
use crate::related::Role;
use std::io::Write;
use std::path::Path;

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const DIVISIONS: [&str; 12] = [
    "350100", "350200", "350500", "110101", "110105", "310101", "310115", "440103", "440305",
    "330106", "320102", "510104",
];
const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "林", "郑",
];
const GIVEN: [&str; 12] = [
    "伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "艳", "勇", "军", "杰",
];
const FIRM_WORDS: [&str; 12] = [
    "鑫源", "华信", "恒通", "海峡", "闽江", "榕城", "东方", "瑞丰", "金桥", "新宇", "天成", "宏达",
];
const FIRM_TRADES: [&str; 8] = [
    "建设工程",
    "贸易",
    "科技",
    "物流",
    "食品",
    "环保科技",
    "医药",
    "建材",
];
pub const AUTHORITIES: [&str; 10] = [
    "fz-court",
    "fz-tax",
    "fz-eco",
    "fz-amr",
    "fz-hrss",
    "fz-finance",
    "fz-housing",
    "fz-customs",
    "fz-transport",
    "fz-credit",
];

/// Whether subject `i` of a data set is a natural person (30%).
pub fn is_person(seed: u64, i: u64) -> bool {
    Rng::new(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407)).below(10) < 3
}

/// The code of subject number `i`: unique for `i` below 21.9 million;
/// numbers beyond the data set's subjects give valid codes on no list.
pub fn subject_code(seed: u64, i: u64) -> Code {
    let mut r = Rng::new(seed ^ i.wrapping_mul(0x9FB2_1C65_1E98_DF25));
    let division = DIVISIONS[r.below(DIVISIONS.len() as u64) as usize].as_bytes();
    let mut c = [0u8; 18];
    if is_person(seed, i) {
        // Birth dates over 60 years (1950-01-01 + 0..21 900 days) and the
        // sequence number from the high part of i: unique for i < 21.9 million.
        let day = Day(-7305 + (i % 21_900) as i32);
        let (y, m, d) = day.ymd();
        let seq = (i / 21_900) % 1000;
        let area = std::str::from_utf8(division).unwrap_or("350100");
        let s = format!("{area}{y:04}{m:02}{d:02}{seq:03}");
        c[..17].copy_from_slice(s.as_bytes());
        c[17] = id_check_char(&c[..17]);
    } else {
        c[0] = b'9';
        c[1] = b'1';
        c[2..8].copy_from_slice(division);
        // Organisation code body: 8 digits of i (unique below 10^8), the
        // first one a letter for i ≥ 10^8.
        let body = format!("{:08}", i % 100_000_000);
        c[8..16].copy_from_slice(body.as_bytes());
        if i >= 100_000_000 {
            c[8] = b"ABCDEFGHJK"[((i / 100_000_000) % 10) as usize];
        }
        c[16] = org_check_char(&c[8..16]).unwrap_or(b'0');
        c[17] = uscc_check_char(&c[..17]);
    }
    Code(c)
}

/// Size of a generated data set.
#[derive(Clone, Copy, Debug)]
pub struct GenOptions {
    pub entries: u64,
    pub seed: u64,
    pub as_of: Day,
    pub files: u32,
    /// Number of relations: `None` for the §8 mix over the listed
    /// organisations (see [`RelationStream`]), `Some(0)` for none.
    pub relations: Option<u64>,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default)]
pub struct GenReport {
    pub entries: u64,
    pub subjects: u64,
    pub by_kind: [u64; 3],
    pub multi_list_subjects: u64,
    pub relations: RelationReport,
}

/// What [`generate`] wrote of relations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelationReport {
    pub relations: u64,
    /// By role ([`Role`] order).
    pub by_role: [u64; 6],
    /// Relations whose party is a listed subject.
    pub listed_parties: u64,
    /// Relations whose party is an organisation.
    pub org_parties: u64,
    /// Relations that ended before the data date.
    pub ended: u64,
    /// Organisations with a legal representative.
    pub orgs_with_legal_rep: u64,
}

/// Number of subjects for `entries` entries: 80% of subjects have one
/// entry, 20% two or three (mean 2.25), so 1.25 entries per subject.
pub fn subjects_for(entries: u64) -> u64 {
    (entries * 4).div_ceil(5)
}

/// Writes `catalog.toml`, `lists/part-NNN.csv` and (unless
/// `opts.relations` is `Some(0)`) `relations/part-NNN.csv` into `dir`,
/// streaming.
pub fn generate(
    catalog: &Catalog,
    catalog_text: &str,
    opts: GenOptions,
    dir: &Path,
) -> std::io::Result<GenReport> {
    std::fs::create_dir_all(dir.join("lists"))?;
    std::fs::write(dir.join("catalog.toml"), catalog_text)?;
    let files = opts.files.max(1) as u64;
    let nsub = subjects_for(opts.entries).max(1);
    let mut rep = GenReport::default();
    let mut rng = Rng::new(opts.seed);
    let domains: Vec<&str> = catalog.domains.iter().map(|d| d.id.as_str()).collect();
    if domains.is_empty() {
        return Err(std::io::Error::other("the catalog has no domains"));
    }
    let mut written = 0u64;
    let mut subject = 0u64;
    for f in 0..files {
        let path = dir.join("lists").join(format!("part-{f:03}.csv"));
        let target = opts.entries * (f + 1) / files;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        writeln!(w, "entry_id,code,name,kind,domain,authority,basis,listed_on,valid_until,status,exited_on,watch_until")?;
        while written < target {
            let i = subject % nsub;
            subject += 1;
            let code = subject_code(opts.seed, i);
            let person = is_person(opts.seed, i);
            // 20% of subjects on two or more lists (2 or 3 entries).
            let n = if rng.chance(20) {
                2 + rng.chance(25) as u64
            } else {
                1
            };
            let n = n.min(target - written);
            if n >= 2 {
                rep.multi_list_subjects += 1;
            }
            let kinds = pick_kinds(&mut rng, n as usize);
            for &kind in kinds.iter().take(n as usize) {
                rep.by_kind[kind] += 1;
                write_row(
                    &mut w, &mut rng, opts, written, &code, person, kind, &domains,
                )?;
                written += 1;
            }
            rep.subjects += 1;
        }
        w.flush()?;
        w.get_ref().sync_all()?;
    }
    rep.entries = written;
    // The subjects written are 0 .. subjects (fewer than nsub when the
    // entries ran out first).
    let listed = rep.subjects.min(nsub);
    let count = match opts.relations {
        Some(n) => n,
        None => RelationStream::new(opts.seed, listed, opts.as_of).count() as u64,
    };
    if count > 0 {
        rep.relations = write_relations(opts, listed, count, dir)?;
    }
    Ok(rep)
}

/// Writes `count` relations of the subjects `0 .. listed` into
/// `relations/part-NNN.csv`, streaming.
fn write_relations(
    opts: GenOptions,
    listed: u64,
    count: u64,
    dir: &Path,
) -> std::io::Result<RelationReport> {
    std::fs::create_dir_all(dir.join("relations"))?;
    let files = opts.files.max(1) as u64;
    let mut rep = RelationReport::default();
    let mut stream = RelationStream::new(opts.seed, listed, opts.as_of).cycle_passes();
    let mut written = 0u64;
    for f in 0..files {
        let path = dir.join("relations").join(format!("part-{f:03}.csv"));
        let target = count * (f + 1) / files;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        writeln!(w, "relation_id,org,party,role,from,until")?;
        while written < target {
            let Some(r) = stream.next() else {
                return Err(std::io::Error::other(
                    "no organisation among the generated subjects to relate parties to",
                ));
            };
            rep.relations += 1;
            rep.by_role[r.role as usize] += 1;
            rep.listed_parties += r.party_listed as u64;
            rep.org_parties += r.party_org as u64;
            rep.ended += r.until.is_some_and(|u| u < opts.as_of) as u64;
            rep.orgs_with_legal_rep +=
                (r.role == Role::LegalRep && r.pass == 0 && !r.successor) as u64;
            let until = r.until.map(|d| d.to_string()).unwrap_or_default();
            writeln!(
                w,
                "R{written:010},{},{},{},{},{until}",
                r.org,
                r.party,
                r.role.as_str(),
                r.from
            )?;
            written += 1;
        }
        w.flush()?;
        w.get_ref().sync_all()?;
    }
    Ok(rep)
}

/// Administrative divisions of parties that are not listed: none is in
/// [`DIVISIONS`], so their codes are never a subject's.
const PARTY_DIVISIONS: [&str; 6] = ["350102", "350103", "350104", "350105", "350111", "350121"];

/// The code of unlisted party number `j`: a natural person's ID number, or
/// (`org`) an organisation's USCC. Unique for `j` below 131 million (per
/// kind), and never equal to a [`subject_code`].
pub fn party_code(j: u64, org: bool) -> Code {
    let area = PARTY_DIVISIONS[(j % 6) as usize].as_bytes();
    let k = j / 6;
    let mut c = [0u8; 18];
    if org {
        c[0] = b'9';
        c[1] = b'1';
        c[2..8].copy_from_slice(area);
        let body = format!("{:08}", k % 100_000_000);
        c[8..16].copy_from_slice(body.as_bytes());
        if k >= 100_000_000 {
            c[8] = b"ABCDEFGHJK"[((k / 100_000_000) % 10) as usize];
        }
        c[16] = org_check_char(&c[8..16]).unwrap_or(b'0');
        c[17] = uscc_check_char(&c[..17]);
    } else {
        // Born 1950-01-01 + 0..21 900 days, as subjects are.
        let day = Day(-7305 + (k % 21_900) as i32);
        let (y, m, d) = day.ymd();
        let seq = (k / 21_900) % 1000;
        let area = std::str::from_utf8(area).unwrap_or("350102");
        let s = format!("{area}{y:04}{m:02}{d:02}{seq:03}");
        c[..17].copy_from_slice(s.as_bytes());
        c[17] = id_check_char(&c[..17]);
    }
    Code(c)
}

/// One generated relation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenRelation {
    pub org: Code,
    pub party: Code,
    pub role: Role,
    pub from: Day,
    pub until: Option<Day>,
    /// The party is a listed subject.
    pub party_listed: bool,
    /// The party is an organisation (a shareholder).
    pub party_org: bool,
    /// Which pass over the organisations (0: the §8 mix; later passes add
    /// further roles when more relations are asked for).
    pub pass: u32,
    /// A legal representative who took over from one whose term ended.
    pub successor: bool,
}

/// The relations of a generated data set, one at a time and in a fixed
/// order (nothing is held but the current organisation's): for each
/// organisation among the subjects `0 .. listed`, a legal representative
/// (15% of them a former one, followed by the successor who took over the
/// next day), and for a third of them a second role (principal, manager,
/// director, shareholder or professional). A tenth of the parties are
/// listed subjects, the rest unlisted ([`party_code`]); 40% of shareholders
/// are organisations. Of the second roles, 20% ended before the data date.
///
/// [`RelationStream::cycle_passes`] goes on over the organisations again,
/// with second roles only, for as many relations as asked.
pub struct RelationStream {
    seed: u64,
    listed: u64,
    as_of: Day,
    rng: Rng,
    /// Next subject number to look at.
    next: u64,
    pass: u32,
    cycle: bool,
    /// Some subject of `0 .. listed` is an organisation.
    has_org: bool,
    /// Relations of the current organisation not yet yielded.
    pending: Vec<GenRelation>,
    /// Unlisted parties handed out so far (their numbers).
    parties: u64,
}

impl RelationStream {
    /// One pass of the §8 mix over the organisations among `0 .. listed`.
    pub fn new(seed: u64, listed: u64, as_of: Day) -> RelationStream {
        RelationStream {
            seed,
            listed,
            as_of,
            // Apart from the entries' generator: their bytes do not change.
            rng: Rng::new(seed ^ 0x5EED_0F4E_1A71_05C3),
            next: 0,
            pass: 0,
            cycle: false,
            // Found at once unless there is none (70% are organisations).
            has_org: (0..listed).any(|i| !is_person(seed, i)),
            pending: Vec::with_capacity(4),
            parties: 0,
        }
    }

    /// Goes on past the first pass without end (while there is an
    /// organisation at all).
    pub fn cycle_passes(mut self) -> RelationStream {
        self.cycle = true;
        self
    }

    /// A party for a relation and whether it is listed: 10% a listed
    /// subject (a person, or an organisation when `org`; an unlisted one
    /// when none of that kind turns up in a few draws), else unlisted.
    fn party(&mut self, org: bool) -> (Code, bool) {
        if self.rng.chance(10) {
            for _ in 0..32 {
                let i = self.rng.below(self.listed);
                if is_person(self.seed, i) != org {
                    return (subject_code(self.seed, i), true);
                }
            }
        }
        let j = self.parties;
        self.parties += 1;
        (party_code(j, org), false)
    }

    /// A start day up to 15 years before the data date.
    fn from(&mut self) -> Day {
        self.as_of.plus(-(self.rng.below(15 * 365) as i32))
    }

    /// Fills `pending` with the relations of organisation `org`.
    fn relations_of(&mut self, org: Code) {
        let rel =
            |party: (Code, bool), role, from, until, party_org, pass, successor| GenRelation {
                org,
                party: party.0,
                role,
                from,
                until,
                party_listed: party.1,
                party_org,
                pass,
                successor,
            };
        let pass = self.pass;
        if pass == 0 {
            let from = self.from();
            if self.rng.chance(15) && from < self.as_of.plus(-1) {
                // A former legal representative and the successor.
                let span = (self.as_of.0 - from.0) as u64;
                let until = from.plus(self.rng.below(span - 1) as i32);
                let p = self.party(false);
                self.pending.push(rel(
                    p,
                    Role::LegalRep,
                    from,
                    Some(until),
                    false,
                    pass,
                    false,
                ));
                let p = self.party(false);
                self.pending.push(rel(
                    p,
                    Role::LegalRep,
                    until.plus(1),
                    None,
                    false,
                    pass,
                    true,
                ));
            } else {
                let p = self.party(false);
                self.pending
                    .push(rel(p, Role::LegalRep, from, None, false, pass, false));
            }
        }
        if pass > 0 || self.rng.below(3) == 0 {
            const SECOND: [Role; 5] = [
                Role::Principal,
                Role::Manager,
                Role::Director,
                Role::Shareholder,
                Role::Professional,
            ];
            let role = SECOND[self.rng.below(5) as usize];
            let party_org = role == Role::Shareholder && self.rng.chance(40);
            let p = self.party(party_org);
            let from = self.from();
            let until = (self.rng.chance(20) && from < self.as_of)
                .then(|| from.plus(self.rng.below((self.as_of.0 - from.0) as u64) as i32));
            self.pending
                .push(rel(p, role, from, until, party_org, pass, false));
        }
        // Yielded in the order pushed.
        self.pending.reverse();
    }
}

impl Iterator for RelationStream {
    type Item = GenRelation;

    fn next(&mut self) -> Option<GenRelation> {
        loop {
            if let Some(r) = self.pending.pop() {
                return Some(r);
            }
            if self.next >= self.listed {
                // Another pass without an organisation would never yield.
                if !self.cycle || !self.has_org {
                    return None;
                }
                self.next = 0;
                self.pass += 1;
            }
            let i = self.next;
            self.next += 1;
            if !is_person(self.seed, i) {
                self.relations_of(subject_code(self.seed, i));
            }
        }
    }
}

/// Kinds (0 black, 1 watch, 2 red) of a subject's `n` entries, all
/// different. Multi-list subjects draw without replacement with weights
/// 4:2:4, which raises their watch share; single-list subjects draw watch
/// at 16.25% so that the overall mix stays 40% black, 40% red, 20% watch.
fn pick_kinds(rng: &mut Rng, n: usize) -> [usize; 3] {
    if n == 1 {
        let k = match rng.below(10_000) {
            0..=4187 => 0,
            4188..=8374 => 2,
            _ => 1,
        };
        return [k, k, k];
    }
    let mut out = [0usize; 3];
    let mut left: Vec<(usize, u64)> = vec![(0, 4), (1, 2), (2, 4)];
    for slot in out.iter_mut() {
        let total: u64 = left.iter().map(|x| x.1).sum();
        let mut r = rng.below(total);
        let i = left
            .iter()
            .position(|x| {
                if r < x.1 {
                    true
                } else {
                    r -= x.1;
                    false
                }
            })
            .unwrap_or(0);
        *slot = left.remove(i).0;
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn write_row(
    w: &mut impl Write,
    rng: &mut Rng,
    opts: GenOptions,
    n: u64,
    code: &Code,
    person: bool,
    kind: usize,
    domains: &[&str],
) -> std::io::Result<()> {
    let kind_s = ["black", "watch", "red"][kind];
    let domain = domains[rng.below(domains.len() as u64) as usize];
    let authority = AUTHORITIES[rng.below(AUTHORITIES.len() as u64) as usize];
    let name = if person {
        format!(
            "{}{}{}",
            SURNAMES[rng.below(12) as usize],
            GIVEN[rng.below(12) as usize],
            GIVEN[rng.below(12) as usize]
        )
    } else {
        format!(
            "福州{}{}有限公司",
            FIRM_WORDS[rng.below(12) as usize],
            FIRM_TRADES[rng.below(8) as usize]
        )
    };
    let listed = opts.as_of.plus(-(rng.below(3 * 365) as i32));
    let mut valid_until = (rng.chance(50)).then(|| listed.plus(365 + rng.below(3 * 365) as i32));
    let roll = rng.below(100);
    let (status, exited_on) = match roll {
        0..=2 => ("objection", None),
        3..=4 => ("revoked", None),
        5..=7 => ("repaired", Some(listed.plus(30 + rng.below(300) as i32))),
        8..=9 => {
            valid_until = Some(listed.plus(rng.below(360) as i32));
            ("expired", None)
        }
        _ => ("active", None),
    };
    // Some black entries name the end of their watch period after exit.
    let exit = match (valid_until, exited_on) {
        (Some(v), Some(x)) => Some(v.plus(1).min(x)),
        (v, x) => v.map(|v| v.plus(1)).or(x),
    };
    let watch_until = exit
        .filter(|_| kind == 0 && status != "revoked" && rng.chance(20))
        .map(|x| x.plus(30 + rng.below(700) as i32));
    let day = |d: Option<Day>| d.map(|d| d.to_string()).unwrap_or_default();
    writeln!(
        w,
        "E{:010},{},{},{},{},{},{}〔{}〕{}号,{},{},{},{},{}",
        n,
        code,
        name,
        kind_s,
        domain,
        authority,
        authority,
        listed.ymd().0,
        n % 997 + 1,
        listed,
        day(valid_until),
        status,
        day(exited_on),
        day(watch_until),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{parse, CodeKind};

    #[test]
    fn subject_codes_are_valid_unique_and_typed() {
        let as_of = Day::parse("2026-11-21").unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in (0..200_000u64)
            .chain(21_800_000..21_800_010)
            .chain(99_999_990..100_000_010)
        {
            let c = subject_code(7, i);
            let p = parse(c.as_str(), as_of).unwrap_or_else(|e| panic!("{i}: {c}: {e}"));
            assert!(p.warning.is_none(), "{c}");
            assert_eq!(p.kind == CodeKind::Person, is_person(7, i), "{c}");
            assert!(seen.insert(c), "duplicate code {c} at {i}");
        }
    }

    #[test]
    fn deterministic_and_mixed() {
        let cat = Catalog::from_toml(
            "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
            "t",
        )
        .unwrap();
        let opts = GenOptions {
            entries: 20_000,
            seed: 42,
            as_of: Day::parse("2026-11-20").unwrap(),
            files: 3,
            relations: Some(0),
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ra = generate(&cat, "", opts, a.path()).unwrap();
        generate(&cat, "", opts, b.path()).unwrap();
        for f in 0..3 {
            let name = format!("lists/part-{f:03}.csv");
            assert_eq!(
                std::fs::read(a.path().join(&name)).unwrap(),
                std::fs::read(b.path().join(&name)).unwrap()
            );
        }
        assert_eq!(ra.entries, 20_000);
        let share = |k: usize| ra.by_kind[k] as f64 / ra.entries as f64;
        assert!(
            (share(0) - 0.4).abs() < 0.03
                && (share(2) - 0.4).abs() < 0.03
                && (share(1) - 0.2).abs() < 0.03,
            "{:?}",
            ra.by_kind
        );
        let multi = ra.multi_list_subjects as f64 / ra.subjects as f64;
        assert!((multi - 0.2).abs() < 0.02, "{multi}");
        assert!(!a.path().join("relations").exists());
    }

    #[test]
    fn party_codes_are_valid_unique_and_never_subjects() {
        let as_of = Day::parse("2026-11-21").unwrap();
        let mut seen = std::collections::HashSet::new();
        for j in (0..100_000u64).chain(599_999_990..600_000_010) {
            for org in [false, true] {
                let c = party_code(j, org);
                let p = parse(c.as_str(), as_of).unwrap_or_else(|e| panic!("{j}: {c}: {e}"));
                assert!(p.warning.is_none(), "{c}");
                assert_eq!(p.kind == CodeKind::Org, org, "{c}");
                assert!(
                    !DIVISIONS.contains(&&c.as_str()[..6])
                        && !DIVISIONS.contains(&&c.as_str()[2..8])
                );
                assert!(seen.insert(c), "duplicate party code {c} at {j}");
            }
        }
    }

    /// The §8 mix, checked on the relations as written, and that a build
    /// accepts every row.
    #[test]
    fn relations_follow_the_mix_and_build_cleanly() {
        let cat = Catalog::from_toml(
            "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
            "t",
        )
        .unwrap();
        let as_of = Day::parse("2026-11-20").unwrap();
        let opts = GenOptions {
            entries: 20_000,
            seed: 42,
            as_of,
            files: 3,
            relations: None,
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ra = generate(&cat, "", opts, a.path()).unwrap();
        let rb = generate(&cat, "", opts, b.path()).unwrap();
        assert_eq!(ra.relations, rb.relations);
        for f in 0..3 {
            let name = format!("relations/part-{f:03}.csv");
            assert_eq!(
                std::fs::read(a.path().join(&name)).unwrap(),
                std::fs::read(b.path().join(&name)).unwrap()
            );
        }
        let r = &ra.relations;
        let orgs = (0..ra.subjects.min(subjects_for(opts.entries)))
            .filter(|&i| !is_person(42, i))
            .count() as u64;
        assert_eq!(
            r.orgs_with_legal_rep, orgs,
            "every organisation a legal representative"
        );
        let second = r.relations - r.by_role[Role::LegalRep as usize];
        let share = |n: u64, of: u64| n as f64 / of as f64;
        assert!((share(second, orgs) - 1.0 / 3.0).abs() < 0.02, "{r:?}");
        assert!(
            (share(r.listed_parties, r.relations) - 0.1).abs() < 0.02,
            "{r:?}"
        );
        assert!(r.org_parties > 0 && r.ended > 0, "{r:?}");
        assert!(r.by_role.iter().all(|&n| n > 0), "{r:?}");

        // Every row builds.
        let snap = a.path().join("s.snap");
        let bo = crate::build::BuildOptions {
            catalog: a.path().join("catalog.toml"),
            out: snap,
            as_of,
            encoding: Default::default(),
            legacy_codes: None,
            max_reject_ratio: 0.0,
            rejects: None,
            inputs: vec![a.path().join("lists")],
            relations: vec![a.path().join("relations")],
        };
        std::fs::write(
            &bo.catalog,
            "[[domain]]\nid = \"court\"\nname = \"c\"\n[[domain]]\nid = \"tax\"\nname = \"t\"\n",
        )
        .unwrap();
        let built = crate::build::run(&bo, &crate::build::NoProgress).unwrap();
        assert_eq!(
            built.stats.rejected_total(),
            0,
            "{:?}",
            built.stats.rejected
        );
        assert_eq!(built.stats.relations(), r.relations);
        assert_eq!(built.stats.relations_by_role, r.by_role);

        // An explicit count, more than one pass: exactly that many, the
        // extra ones second roles.
        let c = tempfile::tempdir().unwrap();
        let n = r.relations * 2 + 7;
        let rc = generate(
            &cat,
            "",
            GenOptions {
                relations: Some(n),
                ..opts
            },
            c.path(),
        )
        .unwrap();
        assert_eq!(rc.relations.relations, n);
        assert_eq!(rc.relations.orgs_with_legal_rep, orgs);
        let lines: usize = (0..3)
            .map(|f| {
                let t =
                    std::fs::read_to_string(c.path().join(format!("relations/part-{f:03}.csv")))
                        .unwrap();
                t.lines().count() - 1
            })
            .sum();
        assert_eq!(lines as u64, n);
    }
}
