//! The agent as a measured process: `ssh-trace tail --json` with its
//! output discarded, its CPU time and peak RSS read from /proc.
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

use super::measure::{cpu_pct, usage};

pub struct Agent {
    child: Child,
    started: Instant,
}

impl Agent {
    pub fn start(bin: &Path) -> Result<Self> {
        Self::start_with(bin, &[])
    }

    /// With more flags (e.g. `--tty`).
    pub fn start_with(bin: &Path, extra: &[&str]) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["tail", "--json", "--no-sessions-socket"])
            .args(extra)
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
