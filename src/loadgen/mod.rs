//! Load generation against a running daemon (`credlist bench`), and against
//! Redis for a side-by-side figure (SPEC §7).
//!
//! The codes come from the deterministic generator ([`crate::gen`]): for a
//! data set of `entries` entries generated with seed `S`, subject `i` has
//! the code `subject_code(S, i)`, and subjects `0 .. subjects_for(entries)`
//! are the listed ones. A *hit* is such a code, a *miss* is the code of a
//! subject number past them: valid, and on no list. A [`Pool`] of codes is
//! drawn once before a run (about a million codes, so lookups miss the
//! caches as a real bulk check does) and sent over and over.
//!
//! - [`pipeline`]: frames of codes sent pipelined on a few connections,
//!   several frames in flight each: the batch socket
//!   ([`pipeline::CredlistBatch`]) and Redis `SMISMEMBER`
//!   ([`pipeline::RedisSmismember`]), through the same machinery so that
//!   their figures compare;
//! - [`check`]: `POST /v1/check` over HTTP/1.1 keep-alive at a target
//!   request rate, paced open-loop on every connection so that latency
//!   includes the time a request waited behind a slow answer;
//! - [`stats`]: latency histograms, failure counts and the report.
//!
//! Runs are bounded in time ([`MAX_DURATION`]) and reuse their buffers: the
//! frames are encoded once, answers are decoded in place.

pub mod check;
pub mod pipeline;
pub mod stats;
mod timer;

use crate::check::CODE_LEN;
use crate::codes::Code;
use crate::gen::{subject_code, subjects_for, Rng};
use rayon::prelude::*;
use std::time::Duration;

/// Longest run accepted (`--duration`, and the time limit of `--frames`).
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// Subject numbers below this give unique codes (see
/// [`crate::gen::subject_code`]); misses are drawn below it.
const UNIQUE_SUBJECTS: u64 = 21_900_000;

/// Parses a duration: `10s`, `1500ms`, `2m`, `250us`, or plain seconds
/// (`10`, `0.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        u => return Err(format!("unknown unit {u:?} in {s:?} (use us, ms, s or m)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a duration"));
    }
    let d = Duration::from_secs_f64(secs);
    if d > MAX_DURATION {
        return Err(format!(
            "{s:?} is longer than the limit of {} s",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// The codes of a generated data set: which are listed, which are not.
#[derive(Clone, Copy, Debug)]
pub struct CodeSet {
    pub seed: u64,
    /// Subjects `0 .. listed` are on the lists.
    pub listed: u64,
    /// Misses are subjects `listed .. listed + unlisted`.
    unlisted: u64,
}

impl CodeSet {
    /// The code set of `entries` entries generated with `seed`.
    pub fn new(seed: u64, entries: u64) -> Result<CodeSet, String> {
        let listed = subjects_for(entries);
        if listed == 0 {
            return Err("--entries must be at least 1".into());
        }
        if listed >= UNIQUE_SUBJECTS {
            return Err(format!(
                "{entries} entries leave no room for unlisted codes (at most {} entries)",
                UNIQUE_SUBJECTS * 5 / 4 - 1
            ));
        }
        Ok(CodeSet {
            seed,
            listed,
            unlisted: listed.min(UNIQUE_SUBJECTS - listed),
        })
    }

    /// A listed code, chosen by `r`.
    pub fn hit(&self, r: u64) -> Code {
        subject_code(self.seed, r % self.listed)
    }

    /// A valid code on no list, chosen by `r`.
    pub fn miss(&self, r: u64) -> Code {
        subject_code(self.seed, self.listed + r % self.unlisted)
    }

    /// Every listed code, in subject order.
    pub fn listed_codes(&self) -> impl Iterator<Item = Code> + '_ {
        (0..self.listed).map(|i| subject_code(self.seed, i))
    }
}

/// Codes drawn once for a run, each known to be a hit or a miss.
pub struct Pool {
    /// `len × 18` bytes.
    pub codes: Vec<u8>,
    pub hits: Vec<bool>,
}

impl Pool {
    /// `n` codes, each a hit with probability `hit_ratio`; the same
    /// arguments always draw the same codes.
    pub fn draw(set: &CodeSet, n: usize, hit_ratio: f64) -> Pool {
        let drawn: Vec<(Code, bool)> = (0..n as u64)
            .into_par_iter()
            .map(|i| {
                let mut r = Rng::new(0xC0DE_5EED ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93));
                let hit = (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= hit_ratio
                    && hit_ratio > 0.0;
                let pick = r.next_u64();
                (if hit { set.hit(pick) } else { set.miss(pick) }, hit)
            })
            .collect();
        let mut codes = Vec::with_capacity(n * CODE_LEN);
        let mut hits = Vec::with_capacity(n);
        for (c, h) in drawn {
            codes.extend_from_slice(&c.0);
            hits.push(h);
        }
        Pool { codes, hits }
    }

    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// The bytes of code `i`.
    pub fn code(&self, i: usize) -> &[u8] {
        &self.codes[i * CODE_LEN..(i + 1) * CODE_LEN]
    }
}

/// Waits for every connection task and hands each result to `each`. Tasks
/// still running at `hard` are aborted and counted as a failure: every
/// connection ends by itself, so this bound only guards against a bug.
pub(crate) async fn join_connections<T: 'static>(
    tasks: &mut tokio::task::JoinSet<T>,
    hard: tokio::time::Instant,
    failures: &mut stats::Failures,
    mut each: impl FnMut(T),
) {
    loop {
        match tokio::time::timeout_at(hard, tasks.join_next()).await {
            Ok(Some(Ok(v))) => each(v),
            Ok(Some(Err(e))) => failures.add("connection task failed", || e.to_string()),
            Ok(None) => break,
            Err(_) => {
                let left = tasks.len();
                failures.add("run did not end", || {
                    format!("{left} connections still busy at the hard time limit")
                });
                tasks.abort_all();
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("11m").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10h").is_err());
    }

    #[test]
    fn pools_are_deterministic_and_mixed() {
        let set = CodeSet::new(1, 10_000).unwrap();
        let a = Pool::draw(&set, 4000, 0.5);
        let b = Pool::draw(&set, 4000, 0.5);
        assert_eq!(a.codes, b.codes);
        let hits = a.hits.iter().filter(|&&h| h).count();
        assert!((1800..2200).contains(&hits), "{hits}");
        let listed: std::collections::HashSet<Code> = set.listed_codes().collect();
        for i in 0..a.len() {
            let c = Code(a.code(i).try_into().unwrap());
            assert_eq!(listed.contains(&c), a.hits[i], "{c}");
        }
        assert!(Pool::draw(&set, 100, 0.0).hits.iter().all(|&h| !h));
        assert!(Pool::draw(&set, 100, 1.0).hits.iter().all(|&h| h));
    }
}
