//! The rows, the ids and the shipped schema, without a server (the sink
//! against a real ClickHouse is tests/tests/clickhouse.rs).
use std::collections::HashSet;

use serde_json::Value;

use super::*;
use crate::{
    event::{Body, Kind},
    format::{samples, FormatKind},
    sinks::queue::Encode,
};

fn row(ev: &crate::event::Event, format: FormatKind) -> Value {
    let mut out = Vec::new();
    Rows::new(Formatter::new(format, false)).encode(ev, samples::HOST, &mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}

#[test]
fn every_event_type_makes_a_row_of_the_tables_columns_with_the_whole_event_in_data() {
    let names: HashSet<&str> = COLUMNS.iter().map(|c| c.0).collect();
    for ev in samples::events() {
        let r = row(&ev, FormatKind::Json);
        for key in r.as_object().unwrap().keys() {
            assert!(names.contains(key.as_str()), "{key} is not a column: {r}");
        }
        let mut line = Vec::new();
        Formatter::new(FormatKind::Json, false).write(&ev, samples::HOST, &mut line);
        let line = String::from_utf8(line).unwrap();
        let line = line.trim_end();
        assert_eq!(r["data"].as_str(), Some(line));
        let data: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["event"], data["event"]);
        assert_eq!(r["host"], data["host"]);
        assert_eq!(r["time"], ev.time_ns / 1_000_000_000);
        assert_eq!(r["time_ns"], ev.time_ns);
        assert_eq!(r.get("session_id"), data["session"].get("id"), "{r}");
        assert_eq!(
            r.get("user"),
            data["session"].get("user").filter(|u| !u.is_null())
        );
        assert_eq!(
            r.get("source_port"),
            data["session"]["source"].get("port"),
            "{r}"
        );
    }
}

#[test]
fn typed_columns_hold_each_types_fields() {
    let exec = row(&samples::event(Kind::ProcessExec), FormatKind::Json);
    assert_eq!(
        (
            &exec["pid"],
            &exec["ppid"],
            &exec["process_uid"],
            &exec["process_euid"]
        ),
        (
            &Value::from(4242),
            &Value::from(4241),
            &Value::from(1001),
            &Value::from(0)
        )
    );
    assert_eq!(exec["executable"], "/usr/bin/sudo");
    assert_eq!(
        exec["args"],
        serde_json::json!(["sudo", "-u", "nobody", "id"])
    );
    assert_eq!(
        (&exec["source_ip"], &exec["destination_port"]),
        (&Value::from("192.0.2.10"), &Value::from(22))
    );
    let end = row(&samples::event(Kind::SessionEnd), FormatKind::Json);
    assert_eq!(
        (
            &end["bytes_in"],
            &end["bytes_out"],
            &end["duration_ms"],
            &end["logged_in"]
        ),
        (
            &Value::from(3100),
            &Value::from(5400),
            &Value::from(1234),
            &Value::from(1)
        )
    );
    let change = row(&samples::event(Kind::UserChange), FormatKind::Json);
    assert_eq!(
        (
            &change["pid"],
            &change["syscall"],
            &change["success"],
            &change["process_euid"]
        ),
        (
            &Value::from(4243),
            &Value::from("setresuid"),
            &Value::from(1),
            &Value::from(65534)
        )
    );
    let start = row(&samples::event(Kind::AgentStart), FormatKind::Json);
    assert!(
        start.get("session_id").is_none() && start.get("pid").is_none(),
        "{start}"
    );
    let gain = row(
        &samples::event(Kind::Alert(crate::event::AlertKind::PrivilegeGain)),
        FormatKind::Json,
    );
    assert_eq!(
        (
            &gain["alert_rule"],
            &gain["severity"],
            &gain["pid"],
            &gain["syscall"]
        ),
        (
            &Value::from("rule-alert.privilege_gain"),
            &Value::from("critical"),
            &Value::from(4242),
            &Value::from("execve")
        )
    );
    // The data column follows the sink's format; the typed columns do not.
    let ecs = row(&samples::event(Kind::ProcessExec), FormatKind::Ecs);
    let doc: Value = serde_json::from_str(ecs["data"].as_str().unwrap()).unwrap();
    assert_eq!(doc["event"]["action"], "process.exec");
    assert_eq!(ecs["pid"], 4242);
}

