//! OCSF mapping of every event type, compared document by document: each
//! mapped attribute with its exact value, and no attribute that is not listed.
use serde_json::{json, Value};

use crate::{
    event::{Body, Kind},
    format::{
        ocsf::Ocsf,
        samples::{event, CA_FP, HOST, KEY_FP, SESSION_ID},
    },
};

const TIME_MS: u64 = 1_763_000_000_123;

fn ocsf(ev: &crate::event::Event) -> Value {
    let mut out = Vec::new();
    Ocsf.write(ev, HOST, &mut out);
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&out).unwrap()
}

/// Attributes on every event: class, activity, severity, metadata, time, device.
fn common(
    kind: &str,
    (class_uid, class_name): (u32, &str),
    (category_uid, category_name): (u32, &str),
    (activity_id, activity_name): (u32, &str),
) -> Value {
    json!({
        "time": TIME_MS,
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        // OCSF's caption of type_uid: activity 99 is "Other" whatever its name.
        "type_name": format!("{class_name}: {}", if activity_id == 99 { "Other" } else { activity_name }),
        "severity_id": 1,
        "severity": "Informational",
        "metadata": {
            "version": "1.3.0",
            "product": {"name": "ssh-trace", "vendor_name": "ssh-trace", "version": env!("CARGO_PKG_VERSION")},
            "event_code": kind,
            "profiles": ["host"],
        },
        "device": {"hostname": HOST, "type_id": 1, "type": "Server"},
    })
}

const SYSTEM: (u32, &str) = (1, "System Activity");
const IAM: (u32, &str) = (3, "Identity & Access Management");
const NETWORK: (u32, &str) = (4, "Network Activity");
const APPLICATION: (u32, &str) = (6, "Application Activity");

fn actor(user: bool) -> Value {
    let server = json!({"server": {"uid": 0, "mode": "accept"}});
    if user {
        json!({"actor": {"session": {"uid": SESSION_ID}, "user": {"name": "alice", "uid": "1001"}}, "unmapped": server})
    } else {
        json!({"actor": {"session": {"uid": SESSION_ID}}, "unmapped": server})
    }
}

fn endpoints(under: &str) -> Value {
    let e = json!({
        "src_endpoint": {"ip": "192.0.2.10", "port": 50022},
        "dst_endpoint": {"ip": "192.0.2.1", "port": 22},
    });
    if under.is_empty() {
        e
    } else {
        json!({ under: e })
    }
}

fn connection_info() -> Value {
    json!({"connection_info": {
        "protocol_name": "tcp", "protocol_num": 6, "direction_id": 1, "direction": "Inbound",
    }})
}

fn status(success: bool) -> Value {
    if success {
        json!({"status_id": 1, "status": "Success"})
    } else {
        json!({"status_id": 2, "status": "Failure"})
    }
}

fn authentication() -> Value {
    json!({
        "session": {"uid": SESSION_ID},
        "user": {"name": "alice", "uid": "1001"},
        "is_remote": true,
        "logon_type_id": 10,
        "logon_type": "Remote Interactive",
        "service": {"name": "sshd"},
    })
}

