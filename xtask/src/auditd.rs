//! auditd as a peer for the benchmarks: the classic execve (and setuid
//! family) auditing that ssh-trace is compared with.
use std::{process::Command, time::Duration};

use anyhow::{bail, Context, Result};

pub const EXEC_RULE: &[&str] = &[
    "-a",
    "always,exit",
    "-F",
    "arch=b64",
    "-S",
    "execve",
    "-k",
    "exec",
];
pub const UID_RULE: &[&str] = &[
    "-a",
    "always,exit",
    "-F",
    "arch=b64",
    "-S",
    "setuid,setreuid,setresuid,setgid,setregid,setresgid",
    "-k",
    "uid",
];
pub const LOG: &str = "/var/log/audit/audit.log";

fn auditctl(args: &[&str]) -> Result<String> {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .context("running auditctl")?;
    if !out.status.success() {
        bail!(
            "auditctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts the auditd daemon with a fresh log and the given rules.
pub fn start(rules: &[&[&str]]) -> Result<()> {
    let _ = Command::new("pkill").args(["-x", "auditd"]).status();
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::fs::remove_file(LOG);
    let status = Command::new("auditd").status().context("starting auditd")?;
    if !status.success() {
        bail!("auditd failed to start ({status})");
    }
    std::thread::sleep(Duration::from_millis(500));
    auditctl(&["-D"])?;
    // A realistic backlog: the default 64 drops records under load.
    auditctl(&["-b", "8192"])?;
    for r in rules {
        auditctl(r)?;
    }
    auditctl(&["-e", "1"])?;
    Ok(())
}

pub fn pid() -> u32 {
    Command::new("pgrep")
        .args(["-x", "auditd"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Removes the rules, stops the daemon; returns the kernel's "lost" line.
pub fn stop() -> String {
    let status = auditctl(&["-s"]).unwrap_or_default();
    let _ = auditctl(&["-D"]);
    let _ = auditctl(&["-e", "0"]);
    let _ = Command::new("pkill").args(["-x", "auditd"]).status();
    status
        .lines()
        .find(|l| l.starts_with("lost "))
        .unwrap_or("lost ?")
        .to_owned()
}
