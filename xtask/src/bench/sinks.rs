//! `cargo xtask bench sinks`: sustained events/s through one agent-mode
//! sink per (sink, format), the process pinned to one CPU, fed by the
//! synthetic session generator (`ssh-trace-sinkbench`); then the memory of
//! a sink whose TCP peer never reads. Figures and ratios to the issue's
//! goals, no assertions. Each run starts from an empty directory (no file
//! left by an earlier run to rotate over or delete), and the CPU time is
//! split into user (the sink: filter, format, queue) and kernel (for a
//! file, mostly the page cache); `file → /dev/null` is the file sink
//! without the filesystem's cost.
use std::{path::Path, process::Command};

use anyhow::{bail, Result};
use serde_json::Value;

#[derive(clap::Args)]
pub struct Args {
    /// Events per measurement.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Formats to measure (the `--format` names).
    #[arg(long, value_delimiter = ',', default_value = "json,human")]
    formats: Vec<String>,
}

/// Removes what an earlier run wrote (FILE and its rotated FILE.N).
fn clear(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("bench.json") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn one(helper: &Path, sink: &str, format: &str, events: u64, dir: &Path) -> Result<Value> {
    clear(dir)?;
    let out = Command::new(helper)
        .args([sink, format, &events.to_string()])
        .arg(dir)
        .output()?;
    if !out.status.success() {
        bail!("{sink} {format}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn run(a: Args) -> Result<()> {
    let helper = super::helper("ssh-trace-sinkbench")?;
    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    println!(
        "agent-mode sinks, one CPU, {} synthetic events each:",
        a.events
    );
    println!(
        "| sink | format | events/s | goal | ratio | dropped | CPU s user + kernel | peak RSS MiB (source alone) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let sinks = [
        ("file", "file", 1_000_000.0),
        ("file-null", "file → /dev/null", 1_000_000.0),
        ("syslog-tcp", "syslog-tcp", 200_000.0),
    ];
    for (sink, label, goal) in sinks {
        for format in &a.formats {
            let v = one(&helper, sink, format, a.events, &dir)?;
            let rate = v["events_per_sec"].as_f64().unwrap_or(0.0);
            println!(
                "| {label} | {format} | {rate:.0} | {goal:.0} | {:.2} | {} | {:.2} + {:.2} | {} ({}) |",
                rate / goal,
                v["dropped"],
                v["user_seconds"].as_f64().unwrap_or(0.0),
                v["system_seconds"].as_f64().unwrap_or(0.0),
                v["peak_rss_kib"].as_u64().unwrap_or(0) / 1024,
                v["source_rss_kib"].as_u64().unwrap_or(0) / 1024
            );
        }
    }
    clear(&dir)?;
    let v = one(&helper, "stalled", "json", a.events * 3, &dir)?;
    println!(
        "\nstalled syslog TCP peer (never reads), {} events pushed: {} dropped and counted, \
         peak RSS {} MiB ({} MiB of it the event source; the sink holds at most its 64 MiB queue)",
        v["events"],
        v["dropped"],
        v["peak_rss_kib"].as_u64().unwrap_or(0) / 1024,
        v["source_rss_kib"].as_u64().unwrap_or(0) / 1024
    );
    Ok(())
}
