//! Row ingest: arbitrary bytes written to a `.csv` or `.jsonl` file and
//! read with `Ingest::read_file` + `merge`, twice (so duplicates across
//! files are exercised too). Never a panic; every row is accepted or
//! rejected exactly once; the counters agree with the rows and rejects;
//! every reject names its file and a physical line within the file.
//!
//! Input: 1 byte (bit 0: JSONL instead of CSV; bit 1: GBK; bit 2: a
//! legacy code list), then the file's bytes.
#![no_main]

use credlist::ingest::{Encoding, Ingest, LegacyCodes, Options, Reject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let ext = if mode & 1 == 0 { "csv" } else { "jsonl" };
    let encoding = if mode & 2 == 0 {
        Encoding::Utf8
    } else {
        Encoding::Gbk
    };
    let legacy = if mode & 4 == 0 {
        LegacyCodes::default()
    } else {
        LegacyCodes::parse("91350100M0001TGQXM\n", "legacy").unwrap()
    };
    let dir = credlist_fuzz::scratch();
    let a = dir.join(format!("a.{ext}"));
    let b = dir.join(format!("b.{ext}"));
    std::fs::write(&a, body).unwrap();
    std::fs::write(&b, body).unwrap();
    let physical_lines = body.split(|&c| c == b'\n').count() as u64;

    let mut ing = Ingest::new(Options {
        catalog: credlist_fuzz::catalog(),
        as_of: credlist_fuzz::as_of(),
        encoding,
        legacy: &legacy,
    });
    let mut rejects: Vec<Reject> = Vec::new();
    for p in [&a, &b] {
        let read = match ing.read_file(p, &|_| {}) {
            Ok(r) => r,
            // A file-level refusal (unreadable header) is an error, not a panic.
            Err(e) => {
                assert!(!e.to_string().is_empty());
                return;
            }
        };
        assert_eq!(read.digest.bytes, body.len() as u64);
        ing.merge(read, &mut |r| {
            rejects.push(r);
            Ok(())
        })
        .unwrap();
    }
    let st = &ing.stats;
    assert_eq!(st.files, 2);
    assert_eq!(st.bytes, 2 * body.len() as u64);
    assert_eq!(st.accepted, ing.acc.entries.len() as u64);
    assert_eq!(
        st.rows,
        st.accepted + rejects.len() as u64,
        "every row accepted or rejected"
    );
    assert_eq!(st.rejected_total(), rejects.len() as u64);
    // The second file repeats the first: each of its accepted rows is a
    // duplicate, so exactly half the rows are accepted at most.
    assert!(st.accepted * 2 <= st.rows);
    for r in &rejects {
        assert!(r.file.ends_with(&format!(".{ext}")));
        assert!(
            r.line >= 1 && r.line <= physical_lines,
            "line {} of {physical_lines}",
            r.line
        );
        assert!(!r.message.is_empty());
    }
    for e in &ing.acc.entries {
        let _ = ing.acc.arena.get(e.entry_id);
    }
});
