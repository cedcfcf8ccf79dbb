//! `timeline`: every event of one session.
use serde_json::json;

use super::*;

fn timeline(q: &str) -> Report {
    report(ReportKind::Timeline { session: q.into() }, &stream())
}

#[test]
fn text_has_one_line_per_event_of_the_session() {
    let t = text(&timeline(A));
    let expected = [
        "session 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1a1  user alice  source 10.0.0.5:40000",
        "TIME (UTC)               EVENT            DETAILS",
        "2023-11-14 22:13:20.000  session.connect  from 10.0.0.5:40000 to 10.0.0.1:22",
        "2023-11-14 22:13:20.100  process.exec     pid=600 ppid=500 uid=0 /usr/sbin/sshd -D -R",
        "2023-11-14 22:13:20.500  session.bytes    in=1000 out=2000",
        "2023-11-14 22:13:21.000  session.login    user=alice uid=1001",
        "2023-11-14 22:13:21.100  process.exec     pid=601 ppid=600 uid=1001 bash -c ls",
        "2023-11-14 22:13:21.200  process.exec     pid=601 ppid=600 uid=1001 ls",
        "2023-11-14 22:13:21.300  process.exit     pid=601 exit=0",
        "2023-11-14 22:13:50.000  session.bytes    in=3000 out=5000",
        "2023-11-14 22:14:05.000  session.bytes    in=3500 out=9000",
        "2023-11-14 22:14:10.000  session.end      in=4000 out=10000 duration=0:00:50.000 logged_in=yes",
    ];
    assert_eq!(t, expected.join("\n") + "\n");
}

#[test]
fn json_is_the_events_in_order_as_in_the_schema() {
    let v = json(&timeline("E1A1"));
    assert_eq!(v["report"], "timeline");
    assert_eq!(
        v["session"],
        json!({"id": A, "user": "alice", "uid": 1001,
               "source": {"ip": "10.0.0.5", "port": 40000},
               "destination": {"ip": "10.0.0.1", "port": 22}})
    );
    let events = v["events"].as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "session.connect",
            "process.exec",
            "session.bytes",
            "session.login",
            "process.exec",
            "process.exec",
            "process.exit",
            "session.bytes",
            "session.bytes",
            "session.end",
        ]
    );
    assert_eq!(events[0]["time"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(events[0]["session"]["user"], json!(null));
    assert_eq!(events[4]["process"]["args"], json!(["bash", "-c", "ls"]));
    assert_eq!(events[4]["session"]["user"], "alice");
    assert_eq!(events[9]["session"]["bytes_in"], 4000);
    assert_eq!(events[9]["session"]["duration_ms"], 50000);
    assert_eq!(events[9]["session"]["logged_in"], true);
    assert!(events.iter().all(|e| e.get("host").is_none()));
}

#[test]
fn keeps_only_the_chosen_session() {
    let r = timeline(B);
    let State::Timeline(s) = &r.state else {
        panic!()
    };
    assert_eq!(s.chosen().unwrap().1.len(), 4);
}

use super::super::State;
