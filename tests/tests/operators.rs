//! The operators' view against real sshd sessions: the session socket and
//! `ssh-trace sessions`, Prometheus metrics scraped by a real Prometheus,
//! alerts with a real HTTP receiver and clients from network namespaces,
//! and `top` under tmux.
mod ops;

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
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

pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sessions_lists_a_pty_session_with_its_tty_and_command() {
    if !root_or_skip("sessions_lists_a_pty_session_with_its_tty_and_command") {
        return;
    }
    let sshd = Sshd::start("ops_sessions").unwrap();
    let sock = world().dir.join("ops_sessions.sock");
    let filter = format!("destination.port = {}", sshd.port);
    let tracer = Tracer::start(&[
        "--filter",
        &filter,
        "--sessions-socket",
        sock.to_str().unwrap(),
    ])
    .unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "session socket must be root-only");

    let pty = PtySession::start(&sshd, 60);
    let row = wait_until(Duration::from_secs(15), || {
        let (l, _) = sessions_json(&sock);
        // Byte counts arrive at most once a second.
        row_of(&l, pty.port)
            .filter(|r| r["command"] == "sleep 60" && r["bytes_out"].as_u64() > Some(0))
    })
    .expect("the session with its foreground command and traffic");
    let (listing, _) = sessions_json(&sock);
    assert_eq!(listing["origin"], "agent");
    assert_eq!(
        listing["sessions"].as_array().unwrap().len(),
        1,
        "{listing}"
    );
    assert_eq!(row["user"], TEST_USER);
    assert_eq!(row["tty"], pty.tty.as_str());
    assert_eq!(row["processes"], session_processes(&sshd) as u64);
    assert!(row["bytes_in"].as_u64().unwrap() > 0 && row["bytes_out"].as_u64().unwrap() > 0);
    assert!(row["idle_s"].as_u64().unwrap() < 30);

    // The table shows the same row.
    let out = Command::new(agent_bin())
        .args(["sessions", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", pty.port)))
        .unwrap_or_else(|| panic!("no row in:\n{table}"));
    assert!(
        line.contains(TEST_USER) && line.contains(&pty.tty) && line.ends_with("sleep 60"),
        "{line}"
    );

    // Without the agent: said so, and a /proc snapshot marked as such.
    tracer.stop().unwrap();
    assert!(!sock.exists(), "the socket is removed at exit");
    let (snap, stderr) = sessions_json(&sock);
    assert!(stderr.contains("no running agent"), "{stderr}");
    assert_eq!(snap["origin"], "proc_snapshot");
    let row = row_of(&snap, pty.port).expect("the open session found in /proc");
    assert_eq!(row["user"], TEST_USER);
    assert_eq!(row["tty"], pty.tty.as_str());
    assert_eq!(row["command"], "sleep 60");
    assert!(row["bytes_in"].is_null() && row["idle_s"].is_null());
}
