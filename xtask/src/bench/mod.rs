//! `cargo xtask bench …`: figures, not assertions. Each benchmark prints
//! its table; the helpers that drive the product's library are examples of
//! the tests crate (built here), not part of the product.
mod agent;
mod alloc;
mod auditd;
mod bpf_stats;
mod capture;
mod clickhouse;
mod compare;
mod cost;
mod fidelity;
mod floor;
mod latency;
mod measure;
mod operators;
mod sinks;
mod syscall_floor;
mod tools;
mod transfers;
mod tty;

use std::path::{Path, PathBuf};

use anyhow::Result;

#[derive(clap::Subcommand)]
pub enum What {
    /// What ssh-trace costs workloads that are not SSH, and an exec storm
    /// in and out of an SSH session; bpf_stats per program (the default).
    Cost(cost::Args),
    /// Capture files: bytes per event, record and replay throughput, memory.
    Capture(capture::Args),
    /// Side by side with auditd and bpftrace; writes docs/benchmarks.md.
    Compare(compare::Args),
    /// A soak of real logins checked against iptables, auditd and sshd's log.
    Fidelity(fidelity::Args),
    /// Agent-mode sinks: events/s per sink and format, memory when stalled.
    Sinks(sinks::Args),
    /// The ClickHouse sink: events/s into a real ClickHouse on one CPU,
    /// bytes on disk per event.
    Clickhouse(clickhouse::Args),
    /// Operators' view: RSS, metrics scrape, alert cost with N open sessions.
    Operators(operators::Args),
    /// Allocations per exec event on the `tail --json` path, and its rate.
    Alloc(alloc::Args),
    /// Terminal recording: pty throughput and non-SSH reads/writes with it
    /// off, output on, input on; the agent's CPU under a flood.
    Tty(tty::Args),
    /// The file-transfer hooks: syscalls with them detached and attached,
    /// their bpf_stats, an sftp download with the agent off and on.
    Transfers(transfers::Args),
}

pub fn run(bin: &Path, what: Option<What>) -> Result<()> {
    match what {
        None => cost::run(bin, cost::Args::default()),
        Some(What::Cost(a)) => cost::run(bin, a),
        Some(What::Capture(a)) => capture::run(bin, a),
        Some(What::Compare(a)) => compare::run(bin, a),
        Some(What::Fidelity(a)) => fidelity::run(bin, a),
        Some(What::Sinks(a)) => sinks::run(a),
        Some(What::Clickhouse(a)) => clickhouse::run(a),
        Some(What::Operators(a)) => operators::run(a),
        Some(What::Alloc(a)) => alloc::run(a),
        Some(What::Tty(a)) => tty::run(bin, a),
        Some(What::Transfers(a)) => transfers::run(bin, a),
    }
}

/// A benchmark helper (an example of the tests crate), built in release.
pub fn helper(name: &str) -> Result<PathBuf> {
    let mut c = crate::cargo();
    c.args([
        "build",
        "--release",
        "-p",
        "ssh-trace-tests",
        "--example",
        name,
    ]);
    crate::run_status(&mut c)?;
    Ok(crate::workspace_root()
        .join("target/release/examples")
        .join(name))
}
