//! Helpers shared by the operators' view tests.
#![allow(dead_code)]
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use ssh_trace_tests::*;

/// An `ssh -tt` session that prints its tty and client port, then runs
/// `sleep`. It prints once more after 1.5 s: the kernel flushes a
/// connection's byte counts on traffic at least a second after the last flush.
pub struct PtySession {
    pub child: Child,
    pub tty: String,
    pub port: u16,
}

impl PtySession {
    pub fn start(sshd: &Sshd, secs: u32) -> PtySession {
        let mut child = ssh_base(sshd, &world().key)
            .arg("-tt")
            .arg(format!("{TEST_USER}@127.0.0.1"))
            .arg(format!(
                "echo $SSH_CONNECTION; tty; sleep 1.5; echo tick; exec sleep {secs}"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let conn = lines.next().unwrap().unwrap();
        let tty = lines.next().unwrap().unwrap();
        let port = conn.split_whitespace().nth(1).unwrap().parse().unwrap();
        PtySession {
            child,
            tty: tty.trim().trim_start_matches("/dev/").to_owned(),
            port,
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes of the sessions of `sshd` as /proc shows them: its children
/// (one per connection) and all their descendants.
pub fn session_processes(sshd: &Sshd) -> usize {
    let mut parent = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = rest.split(' ').nth(1).unwrap().parse().unwrap();
        parent.insert(pid, ppid);
    }
    parent
        .keys()
        .filter(|&&p| {
            let mut q = p;
            while let Some(&pp) = parent.get(&q) {
                if pp == sshd.pid() {
                    return true;
                }
                if pp <= 1 {
                    break;
                }
                q = pp;
            }
            false
        })
        .count()
}

pub fn sessions_json(sock: &std::path::Path) -> (Value, String) {
    let out = Command::new(agent_bin())
        .args(["sessions", "--json", "--socket"])
        .arg(sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn row_of(listing: &Value, port: u16) -> Option<Value> {
    listing["sessions"]
        .as_array()?
        .iter()
        .find(|r| r["source"] == format!("127.0.0.1:{port}"))
        .cloned()
}

/// The agent, kept to `sshd`'s sessions, serving them on a socket of its own.
pub fn tracer_with_socket(sshd: &Sshd, name: &str) -> (Tracer, std::path::PathBuf) {
    let sock = world().dir.join(format!("{name}.sock"));
    let filter = format!("destination.port = {}", sshd.port);
    let tracer = Tracer::start(&[
        "--filter",
        &filter,
        "--sessions-socket",
        sock.to_str().unwrap(),
    ])
    .unwrap();
    (tracer, sock)
}

/// A tmux session (a real terminal) running one command; killed when dropped.
pub struct Tmux(pub String);

impl Tmux {
    pub fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux (run `cargo xtask setup`)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached session `name` of WIDTHx50 running `command`.
    pub fn start(name: &str, width: u16, command: &str) -> Tmux {
        let t = Tmux(name.to_owned());
        let w = width.to_string();
        t.cmd(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &w,
            "-y",
            "50",
            command,
        ]);
        t
    }

    /// Everything the pane printed, scrolled-off lines too, wrapped lines joined.
    pub fn history(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-J", "-S", "-", "-t", &self.0])
    }

    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", &self.0])
    }

    pub fn wait_screen(&self, what: impl Fn(&str) -> bool) -> Option<String> {
        wait_until(Duration::from_secs(15), || {
            Some(self.screen()).filter(|s| what(s))
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}
