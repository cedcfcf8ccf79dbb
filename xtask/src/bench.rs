//! `cargo xtask bench` subcommands, and helpers they share: the agent as
//! a measured process, the Python exec storm of the compare benchmark.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{ssh, Sshd};

#[derive(clap::Subcommand)]
pub enum What {
    /// What ssh-trace costs workloads that are not SSH, and an exec storm
    /// in and out of an SSH session; bpf_stats per program (the default).
    Cost(crate::bench_cost::Args),
    /// Capture files: bytes per event, record and replay throughput, memory.
    Capture(crate::bench_capture::Args),
    /// Side by side with auditd and bpftrace; writes docs/benchmarks.md.
    Compare(crate::bench_compare::Args),
    /// A soak of real logins checked against iptables, auditd and sshd's log.
    Fidelity(crate::bench_fidelity::Args),
    /// Agent-mode sinks: events/s per sink and format, memory when stalled.
    Sinks(crate::bench_sinks::Args),
    /// Operators' view: RSS, metrics scrape, alert cost with N open sessions.
    Operators(crate::bench_operators::Args),
}

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

/// `ssh-trace tail --json` with its output discarded.
pub struct Agent {
    child: Child,
    started: Instant,
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

impl Agent {
    pub fn start(bin: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["tail", "--json", "--no-sessions-socket"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        // Read until agent.start, then drain to /dev/null in a thread.
        let mut out = child.stdout.take().context("stdout")?;
        let mut first = String::new();
        let mut byte = [0u8; 1];
        use std::io::Read;
        while out.read(&mut byte)? == 1 && byte[0] != b'\n' {
            first.push(byte[0] as char);
        }
        if !first.contains("agent.start") {
            bail!("agent did not start: {first}");
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Ok(Self {
            child,
            started: Instant::now(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it; returns (CPU % of one core over its life, peak RSS KiB).
    pub fn stop(mut self) -> (f64, u64) {
        let (ticks, hwm) = usage(self.child.id());
        let wall = self.started.elapsed().as_secs_f64();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        (cpu_pct(ticks, wall), hwm)
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
