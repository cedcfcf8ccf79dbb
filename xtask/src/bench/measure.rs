//! Measurements the benchmarks share: exec storms in and out of a session,
//! a process's CPU time and peak RSS, medians.
use std::process::Command;

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{ssh, Sshd};

/// fork+exec of /bin/true as fast as possible; prints execs per second.
pub const STORM: &str = "import os,sys,time\n\
s=float(sys.argv[1]);end=time.monotonic()+s;n=0\n\
while time.monotonic()<end:\n    os.waitpid(os.posix_spawn('/bin/true',['/bin/true'],{}),0);n+=1\n\
print(n/s)";

pub fn storm_outside(seconds: f64) -> Result<f64> {
    let out = Command::new("python3")
        .args(["-c", STORM, &seconds.to_string()])
        .output()?;
    parse_rate(&String::from_utf8_lossy(&out.stdout))
}

pub fn storm_inside(sshd: &Sshd, seconds: f64) -> Result<f64> {
    let cmd = format!("python3 -c \"{}\" {seconds}", STORM.replace('"', "\\\""));
    let run = ssh(sshd, &[], &cmd)?;
    if !run.success {
        bail!("storm in session failed: {}", run.stderr);
    }
    parse_rate(&run.stdout)
}

fn parse_rate(s: &str) -> Result<f64> {
    s.trim()
        .lines()
        .last()
        .unwrap_or_default()
        .parse()
        .with_context(|| format!("storm printed {s:?}"))
}

/// CPU time in ns (/proc/PID/schedstat, exact, unlike clock ticks) and
/// VmHWM (peak RSS) in KiB.
pub fn usage(pid: u32) -> (u64, u64) {
    let sched = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
    let cpu_ns = sched
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (cpu_ns, hwm)
}

/// CPU % of one core for `cpu_ns` over `wall_secs`.
pub fn cpu_pct(cpu_ns: u64, wall_secs: f64) -> f64 {
    cpu_ns as f64 / 1e9 / wall_secs * 100.0
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
