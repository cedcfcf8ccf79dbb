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
/// auditd runs with its own configuration here (`auditd -c DIR`): one log,
/// never rotated, so a long soak keeps every record for the comparison.
pub const DIR: &str = "/var/tmp/ssh-trace-auditd";
pub const LOG: &str = "/var/tmp/ssh-trace-auditd/audit.log";

fn write_config() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let system = std::fs::read_to_string("/etc/audit/auditd.conf")
        .context("reading /etc/audit/auditd.conf")?;
    let mut conf: String = system
        .lines()
        .filter(|l| {
            let key = l.split('=').next().unwrap_or_default().trim();
            ![
                "log_file",
                "max_log_file",
                "max_log_file_action",
                "num_logs",
            ]
            .contains(&key)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    conf.push_str(&format!(
        "log_file = {LOG}\nmax_log_file = 4096\nmax_log_file_action = IGNORE\nnum_logs = 1\n"
    ));
    std::fs::create_dir_all(DIR)?;
    let path = format!("{DIR}/auditd.conf");
    std::fs::write(&path, conf)?;
    // auditd refuses a configuration others may write.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))?;
    Ok(())
}

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
    for f in log_files() {
        let _ = std::fs::remove_file(f);
    }
    write_config()?;
    let status = Command::new("auditd")
        .args(["-c", DIR])
        .status()
        .context("starting auditd")?;
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

/// audit.log and its rotations (auditd rotates at 8 MiB by default).
fn log_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(LOG)
        .parent()
        .unwrap_or(std::path::Path::new("/"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("audit.log"))
    });
    files
}

/// Every record written since `start`, oldest first (audit.log.N … audit.log).
pub fn read_log() -> String {
    let mut files = log_files();
    let n = |p: &std::path::PathBuf| -> u32 {
        p.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.parse().ok())
            .unwrap_or(0)
    };
    files.sort_by_key(|p| std::cmp::Reverse(n(p)));
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect()
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
