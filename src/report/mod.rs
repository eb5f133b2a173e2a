//! `credlist report` (跟踪问效, SPEC §9): what the audit registers say about
//! checks, the measures their answers named, and the feedback on them.
//!
//! # Definitions (SPEC §9)
//!
//! - A *check* is a check record (a `/v1/check` answered 200) whose day —
//!   its time's date in Asia/Shanghai — is in the period; `subjects` its
//!   items that are valid and answered (status `black`, `watch`, `red` or
//!   `clear`), `listed` those not `clear`.
//! - A *triggered measure* is a (receipt, code, measure) named in
//!   `must_apply` or `rewards` of a check in the period; one named in
//!   `may_apply` is *discretionary*. A triple named twice (the same code
//!   twice in one request) counts once.
//! - The last feedback on a triple (latest record time; ties: the later in
//!   merge order, see [`read::register_files`]) decides `applied` or
//!   `not_applied`; none: `no_feedback`. Feedback counts whatever its day.
//! - `unmatched_feedback`: feedback records naming a triple no check record
//!   of the registers names, whatever the period.
//! - Per authority, a triggered measure counts once for each distinct
//!   authority among its triggering entries.
//! - Batch frames in the period count in `batch_frames`, their codes in
//!   `batch_codes`.
//! - 应查必查: an approval is *checked* when a check record by its client,
//!   for its matter, names its code on a day within `decided_on −
//!   window_days … decided_on`. Checks are matched whatever the period:
//!   a check made before `--from` still shows the approval was checked.
//!
//! # Memory
//!
//! The registers are streamed, line by line, once. What is kept is one
//! small entry per (receipt, code, measure) triple named by a check or by
//! feedback (its 128-bit xxh3 digest as the key: 32 bytes and the table's
//! overhead), names interned once each, the approvals, and a count per
//! day. Memory therefore follows the number of triples, not the size of
//! the files. (Two distinct triples share a digest with a probability of
//! about n² / 2¹²⁹: never, at any register size.)

pub mod approvals;
pub mod html;
pub mod read;
pub mod svg;
pub mod text;

use crate::date::Day;
use approvals::Approval;
use read::{shanghai_day, Record, Warning};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default of `--window-days`.
pub const DEFAULT_WINDOW_DAYS: u32 = 30;
/// Warnings kept with their text; the rest are only counted.
pub const WARNINGS_KEPT: usize = 100;

/// What to report on.
#[derive(Clone, Debug)]
pub struct Options {
    pub from: Option<Day>,
    pub to: Option<Day>,
    pub approvals: Option<PathBuf>,
    pub window_days: u32,
}

/// Why no report can be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Read(#[from] read::ReadError),
    #[error(transparent)]
    Approvals(#[from] approvals::ApprovalsError),
    #[error("--from {from} is after --to {to}")]
    Period { from: Day, to: Day },
}

/// The report: its serialised form is the JSON of SPEC §9, exactly.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub period: Period,
    pub totals: Totals,
    pub clients: Vec<ClientRow>,
    pub measures: Vec<MeasureRow>,
    pub authorities: Vec<AuthorityRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub must_query: Option<MustQuery>,
    /// Checks per day of the period (for the page's chart).
    #[serde(skip)]
    pub checks_per_day: Vec<(Day, u64)>,
    /// The files read, in merge order.
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// Lines not taken as records (the first [`WARNINGS_KEPT`]) and notes on
    /// the approvals file.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// All such lines, counted.
    #[serde(skip)]
    pub warning_count: u64,
    #[serde(skip)]
    pub window_days: u32,
}

/// The period asked for; without `--from` / `--to`, the first / last day of
/// the checks and batch frames read (`null` when there are none).
#[derive(Clone, Debug, Serialize)]
pub struct Period {
    pub from: Option<Day>,
    pub to: Option<Day>,
}

/// Outcomes of triggered measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    pub triggered: u64,
    pub applied: u64,
    pub not_applied: u64,
    pub no_feedback: u64,
}

