//! End-to-end: one real ssh login traced by three agents at once, writing
//! native JSON, ECS and OCSF. The ECS and OCSF lines must carry the values
//! the native lines (and the ssh client's own `$SSH_CONNECTION`) show, and
//! every native line must validate against docs/schema.json.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::time::Duration;

use serde_json::{json, Value};
use ssh_trace_tests::{json_schema, schema::Schema, *};

const WAIT: Duration = Duration::from_secs(20);

fn named<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| event_name(e) == kind).collect()
}

fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found = named(events, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {found:#?}");
    found[0]
}

/// Event types of the session's events, sorted; session.bytes is left out
/// because each agent's kernel programs flush byte counts on their own clock.
fn kinds(events: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = events
        .iter()
        .map(|e| event_name(e).to_owned())
        .filter(|k| !k.starts_with("agent.") && k != "session.bytes")
        .collect();
    k.sort();
    k
}

#[test]
fn ecs_and_ocsf_carry_the_native_values_of_a_real_session() {
    if !root_or_skip("ecs_and_ocsf_carry_the_native_values_of_a_real_session") {
        return;
    }
    let w = world();
    let sshd = Sshd::start("formats").unwrap();
    // Other tests run concurrently: keep to this test's server.
    let only = format!("destination.port = {}", sshd.port);
    let native = Tracer::start(&["--filter", &only]).unwrap();
    let ecs = Tracer::start_format("ecs", &["--filter", &only]).unwrap();
    let ocsf = Tracer::start_format("ocsf", &["--filter", &only]).unwrap();
    let run = ssh(&sshd, &[], "echo $SSH_CONNECTION; id").unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.expect("SSH_CONNECTION printed");
    for t in [&native, &ecs, &ocsf] {
        assert!(
            t.wait_for(WAIT, |e| event_name(e) == "session.end"),
            "no session.end: {:?}",
            t.raw_lines()
        );
    }
    let (native, ecs, ocsf) = (
        native.stop().unwrap(),
        ecs.stop().unwrap(),
        ocsf.stop().unwrap(),
    );

    // Native lines: docs/schema.json and docs/schema.md both accept them.
    let validator = json_schema::validator().unwrap();
    let md = Schema::load().unwrap();
    for e in &native {
        let errors = json_schema::errors(&validator, e);
        assert!(errors.is_empty(), "{errors:?}\nin: {e}");
        md.check(e).unwrap();
    }

    // One session, the same events in all three formats.
    assert_eq!(kinds(&native), kinds(&ecs), "ECS events");
    assert_eq!(kinds(&native), kinds(&ocsf), "OCSF events");
    let n_connect = one(&native, "session.connect");
    assert_eq!(n_connect["session"]["source"]["port"], port);
    let sid = n_connect["session"]["id"].as_str().unwrap();
    let uid = w.uid.to_string();
    let n_id = named(&native, "process.exec")
        .into_iter()
        .find(|e| args_of(e) == ["id"])
        .expect("native exec of id");
    let id_pid = n_id["process"]["pid"].as_u64().unwrap();
    let n_login_change = named(&native, "user.change")
        .into_iter()
        .find(|e| {
            e["change"]["syscall"] == "setresuid"
                && e["change"]["args"] == json!([w.uid, w.uid, w.uid])
        })
        .expect("native setresuid to the user");
    let n_end = one(&native, "session.end");
    let (bytes_in, bytes_out) = (
        n_end["session"]["bytes_in"].as_u64().unwrap(),
        n_end["session"]["bytes_out"].as_u64().unwrap(),
    );
    let duration_ms = n_end["session"]["duration_ms"].as_u64().unwrap();
    assert!(bytes_in > 0 && bytes_out > 0);

    // Every agent names the session alike (the key comes from the connection).
    let same_session = |id: &str| assert_eq!(id, sid, "{id} vs {sid}");

    // ECS.
    let ecs_sid = one(&ecs, "session.connect")["process"]["entry_leader"]["entity_id"]
        .as_str()
        .unwrap()
        .to_owned();
    same_session(&ecs_sid);
    for e in ecs.iter().filter(|e| !event_name(e).starts_with("agent.")) {
        assert_eq!(e["process"]["entry_leader"]["entity_id"], ecs_sid, "{e}");
        assert_eq!(e["process"]["entry_leader"]["entry_meta"]["type"], "sshd");
        assert_eq!(
            e["process"]["entry_leader"]["entry_meta"]["source"],
            json!({"ip": "127.0.0.1"})
        );
        assert_eq!(
            (&e["source"]["ip"], &e["source"]["port"]),
            (&json!("127.0.0.1"), &json!(port))
        );
        assert_eq!(e["destination"]["port"], sshd.port);
        assert_eq!(e["ecs"]["version"], "8.17.0");
        assert_eq!(e["event"]["kind"], "event");
    }
    let c = one(&ecs, "session.connect");
    assert_eq!(c["event"]["category"], json!(["network"]));
    assert_eq!(c["event"]["type"], json!(["connection", "start"]));
    assert!(c.get("user").is_none(), "no user before login: {c}");
    let l = one(&ecs, "session.login");
    assert_eq!(l["event"]["category"], json!(["authentication", "session"]));
    assert_eq!(l["event"]["outcome"], "success");
    assert_eq!(l["user"], json!({"name": TEST_USER, "id": uid}));
    let x = named(&ecs, "process.exec")
        .into_iter()
        .find(|e| e["process"]["args"] == json!(["id"]))
        .expect("ECS exec of id");
    assert_eq!(x["process"]["pid"], id_pid);
    assert_eq!(x["process"]["parent"]["pid"], n_id["process"]["ppid"]);
    assert_eq!(x["process"]["executable"], "/usr/bin/id");
    assert_eq!(x["process"]["name"], "id");
    assert_eq!(x["process"]["command_line"], "id");
    assert_eq!(x["process"]["user"]["id"], uid);
    assert_eq!(x["process"]["real_user"]["id"], uid);
    assert_eq!(x["user"]["name"], TEST_USER);
    let ch = named(&ecs, "user.change")
        .into_iter()
        .find(|e| {
            e["ssh_trace"]["change"]["syscall"] == "setresuid"
                && e["ssh_trace"]["change"]["args"] == json!([w.uid, w.uid, w.uid])
        })
        .expect("ECS setresuid to the user");
    assert_eq!(ch["process"]["pid"], n_login_change["process"]["pid"]);
    assert_eq!(ch["event"]["outcome"], "success");
    assert_eq!(
        ch["user"]["effective"],
        json!({"id": uid, "name": TEST_USER})
    );
    assert_eq!(ch["user"]["target"], json!({"id": uid, "name": TEST_USER}));
    assert_eq!(ch["user"]["changes"]["id"], uid);
    assert_eq!(ch["process"]["user"]["id"], uid);
    let end = one(&ecs, "session.end");
    assert_eq!(end["source"]["bytes"], bytes_in);
    assert_eq!(end["destination"]["bytes"], bytes_out);
    assert_eq!(end["network"]["bytes"], bytes_in + bytes_out);
    // Each agent rounds its own clock reading to the millisecond: ±1 ms.
    let ecs_ms = end["event"]["duration"].as_u64().unwrap() / 1_000_000;
    assert!(
        ecs_ms.abs_diff(duration_ms) <= 1,
        "{ecs_ms} vs {duration_ms}"
    );
    assert_eq!(end["event"]["outcome"], "success");

    // OCSF.
    let ocsf_sid = one(&ocsf, "session.connect")["actor"]["session"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    same_session(&ocsf_sid);
    for e in &ocsf {
        let class = e["class_uid"].as_u64().unwrap();
        assert_eq!(e["category_uid"].as_u64().unwrap(), class / 1000, "{e}");
        assert_eq!(
            e["type_uid"].as_u64().unwrap(),
            class * 100 + e["activity_id"].as_u64().unwrap()
        );
        assert_eq!(e["metadata"]["version"], "1.3.0");
        assert!(e["severity_id"].is_u64() && e["time"].as_u64().unwrap() > 1_700_000_000_000);
        if !event_name(e).starts_with("agent.") {
            assert_eq!(e["actor"]["session"]["uid"], ocsf_sid, "{e}");
        }
    }
    let c = one(&ocsf, "session.connect");
    assert_eq!(
        (&c["class_uid"], &c["activity_id"]),
        (&json!(4007), &json!(1))
    );
    assert_eq!(c["src_endpoint"], json!({"ip": "127.0.0.1", "port": port}));
    assert_eq!(c["dst_endpoint"]["port"], sshd.port);
    let l = one(&ocsf, "session.login");
    assert_eq!(
        (&l["class_uid"], &l["activity_id"]),
        (&json!(3002), &json!(1))
    );
    assert_eq!(l["type_uid"], 300201);
    assert_eq!(l["user"], json!({"name": TEST_USER, "uid": uid}));
    assert_eq!(l["session"]["uid"], ocsf_sid);
    assert_eq!(l["logon_type_id"], 10);
    assert_eq!(l["src_endpoint"]["port"], port);
    let x = named(&ocsf, "process.exec")
        .into_iter()
        .find(|e| e["unmapped"]["process"]["args"] == json!(["id"]))
        .expect("OCSF exec of id");
    assert_eq!(
        (&x["class_uid"], &x["activity_id"]),
        (&json!(1007), &json!(1))
    );
    assert_eq!(x["process"]["pid"], id_pid);
    assert_eq!(
        x["process"]["parent_process"]["pid"],
        n_id["process"]["ppid"]
    );
    assert_eq!(x["process"]["file"]["path"], "/usr/bin/id");
    assert_eq!(x["process"]["cmd_line"], "id");
    assert_eq!(x["process"]["user"]["uid"], uid);
    assert_eq!(x["actor"]["user"]["name"], TEST_USER);
    let exit = named(&ocsf, "process.exit")
        .into_iter()
        .find(|e| e["process"]["pid"] == id_pid)
        .expect("OCSF exit of id");
    assert_eq!(
        (&exit["activity_id"], &exit["exit_code"]),
        (&json!(2), &json!(0))
    );
    let ch = named(&ocsf, "user.change")
        .into_iter()
        .find(|e| {
            e["unmapped"]["syscall"] == "setresuid"
                && e["unmapped"]["args"] == json!([w.uid, w.uid, w.uid])
        })
        .expect("OCSF setresuid to the user");
    assert_eq!(
        (&ch["class_uid"], &ch["activity_id"]),
        (&json!(1007), &json!(5))
    );
    assert_eq!(ch["process"]["pid"], n_login_change["process"]["pid"]);
    assert_eq!(
        ch["process"]["user"],
        json!({"uid": uid, "name": TEST_USER})
    );
    assert_eq!(ch["status_id"], 1);
    let end = one(&ocsf, "session.end");
    assert_eq!(
        (&end["class_uid"], &end["activity_id"]),
        (&json!(3002), &json!(2))
    );
    // OCSF counts from the client (the source): out = what the server received.
    assert_eq!(
        end["unmapped"]["traffic"],
        json!({"bytes_out": bytes_in, "bytes_in": bytes_out, "bytes": bytes_in + bytes_out})
    );
    let ocsf_ms = end["duration"].as_u64().unwrap();
    assert!(
        ocsf_ms.abs_diff(duration_ms) <= 1,
        "{ocsf_ms} vs {duration_ms}"
    );
    assert_eq!(end["session"]["uid"], ocsf_sid);
}
