//! The `credlist` command. Thin: parsing and dispatch live in `cli`.

use mimalloc::MiMalloc;
use std::process::ExitCode;

mod cli;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    cli::main()
}
