//! agent.heartbeat: in agent mode the agent says every interval that it is
//! alive and how it is doing (its counts, open sessions, queues), so a SIEM
//! can alert on its silence; ssh_trace_agent_heartbeat_timestamp_seconds is
//! the metric counterpart for Prometheus.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::time::Duration;

use serde_json::Value;
use ssh_trace_tests::{peers::*, sinks::test_dir, *};

fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The gauge's value in a Prometheus text scrape.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn the_agent_writes_a_heartbeat_every_interval_with_its_counts() {
    if !root_or_skip("the_agent_writes_a_heartbeat_every_interval_with_its_counts") {
        return;
    }
    let sshd = Sshd::start("heartbeat").unwrap();
    let dir = test_dir("heartbeat");
    let (file, cfg) = (dir.join("events.json"), dir.join("config.toml"));
    let metrics = format!("127.0.0.1:{}", free_port().unwrap());
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nheartbeat = \"1s\"\nmetrics_listen = \"{metrics}\"\n\
             sessions_socket = \"{}\"\nspool_dir = \"{}\"\n\n\
             [[sink]]\nname = \"file\"\ntype = \"file\"\npath = \"{}\"\n",
            dir.join("sessions.sock").display(),
            dir.join("spool").display(),
            file.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    // A session open across several heartbeats.
    let run = ssh(&sshd, &[], "echo $SSH_CONNECTION; sleep 3.5").unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    let is_beat = |e: &Value| e["event"] == "agent.heartbeat";
    let beats_after = |n: usize| {
        wait_for_count(Duration::from_secs(30), n, || {
            parsed(&lines_of(&file))
                .iter()
                .filter(|e| is_beat(e))
                .count()
        })
    };
    beats_after(5);
    let scraped = ureq::get(&format!("http://{metrics}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let gauge_s = gauge(&scraped, "ssh_trace_agent_heartbeat_timestamp_seconds").unwrap();
    // The sink may lag the metrics (they see events first): one more beat.
    let seen = beats_after(6);
    agent.stop().unwrap();

    let events = parsed(&lines_of(&file));
    let beats: Vec<(usize, &Value)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| is_beat(e))
        .collect();
    assert!(beats.len() >= seen, "{} heartbeats", beats.len());
    let mine = |kind: &str| {
        events
            .iter()
            .position(|e| e["event"] == kind && e["session"]["source"]["port"] == port)
            .unwrap_or_else(|| panic!("no {kind} of port {port}"))
    };
    let (login, end) = (mine("session.login"), mine("session.end"));
    let mut last_uptime = None;
    for (at, beat) in &beats {
        let h = &beat["heartbeat"];
        assert_eq!(h["interval_s"], 1, "{beat}");
        // Never more often than the interval.
        let up = h["uptime_s"].as_u64().unwrap();
        if let Some(prev) = last_uptime {
            assert!(up > prev, "uptime {prev} then {up}");
        }
        last_uptime = Some(up);
        // Exactly the events written before it (the file sink has no filter).
        assert_eq!(h["events"].as_u64(), Some(*at as u64), "{beat}");
        assert!(h["records"].as_u64().unwrap() > 0 || *at < login, "{beat}");
        let sink = &h["sinks"][0];
        assert_eq!(sink["sink"], "file", "{beat}");
        assert_eq!(sink["dropped"], 0, "{beat}");
        let delivered = sink["delivered"].as_u64().unwrap();
        let waiting = sink["waiting"].as_u64().unwrap();
        assert!(delivered + waiting <= *at as u64, "{beat}");
        // While this session was logged in, it was open, logged in and had
        // processes (its shell and sleep).
        if (login..end).contains(at) {
            assert!(h["sessions_open"].as_u64().unwrap() >= 1, "{beat}");
            assert!(h["sessions_logged_in"].as_u64().unwrap() >= 1, "{beat}");
            assert!(h["processes"].as_u64().unwrap() >= 1, "{beat}");
        }
        // Losses so far: those the agent.loss events before it reported.
        let reported: u64 = events[..*at]
            .iter()
            .rev()
            .find(|e| e["event"] == "agent.loss")
            .map_or(0, |l| {
                l["total"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(Value::as_u64)
                    .sum()
            });
        assert_eq!(h["lost"].as_u64(), Some(reported), "{beat}");
    }
    let during = beats
        .iter()
        .filter(|(at, _)| (login..end).contains(at))
        .count();
    assert!(during >= 2, "{during} heartbeats during a 3.5 s session");
    // The gauge holds one of the heartbeats' times, in seconds.
    let times: Vec<f64> = beats
        .iter()
        .map(|(_, b)| {
            let t = humantime::parse_rfc3339(b["time"].as_str().unwrap()).unwrap();
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as f64
        })
        .collect();
    assert!(times.contains(&gauge_s), "{gauge_s} not in {times:?}");
    let stop = events
        .iter()
        .position(|e| e["event"] == "agent.stop")
        .unwrap();
    assert_eq!(stop, events.len() - 1, "nothing after agent.stop");
}

#[test]
fn tail_writes_no_heartbeat_unless_asked() {
    if !root_or_skip("tail_writes_no_heartbeat_unless_asked") {
        return;
    }
    let plain = Tracer::start(&["--no-sessions-socket"]).unwrap();
    let asked = Tracer::start(&["--no-sessions-socket", "--heartbeat", "1s"]).unwrap();
    assert!(asked.wait_for(Duration::from_secs(30), |e| e["event"] == "agent.heartbeat"));
    std::thread::sleep(Duration::from_millis(1500));
    let events = plain.stop().unwrap();
    assert!(
        !events.iter().any(|e| e["event"] == "agent.heartbeat"),
        "tail without --heartbeat wrote one"
    );
    drop(asked);
}
