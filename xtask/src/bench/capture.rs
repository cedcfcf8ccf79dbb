//! `cargo xtask bench capture`: a synthetic capture of N events (shaped like
//! real sessions) is written by `ssh-trace-synth`, then replayed and
//! reported by the real `ssh-trace` binary; figures for two file sizes show
//! whether memory depends on file size.
use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Events in the large capture.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Another ssh-trace binary (e.g. main's): `replay --json` on one core
    /// is timed for both, alternating, over `--rounds` rounds.
    #[arg(long, value_name = "BIN")]
    baseline: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Runs a command with stdout to /dev/null; returns (seconds, peak RSS KiB).
fn measure(cmd: &mut Command) -> Result<(f64, u64)> {
    let t0 = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("{cmd:?}"))?;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter; waiting for our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = t0.elapsed().as_secs_f64();
    if pid < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status})");
    }
    Ok((secs, usage.ru_maxrss as u64))
}

fn synth(synth: &Path, file: &Path, events: u64) -> Result<serde_json::Value> {
    let out = Command::new(synth)
        .arg(file)
        .arg(events.to_string())
        .output()?;
    if !out.status.success() {
        bail!(
            "ssh-trace-synth failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    let synth_bin = super::helper("ssh-trace-synth")?;
    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let sizes = [1_000_000u64.min(a.events), a.events];
    println!(
        "capture files, synthetic sessions (connect, login, 10 commands, uid change, bytes, end):"
    );
    println!("| events | bytes/event | gzip'd JSON bytes/event | record events/s | replay --json events/s | replay peak RSS | report sessions peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        row(bin, &synth_bin, &dir, n)?;
    }
    if let Some(base) = &a.baseline {
        compare_replay(bin, base, &synth_bin, &dir, sizes[0], a.rounds)?;
    }
    Ok(())
}

/// `replay --json` events/s of two binaries on CPU 1, alternating rounds.
fn compare_replay(
    bin: &Path,
    base: &Path,
    synth_bin: &Path,
    dir: &Path,
    n: u64,
    rounds: usize,
) -> Result<()> {
    let file = dir.join(format!("synth-{n}.cap"));
    synth(synth_bin, &file, n)?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (b, rates) in [(bin, &mut ours), (base, &mut theirs)] {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"])
                .arg(b)
                .args(["replay", "--json", "-r"])
                .arg(&file);
            rates.push(n as f64 / measure(&mut c)?.0);
        }
    }
    let (o, t) = (
        super::measure::median(&mut ours),
        super::measure::median(&mut theirs),
    );
    println!("\n`replay --json`, {n} events, one core, median of {rounds} alternating rounds:");
    println!("| binary | events/s |\n|---|---|");
    println!(
        "| this tree | {o:.0} |\n| baseline {} | {t:.0} |",
        base.display()
    );
    println!("ratio: {:.2}", o / t);
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// One table row: a synthetic capture of `n` events written, replayed, reported.
fn row(bin: &Path, synth_bin: &Path, dir: &Path, n: u64) -> Result<()> {
    {
        let file = dir.join(format!("synth-{n}.cap"));
        let s = synth(synth_bin, &file, n)?;
        let (secs, rss) = measure(
            Command::new(bin)
                .args(["replay", "--json", "-r"])
                .arg(&file),
        )?;
        let report = Command::new(bin)
            .args(["report", "-r"])
            .arg(&file)
            .arg("sessions")
            .output();
        let report_rss = match report {
            Ok(o) if o.status.success() => {
                let (_, r) = measure(
                    Command::new(bin)
                        .args(["report", "-r"])
                        .arg(&file)
                        .arg("sessions"),
                )?;
                format!("{:.1} MiB", r as f64 / 1024.0)
            }
            _ => "n/a".into(),
        };
        println!(
            "| {n} | {:.2} | {:.2} | {:.0} | {:.0} | {:.1} MiB | {report_rss} |",
            s["bytes_per_event"].as_f64().unwrap_or(0.0),
            s["gzip_json_bytes_per_event"].as_f64().unwrap_or(0.0),
            s["record_events_per_sec"].as_f64().unwrap_or(0.0),
            n as f64 / secs,
            rss as f64 / 1024.0
        );
        let _ = std::fs::remove_file(&file);
    }
    Ok(())
}
