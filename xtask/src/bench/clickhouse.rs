//! `cargo xtask bench clickhouse`: events/s from one agent-mode sink, the
//! process pinned to one CPU, into a real ClickHouse (a private 18.16
//! server pinned to the other CPU, the shipped schema), with and without
//! gzip, against the file sink writing to /dev/null in the same rounds
//! (alternating, medians), and the agent's CPU per event; then the bytes
//! on disk per event of each table after ClickHouse's compression (after
//! OPTIMIZE … FINAL; lz4, the default, and zstd), beside the same events as
//! JSON lines, raw and gzip'd. Figures, no assertions; the
//! events are the synthetic sessions of `ssh-trace-sinkbench`.
use std::{path::Path, process::Command};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use ssh_trace_tests::clickhouse::{schema, ClickHouse, Options};

#[derive(clap::Args)]
pub struct Args {
    /// Events per measurement.
    #[arg(long, default_value_t = 500_000)]
    events: u64,
    /// Rounds of the three cases, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

const CASES: [(&str, &str); 3] = [
    ("file-null", "file → /dev/null (baseline)"),
    ("clickhouse", "clickhouse, gzip"),
    ("clickhouse-plain", "clickhouse, no gzip"),
];

const TABLES: [&str; 6] = [
    "events",
    "sessions",
    "session_bytes_per_minute",
    "session_bytes_per_hour",
    "auth_per_source",
    "auth_attempts_per_source",
];

/// One run of the helper: its JSON figures.
fn one(helper: &Path, ch: &ClickHouse, sink: &str, events: u64, dir: &Path) -> Result<Value> {
    for t in TABLES {
        ch.exec(&format!("TRUNCATE TABLE ssh_trace.{t}"))?;
    }
    let out = Command::new(helper)
        .args([sink, "json", &events.to_string()])
        .arg(dir)
        .env("SSH_TRACE_BENCH_CLICKHOUSE", ch.url())
        .output()?;
    if !out.status.success() {
        bail!("{sink}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut v: Value = serde_json::from_slice(&out.stdout)?;
    if sink.starts_with("clickhouse") {
        v["stored"] = ch
            .number("SELECT count() FROM ssh_trace.events FINAL")?
            .into();
    }
    Ok(v)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Agent CPU (user + kernel) per event delivered, µs.
fn cpu_us(v: &Value) -> f64 {
    let cpu =
        v["user_seconds"].as_f64().unwrap_or(0.0) + v["system_seconds"].as_f64().unwrap_or(0.0);
    cpu * 1e6 / v["events"].as_f64().unwrap_or(1.0).max(1.0)
}

/// The alternating rounds and their table.
fn throughput(helper: &Path, ch: &ClickHouse, a: &Args, dir: &Path) -> Result<()> {
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); CASES.len()];
    for _ in 0..a.rounds {
        for (i, (sink, _)) in CASES.iter().enumerate() {
            runs[i].push(one(helper, ch, sink, a.events, dir)?);
        }
    }
    let rate = |v: &Value| v["events_per_sec"].as_f64().unwrap_or(0.0);
    let base = median(runs[0].iter().map(rate).collect());
    println!(
        "| sink | events/s (median) | each round | ratio to baseline | agent CPU µs/event (median) | stored rows (last) |"
    );
    println!("|---|---|---|---|---|---|");
    for ((_, label), r) in CASES.iter().zip(&runs) {
        let rates: Vec<String> = r.iter().map(|v| format!("{:.0}", rate(v))).collect();
        let m = median(r.iter().map(rate).collect());
        let last = r.last().context("no round")?;
        println!(
            "| {label} | {m:.0} | {} | {:.3} | {:.2} | {} |",
            rates.join(", "),
            m / base,
            median(r.iter().map(cpu_us).collect()),
            last.get("stored").map_or("-".to_owned(), Value::to_string)
        );
    }
    Ok(())
}

/// Size of `path`'s JSON lines raw and gzip'd (gzip -6), bytes.
fn json_sizes(path: &Path) -> Result<(u64, u64)> {
    let raw = std::fs::metadata(path)?.len();
    let gz = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -6 -c '{}' | wc -c", path.display()))
        .output()?;
    let gz = String::from_utf8_lossy(&gz.stdout).trim().parse()?;
    Ok((raw, gz))
}

/// Loads the events once, merges every table; (table, rows, bytes on disk)
/// and the events table's largest columns (name, compressed bytes).
type Sizes = (Vec<(String, u64, u64)>, Vec<(String, u64)>);

fn sizes(helper: &Path, ch: &ClickHouse, events: u64, dir: &Path) -> Result<Sizes> {
    one(helper, ch, "clickhouse", events, dir)?;
    for t in TABLES {
        ch.exec(&format!("OPTIMIZE TABLE ssh_trace.{t} FINAL"))?;
    }
    let tables = ch
        .rows(
            "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS disk FROM system.parts \
             WHERE database = 'ssh_trace' AND active GROUP BY table ORDER BY disk DESC",
        )?
        .iter()
        .map(|p| {
            (
                p["table"].as_str().unwrap_or("").to_owned(),
                p["rows"].as_u64().unwrap_or(0),
                p["disk"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let columns = ch
        .rows(
            "SELECT column, sum(column_data_compressed_bytes) AS c FROM system.parts_columns \
             WHERE database = 'ssh_trace' AND table = 'events' AND active \
             GROUP BY column ORDER BY c DESC LIMIT 6",
        )?
        .iter()
        .map(|c| {
            (
                c["column"].as_str().unwrap_or("").to_owned(),
                c["c"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    Ok((tables, columns))
}

/// Bytes on disk per event with the server's default lz4 and with zstd.
fn disk(helper: &Path, lz4: &ClickHouse, events: u64, dir: &Path) -> Result<()> {
    let (tables, columns) = sizes(helper, lz4, events, dir)?;
    let zstd = server(&dir.join("server-zstd"), true)?;
    let (z, z_columns) = sizes(helper, &zstd, events, dir)?;
    drop(zstd);
    let per = |b: u64| b as f64 / events as f64;
    println!("\nbytes on disk per event after OPTIMIZE … FINAL, {events} events:");
    println!("| table | rows | lz4 (default) | zstd |");
    println!("|---|---|---|---|");
    let zstd_of = |t: &str| z.iter().find(|r| r.0 == t).map_or(0, |r| r.2);
    for (t, rows, disk) in &tables {
        println!(
            "| {t} | {rows} | {:.1} | {:.1} |",
            per(*disk),
            per(zstd_of(t))
        );
    }
    let sum = |v: &[(String, u64, u64)]| v.iter().map(|r| r.2).sum::<u64>();
    println!(
        "| all tables | | {:.1} | {:.1} |",
        per(sum(&tables)),
        per(sum(&z))
    );
    let file = dir.join("bench.json");
    let _ = std::fs::remove_file(&file);
    one(helper, lz4, "file", events, dir)?;
    let (raw, gz) = json_sizes(&file)?;
    std::fs::remove_file(&file)?;
    println!(
        "| (the same events as JSON lines: raw, gzip -6) | | {:.1} | {:.1} |",
        per(raw),
        per(gz)
    );
    for (name, cols) in [("lz4", &columns), ("zstd", &z_columns)] {
        let top: Vec<String> = cols
            .iter()
            .map(|(c, b)| format!("{c} {:.1}", per(*b)))
            .collect();
        println!(
            "\nlargest columns of events ({name}), compressed bytes per event: {}",
            top.join(", ")
        );
    }
    Ok(())
}

/// A private server with the shipped schema, on the CPU the agent leaves.
fn server(dir: &Path, zstd: bool) -> Result<ClickHouse> {
    let ch = ClickHouse::start(
        dir,
        Options {
            tls: None,
            cpu: Some(1),
            zstd,
        },
    )?;
    ch.apply(&schema())?;
    Ok(ch)
}

pub fn run(a: Args) -> Result<()> {
    let helper = super::helper("ssh-trace-sinkbench")?;
    let dir = crate::workspace_root().join("target/bench/clickhouse");
    std::fs::create_dir_all(&dir)?;
    let ch = server(&dir.join("server"), false)?;
    println!(
        "ClickHouse sink, one CPU (the server on the other), {} synthetic events per run:",
        a.events
    );
    throughput(&helper, &ch, &a, &dir)?;
    disk(&helper, &ch, a.events, &dir)
}
