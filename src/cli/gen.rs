//! `credlist gen`: deterministic data at any scale.

use super::{parse_day, Outcome};
use anyhow::Context;
use credlist::catalog::Catalog;
use credlist::date::Day;
use credlist::gen::{generate, GenOptions};
use credlist::related::Role;
use std::path::PathBuf;
use std::process::ExitCode;

/// The catalog written beside generated data: the fixtures' catalog.
pub const CATALOG: &str = include_str!("../../fixtures/catalog.toml");

#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Number of entries to write.
    #[arg(long)]
    entries: u64,
    /// Seed: the same seed and size give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder: catalog.toml, lists/part-NNN.csv and relations/part-NNN.csv.
    #[arg(long)]
    out: PathBuf,
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
    let rep = generate(
        &catalog,
        CATALOG,
        GenOptions {
            entries: a.entries,
            seed: a.seed,
            as_of: a.as_of,
            files: a.files,
            relations: a.relations,
        },
        &a.out,
    )
    .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "wrote {} entries ({} subjects, {} on two or more lists; black {}, watch {}, red {}) to {} in {:.2} s",
        rep.entries,
        rep.subjects,
        rep.multi_list_subjects,
        rep.by_kind[0],
        rep.by_kind[1],
        rep.by_kind[2],
        a.out.display(),
        started.elapsed().as_secs_f64()
    );
    let r = &rep.relations;
    if r.relations > 0 {
        let by_role: Vec<String> = Role::ALL
            .iter()
            .map(|role| format!("{} {}", role.as_str(), r.by_role[*role as usize]))
            .collect();
        println!(
            "wrote {} relations ({}; {} organisations with a legal representative, {} parties listed, {} organisation parties, {} ended) to {}",
            r.relations,
            by_role.join(", "),
            r.orgs_with_legal_rep,
            r.listed_parties,
            r.org_parties,
            r.ended,
            a.out.join("relations").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
