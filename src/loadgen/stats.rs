//! What a load run measured: latency histograms (HDR, nanoseconds),
//! answers and codes in the measured window, what verification saw, and
//! failures counted by kind.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Latencies are recorded in nanoseconds, up to 10 minutes, with three
/// significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// Failures by kind, each with its count and first example.
#[derive(Clone, Debug, Default)]
pub struct Failures {
    total: u64,
    kinds: BTreeMap<&'static str, (u64, String)>,
}

impl Failures {
    /// Counts one failure of `kind`; `detail` (built only for the first of
    /// a kind) says what went wrong.
    pub fn add(&mut self, kind: &'static str, detail: impl FnOnce() -> String) {
        self.total += 1;
        match self.kinds.get_mut(kind) {
            Some(k) => k.0 += 1,
            None => {
                self.kinds.insert(kind, (1, detail()));
            }
        }
    }

    pub fn merge(&mut self, other: &Failures) {
        self.total += other.total;
        for (kind, (n, first)) in &other.kinds {
            self.kinds
                .entry(kind)
                .and_modify(|k| k.0 += n)
                .or_insert_with(|| (*n, first.clone()));
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// `(kind, count, first example)`, by kind.
    pub fn kinds(&self) -> impl Iterator<Item = (&'static str, u64, &str)> + '_ {
        self.kinds.iter().map(|(k, (n, d))| (*k, *n, d.as_str()))
    }
}

/// One run's counters; connections keep their own and merge them at the end.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Latency of the answers to requests sent in the measured window.
    pub latency: Histogram<u64>,
    /// Answers (frames or HTTP requests) completed in the measured window.
    pub answers: u64,
    /// Codes answered in the measured window.
    pub codes: u64,
    /// Answers verified, warm-up included.
    pub verified: u64,
    /// Hits verified, and those answered as listed (a list bit, a status
    /// other than `clear`, or a Redis member).
    pub hits: u64,
    pub hits_listed: u64,
    /// Misses verified (all answered 0 / `clear`, or a failure is counted).
    pub misses: u64,
    pub failures: Failures,
    /// When the last answer arrived.
    pub last_answer: Option<Instant>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            latency: latency_histogram(),
            answers: 0,
            codes: 0,
            verified: 0,
            hits: 0,
            hits_listed: 0,
            misses: 0,
            failures: Failures::default(),
            last_answer: None,
        }
    }

    pub fn record_latency(&mut self, d: Duration) {
        self.latency
            .saturating_record(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    pub fn merge(&mut self, o: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&o.latency);
        self.answers += o.answers;
        self.codes += o.codes;
        self.verified += o.verified;
        self.hits += o.hits;
        self.hits_listed += o.hits_listed;
        self.misses += o.misses;
        self.failures.merge(&o.failures);
        self.last_answer = self.last_answer.max(o.last_answer);
    }

    /// Share of hits answered as listed, in percent.
    pub fn listed_pct(&self) -> f64 {
        if self.hits == 0 {
            0.0
        } else {
            100.0 * self.hits_listed as f64 / self.hits as f64
        }
    }

    /// Counts a failure when hits were verified and too few of them came
    /// back listed: the daemon is serving another data set than the one
    /// named by `--snapshot-seed` and `--entries`.
    ///
    /// Not every hit is answered as listed: a listed subject whose entries
    /// are all out of effect on the date (revoked, expired, repaired) is
    /// answered `clear`, and about a tenth of the generated subjects are.
    pub fn check_listed_share(&mut self, min_pct: f64) {
        if self.hits >= MIN_HITS_FOR_SHARE && self.listed_pct() < min_pct {
            let (pct, hits) = (self.listed_pct(), self.hits);
            self.failures.add("hits not listed", || {
                format!(
                    "only {pct:.1}% of {hits} listed codes were answered as listed \
                     (expected at least {min_pct}%): is the daemon serving the data set \
                     of --snapshot-seed and --entries?"
                )
            });
        }
    }
}

/// Hits needed before [`Stats::check_listed_share`] judges.
const MIN_HITS_FOR_SHARE: u64 = 50;

/// Share of hits that must come back listed (see
/// [`Stats::check_listed_share`]).
pub const MIN_LISTED_PCT: f64 = 50.0;

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: h.mean() / 1000.0,
        }
    }

    /// `p50 … µs  p90 …  p99 …  p99.9 …  max …` for the human report.
    pub fn human(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}) µs",
            fmt_us(self.p50),
            fmt_us(self.p90),
            fmt_us(self.p99),
            fmt_us(self.p999),
            fmt_us(self.max),
            fmt_us(self.mean)
        )
    }

    /// `p50_us=… p90_us=… p99_us=… p999_us=… max_us=…` fields.
    pub fn fields(&self, out: &mut Vec<(&'static str, String)>) {
        out.push(("p50_us", format!("{:.1}", self.p50)));
        out.push(("p90_us", format!("{:.1}", self.p90)));
        out.push(("p99_us", format!("{:.1}", self.p99)));
        out.push(("p999_us", format!("{:.1}", self.p999)));
        out.push(("max_us", format!("{:.1}", self.max)));
    }
}

fn fmt_us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The final line a script parses: `RESULT k=v k=v …` (values have no
/// spaces).
pub fn result_line(fields: &[(&'static str, String)]) -> String {
    let mut s = String::from("RESULT");
    for (k, v) in fields {
        let _ = write!(s, " {k}={}", v.replace(char::is_whitespace, "_"));
    }
    s
}

/// A count with thin thousands separators for the human report
/// (`12 345 678`).
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The failures for the human report, one kind a line.
pub fn failure_lines(f: &Failures) -> Vec<String> {
    f.kinds()
        .map(|(kind, n, first)| format!("  {n} × {kind}: {first}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_by_kind_and_keep_the_first_example() {
        let mut a = Failures::default();
        a.add("closed", || "one".into());
        a.add("closed", || panic!("not built twice"));
        let mut b = Failures::default();
        b.add("bad", || "two".into());
        b.add("closed", || "three".into());
        a.merge(&b);
        assert_eq!(a.total(), 4);
        let kinds: Vec<_> = a.kinds().collect();
        assert_eq!(kinds, vec![("bad", 1, "two"), ("closed", 3, "one")]);
    }

    #[test]
    fn result_lines_and_numbers() {
        assert_eq!(
            result_line(&[("mode", "batch".into()), ("x", "a b".into())]),
            "RESULT mode=batch x=a_b"
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1234), "1 234");
        assert_eq!(grouped(12_345_678), "12 345 678");
    }

    #[test]
    fn percentiles_and_listed_share() {
        let mut s = Stats::new();
        for us in 1..=1000u64 {
            s.record_latency(Duration::from_micros(us));
        }
        let p = Percentiles::of(&s.latency);
        assert!(
            (p.p50 - 500.0).abs() < 2.0 && (p.max - 1000.0).abs() < 2.0,
            "{p:?}"
        );
        s.hits = 100;
        s.hits_listed = 10;
        s.check_listed_share(MIN_LISTED_PCT);
        assert_eq!(s.failures.total(), 1);
        let mut t = Stats::new();
        t.hits = 100;
        t.hits_listed = 90;
        t.check_listed_share(MIN_LISTED_PCT);
        assert_eq!(t.failures.total(), 0);
    }
}
