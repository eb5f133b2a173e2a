//! `credlist completions` and `credlist man`: shell completions and man
//! pages made from the same clap definitions that parse the command line,
//! so they cannot drift from it.
//!
//! They are subcommands rather than a build step because the definitions
//! live in the binary (a build script cannot see them without moving the
//! whole command line into the library); the Debian package runs the built
//! binary to make them (`packaging/build-deb`).

use super::{outln, Outcome};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn completions(a: CompletionsArgs) -> Outcome {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "credlist", &mut buf);
    use std::io::Write;
    std::io::stdout().lock().write_all(&buf)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Folder to write credlist.1 and credlist-COMMAND.1 into (created if missing).
    dir: PathBuf,
}

pub fn man(a: ManArgs) -> Outcome {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let cmd = super::command();
    let mut written = 0;
    let mut pages = vec![(cmd.clone(), "credlist".to_string())];
    for sub in cmd.get_subcommands() {
        if sub.get_name() != "help" {
            pages.push((sub.clone(), format!("credlist-{}", sub.get_name())));
        }
    }
    for (page, name) in pages {
        let page = page
            .name(name.clone())
            .version(cmd.get_version().unwrap_or_default().to_string());
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .with_context(|| format!("rendering {name}.1"))?;
        let path = a.dir.join(format!("{name}.1"));
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
        written += 1;
    }
    outln!("wrote {written} man pages to {}", a.dir.display())?;
    Ok(ExitCode::SUCCESS)
}
