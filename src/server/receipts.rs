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
//!
//! With a receipt key (`[receipts] key_file`, SPEC §11) a receipt is
//! `<boot>-<seq>-<tag>`: `<tag>` is 32 hex digits, the first 16 bytes of
//! HMAC-SHA256 under the key of `credlist-receipt-v1:<boot>-<seq>`. Such a
//! receipt is valid when its tag is, whichever daemon holding the key
//! issued it, so feedback may reach any daemon behind a balancer; one made
//! with another key is refused. Receipts of the plain form (issued before
//! the key was configured) are still verified from the journal.

use super::journal::{Journal, JournalError};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Name of the receipts journal in the state directory.
pub const RECEIPTS_FILE: &str = "receipts";
/// Receipt numbers reserved per journal write.
pub const BLOCK: u64 = 1 << 20;

/// Shortest receipt key accepted, in bytes.
pub const MIN_KEY_BYTES: u64 = 32;
/// Longest receipt key file read (a larger file is a configuration mistake).
pub const MAX_KEY_BYTES: u64 = 4096;
/// Hex digits of a receipt's tag (128 bits of the HMAC).
const TAG_HEX: usize = 32;
/// Domain separation of the HMAC input.
const TAG_CONTEXT: &[u8] = b"credlist-receipt-v1:";

/// The shared receipt key (`[receipts] key_file`), kept as the HMAC state
/// after the key and the context: each tag continues a copy of it instead
/// of hashing the key again (two SHA-256 blocks a receipt).
#[derive(Clone)]
pub struct ReceiptKey {
    keyed: Hmac<Sha256>,
    len: usize,
}

impl std::fmt::Debug for ReceiptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReceiptKey({} bytes)", self.len)
    }
}

/// Why a receipt key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("receipt key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "receipt key file {path} has mode {mode:04o}: it must be readable by the daemon's \
         user alone (no permission for group or others; chmod 600 {path})"
    )]
    Mode { path: String, mode: u32 },
    #[error("receipt key file {path} is not a regular file")]
    NotAFile { path: String },
    #[error(
        "receipt key file {path} has {len} bytes: a key has {MIN_KEY_BYTES} to {MAX_KEY_BYTES} \
         bytes (e.g. head -c 32 /dev/urandom > {path})"
    )]
    Length { path: String, len: u64 },
}

impl ReceiptKey {
    /// Reads a key file: a regular file of [`MIN_KEY_BYTES`] to
    /// [`MAX_KEY_BYTES`] bytes (all of them the key, a final newline too)
    /// with no permission bits for group or others.
    pub fn load(path: &Path) -> Result<ReceiptKey, KeyError> {
        use std::io::Read;
        let name = path.display().to_string();
        let io = |source| KeyError::Io {
            path: name.clone(),
            source,
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        // The opened file's metadata: what is read is what was checked.
        let meta = f.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: name });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Mode { path: name, mode });
        }
        let len = meta.len();
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&len) {
            return Err(KeyError::Length { path: name, len });
        }
        let mut key = Vec::with_capacity(len as usize);
        f.by_ref()
            .take(MAX_KEY_BYTES + 1)
            .read_to_end(&mut key)
            .map_err(io)?;
        let len = key.len() as u64;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&len) {
            return Err(KeyError::Length { path: name, len });
        }
        Ok(ReceiptKey::from_bytes(&key))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> ReceiptKey {
        let mut keyed = <Hmac<Sha256> as Mac>::new_from_slice(bytes).expect("HMAC takes any key");
        keyed.update(TAG_CONTEXT);
        ReceiptKey {
            keyed,
            len: bytes.len(),
        }
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut m = self.keyed.clone();
        m.update(body.as_bytes());
        m
    }

    /// The tag of `<boot>-<seq>`, as hex.
    fn tag(&self, body: &str) -> String {
        let out = self.mac(body).finalize().into_bytes();
        out[..TAG_HEX / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Does `tag` (hex) belong to `body` under this key? Compared in
    /// constant time.
    fn verify(&self, body: &str, tag: &str) -> bool {
        if tag.len() != TAG_HEX || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let mut bytes = [0u8; TAG_HEX / 2];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&tag[2 * i..2 * i + 2], 16).expect("hex digits");
        }
        self.mac(body).verify_truncated_left(&bytes).is_ok()
    }
}

