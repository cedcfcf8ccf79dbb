//! `cargo xtask bench`: exec-storm rate inside a traced SSH session and
//! outside any session, with the tracer off and on, measured in alternation
//! over several rounds (medians and ratios), plus the agent's CPU and peak
//! RSS. Figures, not assertions.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{ssh, world, Sshd};

#[derive(clap::Subcommand)]
pub enum What {
    /// Exec-storm overhead in and out of an SSH session (the default).
    Exec(Args),
    /// Capture files: bytes per event, record and replay throughput, memory.
    Capture(crate::bench_capture::Args),
    /// Operators' view: RSS, metrics scrape, alert cost with N open sessions.
    Operators(crate::bench_operators::Args),
}

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Rounds of (off, on) × (outside, inside).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            seconds: 3.0,
            rounds: 3,
        }
    }
}

/// fork+exec of /bin/true as fast as possible; prints execs per second.
const STORM: &str = "import os,sys,time\n\
s=float(sys.argv[1]);end=time.monotonic()+s;n=0\n\
while time.monotonic()<end:\n    os.waitpid(os.posix_spawn('/bin/true',['/bin/true'],{}),0);n+=1\n\
print(n/s)";

fn storm_outside(seconds: f64) -> Result<f64> {
    let out = Command::new("python3")
        .args(["-c", STORM, &seconds.to_string()])
        .output()?;
    parse_rate(&String::from_utf8_lossy(&out.stdout))
}

fn storm_inside(sshd: &Sshd, seconds: f64) -> Result<f64> {
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

struct Agent {
    child: Child,
    started: Instant,
}

/// (utime + stime) in clock ticks, and VmHWM in KiB.
fn usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (ticks, hwm)
}

impl Agent {
    fn start(bin: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["tail", "--json"])
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

    /// Stops it; returns (CPU % of one core over its life, peak RSS KiB).
    fn stop(mut self) -> (f64, u64) {
        let (ticks, hwm) = usage(self.child.id());
        let wall = self.started.elapsed().as_secs_f64();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        (ticks as f64 / clk_tck() / wall * 100.0, hwm)
    }
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    let _ = world();
    let sshd = Sshd::start("bench")?;
    let (mut in_off, mut in_on, mut out_off, mut out_on, mut cpu, mut rss) =
        (vec![], vec![], vec![], vec![], vec![], 0u64);
    for round in 1..=a.rounds {
        out_off.push(storm_outside(a.seconds)?);
        in_off.push(storm_inside(&sshd, a.seconds)?);
        let agent = Agent::start(bin)?;
        out_on.push(storm_outside(a.seconds)?);
        in_on.push(storm_inside(&sshd, a.seconds)?);
        let (c, r) = agent.stop();
        cpu.push(c);
        rss = rss.max(r);
        eprintln!(
            "round {round}: outside off {:.0}/s on {:.0}/s; inside off {:.0}/s on {:.0}/s; agent {c:.1} % CPU",
            out_off[round - 1], out_on[round - 1], in_off[round - 1], in_on[round - 1]
        );
    }
    let (oo, on, io, ion) = (
        median(&mut out_off),
        median(&mut out_on),
        median(&mut in_off),
        median(&mut in_on),
    );
    println!(
        "exec storm (fork+exec /bin/true), {} rounds × {} s, medians:",
        a.rounds, a.seconds
    );
    println!("| where | tracer off | tracer on | on/off | overhead |");
    println!("|---|---|---|---|---|");
    for (w, off, on) in [
        ("outside any session", oo, on),
        ("inside an SSH session", io, ion),
    ] {
        println!(
            "| {w} | {off:.0}/s | {on:.0}/s | {:.3} | {:.1} % |",
            on / off,
            (1.0 - on / off) * 100.0
        );
    }
    println!(
        "agent: median CPU {:.1} % of one core over each traced phase (storms included); peak RSS {:.1} MiB",
        median(&mut cpu),
        rss as f64 / 1024.0
    );
    Ok(())
}
