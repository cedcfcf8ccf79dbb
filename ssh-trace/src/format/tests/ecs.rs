//! ECS mapping of every event type, compared document by document: each
//! mapped field with its exact value, and no field that is not listed.
use serde_json::{json, Value};

use crate::{
    event::Kind,
    format::{
        ecs::Ecs,
        samples::{event, CA_FP, HOST, KEY_FP, SESSION_ID},
    },
};

const TS: &str = "2025-11-13T02:13:20.123456789Z";

fn ecs(ev: &crate::event::Event) -> Value {
    let mut out = Vec::new();
    Ecs.write(ev, HOST, &mut out);
    assert_eq!(out.last(), Some(&b'\n'), "one line");
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&out).unwrap()
}

/// Fields on every event.
fn common(kind: &str, category: &[&str], types: &[&str]) -> Value {
    json!({
        "@timestamp": TS,
        "ecs": {"version": "8.17.0"},
        "host": {"name": HOST},
        "agent": {"type": "ssh-trace"},
        "event": {"kind": "event", "category": category, "type": types, "action": kind},
    })
}

/// Fields of a session (logged in or not) on every session event.
fn session(user: bool) -> Value {
    let mut v = json!({
        "process": {"entry_leader": {
            "entity_id": SESSION_ID,
            "entry_meta": {"type": "sshd", "source": {"ip": "192.0.2.10"}},
        }},
        "source": {"ip": "192.0.2.10", "port": 50022},
        "destination": {"ip": "192.0.2.1", "port": 22},
        "network": {"transport": "tcp", "protocol": "ssh", "direction": "ingress"},
        "ssh_trace": {"session": {"server": {"uid": 0, "mode": "accept"}}},
    });
    if user {
        v["user"] = json!({"name": "alice", "id": "1001"});
    }
    v
}

/// Deep merge of `b` into `a`.
fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(am), Value::Object(bm)) = (&mut a, b.clone()) {
        for (k, v) in bm {
            let cur = am.remove(&k).unwrap_or(Value::Null);
            am.insert(k, if cur.is_object() { merge(cur, v) } else { v });
        }
        return a;
    }
    b
}

