//! Receipts: a unique, later verifiable token for every check.
//!
//! A receipt is `<boot>-<seq>`: `<boot>` is 16 hex digits drawn at random
//! when the daemon starts, `<seq>` a decimal counter from 1 within that
//! boot. Nothing per receipt is stored; instead the journal `receipts` in
//! the state directory records, per boot, how far the counter may go:
//!
//! - at start: `{"boot", "upto": N, "at"}`, a reservation of the first
//!   [`BLOCK`] numbers, fsynced before the daemon serves;
//! - when half a reservation is used, the next one (in the background; a
//!   check only waits when a reservation is exhausted before it is written);
//! - at a clean shutdown: `{"boot", "final": n}`, the exact count issued.
//!
//! A receipt is valid when its boot is the current one and `seq` has been
//! issued, or its boot is in the journal and `seq` is at most that boot's
//! final count, or, for a boot that ended in a crash, its last reservation.
//! So feedback can never cite a receipt that was not issued, except, after
//! a crash, one of the at most [`BLOCK`] numbers reserved but not reached.

use super::journal::{Journal, JournalError};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Name of the receipts journal in the state directory.
pub const RECEIPTS_FILE: &str = "receipts";
/// Receipt numbers reserved per journal write.
pub const BLOCK: u64 = 1 << 20;

pub struct Receipts {
    boot: u64,
    /// Last sequence number handed out.
    issued: AtomicU64,
    /// Highest number covered by a durable reservation.
    reserved: AtomicU64,
    journal: Mutex<Journal>,
    /// Earlier boots and the highest number each may have issued.
    earlier: HashMap<u64, u64>,
}

/// Parses `<boot>-<seq>`.
pub fn parse(receipt: &str) -> Option<(u64, u64)> {
    let (b, s) = receipt.split_once('-')?;
    if b.len() != 16 || s.is_empty() || s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let boot = u64::from_str_radix(b, 16).ok()?;
    let seq: u64 = s.parse().ok()?;
    (seq >= 1).then_some((boot, seq))
}

/// 64 random bits from the kernel.
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most `b.len()` bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n == 8 {
        return u64::from_le_bytes(b);
    }
    // No getrandom: mix the clock and the pid (uniqueness, not secrecy, is
    // what a boot id needs).
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    xxhash_rust::xxh3::xxh3_64(
        &[t.to_le_bytes(), (std::process::id() as u64).to_le_bytes()].concat(),
    )
}

impl Receipts {
    /// Replays the journal and starts a new boot (durably).
    pub fn start(dir: &Path) -> Result<Receipts, JournalError> {
        let (mut journal, records) = Journal::open(&dir.join(RECEIPTS_FILE))?;
        let mut earlier: HashMap<u64, u64> = HashMap::new();
        let mut finals: HashMap<u64, u64> = HashMap::new();
        for r in &records {
            let Some(boot) = r
                .get("boot")
                .and_then(|b| b.as_str())
                .and_then(|b| u64::from_str_radix(b, 16).ok())
            else {
                continue;
            };
            if let Some(n) = r.get("upto").and_then(|n| n.as_u64()) {
                let e = earlier.entry(boot).or_default();
                *e = (*e).max(n);
            }
            if let Some(n) = r.get("final").and_then(|n| n.as_u64()) {
                finals.insert(boot, n);
            }
        }
        earlier.extend(finals);
        let mut boot = random_u64();
        while earlier.contains_key(&boot) {
            boot = random_u64();
        }
        journal.append(&json!({
            "boot": format!("{boot:016x}"),
            "upto": BLOCK,
            "at": crate::date::timestamp(std::time::SystemTime::now()),
        }))?;
        Ok(Receipts {
            boot,
            issued: AtomicU64::new(0),
            reserved: AtomicU64::new(BLOCK),
            journal: Mutex::new(journal),
            earlier,
        })
    }

    pub fn boot(&self) -> String {
        format!("{:016x}", self.boot)
    }

