//! The session socket and `ssh-trace sessions` against real sshd sessions
//! (metrics.rs, alerts.rs and top.rs test the rest of the operators' view).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{os::unix::fs::PermissionsExt, process::Command, time::Duration};

use ops::*;
use ssh_trace_tests::*;

#[test]
fn sessions_lists_a_pty_session_with_its_tty_and_command() {
    if !root_or_skip("sessions_lists_a_pty_session_with_its_tty_and_command") {
        return;
    }
    let sshd = Sshd::start("ops_sessions").unwrap();
    let (tracer, sock) = tracer_with_socket(&sshd, "ops_sessions");
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
    // The count is the session model's at the request; asked the instant
    // the shell exec'd its last command, it could still hold the child that
    // exited just before (seen once in three runs, 4 against 3; it agreed
    // half a second later each time): it must agree with /proc within 5 s.
    let agreed = wait_until(Duration::from_secs(5), || {
        let (l, _) = sessions_json(&sock);
        let n = row_of(&l, pty.port)?["processes"].as_u64()?;
        (n == session_processes(&sshd) as u64).then_some(n)
    });
    assert!(agreed.is_some(), "processes never agreed with /proc: {row}");
    assert!(row["bytes_in"].as_u64().unwrap() > 0 && row["bytes_out"].as_u64().unwrap() > 0);
    assert!(row["idle_s"].as_u64().unwrap() < 30);
    // How it logged in: the server's accepted decision (issue 13).
    let (key_type, fp) = auth::fingerprint(&world().key.with_extension("pub")).unwrap();
    assert_eq!(row["method"], "publickey", "{row}");
    assert_eq!(row["key"], format!("{key_type} {fp}"), "{row}");

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
    assert!(line.contains(" publickey ") && line.contains(&fp), "{line}");

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
    assert!(row["method"].is_null(), "/proc does not say how: {row}");
}