fn check(kind: Kind, expected: Value) {
    let got = ecs(&event(kind));
    assert_eq!(
        got,
        expected,
        "{}\n got: {}\nwant: {}",
        kind.name(),
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

#[test]
fn session_connect() {
    let want = merge(
        common("session.connect", &["network"], &["connection", "start"]),
        session(false),
    );
    check(
        Kind::SessionConnect,
        merge(want, json!({"event": {"outcome": "success"}})),
    );
}

/// The sample's certificate, as ssh_trace.auth.* carries it.
fn cert_fields() -> Value {
    json!({
        "key": {"type": "ED25519-CERT", "fingerprint": KEY_FP},
        "certificate": {"id": "alice@corp", "serial": 42,
                        "ca": {"type": "ED25519", "fingerprint": CA_FP}},
    })
}

#[test]
fn session_login() {
    let want = merge(
        common("session.login", &["authentication", "session"], &["start"]),
        session(true),
    );
    let mut auth = cert_fields();
    auth["method"] = json!("publickey");
    check(
        Kind::SessionLogin,
        merge(
            want,
            json!({"event": {"outcome": "success"}, "ssh_trace": {"auth": auth}}),
        ),
    );
}

#[test]
fn session_auth_is_an_authentication_with_its_outcome() {
    let want = merge(
        common("session.auth", &["authentication"], &["info"]),
        session(false),
    );
    let mut auth = cert_fields();
    auth["method"] = json!("publickey");
    auth["outcome"] = json!("accepted");
    auth["invalid"] = json!(false);
    check(
        Kind::SessionAuth,
        merge(
            want,
            json!({
                "event": {"outcome": "success"},
                "process": {"pid": 4240},
                "user": {"name": "alice"},
                "related": {"user": ["alice"]},
                "ssh_trace": {"auth": auth},
            }),
        ),
    );
}

#[test]
fn failed_and_partial_decisions() {
    let docs: Vec<Value> = crate::format::samples::events()
        .iter()
        .filter(|e| e.kind() == Kind::SessionAuth)
        .map(ecs)
        .collect();
    let outcomes: Vec<(&Value, &Value)> = docs
        .iter()
        .map(|d| (&d["event"]["outcome"], &d["ssh_trace"]["auth"]["outcome"]))
        .collect();
    assert_eq!(
        outcomes,
        [
            (&json!("success"), &json!("accepted")),
            (&json!("failure"), &json!("failed")),
            (&json!("failure"), &json!("failed")),
            (&json!("success"), &json!("partial")),
        ]
    );
    assert_eq!(docs[1]["ssh_trace"]["auth"]["submethod"], "pam");
    assert_eq!(docs[1]["ssh_trace"]["auth"]["invalid"], true);
    // dropbear names no user for one that does not exist.
    assert!(docs[2].get("user").is_none());
    assert!(docs[2]["ssh_trace"]["auth"].get("method").is_none());
}

#[test]
fn process_exec() {
    let want = merge(
        common("process.exec", &["process"], &["start"]),
        session(true),
    );
    let want = merge(
        want,
        json!({
            "event": {"outcome": "success"},
            "process": {
                "pid": 4242,
                "parent": {"pid": 4241},
                "executable": "/usr/bin/sudo",
                "name": "sudo",
                "args": ["sudo", "-u", "nobody", "id"],
                "args_count": 4,
                "command_line": "sudo -u nobody id",
                "user": {"id": "0"},
                "real_user": {"id": "1001"},
                "group": {"id": "1003"},
                "real_group": {"id": "1002"},
            },
            "ssh_trace": {"process": {
                "executable_truncated": false,
                "args_truncated": true,
                "role": "user",
                "fileless": false,
            }},
        }),
    );
    check(Kind::ProcessExec, want);
}

#[test]
fn process_exit() {
    let want = merge(
        common("process.exit", &["process"], &["end"]),
        session(true),
    );
    let want = merge(
        want,
        json!({"event": {"outcome": "success"}, "process": {"pid": 4242, "exit_code": 0}}),
    );
    check(Kind::ProcessExit, want);
}

#[test]
fn process_exit_by_signal_is_a_failure_without_exit_code() {
    let mut ev = event(Kind::ProcessExit);
    if let crate::event::Body::ProcessExit(process) = &mut ev.body {
        process.exit_code = None;
        process.signal = Some(9);
    }
    let got = ecs(&ev);
    assert_eq!(got["event"]["outcome"], "failure");
    assert_eq!(
        got["process"],
        json!({"pid": 4242, "entry_leader": session(true)["process"]["entry_leader"]})
    );
    assert_eq!(
        got["ssh_trace"],
        json!({"process": {"signal": 9}, "session": {"server": {"uid": 0, "mode": "accept"}}})
    );
}

#[test]
fn user_change() {
    let want = merge(
        common("user.change", &["process"], &["change"]),
        session(true),
    );
    let want = merge(
        want,
        json!({
            "event": {"outcome": "success"},
            "process": {
                "pid": 4243,
                "user": {"id": "65534"},
                "real_user": {"id": "0"},
                "saved_user": {"id": "0"},
                "group": {"id": "1013"},
                "real_group": {"id": "1012"},
                "saved_group": {"id": "1014"},
            },
            "user": {
                "effective": {"id": "65534", "name": "nobody"},
                "target": {"id": "0", "name": "root"},
                "changes": {"id": "0", "name": "root", "group": {"id": "1012"}},
            },
            "ssh_trace": {"change": {
                "syscall": "setresuid",
                "args": [0, 65534, -1],
                "old": {"uid": 1001, "euid": 0, "suid": 0, "gid": 1002, "egid": 1003, "sgid": 1004},
            }},
        }),
    );
    check(Kind::UserChange, want);
}

#[test]
fn failed_user_change_has_failure_and_error_code() {
    let mut ev = event(Kind::UserChange);
    if let crate::event::Body::UserChange(crate::event::IdChange { change, .. }) = &mut ev.body {
        change.success = false;
        change.errno = Some(1);
    }
    let got = ecs(&ev);
    assert_eq!(got["event"]["outcome"], "failure");
    assert_eq!(got["error"], json!({"code": "1"}));
}

#[test]
fn session_bytes() {
    let want = merge(
        common("session.bytes", &["network"], &["info"]),
        session(true),
    );
    let want = merge(
        want,
        json!({
            "source": {"bytes": 3000},
            "destination": {"bytes": 5000},
            "network": {"bytes": 8000},
        }),
    );
    check(Kind::SessionBytes, want);
}

#[test]
fn session_end() {
    let want = merge(
        common("session.end", &["network", "session"], &["end"]),
        session(true),
    );
    let want = merge(
        want,
        json!({
            "event": {"outcome": "success", "duration": 1_234_000_000u64},
            "source": {"bytes": 3100},
            "destination": {"bytes": 5400},
            "network": {"bytes": 8500},
            "ssh_trace": {"session": {"logged_in": true}},
        }),
    );
    check(Kind::SessionEnd, want);
}

#[test]
fn session_end_without_login_is_a_failure() {
    let mut ev = event(Kind::SessionEnd);
    let s = std::sync::Arc::make_mut(ev.session.as_mut().unwrap());
    s.user = None;
    s.uid = None;
    if let crate::event::Body::SessionEnd(c) = &mut ev.body {
        c.end.logged_in = false;
    }
    let got = ecs(&ev);
    assert_eq!(got["event"]["outcome"], "failure");
    // No session began: the end of a network connection only.
    assert_eq!(got["event"]["category"], json!(["network"]));
    assert_eq!(got["event"]["type"], json!(["connection", "end"]));
    assert_eq!(got["ssh_trace"]["session"]["logged_in"], false);
    assert!(got.get("user").is_none());
    assert!(got["ssh_trace"].get("auth").is_none());
}

#[test]
fn session_end_without_login_names_the_users_tried() {
    let ev = crate::format::samples::events()
        .into_iter()
        .find(|e| matches!(&e.body, crate::event::Body::SessionEnd(c) if c.attempts.is_some()))
        .unwrap();
    let got = ecs(&ev);
    assert_eq!(
        got["ssh_trace"]["auth"],
        json!({"attempts": 4, "failures": 3, "key_lookups": 1, "users": ["root", "admin"]})
    );
    assert_eq!(got["related"]["user"], json!(["root", "admin"]));
}

#[test]
fn discovered_session_is_marked() {
    let mut ev = event(Kind::SessionLogin);
    std::sync::Arc::make_mut(ev.session.as_mut().unwrap()).discovered = true;
    assert_eq!(
        ecs(&ev)["ssh_trace"]["session"],
        json!({"discovered": true, "server": {"uid": 0, "mode": "accept"}})
    );
}

fn agent() -> Value {
    json!({
        "agent": {"version": "0.1.0"},
        "process": {"pid": 777},
        "host": {"os": {"kernel": "6.18.0"}},
        "ssh_trace": {"agent": {
            "ring_buffer_bytes": 8388608,
            "server_binaries": ["/usr/sbin/sshd", "/usr/sbin/sshd-session"],
        }},
    })
}

/// The sample losses: `loss(0)` names a session, the total does not.
fn loss(base: u64) -> Value {
    let mut v = json!({
        "kernel_ringbuf": base + 3,
        "kernel_milestones": base + 21,
        "kernel_tracked_full": base + 4,
        "kernel_listeners_full": base + 22,
        "kernel_socks_full": base + 5,
        "kernel_rate_limited": base + 25,
        "queue": base + 6,
        "decode": base + 7,
        "agent_restart": base + 23,
        "sinks": [
            {"sink": "siem", "dropped": base + 8},
            {"sink": "archive", "dropped": base + 9},
        ],
        "outputs": [{
            "output": "capture",
            "error": crate::format::samples::OUTPUT_ERROR,
            "failures": base + 1,
            "events": base + 2,
        }],
    });
    if base == 0 {
        v["sessions"] = json!([{"id": SESSION_ID, "records": 2, "untracked": 1}]);
        v["more_sessions"] = json!(24);
    }
    v
}

#[test]
fn agent_start() {
    let want = merge(common("agent.start", &["process"], &["start"]), agent());
    check(
        Kind::AgentStart,
        merge(want, json!({"event": {"outcome": "success"}})),
    );
}

#[test]
fn agent_loss() {
    let want = merge(
        common("agent.loss", &["host"], &["info"]),
        json!({
            "event": {"outcome": "failure"},
            "ssh_trace": {"loss": loss(0), "total": loss(10)},
        }),
    );
    check(Kind::AgentLoss, want);
}

#[test]
fn agent_stop() {
    let want = merge(common("agent.stop", &["process"], &["end"]), agent());
    let want = merge(
        want,
        json!({
            "event": {"outcome": "success"},
            "ssh_trace": {"totals": {"events": 99, "lost": loss(10)}},
        }),
    );
    check(Kind::AgentStop, want);
}

#[test]
fn alerts_map_to_ecs_alert_events() {
    use crate::event::AlertKind;
    for k in AlertKind::all() {
        let ev = crate::format::samples::event(crate::event::Kind::Alert(k));
        let d = serde_json::Value::Object(
            crate::format::ecs::document(&ev, crate::format::samples::HOST).0,
        );
        assert_eq!(d["event"]["action"], k.name());
        assert_eq!(d["rule"]["name"], format!("rule-{}", k.name()), "{d}");
        assert_eq!(d["event"]["severity"], 5);
        if k == AlertKind::ActionFailed {
            assert_eq!(d["event"]["kind"], "event");
            assert_eq!(d["event"]["outcome"], "failure");
            assert_eq!(d["error"]["message"], "connection refused");
            assert_eq!(d["ssh_trace"]["alert"]["evidence"]["action"], "webhook");
        } else {
            assert_eq!(d["event"]["kind"], "alert");
            assert_eq!(
                d["event"]["category"],
                serde_json::json!(["intrusion_detection"])
            );
            assert_eq!(d["event"]["type"], serde_json::json!(["info"]));
        }
        match k {
            AlertKind::Idle => assert_eq!(d["ssh_trace"]["alert"]["evidence"]["idle_s"], 900),
            AlertKind::ActionFailed => {}
            _ => {
                assert_eq!(
                    d["process"]["entry_leader"]["entity_id"],
                    ev.session.as_ref().unwrap().id.to_string()
                );
                assert_eq!(
                    d["ssh_trace"]["alert"]["evidence"]["source_ip"],
                    "203.0.113.7"
                );
            }
        }
        if k == AlertKind::PrivilegeGain {
            assert_eq!(d["ssh_trace"]["alert"]["evidence"]["pid"], 4242);
            assert_eq!(d["ssh_trace"]["alert"]["evidence"]["syscall"], "execve");
        }
    }
}
