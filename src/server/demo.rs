//! Demo mode: `credlist serve` without `--config`.
//!
//! The fixtures (catalog, legacy codes, every list file and the demo
//! relations of SPEC §8) are embedded in the binary; they are written under
//! `./credlist-demo/`, a snapshot is built from them as of today, and the
//! daemon serves it on sockets in that folder, with its state and audit
//! register there too.

use super::config::Config;
use crate::build::{self, BuildOptions, NoProgress, DEFAULT_MAX_REJECT_RATIO};
use crate::date::Day;
use crate::ingest::Encoding;
use std::path::{Path, PathBuf};

/// The embedded fixtures: path under the demo folder, contents. The list
/// files are every file under `fixtures/lists/`, the relation files every
/// file under `fixtures/relations/demo/` (a test checks that none is
/// missing).
pub const FILES: &[(&str, &[u8])] = &[
    (
        "catalog.toml",
        include_bytes!("../../fixtures/catalog.toml"),
    ),
    (
        "legacy-codes.txt",
        include_bytes!("../../fixtures/legacy-codes.txt"),
    ),
    (
        "lists/court.csv",
        include_bytes!("../../fixtures/lists/court.csv"),
    ),
    (
        "lists/env-tax.jsonl",
        include_bytes!("../../fixtures/lists/env-tax.jsonl"),
    ),
    (
        "lists/market/market.csv",
        include_bytes!("../../fixtures/lists/market/market.csv"),
    ),
    (
        "lists/procurement-social.csv",
        include_bytes!("../../fixtures/lists/procurement-social.csv"),
    ),
    (
        "relations/legal-reps.csv",
        include_bytes!("../../fixtures/relations/demo/legal-reps.csv"),
    ),
    (
        "relations/roles.jsonl",
        include_bytes!("../../fixtures/relations/demo/roles.jsonl"),
    ),
];

/// A black-listed code of the fixtures (court, active, no end date), for the
/// printed example.
pub const SAMPLE_CODE: &str = "91350100MA2Y3K8L5G";
/// Its entry, for the printed hold example.
pub const SAMPLE_ENTRY: &str = "FY-2025-0312";
/// The present legal representative of [`SAMPLE_CODE`] (demo relation
/// `REL-0001`), for the printed example of a check through relations.
pub const SAMPLE_LEGAL_REP: &str = "350102198001010011";
/// The matter whose measures reach the people behind a listed
/// organisation (P-MKT-01, P-MKT-02).
pub const SAMPLE_RELATED_MATTER: &str = "market_entry";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo folder {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("demo snapshot: {0}")]
    Build(#[from] build::BuildError),
    #[error("demo snapshot: the embedded fixtures were rejected (see {0})")]
    Rejected(String),
}

/// Writes the fixtures under `dir`, builds `dir/demo.snap` as of today and
/// returns the demo configuration.
pub fn prepare(dir: &Path) -> Result<Config, DemoError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| DemoError::Io { path, source }
    };
    let lists = dir.join("lists");
    let relations = dir.join("relations");
    for d in [&lists, &relations] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(io(d))?;
        }
    }
    for (rel, bytes) in FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&p, bytes).map_err(io(&p))?;
    }
    let config = Config::demo(dir);
    let opts = BuildOptions {
        catalog: dir.join("catalog.toml"),
        out: config.snapshot.path.clone(),
        as_of: Day::today(),
        encoding: Encoding::Utf8,
        legacy_codes: Some(dir.join("legacy-codes.txt")),
        max_reject_ratio: DEFAULT_MAX_REJECT_RATIO,
        rejects: None,
        inputs: vec![lists],
        relations: vec![relations],
    };
    let report = build::run(&opts, &NoProgress)?;
    if report.snapshot_id.is_none() {
        return Err(DemoError::Rejected(
            report.rejects_path.display().to_string(),
        ));
    }
    Ok(config)
}