impl Outcomes {
    fn add(&mut self, o: Outcome) {
        self.triggered += 1;
        match o {
            Outcome::Applied => self.applied += 1,
            Outcome::NotApplied => self.not_applied += 1,
            Outcome::NoFeedback => self.no_feedback += 1,
        }
    }
    /// applied / triggered, `None` when nothing was triggered.
    pub fn rate(&self) -> Option<f64> {
        (self.triggered > 0).then(|| self.applied as f64 / self.triggered as f64)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub checks: u64,
    pub subjects: u64,
    pub listed: u64,
    pub triggered: u64,
    pub discretionary: u64,
    pub discretionary_applied: u64,
    pub applied: u64,
    pub not_applied: u64,
    pub no_feedback: u64,
    pub rate: Option<f64>,
    pub unmatched_feedback: u64,
    pub batch_frames: u64,
    pub batch_codes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientRow {
    pub client: String,
    pub matter: String,
    pub checks: u64,
    pub subjects: u64,
    pub listed: u64,
    #[serde(flatten)]
    pub outcomes: Outcomes,
    pub rate: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MeasureRow {
    pub measure: String,
    #[serde(flatten)]
    pub outcomes: Outcomes,
    pub rate: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuthorityRow {
    pub authority: String,
    #[serde(flatten)]
    pub outcomes: Outcomes,
    pub rate: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MustQuery {
    pub approvals: u64,
    pub checked: u64,
    pub unchecked: Vec<Approval>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Applied,
    NotApplied,
    NoFeedback,
}

/// Strings seen once, numbered.
#[derive(Default)]
struct Names {
    ids: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }
}

/// What a check named about one triple.
#[derive(Clone, Copy)]
struct Named {
    /// In the period: counted; else only known (for `unmatched_feedback`).
    counted: bool,
    discretionary: bool,
    /// (client, matter) group.
    group: u32,
    measure: u32,
    /// The set of distinct authorities, interned (a measure only ever
    /// named in `may_apply` gets no row in `measures` or `authorities`).
    authorities: u32,
}

/// The last feedback on one triple.
#[derive(Clone, Copy)]
struct Last {
    time_ms: i64,
    applied: bool,
    records: u32,
}

#[derive(Default)]
struct GroupCounts {
    checks: u64,
    subjects: u64,
    listed: u64,
}

/// The state of one pass over the registers.
struct Tally<'o> {
    opts: &'o Options,
    named: FxHashMap<u128, Named>,
    feedback: FxHashMap<u128, Last>,
    clients: Names,
    matters: Names,
    measures: Names,
    authorities: Names,
    /// Interned sets of authority ids.
    authority_sets: Vec<Vec<u32>>,
    authority_set_ids: FxHashMap<Vec<u32>, u32>,
    groups: FxHashMap<(u32, u32), u32>,
    group_keys: Vec<(u32, u32)>,
    group_counts: Vec<GroupCounts>,
    totals: Totals,
    per_day: BTreeMap<Day, u64>,
    first_day: Option<Day>,
    last_day: Option<Day>,
    approvals: Vec<Approval>,
    checked: Vec<bool>,
    /// (client, matter, code) digest → approvals with that key.
    approval_keys: FxHashMap<u128, Vec<u32>>,
    warnings: Vec<String>,
    warning_count: u64,
    key_buf: Vec<u8>,
}

fn digest(buf: &mut Vec<u8>, parts: [&[u8]; 3]) -> u128 {
    buf.clear();
    for p in parts {
        buf.extend_from_slice(p);
        buf.push(0xFF); // never in UTF-8: the parts cannot run together
    }
    xxhash_rust::xxh3::xxh3_128(buf)
}

impl Tally<'_> {
    fn in_period(&self, day: Day) -> bool {
        self.opts.from.is_none_or(|f| day >= f) && self.opts.to.is_none_or(|t| day <= t)
    }

    fn saw_day(&mut self, day: Day) {
        self.first_day = Some(self.first_day.map_or(day, |d| d.min(day)));
        self.last_day = Some(self.last_day.map_or(day, |d| d.max(day)));
    }

    fn group(&mut self, client: &str, matter: &str) -> u32 {
        let key = (self.clients.id(client), self.matters.id(matter));
        if let Some(&g) = self.groups.get(&key) {
            return g;
        }
        let g = self.group_keys.len() as u32;
        self.groups.insert(key, g);
        self.group_keys.push(key);
        self.group_counts.push(GroupCounts::default());
        g
    }

    fn authority_set(&mut self, names: &[std::borrow::Cow<'_, str>]) -> u32 {
        let mut set: Vec<u32> = names.iter().map(|a| self.authorities.id(a)).collect();
        set.sort_unstable();
        set.dedup();
        if let Some(&i) = self.authority_set_ids.get(&set) {
            return i;
        }
        let i = self.authority_sets.len() as u32;
        self.authority_sets.push(set.clone());
        self.authority_set_ids.insert(set, i);
        i
    }

    fn record(&mut self, rec: Record<'_>) {
        let day = shanghai_day(rec.time_ms());
        match rec {
            Record::Batch { count, .. } => {
                if self.in_period(day) {
                    self.saw_day(day);
                    self.totals.batch_frames += 1;
                    self.totals.batch_codes += count;
                }
            }
            Record::Feedback {
                time_ms,
                receipt,
                code,
                measure,
                applied,
            } => {
                let key = digest(
                    &mut self.key_buf,
                    [receipt.as_bytes(), code.as_bytes(), measure.as_bytes()],
                );
                let last = self.feedback.entry(key).or_insert(Last {
                    time_ms,
                    applied,
                    records: 0,
                });
                last.records += 1;
                // Files are read in merge order: on equal times the later wins.
                if time_ms >= last.time_ms {
                    last.time_ms = time_ms;
                    last.applied = applied;
                }
            }
            Record::Check {
                client,
                matter,
                receipt,
                items,
                ..
            } => self.check(day, &client, &matter, &receipt, &items),
        }
    }

    fn check(
        &mut self,
        day: Day,
        client: &str,
        matter: &str,
        receipt: &str,
        items: &[read::RawItem<'_>],
    ) {
        if !self.approval_keys.is_empty() {
            for it in items {
                let key = digest(
                    &mut self.key_buf,
                    [client.as_bytes(), matter.as_bytes(), it.code.as_bytes()],
                );
                if let Some(list) = self.approval_keys.get(&key) {
                    for &a in list {
                        let d = self.approvals[a as usize].decided_on;
                        if day <= d && day >= d.plus(-(self.opts.window_days as i32)) {
                            self.checked[a as usize] = true;
                        }
                    }
                }
            }
        }
        let counted = self.in_period(day);
        let group = if counted {
            self.saw_day(day);
            *self.per_day.entry(day).or_default() += 1;
            self.totals.checks += 1;
            let g = self.group(client, matter);
            let gc = &mut self.group_counts[g as usize];
            gc.checks += 1;
            for it in items {
                match &*it.status {
                    "black" | "watch" | "red" => {
                        gc.subjects += 1;
                        gc.listed += 1;
                    }
                    "clear" => gc.subjects += 1,
                    _ => {}
                }
            }
            g
        } else {
            u32::MAX
        };
        for it in items {
            let lists = [
                (&it.must_apply, false),
                (&it.rewards, false),
                (&it.may_apply, true),
            ];
            for (list, discretionary) in lists {
                for m in list.iter() {
                    let key = digest(
                        &mut self.key_buf,
                        [receipt.as_bytes(), it.code.as_bytes(), m.id.as_bytes()],
                    );
                    let known = self.named.get(&key).is_some_and(|n| n.counted || !counted);
                    if known {
                        continue;
                    }
                    let named = if counted {
                        Named {
                            counted,
                            discretionary,
                            group,
                            measure: self.measures.id(&m.id),
                            authorities: self.authority_set(&m.entries.0),
                        }
                    } else {
                        Named {
                            counted,
                            discretionary,
                            group,
                            measure: u32::MAX,
                            authorities: u32::MAX,
                        }
                    };
                    self.named.insert(key, named);
                }
            }
        }
    }

    fn finish(self, files: Vec<PathBuf>) -> Report {
        let mut totals = self.totals;
        let n_groups = self.group_keys.len();
        let mut by_group = vec![Outcomes::default(); n_groups];
        let mut by_measure = vec![Outcomes::default(); self.measures.names.len()];
        let mut by_authority = vec![Outcomes::default(); self.authorities.names.len()];
        let mut all = Outcomes::default();
        for (key, n) in &self.named {
            if !n.counted {
                continue;
            }
            let o = match self.feedback.get(key) {
                Some(l) if l.applied => Outcome::Applied,
                Some(_) => Outcome::NotApplied,
                None => Outcome::NoFeedback,
            };
            if n.discretionary {
                totals.discretionary += 1;
                totals.discretionary_applied += (o == Outcome::Applied) as u64;
                continue;
            }
            all.add(o);
            by_group[n.group as usize].add(o);
            by_measure[n.measure as usize].add(o);
            for &a in &self.authority_sets[n.authorities as usize] {
                by_authority[a as usize].add(o);
            }
        }
        totals.unmatched_feedback = self
            .feedback
            .iter()
            .filter(|(k, _)| !self.named.contains_key(k))
            .map(|(_, l)| l.records as u64)
            .sum();
        totals.triggered = all.triggered;
        totals.applied = all.applied;
        totals.not_applied = all.not_applied;
        totals.no_feedback = all.no_feedback;
        totals.rate = all.rate();
        totals.subjects = self.group_counts.iter().map(|g| g.subjects).sum();
        totals.listed = self.group_counts.iter().map(|g| g.listed).sum();

        let mut clients: Vec<ClientRow> = (0..n_groups)
            .map(|g| {
                let (c, m) = self.group_keys[g];
                let gc = &self.group_counts[g];
                ClientRow {
                    client: self.clients.names[c as usize].clone(),
                    matter: self.matters.names[m as usize].clone(),
                    checks: gc.checks,
                    subjects: gc.subjects,
                    listed: gc.listed,
                    outcomes: by_group[g],
                    rate: by_group[g].rate(),
                }
            })
            .collect();
        clients.sort_by(|a, b| (&a.client, &a.matter).cmp(&(&b.client, &b.matter)));
        let mut measures: Vec<MeasureRow> = self
            .measures
            .names
            .iter()
            .zip(&by_measure)
            .filter(|(_, o)| o.triggered > 0)
            .map(|(m, o)| MeasureRow {
                measure: m.clone(),
                outcomes: *o,
                rate: o.rate(),
            })
            .collect();
        measures.sort_by(|a, b| a.measure.cmp(&b.measure));
        let mut authorities: Vec<AuthorityRow> = self
            .authorities
            .names
            .iter()
            .zip(&by_authority)
            .filter(|(_, o)| o.triggered > 0)
            .map(|(a, o)| AuthorityRow {
                authority: a.clone(),
                outcomes: *o,
                rate: o.rate(),
            })
            .collect();
        authorities.sort_by(|a, b| a.authority.cmp(&b.authority));

        let must_query = self.opts.approvals.as_ref().map(|_| {
            let unchecked: Vec<Approval> = self
                .approvals
                .iter()
                .zip(&self.checked)
                .filter(|(_, &c)| !c)
                .map(|(a, _)| a.clone())
                .collect();
            MustQuery {
                approvals: self.approvals.len() as u64,
                checked: (self.approvals.len() - unchecked.len()) as u64,
                unchecked,
            }
        });
        Report {
            period: Period {
                from: self.opts.from.or(self.first_day),
                to: self.opts.to.or(self.last_day),
            },
            totals,
            clients,
            measures,
            authorities,
            must_query,
            checks_per_day: self.per_day.into_iter().collect(),
            files,
            warnings: self.warnings,
            warning_count: self.warning_count,
            window_days: self.opts.window_days,
        }
    }
}

/// Makes the report over the registers under `paths`.
pub fn report(paths: &[PathBuf], opts: &Options) -> Result<Report, ReportError> {
    if let (Some(from), Some(to)) = (opts.from, opts.to) {
        if from > to {
            return Err(ReportError::Period { from, to });
        }
    }
    let files = read::register_files(paths)?;
    let mut tally = Tally {
        opts,
        named: FxHashMap::default(),
        feedback: FxHashMap::default(),
        clients: Names::default(),
        matters: Names::default(),
        measures: Names::default(),
        authorities: Names::default(),
        authority_sets: Vec::new(),
        authority_set_ids: FxHashMap::default(),
        groups: FxHashMap::default(),
        group_keys: Vec::new(),
        group_counts: Vec::new(),
        totals: Totals::default(),
        per_day: BTreeMap::new(),
        first_day: None,
        last_day: None,
        approvals: Vec::new(),
        checked: Vec::new(),
        approval_keys: FxHashMap::default(),
        warnings: Vec::new(),
        warning_count: 0,
        key_buf: Vec::with_capacity(256),
    };
    if let Some(path) = &opts.approvals {
        load_approvals(&mut tally, path)?;
    }
    let mut warnings = Vec::new();
    let mut warning_count = 0u64;
    read::for_each_record(
        &files,
        |rec| tally.record(rec),
        |w: Warning| {
            warning_count += 1;
            if warnings.len() < WARNINGS_KEPT {
                warnings.push(w.to_string());
            }
        },
    )?;
    tally.warning_count += warning_count;
    tally.warnings.extend(warnings);
    Ok(tally.finish(files))
}

fn load_approvals(tally: &mut Tally<'_>, path: &Path) -> Result<(), ReportError> {
    let (list, notes) = approvals::read(path)?;
    tally.warning_count += notes.len() as u64;
    tally.warnings.extend(notes);
    for (i, a) in list.iter().enumerate() {
        let key = digest(
            &mut tally.key_buf,
            [a.client.as_bytes(), a.matter.as_bytes(), a.code.as_bytes()],
        );
        tally.approval_keys.entry(key).or_default().push(i as u32);
    }
    tally.checked = vec![false; list.len()];
    tally.approvals = list;
    Ok(())
}
