//! Prometheus metrics: a real Prometheus scrapes the agent on loopback
//! during real sessions; its HTTP API must report what the event stream
//! showed. `promtool check metrics` accepts the endpoint's output.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use ops::*;
use serde_json::Value;
use ssh_trace_tests::{prometheus::Prometheus, *};

#[test]
fn prometheus_scrapes_counts_of_real_sessions() {
    if !root_or_skip("prometheus_scrapes_counts_of_real_sessions") {
        return;
    }
    let sshd = Sshd::start("ops_metrics").unwrap();
    let mport = free_port().unwrap();
    let addr = format!("127.0.0.1:{mport}");
    let filter = format!("destination.port = {}", sshd.port);
    let tracer = Tracer::start(&[
        "--filter",
        &filter,
        "--no-sessions-socket",
        "--metrics-listen",
        &addr,
        "--metrics-source-ip",
    ])
    .unwrap();
    let prom = Prometheus::start("metrics", &addr);
    let q = |m: &str| format!("{m}{{job=\"ssh-trace\"}}");

    // One open pty session, two short ones, one that never authenticates.
    let pty = PtySession::start(&sshd, 60);
    assert!(
        prom.wait_for(
            &format!("ssh_trace_sessions_active{{user=\"{TEST_USER}\",source_ip=\"127.0.0.1\"}}"),
            1.0
        ) == Some(1.0)
    );
    for _ in 0..2 {
        assert!(ssh(&sshd, &[], "true").unwrap().success);
    }
    ssh_wrong_key(&sshd);
    drop(pty);
    let events = wait_ends(&tracer, 4);
    let ends: Vec<&Value> = of_kind(&events, "session.end");
    assert_eq!(ends.len(), 4);
    let sum = |f: &str| {
        ends.iter()
            .map(|e| e["session"][f].as_u64().unwrap())
            .sum::<u64>() as f64
    };

    let logins = format!("ssh_trace_logins_total{{user=\"{TEST_USER}\",outcome=\"success\"}}");
    assert_eq!(prom.wait_for(&logins, 3.0), Some(3.0));
    assert_eq!(
        prom.wait_for("ssh_trace_connections_total{outcome=\"logged_in\"}", 3.0),
        Some(3.0)
    );
    assert_eq!(
        prom.wait_for(
            "ssh_trace_connections_total{outcome=\"never_authenticated\"}",
            1.0
        ),
        Some(1.0)
    );
    assert_eq!(
        prom.wait_for(&q("ssh_trace_session_duration_seconds_count"), 4.0),
        Some(4.0)
    );
    assert_eq!(
        prom.wait_for("sum(ssh_trace_sessions_active)", 0.0),
        Some(0.0)
    );
    let bytes_in = sum("bytes_in");
    let bytes_out = sum("bytes_out");
    assert_eq!(
        prom.wait_for(
            "sum(ssh_trace_session_bytes_total{direction=\"in\"})",
            bytes_in
        ),
        Some(bytes_in)
    );
    assert_eq!(
        prom.wait_for(
            "sum(ssh_trace_session_bytes_total{direction=\"out\"})",
            bytes_out
        ),
        Some(bytes_out)
    );
    assert_eq!(
        prom.wait_for("ssh_trace_events_total{event=\"session.end\"}", 4.0),
        Some(4.0)
    );
    assert!(
        prom.value(&q("ssh_trace_agent_resident_memory_bytes"))
            .unwrap()
            > 1e6
    );
    assert!(prom
        .value(&q("ssh_trace_agent_cpu_seconds_total"))
        .is_some());

    // promtool accepts what a plain client gets.
    let text = ureq::get(&format!("http://{addr}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    tracer.stop().unwrap();
}

/// Events once `n` sessions ended.
fn wait_ends(tracer: &Tracer, n: usize) -> Vec<Value> {
    assert!(tracer.wait_for(Duration::from_secs(20), |_| of_kind(
        &tracer.events(),
        "session.end"
    )
    .len()
        >= n));
    tracer.events()
}
