//! The agent killed and restarted under a busy session: with its programs
//! pinned (`--persist NAME`) the kernel keeps recording meanwhile, and the
//! next agent continues the same sessions — nothing in between is missed,
//! not even a daemon the session double-forked (reparented to init).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use ssh_trace_tests::*;

const WAIT: Duration = Duration::from_secs(30);

/// Unloads the instance's pinned programs when the test ends, however.
struct Unload(String);

impl Drop for Unload {
    fn drop(&mut self) {
        let _ = Command::new(agent_bin()).args(["unload", &self.0]).status();
    }
}

fn echoes(events: &[Value], prefix: &str, n: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for e in of_kind(events, "process.exec") {
        let a = args_of(e);
        if a.len() == 2 && a[0] == "/bin/echo" && a[1].starts_with(prefix) {
            if let Ok(i) = a[1][prefix.len()..].parse::<usize>() {
                if (1..=n).contains(&i) {
                    out.push((i, e["session"]["id"].as_str().unwrap_or("").to_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn killed_agent_restarted_with_persist_misses_no_exec_of_a_busy_session() {
    if !root_or_skip("killed_agent_restarted_with_persist_misses_no_exec_of_a_busy_session") {
        return;
    }
    let name = format!("test-restart-{}", std::process::id());
    let _unload = Unload(name.clone());
    let sshd = Sshd::start("restart").unwrap();
    let first = Tracer::start(&["--persist", &name]).unwrap();
    let script = "echo $SSH_CONNECTION; \
        (setsid sh -c 'sleep 1; for i in $(seq 1 40); do /bin/echo daemon-$i; sleep 0.1; done' >/dev/null 2>&1 < /dev/null &); \
        for i in $(seq 1 200); do /bin/echo busy-$i; sleep 0.03; done";
    let mut client = ssh_base(&sshd, &world().key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(client.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let busy = |e: &Value| args_of(e) == ["/bin/echo", "busy-20"];
    assert!(first.wait_for(WAIT, busy), "busy session not seen");
    // SIGKILL; what it wrote before dying is read to the pipe's end (the
    // next agent does not write again what this one took from the kernel).
    let before = first.kill();
    std::thread::sleep(Duration::from_secs(2));
    let second = Tracer::start(&["--persist", &name]).unwrap();
    assert!(client.wait().unwrap().success());
    let deadline = Instant::now() + WAIT;
    let done = |e: &Value| args_of(e) == ["/bin/echo", "daemon-40"];
    assert!(
        second.wait_for(deadline - Instant::now(), done),
        "daemon's last exec not seen"
    );
    let ended = |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port;
    assert!(
        second.wait_for(WAIT, ended),
        "no session.end after the restart"
    );
    let after = second.stop().unwrap();

    let id = session_events(&before, port)[0]["session"]["id"].clone();
    let all: Vec<Value> = before.iter().chain(after.iter()).cloned().collect();
    for (prefix, n) in [("busy-", 200), ("daemon-", 40)] {
        let seen = echoes(&all, prefix, n);
        let mut count = vec![0; n + 1];
        for (i, sid) in &seen {
            count[*i] += 1;
            assert_eq!(
                Value::from(sid.as_str()),
                id,
                "{prefix}{i} in the same session"
            );
        }
        let missing: Vec<usize> = (1..=n).filter(|&i| count[i] == 0).collect();
        assert!(missing.is_empty(), "{prefix}: missed {missing:?}");
        assert!(
            count[1..].iter().all(|&c| c == 1),
            "{prefix}: reported twice"
        );
    }
    // The second agent says what the first left: killed (not clean), its
    // programs kept recording, last alive before this start, and what it
    // had taken from the kernel without writing counted as agent_restart.
    let start = after
        .iter()
        .find(|e| e["event"] == "agent.start")
        .expect("agent.start");
    let previous = &start["agent"]["previous"];
    assert_eq!(previous["clean"], false, "{start}");
    assert_eq!(previous["programs_kept"], true, "{start}");
    let last_alive = previous["last_alive"].as_str().expect("last_alive");
    assert!(
        last_alive < start["time"].as_str().unwrap(),
        "{last_alive} before {start}"
    );
    let in_flight = previous["lost_in_flight"].as_u64().expect("lost_in_flight");
    let stop = after
        .iter()
        .find(|e| e["event"] == "agent.stop")
        .expect("agent.stop");
    assert_eq!(
        stop["totals"]["lost"]["agent_restart"].as_u64(),
        Some(in_flight),
        "{stop}"
    );
    let first_start = before
        .iter()
        .find(|e| e["event"] == "agent.start")
        .expect("first agent.start");
    assert!(
        first_start["agent"].get("previous").is_none()
            || first_start["agent"]["previous"].is_null(),
        "a fresh instance has no previous agent: {first_start}"
    );

    let end = after.iter().find(|e| ended(e)).expect("session.end");
    assert_eq!(end["session"]["id"], id, "the same session ends");
    assert!(
        end["session"]["bytes_out"].as_u64().unwrap() > 1000,
        "{end}"
    );
}