pub struct Receipts {
    boot: u64,
    /// The shared key receipts are tagged with; `None`: plain receipts.
    key: Option<ReceiptKey>,
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
    if crate::os::getrandom(&mut b).ok() == Some(8) {
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
    /// Replays the journal and starts a new boot (durably); with a `key`,
    /// receipts are tagged with it.
    pub fn start(dir: &Path, key: Option<ReceiptKey>) -> Result<Receipts, JournalError> {
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
            key,
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
        let body = format!("{:016x}-{seq}", self.boot);
        Ok(match &self.key {
            Some(k) => {
                let tag = k.tag(&body);
                format!("{body}-{tag}")
            }
            None => body,
        })
    }

    /// Are receipts tagged with a shared key?
    pub fn keyed(&self) -> bool {
        self.key.is_some()
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

    /// Was this receipt issued (by this boot or an earlier one, or, for a
    /// tagged receipt, by any daemon holding the same key)?
    pub fn verify(&self, receipt: &str) -> bool {
        if receipt.matches('-').count() == 2 {
            let Some((body, tag)) = receipt.rsplit_once('-') else {
                return false;
            };
            return parse(body).is_some() && self.key.as_ref().is_some_and(|k| k.verify(body, tag));
        }
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

    #[test]
    fn a_tag_is_the_hmac_of_the_context_and_the_body() {
        // HMAC-SHA256 computed apart (Python's hmac module): daemons of
        // different versions sharing a key must agree on every tag.
        let key = ReceiptKey::from_bytes(&[7u8; 32]);
        let body = "00000000000000ab-42";
        assert_eq!(key.tag(body), "a8517c3e069bdd2f7fb7e47615fd7d59");
        // The kept state is not used up by a tag.
        assert_eq!(key.tag(body), "a8517c3e069bdd2f7fb7e47615fd7d59");
        assert!(key.verify(body, "a8517c3e069bdd2f7fb7e47615fd7d59"));
        assert!(!key.verify(body, "a8517c3e069bdd2f7fb7e47615fd7d5a"));
        assert_eq!(format!("{key:?}"), "ReceiptKey(32 bytes)");
    }

    #[tokio::test]
    async fn receipts_verify_across_boots() {
        let dir = tempfile::tempdir().unwrap();
        let r = Arc::new(Receipts::start(dir.path(), None).unwrap());
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
        let r2 = Receipts::start(dir.path(), None).unwrap();
        assert!(r2.verify(&a) && r2.verify(&b));
        assert!(!r2.verify(&format!("{boot:016x}-{}", seq + 1)));
    }

    #[tokio::test]
    async fn a_crashed_boot_is_bounded_by_its_reservation() {
        let dir = tempfile::tempdir().unwrap();
        let r = Arc::new(Receipts::start(dir.path(), None).unwrap());
        let a = r.issue().await.unwrap();
        let boot = r.boot();
        drop(r); // no finish: a crash
        let r2 = Receipts::start(dir.path(), None).unwrap();
        assert!(r2.verify(&a));
        assert!(r2.verify(&format!("{boot}-{BLOCK}")));
        assert!(!r2.verify(&format!("{boot}-{}", BLOCK + 1)));
    }

    #[tokio::test]
    async fn keyed_receipts_verify_wherever_the_key_is() {
        let key = ReceiptKey::from_bytes(&[7u8; 32]);
        let (d1, d2, d3) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let a = Arc::new(Receipts::start(d1.path(), Some(key.clone())).unwrap());
        let b = Receipts::start(d2.path(), Some(key)).unwrap();
        let other = Receipts::start(d3.path(), Some(ReceiptKey::from_bytes(&[8u8; 32]))).unwrap();
        let plain = Receipts::start(d3.path(), None).unwrap();
        let r = a.issue().await.unwrap();
        assert_eq!(r.split('-').nth(2).map(str::len), Some(TAG_HEX), "{r}");
        assert!(a.verify(&r) && b.verify(&r));
        assert!(!other.verify(&r) && !plain.verify(&r));
        // Any change to the body or the tag is refused.
        let (body, tag) = r.rsplit_once('-').unwrap();
        let (boot, seq) = parse(body).unwrap();
        assert!(!b.verify(&format!("{boot:016x}-{}-{tag}", seq + 1)));
        let mut flipped = tag.to_string().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert!(!b.verify(&format!("{body}-{}", String::from_utf8(flipped).unwrap())));
        assert!(!b.verify(&format!("{body}-{}", &tag[..TAG_HEX - 2])));
        assert!(!b.verify(&format!("{body}-{tag}x")));
        assert!(!b.verify(&format!("{body}-é{}", &tag[2..])));
    }

    #[test]
    fn key_files_are_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, [1u8; 32]).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(ReceiptKey::load(&p).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = ReceiptKey::load(&p).unwrap_err().to_string();
        assert!(e.contains("mode 0640") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(ReceiptKey::load(&p).is_err());
        std::fs::write(&p, [1u8; 31]).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
        let e = ReceiptKey::load(&p).unwrap_err().to_string();
        assert!(e.contains("31 bytes"), "{e}");
        let e = ReceiptKey::load(&dir.path().join("none")).unwrap_err();
        assert!(matches!(e, KeyError::Io { .. }));
    }

    #[test]
    fn parsing() {
        assert_eq!(parse("00000000000000ff-12"), Some((255, 12)));
        assert_eq!(parse("00000000000000ff-0"), None);
        assert_eq!(parse("ff-12"), None);
        assert_eq!(parse("00000000000000ff-+1"), None);
    }
}
