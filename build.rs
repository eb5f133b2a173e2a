//! Embeds the commit the binary is built from (`credlist --version`).
//!
//! `CREDLIST_COMMIT` in the environment wins (a package built from a
//! tarball can pass it); else `git rev-parse` when this folder is the top of
//! a git work tree; else `unknown`. Never fails the build.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=CREDLIST_COMMIT");
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let from_env = std::env::var("CREDLIST_COMMIT")
        .ok()
        .filter(|s| !s.trim().is_empty());
    // Only this project's own history: a tarball unpacked inside some other
    // repository must not take that repository's commit.
    let own_tree = git(&dir, &["rev-parse", "--show-toplevel"])
        .and_then(|top| std::fs::canonicalize(top).ok())
        .zip(std::fs::canonicalize(&dir).ok())
        .is_some_and(|(top, here)| top == here);
    let from_git = if own_tree {
        // Rebuild when HEAD moves: HEAD itself, and the branch it points to.
        for name in ["HEAD", "packed-refs"] {
            if let Some(p) = git(&dir, &["rev-parse", "--git-path", name]) {
                let p = dir.join(p);
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
        if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
            if let Some(p) = git(&dir, &["rev-parse", "--git-path", &branch]) {
                let p = dir.join(p);
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
        git(&dir, &["rev-parse", "--short=12", "HEAD"])
    } else {
        println!("cargo:rerun-if-changed=build.rs");
        None
    };
    let commit = from_env
        .or(from_git)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CREDLIST_COMMIT={commit}");
}
