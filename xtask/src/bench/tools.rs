//! Workloads for `cargo xtask bench`: small C programs (built here with the
//! system's cc, so the measured loop is not an interpreter's) and iperf3.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{ssh, Sshd};

const SOURCES: &[(&str, &str)] = &[
    ("storm", include_str!("tools/storm.c")),
    ("unixpp", include_str!("tools/unixpp.c")),
    ("writes", include_str!("tools/writes.c")),
    ("files", include_str!("tools/files.c")),
    ("connects", include_str!("tools/connects.c")),
];

/// Built tools, in a directory the SSH test user can execute from.
pub struct Tools {
    dir: PathBuf,
}

impl Tools {
    pub fn build() -> Result<Self> {
        let dir = PathBuf::from("/tmp/ssh-trace-bench-tools");
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o755)?;
        for (name, src) in SOURCES {
            let c = dir.join(format!("{name}.c"));
            std::fs::write(&c, src)?;
            let status = Command::new("cc")
                .args(["-O2", "-o"])
                .arg(dir.join(name))
                .arg(&c)
                .status()
                .context("running cc (gcc builds the benchmark's workloads)")?;
            if !status.success() {
                bail!("cc failed on {}", c.display());
            }
            set_mode(&dir.join(name), 0o755)?;
        }
        Ok(Self { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs a tool here; returns the rate it printed.
    pub fn rate(&self, name: &str, args: &[&str]) -> Result<f64> {
        let out = Command::new(self.path(name)).args(args).output()?;
        if !out.status.success() {
            bail!("{name} {args:?} failed");
        }
        parse_rate(&String::from_utf8_lossy(&out.stdout))
    }

    /// Runs a tool inside an SSH session as the test user.
    pub fn rate_in_session(&self, sshd: &Sshd, name: &str, args: &[&str]) -> Result<f64> {
        let cmd = format!("{} {}", self.path(name).display(), args.join(" "));
        let run = ssh(sshd, &[], &cmd)?;
        if !run.success {
            bail!("{cmd} in a session failed: {}", run.stderr);
        }
        parse_rate(&run.stdout)
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", p.display()))
}

pub fn parse_rate(s: &str) -> Result<f64> {
    s.trim()
        .lines()
        .last()
        .unwrap_or_default()
        .parse()
        .with_context(|| format!("workload printed {s:?}"))
}

/// An iperf3 server on loopback for the whole benchmark.
pub struct Iperf {
    server: Child,
    port: u16,
}

impl Iperf {
    pub fn start() -> Result<Self> {
        let port = ssh_trace_tests::free_port()?;
        let server = Command::new("iperf3")
            .args(["-s", "-B", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 -s (cargo xtask setup installs iperf3 for the benchmarks)")?;
        std::thread::sleep(Duration::from_millis(300));
        Ok(Self { server, port })
    }

    /// Messages per second sent by one client run: TCP or UDP, `len`-byte writes.
    pub fn rate(&self, udp: bool, len: usize, seconds: f64) -> Result<f64> {
        // The server may still be ending the last test on a loaded machine
        // ("the server is busy running a test"): ask again shortly.
        for _ in 0..20 {
            match self.run(udp, len, seconds) {
                Err(e) if e.to_string().contains("busy") => {
                    std::thread::sleep(Duration::from_millis(500))
                }
                r => return r,
            }
        }
        self.run(udp, len, seconds)
    }

    fn run(&self, udp: bool, len: usize, seconds: f64) -> Result<f64> {
        let mut c = Command::new("iperf3");
        c.args(["-c", "127.0.0.1", "-p", &self.port.to_string(), "-J"])
            .args(["-t", &format!("{seconds}"), "-l", &len.to_string()]);
        if udp {
            c.args(["-u", "-b", "0"]);
        }
        let out = c.output().context("running iperf3 -c")?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("iperf3 output: {}", String::from_utf8_lossy(&out.stdout)))?;
        let sum = if udp {
            &v["end"]["sum"]
        } else {
            &v["end"]["sum_sent"]
        };
        let (bytes, secs) = (sum["bytes"].as_f64(), sum["seconds"].as_f64());
        match (bytes, secs) {
            (Some(b), Some(s)) if s > 0.0 => Ok(b / len as f64 / s),
            _ => bail!("iperf3 gave no totals: {}", v["error"]),
        }
    }
}

impl Drop for Iperf {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
