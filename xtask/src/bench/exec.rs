//! `cargo xtask bench [exec]`: exec-storm rate inside a traced SSH session and
//! outside any session, with the tracer off and on, measured in alternation
//! over several rounds (medians and ratios), plus the agent's CPU and peak
//! RSS. Figures, not assertions.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{world, Sshd};

use super::measure::{cpu_pct, median, storm_inside, storm_outside, usage};

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

struct Agent {
    child: Child,
    started: Instant,
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
        (cpu_pct(ticks, wall), hwm)
    }
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