#[test]
fn roles_fileless_programs_user_servers_auth_forwards_and_losses_have_their_columns() {
    let exec = row(&samples::event(Kind::ProcessExec), FormatKind::Json);
    assert_eq!(
        (
            &exec["process_role"],
            &exec["fileless"],
            &exec["server_uid"]
        ),
        (&Value::from("user"), &Value::from(0), &Value::from(0))
    );
    assert_eq!(exec["server_mode"], "accept");
    assert!(exec.get("parent_session_id").is_none(), "{exec}");
    // The sample of a memfd program in a session of a user's own server.
    let fileless = samples::events()
        .into_iter()
        .map(|e| row(&e, FormatKind::Json))
        .find(|r| r["fileless"] == 1)
        .expect("a fileless sample");
    assert_eq!(
        (
            &fileless["executable"],
            &fileless["process_role"],
            &fileless["server_uid"],
            &fileless["server_mode"],
            &fileless["parent_session_id"]
        ),
        (
            &Value::from("memfd:payload"),
            &Value::from("pre_login"),
            &Value::from(1001),
            &Value::from("inetd"),
            &Value::from("5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e60")
        )
    );
    let alert = row(
        &samples::event(Kind::Alert(crate::event::AlertKind::FilelessExec)),
        FormatKind::Json,
    );
    assert_eq!(
        (&alert["pid"], &alert["executable"]),
        (&Value::from(4242), &Value::from("memfd:payload"))
    );
    let auth = row(&samples::event(Kind::SessionAuth), FormatKind::Json);
    assert_eq!(
        (&auth["success"], &auth["session_id"]),
        (&Value::from(1), &Value::from(samples::SESSION_ID))
    );
    assert!(auth["pid"].is_u64(), "{auth}");
    let fwd = samples::event(Kind::SessionForward);
    let Body::SessionForward(f) = &fwd.body else {
        panic!("{fwd:?}")
    };
    let fwd_row = row(&fwd, FormatKind::Json);
    assert_eq!(fwd_row["pid"], f.pid);
    assert!(fwd_row.get("bytes_in").is_none(), "{fwd_row}");
    let loss = row(&samples::event(Kind::AgentLoss), FormatKind::Json);
    assert_eq!(loss["lost"], samples::loss().counts.total());
    assert_eq!(
        loss["lost_sessions"],
        serde_json::json!([samples::SESSION_ID])
    );
}

#[test]
fn event_ids_tell_events_apart_and_never_change() {
    // One sample of each type, all at the same time in the same session.
    let events: Vec<_> = samples::every_kind()
        .into_iter()
        .map(samples::event)
        .collect();
    let ids: HashSet<u64> = events.iter().map(|e| event_id(e, samples::HOST)).collect();
    assert_eq!(ids.len(), events.len(), "two types share an id");
    let login = samples::event(Kind::SessionLogin);
    assert_ne!(event_id(&login, samples::HOST), event_id(&login, "web-2"));
    // Two rules of one type firing on one trigger are two events.
    let mut other = samples::event(Kind::Alert(crate::event::AlertKind::RootLogin));
    let first = event_id(&other, samples::HOST);
    if let Body::Alert(_, a) = &mut other.body {
        a.rule = "root-login-2".into();
    }
    assert_ne!(event_id(&other, samples::HOST), first);
    // Pinned: an id that changed between versions would store an event
    // replayed by a newer ssh-trace a second time.
    assert_eq!(event_id(&login, samples::HOST), 5_047_927_710_890_675_593);
}

/// The column list of `CREATE TABLE … name` in the shipped schema.
fn schema_columns(name: &str) -> Vec<(String, String)> {
    let sql = include_str!("../../../../dist/clickhouse/schema.sql");
    let start = sql
        .find(&format!("CREATE TABLE IF NOT EXISTS {name}\n("))
        .unwrap_or_else(|| panic!("no table {name}"));
    let body = &sql[start..];
    let body = &body[body.find('(').unwrap() + 1..body.find("\n)").unwrap()];
    body.lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, t) = l.split_once(' ').unwrap();
            (n.to_owned(), t.to_owned())
        })
        .collect()
}

#[test]
fn the_shipped_events_table_has_exactly_the_encoders_columns() {
    let want: Vec<(String, String)> = COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(schema_columns("ssh_trace.events"), want);
}

#[test]
fn clickhouse_error_replies_read_as_their_message() {
    let reply = b"Code: 117, e.displayText() = DB::Exception: Unknown field found while parsing JSONEachRow format: zz: (at row 1)\n, e.what() = DB::Exception\n";
    assert_eq!(
        error_text(reply),
        "Unknown field found while parsing JSONEachRow format: zz: (at row 1) (code 117)"
    );
    let reply = b"Code: 193, e.displayText() = DB::Exception: Wrong password for user w, e.what() = DB::Exception\n";
    assert_eq!(error_text(reply), "Wrong password for user w (code 193)");
    assert_eq!(error_text(b"Bad Gateway\n"), "Bad Gateway");
}

#[test]
fn a_clickhouse_sink_defaults_to_the_shipped_table_gzip_and_large_batches() {
    let text =
        "[[sink]]\nname = \"ch\"\ntype = \"clickhouse\"\nurl = \"https://ch.example:8443\"\n\
                user = \"ssh_trace\"\npassword = \"pw\"\nretry_max = \"30s\"\n";
    let cfg = crate::config::parse(text).unwrap();
    let s = &cfg.sinks[0];
    let crate::sinks::SinkKind::ClickHouse(c) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        (c.database.as_str(), c.table.as_str(), c.gzip),
        ("ssh_trace", "events", true)
    );
    assert_eq!(
        (c.user.as_deref(), c.password.as_deref()),
        (Some("ssh_trace"), Some("pw"))
    );
    assert_eq!(s.format, FormatKind::Json);
    assert_eq!(
        (s.limits.send_bytes, s.limits.linger, s.limits.backoff_max),
        (
            8 << 20,
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(30)
        )
    );
    let text = format!(
        "{text}database = \"fleet\"\ntable = \"ssh\"\ngzip = false\nbatch_wait = \"200ms\"\n"
    );
    let cfg = crate::config::parse(&text).unwrap();
    let crate::sinks::SinkKind::ClickHouse(c) = &cfg.sinks[0].kind else {
        panic!()
    };
    assert_eq!(
        (c.database.as_str(), c.table.as_str(), c.gzip),
        ("fleet", "ssh", false)
    );
    assert_eq!(
        cfg.sinks[0].limits.linger,
        std::time::Duration::from_millis(200)
    );
}
