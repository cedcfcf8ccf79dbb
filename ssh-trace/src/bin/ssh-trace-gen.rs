//! Packaging helper (used by `cargo xtask dist`): writes the man pages and
//! shell completions of the `ssh-trace` command line, made from the same
//! clap definition the binary parses, so they cannot drift from `--help`.
//!
//!   ssh-trace-gen DIR  →  DIR/man/ssh-trace.1.gz, DIR/man/ssh-trace-SUB.1.gz, …
//!                         DIR/completions/{ssh-trace.bash,_ssh-trace,ssh-trace.fish}
// A binary target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{io::Write, path::Path, path::PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use flate2::{write::GzEncoder, Compression};

const BIN: &str = "ssh-trace";

fn main() -> Result<()> {
    let dir = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .context("usage: ssh-trace-gen DIR")?,
    );
    let man = dir.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    // One page for ssh-trace and one for every (nested) subcommand.
    clap_mangen::generate_to(ssh_trace::cli::Cli::command(), &man)
        .with_context(|| format!("writing man pages to {}", man.display()))?;
    gzip_all(&man)?;
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = ssh_trace::cli::Cli::command();
        clap_complete::generate_to(shell, &mut cmd, BIN, &completions)
            .with_context(|| format!("writing {shell} completions"))?;
    }
    Ok(())
}

/// Replaces every file in `dir` by its gzip'd copy (FILE.gz), as Debian
/// policy wants man pages (`gzip -9n`: best compression, no name or time).
fn gzip_all(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&text)?;
        let mut name = path.clone().into_os_string();
        name.push(".gz");
        std::fs::write(&name, gz.finish()?)?;
        std::fs::remove_file(&path)?;
    }
    Ok(())
}
