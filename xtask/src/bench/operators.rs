//! `cargo xtask bench operators`: the operators' view with N simulated open
//! sessions (ssh-trace-ops-bench): agent RSS, metrics scrape time over HTTP,
//! the session listing, alert evaluation per event. Figures, no assertions.
use std::{path::Path, process::Command};

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Simulated open sessions.
    #[arg(long, default_value_t = 10_000)]
    sessions: u64,
}

fn one(bin: &Path, sessions: u64, ip_limit: usize) -> Result<serde_json::Value> {
    let out = Command::new(bin)
        .arg(sessions.to_string())
        .arg(ip_limit.to_string())
        .output()?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn run(a: Args) -> Result<()> {
    let b = super::helper("ssh-trace-ops-bench")?;
    println!(
        "operators' view, {} simulated open sessions (20 users):",
        a.sessions
    );
    println!(
        "{:>14} {:>10} {:>12} {:>10} {:>12} {:>10} {:>14}",
        "source_ip cap",
        "RSS MiB",
        "B/session",
        "scrape ms",
        "scrape KiB",
        "list ms",
        "alert ns/event"
    );
    let mut base = None;
    for cap in [100usize, a.sessions as usize] {
        let v = one(&b, a.sessions, cap)?;
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        println!(
            "{:>14} {:>10.1} {:>12.0} {:>10.2} {:>12.1} {:>10.2} {:>14.0}",
            cap,
            f("rss_after_kib") / 1024.0,
            f("rss_per_session_bytes"),
            f("scrape_ms_median"),
            f("scrape_bytes") / 1024.0,
            f("list_ms"),
            f("alert_ns_per_event"),
        );
        match base {
            None => base = Some(f("scrape_ms_median")),
            Some(b0) => println!(
                "scrape time without the cap / with it: {:.1}x",
                f("scrape_ms_median") / b0.max(1e-9)
            ),
        }
    }
    Ok(())
}
