//! `cargo xtask dist`: the Debian package, made by cargo-deb from
//! `[package.metadata.deb]` in ssh-trace/Cargo.toml. Man pages and shell
//! completions come from the built `ssh-trace-gen` (the CLI's own clap
//! definition) into target/<profile>/dist/, where the assets point.
use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};

use crate::{build_agent, cargo, run_status, setup, workspace_root};

/// cargo-deb release installed by `setup --dist` (builds on rust 1.85+).
const CARGO_DEB_VERSION: &str = "3.8.0";

#[derive(clap::Args)]
pub struct Args {
    /// Package the debug build (as `cargo xtask test` does: no release
    /// build, faster compression) instead of a release build.
    #[arg(long)]
    pub debug: bool,
}

/// Builds the package; returns the path of the .deb.
pub fn run(args: &Args) -> Result<PathBuf> {
    tools()?;
    let release = !args.debug;
    build_agent(release)?;
    package(release)
}

/// What packaging needs beyond `setup`: cargo-deb at the pinned version,
/// and dpkg-shlibdeps (dpkg-dev) for the automatic Depends.
pub fn tools() -> Result<()> {
    let bin = setup::cargo_bin().join("cargo-deb");
    let installed = Command::new(&bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if installed != format!("cargo-deb {CARGO_DEB_VERSION}") {
        eprintln!("xtask setup: installing cargo-deb {CARGO_DEB_VERSION} (about a minute)");
        run_status(Command::new("cargo").args([
            "+stable",
            "install",
            "--locked",
            "--force",
            "cargo-deb",
            "--version",
            CARGO_DEB_VERSION,
        ]))
        .context("installing cargo-deb")?;
    }
    if setup::is_root() {
        setup::install(&["dpkg-dev"])?;
    }
    Ok(())
}

/// Generates the man pages and completions, then runs cargo-deb on the
/// already built binary.
fn package(release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "debug" };
    let target = workspace_root().join("target").join(profile);
    let assets = target.join("dist");
    if assets.exists() {
        std::fs::remove_dir_all(&assets)
            .with_context(|| format!("clearing {}", assets.display()))?;
    }
    run_status(Command::new(target.join("ssh-trace-gen")).arg(&assets))?;
    let out_dir = target.join("debian");
    let mut c = cargo();
    c.args(["deb", "-p", "ssh-trace", "--no-build", "--locked", "-o"])
        .arg(&out_dir);
    if !release {
        // cargo-deb warns that it is meant for release profiles: this
        // package exists for the tests, which run the debug build anyway.
        c.args(["--profile", "dev", "--strip", "--fast"]);
    }
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("cargo deb failed with {}", out.status);
    }
    // cargo-deb prints the path of the package it wrote.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deb = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .with_context(|| format!("cargo deb printed no .deb path: {stdout}"))?;
    println!("{}", deb.display());
    Ok(deb)
}
