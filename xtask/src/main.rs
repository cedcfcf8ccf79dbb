mod bench;
mod dist;
mod setup;

use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what the build and the tests need (idempotent; root).
    Setup {
        /// Also what `dist` needs (cargo-deb, dpkg-dev).
        #[arg(long)]
        dist: bool,
    },
    /// Set up, build (release) and run ssh-trace with the given arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run the whole test suite (unit and end-to-end).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build (release) and print figures: `cost` (default), `capture`, `compare`,
    /// `fidelity`, `sinks`, `clickhouse`, `operators`, `alloc`.
    Bench {
        #[command(subcommand)]
        what: Option<bench::What>,
    },
    /// Set up, build (release) and make the Debian package
    /// (target/release/debian/ssh-trace_VERSION_ARCH.deb).
    Dist(dist::Args),
}

pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root());
    setup::add_tool_paths(&mut c);
    c
}

pub fn run_status(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

pub fn build_agent(release: bool) -> Result<std::path::PathBuf> {
    let mut c = cargo();
    c.args(["build", "-p", "ssh-trace"]);
    if release {
        c.arg("--release");
    }
    run_status(&mut c)?;
    let profile = if release { "release" } else { "debug" };
    Ok(workspace_root()
        .join("target")
        .join(profile)
        .join("ssh-trace"))
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup { dist } => {
            setup::run()?;
            if dist {
                dist::tools()?;
            }
            Ok(())
        }
        Cmd::Run { args } => {
            setup::run()?;
            let bin = build_agent(true)?;
            let err = exec(&bin, &args);
            Err(err).with_context(|| format!("running {}", bin.display()))
        }
        Cmd::Test { args } => {
            setup::run()?;
            // The package test installs a package of the same debug build.
            let deb = dist::run(&dist::Args { debug: true })?;
            let bin = build_agent(false)?;
            let mut c = cargo();
            c.args(["test", "--workspace"])
                .args(&args)
                .env("SSH_TRACE_BIN", &bin)
                .env("SSH_TRACE_DEB", &deb);
            run_status(&mut c)
        }
        Cmd::Bench { what } => {
            setup::run()?;
            let bin = build_agent(true)?;
            bench::run(&bin, what)
        }
        Cmd::Dist(args) => {
            setup::run()?;
            dist::run(&args).map(|_| ())
        }
    }
}

/// Replaces xtask with the agent so signals (Ctrl-C) reach it directly.
fn exec(bin: &std::path::Path, args: &[String]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    Command::new(bin).args(args).exec()
}