/// Deep merge of the parts, later ones winning.
fn merged(parts: &[Value]) -> Value {
    fn merge(a: &mut Value, b: &Value) {
        match (a, b) {
            (Value::Object(am), Value::Object(bm)) => {
                for (k, v) in bm {
                    merge(am.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b.clone(),
        }
    }
    let mut out = json!({});
    for p in parts {
        merge(&mut out, p);
    }
    out
}

fn check(got: Value, want: Value, what: &str) {
    assert_eq!(
        got,
        want,
        "{what}\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&want).unwrap()
    );
}

#[test]
fn session_connect_is_ssh_activity_open() {
    let want = merged(&[
        common(
            "session.connect",
            (4007, "SSH Activity"),
            NETWORK,
            (1, "Open"),
        ),
        actor(false),
        endpoints(""),
        connection_info(),
        status(true),
    ]);
    check(ocsf(&event(Kind::SessionConnect)), want, "session.connect");
}

#[test]
fn session_login_is_authentication_logon() {
    let want = merged(&[
        common("session.login", (3002, "Authentication"), IAM, (1, "Logon")),
        actor(true),
        endpoints(""),
        authentication(),
        status(true),
        json!({
            "auth_protocol_id": 99,
            "auth_protocol": "publickey",
            "unmapped": {"auth": accepted()},
        }),
    ]);
    check(ocsf(&event(Kind::SessionLogin)), want, "session.login");
}

/// The sample's accepted certificate as ssh-trace has it.
fn accepted() -> Value {
    json!({
        "method": "publickey",
        "key": {"type": "ED25519-CERT", "fingerprint": KEY_FP},
        "certificate": {"id": "alice@corp", "serial": 42,
                        "ca": {"type": "ED25519", "fingerprint": CA_FP}},
    })
}

#[test]
fn session_auth_is_a_logon_attempt_with_its_status() {
    let mut auth = accepted();
    auth["user"] = json!("alice");
    auth["invalid"] = json!(false);
    auth["outcome"] = json!("accepted");
    let want = merged(&[
        common("session.auth", (3002, "Authentication"), IAM, (1, "Logon")),
        actor(false),
        endpoints(""),
        authentication(),
        status(true),
        json!({
            "user": {"name": "alice"},
            "actor": {"process": {"pid": 4240}},
            "auth_protocol_id": 99,
            "auth_protocol": "publickey",
            "unmapped": {"auth": auth},
        }),
    ]);
    // The session has no user yet: the user is the name tried.
    let mut want = want;
    want["user"] = json!({"name": "alice"});
    check(ocsf(&event(Kind::SessionAuth)), want, "session.auth");
}

#[test]
fn failed_and_partial_decisions_set_the_status() {
    let docs: Vec<Value> = crate::format::samples::events()
        .iter()
        .filter(|e| e.kind() == Kind::SessionAuth)
        .map(ocsf)
        .collect();
    let status: Vec<&Value> = docs.iter().map(|d| &d["status"]).collect();
    assert_eq!(status, ["Success", "Failure", "Failure", "Success"]);
    assert_eq!(docs[1]["auth_protocol"], "keyboard-interactive");
    // dropbear names neither user nor method for a user that does not exist.
    assert_eq!(docs[2]["user"], json!({"name": ""}));
    assert_eq!(docs[2]["auth_protocol"], "unknown");
    assert_eq!(
        docs[3]["status_detail"],
        "Partial: another method is required"
    );
    assert_eq!(docs[3]["is_mfa"], true);
}

#[test]
fn process_exec_is_process_activity_launch() {
    let want = merged(&[
        common(
            "process.exec",
            (1007, "Process Activity"),
            SYSTEM,
            (1, "Launch"),
        ),
        actor(true),
        endpoints("unmapped"),
        status(true),
        json!({
            "process": {
                "pid": 4242,
                "parent_process": {"pid": 4241},
                "file": {"path": "/usr/bin/sudo", "name": "sudo", "type_id": 1, "type": "Regular File"},
                "cmd_line": "sudo -u nobody id",
                "user": {"uid": "0"},
            },
            "unmapped": {"process": {
                "args": ["sudo", "-u", "nobody", "id"],
                "uid": 1001,
                "gid": 1002,
                "egid": 1003,
                "executable_truncated": false,
                "args_truncated": true,
                "role": "user",
                "fileless": false,
            }},
        }),
    ]);
    check(ocsf(&event(Kind::ProcessExec)), want, "process.exec");
}

#[test]
fn process_exit_is_process_activity_terminate() {
    let want = merged(&[
        common(
            "process.exit",
            (1007, "Process Activity"),
            SYSTEM,
            (2, "Terminate"),
        ),
        actor(true),
        endpoints("unmapped"),
        status(true),
        json!({"process": {"pid": 4242}, "exit_code": 0}),
    ]);
    check(ocsf(&event(Kind::ProcessExit)), want, "process.exit");
}

#[test]
fn process_killed_by_signal_fails_without_exit_code() {
    let mut ev = event(Kind::ProcessExit);
    if let Body::ProcessExit(process) = &mut ev.body {
        process.exit_code = None;
        process.signal = Some(9);
    }
    let got = ocsf(&ev);
    assert_eq!(got["status_id"], 2);
    assert!(got.get("exit_code").is_none());
    assert_eq!(got["unmapped"]["signal"], 9);
}

#[test]
fn user_change_is_process_activity_set_user_id() {
    let want = merged(&[
        common(
            "user.change",
            (1007, "Process Activity"),
            SYSTEM,
            (5, "Set User ID"),
        ),
        actor(true),
        endpoints("unmapped"),
        status(true),
        json!({
            "process": {"pid": 4243, "user": {"uid": "65534", "name": "nobody"}},
            "unmapped": {
                "syscall": "setresuid",
                "args": [0, 65534, -1],
                "old": {"uid": 1001, "euid": 0, "suid": 0, "gid": 1002, "egid": 1003, "sgid": 1004},
                "new": {"uid": 0, "euid": 65534, "suid": 0, "gid": 1012, "egid": 1013, "sgid": 1014},
                "user": "root",
            },
        }),
    ]);
    check(ocsf(&event(Kind::UserChange)), want, "user.change");
}

#[test]
fn failed_user_change_has_failure_and_status_code() {
    let mut ev = event(Kind::UserChange);
    if let Body::UserChange(crate::event::IdChange { change, .. }) = &mut ev.body {
        change.success = false;
        change.errno = Some(1);
    }
    let got = ocsf(&ev);
    assert_eq!(
        (&got["status_id"], &got["status"], &got["status_code"]),
        (&json!(2), &json!("Failure"), &json!("1"))
    );
}

#[test]
fn session_bytes_is_network_activity_traffic() {
    // From the client's (the source's) side: out = what the server received.
    let want = merged(&[
        common(
            "session.bytes",
            (4001, "Network Activity"),
            NETWORK,
            (6, "Traffic"),
        ),
        actor(true),
        endpoints(""),
        connection_info(),
        json!({"traffic": {"bytes_in": 5000, "bytes_out": 3000, "bytes": 8000}}),
    ]);
    check(ocsf(&event(Kind::SessionBytes)), want, "session.bytes");
}

#[test]
fn session_end_after_login_is_authentication_logoff() {
    let want = merged(&[
        common("session.end", (3002, "Authentication"), IAM, (2, "Logoff")),
        actor(true),
        endpoints(""),
        authentication(),
        status(true),
        json!({
            "duration": 1234,
            "unmapped": {
                "traffic": {"bytes_in": 5400, "bytes_out": 3100, "bytes": 8500},
                "logged_in": true,
            },
        }),
    ]);
    check(ocsf(&event(Kind::SessionEnd)), want, "session.end");
}

#[test]
fn session_end_without_login_is_ssh_activity_close() {
    let mut ev = event(Kind::SessionEnd);
    let s = std::sync::Arc::make_mut(ev.session.as_mut().unwrap());
    s.user = None;
    s.uid = None;
    if let crate::event::Body::SessionEnd(c) = &mut ev.body {
        c.end.logged_in = false;
    }
    let want = merged(&[
        common("session.end", (4007, "SSH Activity"), NETWORK, (2, "Close")),
        actor(false),
        endpoints(""),
        connection_info(),
        status(false),
        json!({
            "duration": 1234,
            "traffic": {"bytes_in": 5400, "bytes_out": 3100, "bytes": 8500},
            "unmapped": {"logged_in": false},
        }),
    ]);
    check(ocsf(&ev), want, "session.end without login");
}

#[test]
fn discovered_session_is_marked() {
    let mut ev = event(Kind::SessionLogin);
    std::sync::Arc::make_mut(ev.session.as_mut().unwrap()).discovered = true;
    let unmapped = &ocsf(&ev)["unmapped"];
    assert_eq!(
        (&unmapped["discovered"], &unmapped["server"]),
        (&json!(true), &json!({"uid": 0, "mode": "accept"}))
    );
}

fn app() -> Value {
    json!({
        "app": {"name": "ssh-trace", "vendor_name": "ssh-trace", "version": "0.1.0"},
        "actor": {"process": {"pid": 777}},
        "device": {"os": {"name": "Linux", "type_id": 200, "type": "Linux", "version": "6.18.0"}},
        "unmapped": {
            "ring_buffer_bytes": 8388608,
            "server_binaries": ["/usr/sbin/sshd", "/usr/sbin/sshd-session"],
        },
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
fn agent_start_is_application_lifecycle_start() {
    let want = merged(&[
        common(
            "agent.start",
            (6002, "Application Lifecycle"),
            APPLICATION,
            (3, "Start"),
        ),
        app(),
        status(true),
    ]);
    check(ocsf(&event(Kind::AgentStart)), want, "agent.start");
}

#[test]
fn agent_loss_is_application_lifecycle_other_with_medium_severity() {
    let want = merged(&[
        common(
            "agent.loss",
            (6002, "Application Lifecycle"),
            APPLICATION,
            (99, "Loss"),
        ),
        status(false),
        json!({
            "severity_id": 3,
            "severity": "Medium",
            "app": {"name": "ssh-trace", "vendor_name": "ssh-trace"},
            "message": "135 records lost since the previous agent.loss",
            "unmapped": {"loss": loss(0), "total": loss(10)},
        }),
    ]);
    check(ocsf(&event(Kind::AgentLoss)), want, "agent.loss");
}

#[test]
fn agent_stop_is_application_lifecycle_stop() {
    let want = merged(&[
        common(
            "agent.stop",
            (6002, "Application Lifecycle"),
            APPLICATION,
            (4, "Stop"),
        ),
        app(),
        status(true),
        json!({"unmapped": {"totals": {"events": 99, "lost": loss(10)}}}),
    ]);
    check(ocsf(&event(Kind::AgentStop)), want, "agent.stop");
}

#[test]
fn every_event_has_the_base_attributes() {
    for kind in crate::format::samples::ALL_KINDS {
        let v = ocsf(&event(kind));
        for attr in [
            "activity_id",
            "category_uid",
            "class_uid",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ] {
            assert!(v.get(attr).is_some(), "{}: no {attr}", kind.name());
        }
        let class = v["class_uid"].as_u64().unwrap();
        assert_eq!(v["category_uid"].as_u64().unwrap(), class / 1000);
        assert_eq!(
            v["type_uid"].as_u64().unwrap(),
            class * 100 + v["activity_id"].as_u64().unwrap()
        );
    }
}

/// The user the sample of alert `k` names in its evidence.
fn ev_user(k: crate::event::AlertKind) -> Option<&'static str> {
    use crate::event::AlertKind as A;
    match k {
        A::RootLogin => Some("root"),
        A::NewSource
        | A::PrivilegeGain
        | A::SessionBytes
        | A::LoginAfterIdle
        | A::FilelessExec
        | A::ForwardTarget
        | A::TransferBytes => Some("alice"),
        A::DistributedGuessing => Some("root"),
        A::ConnectionRate
        | A::UnauthenticatedRate
        | A::Idle
        | A::ActionFailed
        | A::BruteForce
        | A::PasswordSpraying => None,
    }
}

#[test]
fn alerts_map_to_ocsf_detection_findings() {
    use crate::event::AlertKind;
    for k in AlertKind::all() {
        let ev = crate::format::samples::event(crate::event::Kind::Alert(k));
        let d = serde_json::Value::Object(
            crate::format::ocsf::document(&ev, crate::format::samples::HOST).0,
        );
        assert_eq!(d["metadata"]["event_code"], k.name());
        if k == AlertKind::ActionFailed {
            assert_eq!(
                (d["class_uid"].as_u64(), d["activity_id"].as_u64()),
                (Some(6002), Some(99))
            );
            assert_eq!(d["activity_name"], "Action Failed");
            assert_eq!(d["type_name"], "Application Lifecycle: Other");
            assert_eq!(d["severity_id"], 3);
            assert_eq!(d["status_id"], 2);
            // Application Lifecycle requires app and has no finding_info.
            assert_eq!(
                d["app"],
                json!({"name": "ssh-trace", "vendor_name": "ssh-trace"})
            );
            assert!(d.get("finding_info").is_none(), "{d}");
            assert_eq!(
                d["message"],
                "alert action webhook failed: connection refused"
            );
            assert_eq!(d["unmapped"]["rule"], "rule-alert.action_failed");
            assert_eq!(d["unmapped"]["evidence"]["error"], "connection refused");
            continue;
        }
        assert_eq!(d["class_uid"], 2004);
        assert_eq!(d["class_name"], "Detection Finding");
        assert_eq!(d["category_uid"], 2);
        assert_eq!(d["category_name"], "Findings");
        assert_eq!(d["activity_id"], 1);
        assert_eq!(d["type_uid"], 200401);
        assert_eq!(d["severity_id"], 5);
        assert_eq!(d["severity"], "Critical");
        assert_eq!(d["finding_info"]["title"], k.name());
        assert_eq!(
            d["finding_info"]["analytic"]["name"],
            format!("rule-{}", k.name())
        );
        assert_eq!(d["finding_info"]["analytic"]["type_id"], 1);
        // Detection Finding's own status: 1 New.
        assert_eq!((&d["status_id"], &d["status"]), (&json!(1), &json!("New")));
        // The endpoints are evidence, not attributes of the class.
        assert!(
            d.get("src_endpoint").is_none() && d.get("dst_endpoint").is_none(),
            "{d}"
        );
        if k == AlertKind::Idle {
            assert!(d.get("evidences").is_none(), "nothing to show: {d}");
            continue;
        }
        assert_eq!(d["unmapped"]["evidence"]["source_ip"], "203.0.113.7");
        let e = &d["evidences"][0];
        assert_eq!(
            e["src_endpoint"],
            json!({"ip": "192.0.2.10", "port": 50022})
        );
        assert_eq!(e["dst_endpoint"], json!({"ip": "192.0.2.1", "port": 22}));
        let user = ev_user(k);
        assert_eq!(
            e.get("user"),
            user.map(|u| json!({"name": u})).as_ref(),
            "{d}"
        );
        let pid = match k {
            AlertKind::PrivilegeGain | AlertKind::FilelessExec => Some(json!({"pid": 4242})),
            AlertKind::ForwardTarget => Some(json!({"pid": 4240})),
            AlertKind::TransferBytes => Some(json!({"pid": 4250})),
            _ => None,
        };
        assert_eq!(e.get("process"), pid.as_ref(), "{d}");
    }
}
