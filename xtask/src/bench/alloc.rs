//! `cargo xtask bench alloc`: heap allocations per exec event on the
//! `tail --json` path (ssh-trace-alloc-bench: ring-buffer record → decode →
//! session model → pipeline → JSON line, under a counting allocator) and
//! that path's events/s on one core. With `--baseline PROGRAM`, the same
//! figures from another build's helper (e.g. main's), alternating rounds.
use std::{path::PathBuf, process::Command};

use anyhow::{bail, Result};
use serde_json::Value;

use super::measure::median;

#[derive(clap::Args)]
pub struct Args {
    /// Exec events per round.
    #[arg(long, default_value_t = 300_000)]
    events: u64,
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Another build's allocation helper, run alternately (same output).
    #[arg(long, value_name = "PROGRAM")]
    baseline: Option<PathBuf>,
}

/// One run pinned to CPU 1; the helper prints its figures as one JSON
/// line (on stdout or stderr).
fn one(helper: &std::path::Path, events: u64) -> Result<Value> {
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(helper)
        .arg(events.to_string())
        .output()?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            helper.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = [&out.stdout[..], &out.stderr[..]].concat();
    let text = String::from_utf8_lossy(&text);
    let Some(line) = text
        .lines()
        .find(|l| l.contains("\"allocations_per_exec\""))
    else {
        bail!("{} printed no figures", helper.display());
    };
    Ok(serde_json::from_str(line)?)
}

pub fn run(a: Args) -> Result<()> {
    let ours = super::helper("ssh-trace-alloc-bench")?;
    let mut progs = vec![("this tree", ours)];
    if let Some(b) = a.baseline {
        progs.push(("baseline", b));
    }
    let mut figures: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); progs.len()];
    for round in 1..=a.rounds {
        for (i, (name, p)) in progs.iter().enumerate() {
            let v = one(p, a.events)?;
            let (allocs, rate) = (
                v["allocations_per_exec"].as_f64().unwrap_or(0.0),
                v["events_per_sec"].as_f64().unwrap_or(0.0),
            );
            eprintln!(
                "round {round}: {name}: {allocs:.2} allocations/exec, {rate:.0} events/s {}",
                v["per_stage"]
            );
            figures[i].0.push(allocs);
            figures[i].1.push(rate);
        }
    }
    println!(
        "`tail --json` path, exec events (argv of 5), {} rounds × {} events, one core, medians:",
        a.rounds, a.events
    );
    println!("| build | allocations per exec | goal | events/s |");
    println!("|---|---|---|---|");
    let mut rates = Vec::new();
    for ((name, _), (allocs, rate)) in progs.iter().zip(&mut figures) {
        let r = median(rate);
        rates.push(r);
        println!("| {name} | {:.2} | ≤ 5 | {r:.0} |", median(allocs));
    }
    if let [ours, base] = rates[..] {
        println!("events/s ratio this tree / baseline: {:.2}", ours / base);
    }
    Ok(())
}
