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

use crate::catalog::Catalog;
use crate::codes::{id_check_char, org_check_char, uscc_check_char, Code};
use crate::date::Day;
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
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default)]
pub struct GenReport {
    pub entries: u64,
    pub subjects: u64,
    pub by_kind: [u64; 3],
    pub multi_list_subjects: u64,
}

/// Number of subjects for `entries` entries: 80% of subjects have one
/// entry, 20% two or three (mean 2.25), so 1.25 entries per subject.
pub fn subjects_for(entries: u64) -> u64 {
    (entries * 4).div_ceil(5)
}

/// Writes `catalog.toml` and `lists/part-NNN.csv` into `dir`, streaming.
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
    Ok(rep)
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
    }
}
