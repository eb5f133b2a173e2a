//! `credlist gen`: deterministic data at any scale.

use super::{outln, parse_day, Outcome};
use anyhow::Context;
use credlist::catalog::Catalog;
use credlist::date::Day;
use credlist::gen::{generate, GenOptions};
use credlist::gen_audit::{generate_audit, AuditGenOptions};
use credlist::related::Role;
use std::path::PathBuf;
use std::process::ExitCode;

/// The catalog written beside generated data: the fixtures' catalog.
pub const CATALOG: &str = include_str!("../../fixtures/catalog.toml");

#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Number of entries to write.
    #[arg(long, required_unless_present = "audit")]
    entries: Option<u64>,
    /// Seed: the same seed and size give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder: catalog.toml, lists/part-NNN.csv and relations/part-NNN.csv.
    #[arg(long, required_unless_present = "audit")]
    out: Option<PathBuf>,
    /// Instead of list data, write an audit register (version 2 records) to this file.
    #[arg(long, conflicts_with_all = ["entries", "out"])]
    audit: Option<PathBuf>,
    /// With --audit: number of check records.
    #[arg(long, default_value_t = 1_000_000, requires = "audit")]
    checks: u64,
    /// With --audit: number of feedback records.
    #[arg(long, default_value_t = 200_000, requires = "audit")]
    feedback: u64,
    /// With --audit: days the register spans, from --as-of.
    #[arg(long, default_value_t = 30, requires = "audit")]
    days: u32,
    /// Data date the entries are generated around.
    #[arg(long, value_parser = parse_day, default_value = "2026-11-20")]
    as_of: Day,
    /// Number of CSV files (of entries, and of relations).
    #[arg(long, default_value_t = 8)]
    files: u32,
    /// Number of relations (default: the mix of SPEC §8, every listed
    /// organisation a legal representative and a third of them a second
    /// role; 0: no relations).
    #[arg(long)]
    relations: Option<u64>,
}

pub fn run(a: GenArgs) -> Outcome {
    let catalog = Catalog::from_toml(CATALOG, "embedded catalog")?;
    let started = std::time::Instant::now();
    if let Some(path) = &a.audit {
        let f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let rep = generate_audit(
            &catalog,
            AuditGenOptions {
                checks: a.checks,
                feedback: a.feedback,
                seed: a.seed,
                from: a.as_of,
                days: a.days,
            },
            &mut w,
        )
        .with_context(|| format!("writing {}", path.display()))?;
        outln!(
            "wrote {} checks, {} feedback and {} batch records ({} bytes) to {} in {:.2} s",
            rep.checks,
            rep.feedback,
            rep.batch_frames,
            rep.bytes,
            path.display(),
            started.elapsed().as_secs_f64()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(entries), Some(out)) = (a.entries, a.out) else {
        anyhow::bail!("--entries and --out are required without --audit");
    };
    let rep = generate(
        &catalog,
        CATALOG,
        GenOptions {
            entries,
            seed: a.seed,
            as_of: a.as_of,
            files: a.files,
            relations: a.relations,
        },
        &out,
    )
    .with_context(|| format!("writing {}", out.display()))?;
    outln!(
        "wrote {} entries ({} subjects, {} on two or more lists; black {}, watch {}, red {}) to {} in {:.2} s",
        rep.entries,
        rep.subjects,
        rep.multi_list_subjects,
        rep.by_kind[0],
        rep.by_kind[1],
        rep.by_kind[2],
        out.display(),
        started.elapsed().as_secs_f64()
    )?;
    let r = &rep.relations;
    if r.relations > 0 {
        let by_role: Vec<String> = Role::ALL
            .iter()
            .map(|role| format!("{} {}", role.as_str(), r.by_role[*role as usize]))
            .collect();
        outln!(
            "wrote {} relations ({}; {} organisations with a legal representative, {} parties listed, {} organisation parties, {} ended) to {}",
            r.relations,
            by_role.join(", "),
            r.orgs_with_legal_rep,
            r.listed_parties,
            r.org_parties,
            r.ended,
            out.join("relations").display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
