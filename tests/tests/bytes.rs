//! Session bytes without per-packet hooks: live counts from sock_diag for
//! idle sessions, and a session found at start-up counted from its
//! connection's start — each against a counting proxy on the client side.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use ssh_trace_tests::*;

const WAIT: Duration = Duration::from_secs(20);

/// A client through the counting proxy, running `cmd`; returns it and the
/// session's client port (printed first by the command).
fn client(sshd: &Sshd, proxy: &CountProxy, cmd: &str) -> (Child, u16) {
    let mut child = ssh_base(sshd, &world().key)
        .args(["-o", &proxy.option])
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(format!("echo $SSH_CONNECTION; {cmd}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, connection_port(&line).expect("SSH_CONNECTION"))
}

/// The proxy's counts once they stopped moving for `quiet`.
fn settled(proxy: &CountProxy, quiet: Duration) -> Counted {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    let mut since = Instant::now();
    loop {
        let now = proxy.live().ok();
        if let Some(c) = now
            .as_ref()
            .filter(|_| now == last && since.elapsed() >= quiet)
        {
            return Counted { ..*c };
        }
        if now != last {
            last = now;
            since = Instant::now();
        }
        assert!(Instant::now() < deadline, "the session never went quiet");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn counts(e: &Value) -> (u64, u64) {
    let s = &e["session"];
    (
        s["bytes_in"].as_u64().unwrap_or(0),
        s["bytes_out"].as_u64().unwrap_or(0),
    )
}

#[test]
fn idle_session_shows_its_current_bytes_within_two_seconds() {
    if !root_or_skip("idle_session_shows_its_current_bytes_within_two_seconds") {
        return;
    }
    let sshd = Sshd::start("idlebytes").unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let proxy = CountProxy::new(&sshd, "idle");
    let (mut child, port) = client(&sshd, &proxy, "sleep 30");
    let c = settled(&proxy, Duration::from_millis(1500));
    assert_eq!(c.port, port);
    let quiet_at = Instant::now();
    let exact = |e: &Value| {
        e["event"] == "session.bytes"
            && e["session"]["source"]["port"] == port
            && counts(e) == (c.sent, c.received)
    };
    assert!(
        tracer.wait_for(Duration::from_secs(2), exact),
        "no session.bytes equal to the proxy's {c:?} within 2 s of going idle: {:?}",
        of_kind(&session_events(&tracer.events(), port), "session.bytes")
    );
    assert!(quiet_at.elapsed() <= Duration::from_millis(2500));
    let _ = child.kill();
    let _ = child.wait();
    tracer.stop().unwrap();
}

#[test]
fn discovered_session_counts_bytes_from_the_connection_start() {
    if !root_or_skip("discovered_session_counts_bytes_from_the_connection_start") {
        return;
    }
    let sshd = Sshd::start("discoverbytes").unwrap();
    let proxy = CountProxy::new(&sshd, "discover");
    // 100 kB before the agent starts, a little more after.
    let (mut child, port) = client(
        &sshd,
        &proxy,
        "head -c 100000 /dev/zero | base64; sleep 3; echo after",
    );
    let before = settled(&proxy, Duration::from_millis(500));
    assert!(before.received > 100_000, "{before:?}");
    let tracer = Tracer::start(&[]).unwrap();
    assert!(child.wait().unwrap().success());
    let ended = |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port;
    assert!(tracer.wait_for(WAIT, ended), "no session.end");
    let all = tracer.stop().unwrap();
    let ev = session_events(&all, port);
    let end = ev.iter().find(|e| ended(e)).unwrap();
    assert_eq!(end["session"]["discovered"], true);
    let c = proxy.counted().unwrap();
    assert_eq!(
        counts(end),
        (c.sent, c.received),
        "bytes since the connection started"
    );
}