    /// Receipts issued since start.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Issues the next receipt. Waits only when the current reservation is
    /// used up before the next one is durable.
    pub async fn issue(self: &Arc<Self>) -> Result<String, JournalError> {
        let seq = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let reserved = self.reserved.load(Ordering::Acquire);
        if seq > reserved {
            let me = Arc::clone(self);
            tokio::task::spawn_blocking(move || me.reserve(seq))
                .await
                .map_err(|e| JournalError::Io {
                    path: RECEIPTS_FILE.into(),
                    source: std::io::Error::other(e.to_string()),
                })??;
        } else if seq == reserved - BLOCK / 2 {
            let me = Arc::clone(self);
            tokio::task::spawn_blocking(move || {
                if let Err(e) = me.reserve(reserved + 1) {
                    tracing::error!(error = %e, "cannot reserve receipt numbers");
                }
            });
        }
        Ok(format!("{:016x}-{seq}", self.boot))
    }

    /// Makes numbers up to at least `need` durable.
    fn reserve(&self, need: u64) -> Result<(), JournalError> {
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.reserved.load(Ordering::Acquire);
        if cur >= need {
            return Ok(());
        }
        let upto = need.max(cur) + BLOCK;
        j.append(&json!({"boot": format!("{:016x}", self.boot), "upto": upto}))?;
        self.reserved.store(upto, Ordering::Release);
        Ok(())
    }

    /// Was this receipt issued (by this boot or an earlier one)?
    pub fn verify(&self, receipt: &str) -> bool {
        let Some((boot, seq)) = parse(receipt) else {
            return false;
        };
        if boot == self.boot {
            return seq <= self.issued.load(Ordering::Relaxed);
        }
        self.earlier.get(&boot).is_some_and(|&max| seq <= max)
    }

    /// Records the exact count issued (at shutdown).
    pub fn finish(&self) -> Result<(), JournalError> {
        let mut j = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        j.append(&json!({
            "boot": format!("{:016x}", self.boot),
            "final": self.issued.load(Ordering::Relaxed),
            "at": crate::date::timestamp(std::time::SystemTime::now()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn receipts_verify_across_boots() {
        let dir = tempfile::tempdir().unwrap();
        let r = Arc::new(Receipts::start(dir.path()).unwrap());
        let a = r.issue().await.unwrap();
        let b = r.issue().await.unwrap();
        assert_ne!(a, b);
        assert!(r.verify(&a) && r.verify(&b));
        let (boot, seq) = parse(&b).unwrap();
        assert!(!r.verify(&format!("{boot:016x}-{}", seq + 1)));
        assert!(!r.verify("0000000000000000-1"));
        assert!(!r.verify("garbage"));
        r.finish().unwrap();
        drop(r);
        let r2 = Receipts::start(dir.path()).unwrap();
        assert!(r2.verify(&a) && r2.verify(&b));
        assert!(!r2.verify(&format!("{boot:016x}-{}", seq + 1)));
    }

    #[tokio::test]
    async fn a_crashed_boot_is_bounded_by_its_reservation() {
        let dir = tempfile::tempdir().unwrap();
        let r = Arc::new(Receipts::start(dir.path()).unwrap());
        let a = r.issue().await.unwrap();
        let boot = r.boot();
        drop(r); // no finish: a crash
        let r2 = Receipts::start(dir.path()).unwrap();
        assert!(r2.verify(&a));
        assert!(r2.verify(&format!("{boot}-{BLOCK}")));
        assert!(!r2.verify(&format!("{boot}-{}", BLOCK + 1)));
    }

    #[test]
    fn parsing() {
        assert_eq!(parse("00000000000000ff-12"), Some((255, 12)));
        assert_eq!(parse("00000000000000ff-0"), None);
        assert_eq!(parse("ff-12"), None);
        assert_eq!(parse("00000000000000ff-+1"), None);
    }
}