/// How to call the demo daemon.
pub fn banner(c: &Config) -> String {
    let rel = |p: &PathBuf| {
        let cwd = std::env::current_dir().unwrap_or_default();
        match p.strip_prefix(&cwd) {
            Ok(r) => format!("./{}", r.display()),
            Err(_) => p.display().to_string(),
        }
    };
    let (check, batch, admin) = (
        rel(&c.check.socket),
        rel(&c.batch.socket),
        rel(&c.admin.socket),
    );
    format!(
        "credlist demo: serving {snap}, built from the embedded fixtures as of today.

Check a subject (HTTP/1.1 + JSON on the check socket):
  curl --unix-socket {check} -d '{{\"matter\":\"gov_procurement\",\"subjects\":[{{\"code\":\"{SAMPLE_CODE}\"}}]}}' http://localhost/v1/check
Check a person through related parties (the legal representative of {SAMPLE_CODE}: see \"related\" and \"via\"):
  curl --unix-socket {check} -d '{{\"matter\":\"{SAMPLE_RELATED_MATTER}\",\"subjects\":[{{\"code\":\"{SAMPLE_LEGAL_REP}\",\"role\":\"legal_rep\"}}]}}' http://localhost/v1/check
Health and metrics:
  curl --unix-socket {check} http://localhost/v1/health
  curl --unix-socket {check} http://localhost/metrics
Batch (binary frames) on {batch}, e.g. from the source tree:
  python3 tests/batch_client.py --socket {batch} --matter gov_procurement {SAMPLE_CODE}
  python3 tests/batch_client.py --socket {batch} --version 2 --matter {SAMPLE_RELATED_MATTER} {SAMPLE_LEGAL_REP}
Operators (admin socket):
  credlist hold {SAMPLE_ENTRY} --reason \"objection under review\" --admin-socket {admin}
  credlist holds --admin-socket {admin}
  credlist release {SAMPLE_ENTRY} --admin-socket {admin}
  credlist reload --admin-socket {admin}
The audit register is {audit}. Stop with Ctrl-C.",
        snap = rel(&c.snapshot.path),
        audit = rel(&c.audit.path),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(format!("lists/{}", p.strip_prefix(base).unwrap().display()));
            }
        }
    }

    #[test]
    fn every_list_fixture_is_embedded() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lists");
        let mut on_disk = Vec::new();
        walk(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("lists/"))
            .collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "add new fixtures/lists files to server::demo::FILES"
        );
    }

    #[test]
    fn every_demo_relation_fixture_is_embedded() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/relations/demo");
        let mut on_disk: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| format!("relations/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES
            .iter()
            .map(|(p, _)| p.to_string())
            .filter(|p| p.starts_with("relations/"))
            .collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "add new fixtures/relations/demo files to server::demo::FILES"
        );
    }

    #[test]
    fn the_demo_builds_and_knows_its_sample() {
        let dir = tempfile::tempdir().unwrap();
        let c = prepare(dir.path()).unwrap();
        // SAFETY: the demo's snapshot, in this test's own folder, is not
        // written again.
        let snap = unsafe { crate::snapshot::Snapshot::open(&c.snapshot.path) }.unwrap();
        assert!(snap.find_entry(SAMPLE_ENTRY).is_some());
        let key = crate::codes::parse(SAMPLE_CODE, Day::today())
            .unwrap()
            .code
            .key()
            .unwrap();
        assert!(snap.lookup(key).is_some());
        let text = banner(&c);
        assert!(text.contains(SAMPLE_CODE));
        assert!(text.contains(SAMPLE_LEGAL_REP) && text.contains(SAMPLE_RELATED_MATTER));
        // The legal representative's check names the organisation.
        let holds = crate::check::Holds::default();
        let ctx = crate::check::Ctx {
            snap: &snap,
            holds: &holds,
            day: Day::today(),
            matter: snap.catalog.matter_index(SAMPLE_RELATED_MATTER),
            persons: true,
        };
        let item =
            serde_json::to_value(crate::check::check_one(&ctx, SAMPLE_LEGAL_REP, None)).unwrap();
        assert!(
            item["related"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["code"] == SAMPLE_CODE),
            "{item}"
        );
        assert!(!item["must_apply"].as_array().unwrap().is_empty(), "{item}");
    }
}
