//! `ssh-trace top` in a real terminal (tmux) against a real pty session.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{process::Command, time::Duration};

use ops::*;
use ssh_trace_tests::*;

#[test]
fn top_shows_a_session_its_tree_and_events_and_quits() {
    if !root_or_skip("top_shows_a_session_its_tree_and_events_and_quits") {
        return;
    }
    let sshd = Sshd::start("ops_top").unwrap();
    let (tracer, sock) = tracer_with_socket(&sshd, "ops_top");
    let pty = PtySession::start(&sshd, 60);
    let src = format!("127.0.0.1:{}", pty.port);
    // The agent knows the session before top starts.
    wait_until(Duration::from_secs(15), || {
        let (l, _) = sessions_json(&sock);
        row_of(&l, pty.port).filter(|r| r["command"] == "sleep 60")
    })
    .expect("session listed");

    let tmux = Tmux(format!("sshtrace-top-{}", std::process::id()));
    let top = format!("{} top --socket {}", agent_bin().display(), sock.display());
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        &tmux.0,
        "-x",
        "200",
        "-y",
        "50",
        &top,
    ]);
    let screen = tmux
        .wait_screen(|s| s.contains(&src))
        .unwrap_or_else(|| panic!("no session row:\n{}", tmux.screen()));
    let line = screen.lines().find(|l| l.contains(&src)).unwrap();
    assert!(
        line.contains(TEST_USER)
            && line.contains(&pty.tty)
            && line.contains("sleep 60")
            && line.contains("publickey"),
        "{line}"
    );
    assert!(screen.contains("1 open sessions"), "{screen}");

    tmux.cmd(&["send-keys", "-t", &tmux.0, "Enter"]);
    let screen = tmux
        // The row comes from /proc; the exec event may reach the agent's
        // live table a moment later: the pane refreshes until it shows.
        .wait_screen(|s| {
            s.contains("Processes:")
                && s.contains("Recent events:")
                && s.contains("/usr/bin/sleep sleep 60")
        })
        .unwrap_or_else(|| panic!("no detail:\n{}", tmux.screen()));
    let detail: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("Processes:"))
        .collect();
    let tree: Vec<&str> = detail
        .iter()
        .take_while(|l| !l.contains("Recent events:"))
        .copied()
        .collect();
    assert!(
        tree.iter()
            .any(|l| l.contains(&format!("sshd: {TEST_USER}@{}", pty.tty))),
        "{screen}"
    );
    assert!(tree.iter().any(|l| l.contains("sleep 60")), "{screen}");
    let (key_type, fp) = auth::fingerprint(&world().key.with_extension("pub")).unwrap();
    let how = format!("Logged in by publickey: {key_type} {fp}");
    assert!(screen.contains(&how), "{how}\n{screen}");
    let recent: Vec<&str> = detail.iter().skip(tree.len()).copied().collect();
    assert!(
        recent
            .iter()
            .any(|l| l.contains("process.exec") && l.contains("/usr/bin/sleep sleep 60")),
        "{screen}"
    );

    tmux.cmd(&["send-keys", "-t", &tmux.0, "q"]);
    let gone = wait_until(Duration::from_secs(10), || {
        let alive = Command::new("tmux")
            .args(["has-session", "-t", &tmux.0])
            .status()
            .unwrap()
            .success();
        (!alive).then_some(())
    });
    assert!(gone.is_some(), "top did not quit on q:\n{}", tmux.screen());
    drop(pty);
    tracer.stop().unwrap();
}
