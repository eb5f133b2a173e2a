//! Deterministic audit registers at any scale (`credlist gen --audit`), to
//! measure `credlist report`: check records (version 2, with measures),
//! feedback on the measures they named, and batch frames, in time order,
//! in the shapes of `server::audit::record`.
//!
//! Mix: five clients each with its matter; 1–3 subjects per check (codes
//! of `gen`'s subjects); 70 % clear, 15 % black, 8 % watch, 6 % red, 1 %
//! invalid; measures from the catalog for the matter and kind, each with
//! one or two triggering entries of `gen`'s authorities. Feedback cites a
//! recent triple (80 % applied; 2 % cite a triple no check named); one
//! batch frame every 1 000 checks.

use crate::catalog::{Catalog, Effect};
use crate::date::Day;
use crate::gen::{subject_code, Rng, AUTHORITIES};
use serde_json::json;
use std::collections::VecDeque;
use std::io::Write;

/// What to write.
#[derive(Clone, Copy, Debug)]
pub struct AuditGenOptions {
    pub checks: u64,
    pub feedback: u64,
    pub seed: u64,
    /// First day of the register (Asia/Shanghai); records span `days`.
    pub from: Day,
    pub days: u32,
}

/// Counts of what was written.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuditGenReport {
    pub checks: u64,
    pub feedback: u64,
    pub batch_frames: u64,
    pub bytes: u64,
}

/// The clients of a generated register and the matter each checks.
pub const CLIENTS: [(&str, u32, &str); 5] = [
    ("procurement-system", 1001, "gov_procurement"),
    ("licence-system", 1002, "admin_licence"),
    ("fund-system", 1003, "fund_project"),
    ("honours-system", 1004, "honours"),
    ("bank-gateway", 1005, "financing_service"),
];

fn timestamp(ms: i64) -> String {
    let day = Day(ms.div_euclid(86_400_000) as i32);
    let r = ms.rem_euclid(86_400_000);
    format!(
        "{day}T{:02}:{:02}:{:02}.{:03}Z",
        r / 3_600_000,
        r / 60_000 % 60,
        r / 1000 % 60,
        r % 1000
    )
}

/// Writes the register to `w`.
pub fn generate_audit(
    catalog: &Catalog,
    opts: AuditGenOptions,
    w: &mut impl Write,
) -> std::io::Result<AuditGenReport> {
    let mut rng = Rng::new(opts.seed ^ 0x5EED_A0D1);
    let mut rep = AuditGenReport::default();
    // Midnight of `from` in Asia/Shanghai, in UTC milliseconds.
    let start = opts.from.0 as i64 * 86_400_000 - 8 * 3_600_000;
    let span = opts.days.max(1) as i64 * 86_400_000;
    let n = opts.checks.max(1);
    let boot = rng.next_u64();
    let mut recent: VecDeque<(String, String, String)> = VecDeque::with_capacity(4096);
    let mut line = Vec::with_capacity(1024);
    for i in 0..opts.checks {
        let t = start + (span as i128 * i as i128 / n as i128) as i64;
        let (client, uid, matter) = CLIENTS[rng.below(CLIENTS.len() as u64) as usize];
        let receipt = format!("{boot:016x}-{}", i + 1);
        let nsub = 1 + rng.below(3);
        let mut items = Vec::with_capacity(nsub as usize);
        for _ in 0..nsub {
            let code = subject_code(opts.seed, rng.below(5_000_000))
                .as_str()
                .to_string();
            let roll = rng.below(100);
            let status = match roll {
                0..=69 => "clear",
                70..=84 => "black",
                85..=92 => "watch",
                93..=98 => "red",
                _ => "invalid",
            };
            let mut item = json!({"code": code, "status": status});
            if matches!(status, "black" | "watch" | "red") {
                let (mut must, mut may, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
                for m in &catalog.measures {
                    if !m.matters.iter().any(|x| x == matter)
                        || !m.lists.iter().any(|k| k == status)
                    {
                        continue;
                    }
                    let mut entries = serde_json::Map::new();
                    for _ in 0..1 + rng.below(2) {
                        entries.insert(
                            format!("E{:010}", rng.below(10_000_000)),
                            json!(AUTHORITIES[rng.below(AUTHORITIES.len() as u64) as usize]),
                        );
                    }
                    let rec = json!({"id": m.id, "entries": entries});
                    match (m.effect, m.mandatory) {
                        (Effect::Reward, _) => rewards.push(rec),
                        (Effect::Punish, true) => must.push(rec),
                        (Effect::Punish, false) => may.push(rec),
                    }
                    if recent.len() == 4096 {
                        recent.pop_front();
                    }
                    recent.push_back((receipt.clone(), code.clone(), m.id.clone()));
                }
                for (k, v) in [
                    ("must_apply", must),
                    ("may_apply", may),
                    ("rewards", rewards),
                ] {
                    if !v.is_empty() {
                        item[k] = json!(v);
                    }
                }
            }
            items.push(item);
        }
        let rec = json!({"time": timestamp(t),
            "caller": {"uid": uid, "pid": 4000 + uid, "client": client},
            "endpoint": "check", "matter": matter, "request_id": format!("APP-{}", i + 1),
            "receipt": receipt, "as_of": opts.from.plus(((t - start) / 86_400_000) as i32),
            "snapshot": "0123456789abcdef", "items": items});
        emit(w, &mut line, &rec, &mut rep)?;
        rep.checks += 1;
        // Feedback, spread evenly over the checks.
        let due = opts.feedback * (i + 1) / n;
        while rep.feedback < due && !recent.is_empty() {
            let (receipt, code, measure) = if rng.chance(2) {
                (
                    format!("{boot:016x}-0"),
                    "91350100M000100Y43".to_string(),
                    "P-PROC-01".to_string(),
                )
            } else {
                recent[rng.below(recent.len() as u64) as usize].clone()
            };
            let (_, uid, _) = CLIENTS[rng.below(CLIENTS.len() as u64) as usize];
            let rec = json!({"time": timestamp(t),
                "caller": {"uid": uid, "pid": 4000 + uid, "client": null},
                "endpoint": "feedback", "receipt": receipt, "code": code,
                "measure": measure, "applied": rng.chance(80), "note": null});
            emit(w, &mut line, &rec, &mut rep)?;
            rep.feedback += 1;
        }
        if i % 1000 == 999 {
            let rec = json!({"time": timestamp(t), "caller": {"uid": 1006, "pid": 5006, "client": "nightly-recheck"},
                "endpoint": "batch", "matter": "", "request_id": i, "as_of": opts.from,
                "snapshot": "0123456789abcdef", "count": 4096, "hits": {},
                "rest_count": 4096, "rest_digest": "0000000000000000"});
            emit(w, &mut line, &rec, &mut rep)?;
            rep.batch_frames += 1;
        }
    }
    w.flush()?;
    Ok(rep)
}

fn emit(
    w: &mut impl Write,
    line: &mut Vec<u8>,
    rec: &serde_json::Value,
    rep: &mut AuditGenReport,
) -> std::io::Result<()> {
    // `"v"` first, as the daemon writes it (a `json!` map sorts its keys).
    line.clear();
    line.extend_from_slice(
        format!("{{\"v\":{},", crate::server::audit::record::VERSION).as_bytes(),
    );
    let body = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
    line.extend_from_slice(&body[1..]);
    line.push(b'\n');
    rep.bytes += line.len() as u64;
    w.write_all(line)
}
