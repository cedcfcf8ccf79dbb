//! The ClickHouse sink against a real ClickHouse 18.16 (Debian's
//! clickhouse-server, started by each test with its own data directory on
//! loopback ports) and the shipped schema (dist/clickhouse/schema.sql):
//! real sessions arrive as `tail --json` saw them, over HTTPS with a
//! password; the sessions, per-minute/hour and per-source views agree with
//! each session's session.end; a capture of another host replayed twice
//! with `replay --to` is stored once under that host's name; a 60-second
//! crash of the server loses nothing; a missing column is named and the
//! events wait in the spool until it is added. Skipped when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use ssh_trace_tests::{
    clickhouse::{schema, ClickHouse, Options, WRITER_PASSWORD},
    peers::*,
    sinks::*,
    *,
};

/// A server with the shipped schema, its files under the test's directory.
fn server(dir: &Path, tls: Option<(&Path, &Path)>) -> ClickHouse {
    let opts = Options {
        tls: tls.map(|(c, k)| (c.to_owned(), k.to_owned())),
        ..Default::default()
    };
    let ch = ClickHouse::start(&dir.join("clickhouse"), opts).unwrap();
    ch.apply(&schema()).unwrap();
    ch
}

/// `[[sink]]` of type clickhouse named `ch`, with `extra` keys.
fn ch_sink(url: &str, filter: &str, extra: &str) -> String {
    format!(
        "[[sink]]\nname = \"ch\"\ntype = \"clickhouse\"\nurl = \"{url}\"\nbatch_wait = \"200ms\"\n\
         filter = \"{filter}\"\n{extra}"
    )
}

/// The `data` column (the events as JSON lines) of the rows `filter` picks.
fn data(ch: &ClickHouse, filter: &str) -> Vec<String> {
    ch.rows(&format!(
        "SELECT data FROM ssh_trace.events FINAL WHERE {filter} ORDER BY time_ns"
    ))
    .unwrap()
    .iter()
    .map(|r| r["data"].as_str().unwrap().to_owned())
    .collect()
}

fn opt_eq(col: &Value, json: &Value, default: Value) {
    let want = if json.is_null() { &default } else { json };
    assert_eq!(col, want);
}

/// Each typed column holds what the event's own JSON says.
fn assert_columns_match_data(row: &Value) {
    let e: Value = serde_json::from_str(row["data"].as_str().unwrap()).unwrap();
    let ctx = format!("{row}");
    assert_eq!(
        (&row["host"], &row["event"]),
        (&e["host"], &e["event"]),
        "{ctx}"
    );
    assert_eq!(
        row["time_ns"].as_i64().map(i128::from),
        Some(time_ns(&e)),
        "{ctx}"
    );
    let s = &e["session"];
    let zero = "00000000-0000-0000-0000-000000000000";
    opt_eq(&row["session_id"], &s["id"], Value::from(zero));
    opt_eq(&row["user"], &s["user"], Value::from(""));
    assert_eq!(row["uid"], s["uid"], "{ctx}");
    opt_eq(&row["source_ip"], &s["source"]["ip"], Value::from(""));
    opt_eq(&row["source_port"], &s["source"]["port"], Value::from(0));
    opt_eq(
        &row["destination_port"],
        &s["destination"]["port"],
        Value::from(0),
    );
    assert_eq!(row["server_uid"], s["server"]["uid"], "{ctx}");
    opt_eq(&row["server_mode"], &s["server"]["mode"], Value::from(""));
    opt_eq(&row["parent_session_id"], &s["parent"], Value::from(zero));
    let p = &e["process"];
    let c = &e["change"];
    match e["event"].as_str().unwrap() {
        "process.exec" => {
            for (col, field) in [("pid", "pid"), ("ppid", "ppid"), ("process_uid", "uid")] {
                assert_eq!(row[col], p[field], "{col}: {ctx}");
            }
            assert_eq!(
                (&row["process_euid"], &row["process_egid"]),
                (&p["euid"], &p["egid"])
            );
            assert_eq!(
                (&row["executable"], &row["args"]),
                (&p["executable"], &p["args"])
            );
            opt_eq(&row["process_role"], &p["role"], Value::from(""));
            assert_eq!(row["fileless"], u8::from(p["fileless"] == true), "{ctx}");
        }
        "process.exit" => {
            assert_eq!(
                (&row["pid"], &row["exit_code"]),
                (&p["pid"], &p["exit_code"]),
                "{ctx}"
            );
            assert_eq!(row["signal"], p["signal"], "{ctx}");
        }
        "user.change" => {
            assert_eq!(
                (&row["pid"], &row["syscall"]),
                (&p["pid"], &c["syscall"]),
                "{ctx}"
            );
            assert_eq!(row["success"], u8::from(c["success"] == true), "{ctx}");
            assert_eq!(
                (&row["process_uid"], &row["process_euid"]),
                (&c["new"]["uid"], &c["new"]["euid"]),
                "{ctx}"
            );
        }
        "session.auth" => {
            let success = match e["auth"]["outcome"].as_str().unwrap() {
                "accepted" => Value::from(1),
                "failed" => Value::from(0),
                _ => Value::Null,
            };
            assert_eq!(
                (&row["pid"], &row["success"]),
                (&p["pid"], &success),
                "{ctx}"
            );
        }
        "session.bytes" | "session.end" => {
            assert_eq!(
                (&row["bytes_in"], &row["bytes_out"]),
                (&s["bytes_in"], &s["bytes_out"])
            );
            if e["event"] == "session.end" {
                assert_eq!(row["duration_ms"], s["duration_ms"], "{ctx}");
                assert_eq!(row["logged_in"], u8::from(s["logged_in"] == true), "{ctx}");
            }
        }
        _ => {}
    }
}

/// Each session.end in the events table has its row in the sessions view,
/// with the same values; returns them.
fn assert_sessions_equal_their_ends(ch: &ClickHouse, filter: &str) -> Vec<Value> {
    let ends: Vec<Value> = data(ch, &format!("event = 'session.end' AND {filter}"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows = ch
        .rows(&format!(
            "SELECT * FROM ssh_trace.sessions FINAL WHERE {filter} ORDER BY ended_ns"
        ))
        .unwrap();
    assert_eq!(rows.len(), ends.len(), "{rows:#?}\n{ends:#?}");
    let zero = "00000000-0000-0000-0000-000000000000";
    for (row, end) in rows.iter().zip(&ends) {
        let s = &end["session"];
        let ended = time_ns(end);
        let duration = s["duration_ms"].as_i64().unwrap() as i128;
        let got = serde_json::json!({
            "host": row["host"], "id": row["session_id"], "user": row["user"], "uid": row["uid"],
            "source": [row["source_ip"], row["source_port"]],
            "destination": [row["destination_ip"], row["destination_port"]],
            "ended_ns": row["ended_ns"].as_i64().map(i128::from),
            "started_ns": row["started_ns"].as_i64().map(i128::from),
            "duration_ms": row["duration_ms"], "bytes": [row["bytes_in"], row["bytes_out"]],
            "logged_in": row["logged_in"] == 1,
            "server_uid": row["server_uid"], "parent": row["parent_session_id"],
        });
        let want = serde_json::json!({
            "host": end["host"], "id": s["id"],
            "user": if s["user"].is_null() { Value::from("") } else { s["user"].clone() },
            "uid": s["uid"],
            "source": [s["source"]["ip"], s["source"]["port"]],
            "destination": [s["destination"]["ip"], s["destination"]["port"]],
            "ended_ns": Some(ended), "started_ns": Some(ended - duration * 1_000_000),
            "duration_ms": s["duration_ms"], "bytes": [s["bytes_in"], s["bytes_out"]],
            "logged_in": s["logged_in"],
            "server_uid": s["server"]["uid"],
            "parent": if s["parent"].is_null() { Value::from(zero) } else { s["parent"].clone() },
        });
        assert_eq!(got, want);
    }
    ends
}

/// auth_attempts_per_source holds, per source, the session.auth rows of
/// the events table: their number, the failed ones, the names tried.
fn assert_attempts_per_source_equal_the_decisions(ch: &ClickHouse, rows: &[Value]) {
    let auth: Vec<&Value> = rows
        .iter()
        .filter(|r| r["event"] == "session.auth")
        .collect();
    let mut tried: Vec<&str> = auth
        .iter()
        .map(|r| r["auth_user"].as_str().unwrap())
        .collect();
    tried.sort();
    tried.dedup();
    let failed = auth.iter().filter(|r| r["success"] == 0).count();
    let got = ch
        .rows(
            "SELECT source_ip, uniqExactMerge(attempts) AS a, uniqExactIfMerge(failed) AS f, \
             arraySort(groupUniqArrayMerge(users_tried)) AS u \
             FROM ssh_trace.auth_attempts_per_source GROUP BY source_ip",
        )
        .unwrap();
    assert_eq!(
        got,
        [serde_json::json!({"source_ip": "127.0.0.1", "a": auth.len(), "f": failed, "u": tried})]
    );
}

/// The bytes of each session summed over the per-minute and per-hour views
/// are its session.end's.
fn assert_rollups_sum_to_the_ends(ch: &ClickHouse, ends: &[Value]) {
    for end in ends {
        let s = &end["session"];
        let want = (s["bytes_in"].as_u64(), s["bytes_out"].as_u64());
        for view in ["user_bytes_per_minute", "user_bytes_per_hour"] {
            let r = ch
                .rows(&format!(
                    "SELECT sum(bytes_in) AS i, sum(bytes_out) AS o, any(user) AS u FROM ssh_trace.{view} \
                     WHERE host = '{}' AND session_id = toUUID('{}')",
                    end["host"].as_str().unwrap(),
                    s["id"].as_str().unwrap()
                ))
                .unwrap();
            assert_eq!(
                (r[0]["i"].as_u64(), r[0]["o"].as_u64()),
                want,
                "{view}: {end}"
            );
            let user = s["user"].as_str().unwrap_or("");
            assert_eq!(r[0]["u"], user, "{view}: {end}");
        }
    }
}

/// Real sessions over HTTPS with a password: the events table holds what
/// `tail --json` saw, typed columns equal to each event's fields; every
/// view agrees with the sessions' ends; the documented queries run.
#[test]
fn sessions_arrive_and_the_views_equal_each_session_end() {
    if !root_or_skip("sessions_arrive_and_the_views_equal_each_session_end") {
        return;
    }
    let sshd = Sshd::start("ch_deliver").unwrap();
    let dir = test_dir("ch_deliver");
    let (ca, cert, key) = test_pki(&dir);
    let ch = server(&dir, Some((&cert, &key)));
    let filter = format!("destination.port = {}", sshd.port);
    let url = format!("https://127.0.0.1:{}", ch.https_port.unwrap());
    let extra = format!(
        "user = \"writer\"\npassword = \"{WRITER_PASSWORD}\"\nca_file = \"{}\"\n",
        ca.display()
    );
    let (cfg, file) = write_config(&dir, &ch_sink(&url, &filter, &extra));
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    ssh_wrong_key(&sshd);
    let ports = sessions(&sshd, 3, Duration::ZERO);
    let never_in = |e: &Value| e["event"] == "session.end" && e["session"]["logged_in"] == false;
    assert!(tracer.wait_for(WAIT, never_in));
    let refused = tracer
        .events()
        .iter()
        .find(|e| never_in(e))
        .map(|e| e["session"]["source"]["port"].as_u64().unwrap() as u16);
    let all: Vec<u16> = ports.iter().copied().chain(refused).collect();
    let want = reference(tracer, &all);
    assert!(want.len() > 3 * 5, "too few events: {want:#?}");
    let mine = format!("destination_port = {}", sshd.port);
    wait_for_same(&want, || session_lines(&data(&ch, &mine)));
    let err = agent.stop().unwrap();
    assert_same("clickhouse", &session_lines(&data(&ch, &mine)), &want);
    assert_all_delivered(&err, "ch");
    let rows = ch.rows("SELECT * FROM ssh_trace.events FINAL").unwrap();
    assert!(rows.len() > want.len(), "{rows:#?}");
    rows.iter().for_each(assert_columns_match_data);
    let accepted = rows
        .iter()
        .filter(|r| r["event"] == "session.auth" && r["success"] == 1)
        .count();
    assert_eq!(accepted, ports.len(), "one accepted decision per login");
    assert_attempts_per_source_equal_the_decisions(&ch, &rows);

    let ends = assert_sessions_equal_their_ends(&ch, &mine);
    assert_eq!(ends.len(), all.len());
    assert_rollups_sum_to_the_ends(&ch, &ends);
    let per_source = ch
        .rows(
            "SELECT source_ip, uniqExactMerge(connections) AS c, uniqExactIfMerge(logins) AS l, \
             uniqExactIfMerge(failures) AS f, groupUniqArrayIfMerge(users) AS u, \
             groupUniqArrayMerge(hosts) AS h FROM ssh_trace.auth_per_source GROUP BY source_ip",
        )
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(
        per_source,
        [
            serde_json::json!({"source_ip": "127.0.0.1", "c": all.len(), "l": ports.len(),
            "f": all.len() - ports.len(), "u": [TEST_USER], "h": [host.trim()]})
        ]
    );
    for q in docs_queries() {
        let rows = ch.rows(&q).unwrap_or_else(|e| panic!("{e}"));
        // This test runs no user's own server and no agent here stops
        // sending heartbeats; losses depend on what else the machine runs:
        // those queries only have to run.
        let maybe_empty = ["server_uid != 0", "'agent.loss'", "'agent.heartbeat'"];
        if !maybe_empty.iter().any(|n| q.contains(n)) {
            assert!(!rows.is_empty(), "no row from docs/fleet.md's\n{q}");
        }
    }
}

/// The SELECTs of docs/fleet.md (```sql blocks).
fn docs_queries() -> Vec<String> {
    let doc = std::fs::read_to_string(workspace_root().join("docs/fleet.md")).unwrap();
    let queries: Vec<String> = doc
        .split("```sql\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(|q| q.trim().trim_end_matches(';').to_owned())
        .filter(|q| q.starts_with("SELECT"))
        .collect();
    assert!(queries.len() >= 4, "{queries:#?}");
    queries
}

/// `ssh-trace replay -r FILE --to CONFIG --sink ch`, its standard error.
fn backfill(file: &Path, cfg: &Path) -> String {
    let out = Command::new(agent_bin())
        .args(["replay", "-r"])
        .arg(file)
        .arg("--to")
        .arg(cfg)
        .args(["--sink", "ch"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

/// A capture recorded under another host name (an agent in a UTS
/// namespace of its own), replayed into ClickHouse twice: its events are
/// there once each, exactly as `replay --json` prints them, under that
/// name; the views hold each session once and its bytes once.
#[test]
fn a_capture_of_another_host_replayed_twice_is_stored_once_under_its_name() {
    if !root_or_skip("a_capture_of_another_host_replayed_twice_is_stored_once_under_its_name") {
        return;
    }
    let sshd = Sshd::start("ch_backfill").unwrap();
    let dir = test_dir("ch_backfill");
    let ch = server(&dir, None);
    let other = format!("fleet-host-{}", std::process::id());
    let cap = dir.join("other.cap");
    let filter = format!("destination.port = {}", sshd.port);
    let wrapper = [
        "unshare",
        "--uts",
        "sh",
        "-c",
        "hostname \"$0\" && exec \"$@\"",
        &other,
    ];
    let cap_arg = cap.display().to_string();
    let recorder = Tracer::start_wrapped(&wrapper, &["-w", &cap_arg, "--filter", &filter]).unwrap();
    let ports = sessions(&sshd, 2, Duration::ZERO);
    reference(recorder, &ports);
    let out = Command::new(agent_bin())
        .args(["replay", "--json", "-r"])
        .arg(&cap)
        .output()
        .unwrap();
    let mut want: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(want.len() > 2 * 5, "{want:#?}");
    let local = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(other, local.trim());

    // The configuration also has a file sink: --sink leaves it out.
    let (cfg, file) = write_config(&dir, &ch_sink(&ch.url(), &filter, ""));
    let delivered = format!(
        "ssh-trace: sink ch: {} events delivered, 0 dropped",
        want.len()
    );
    for _ in 0..2 {
        let err = backfill(&cap, &cfg);
        assert!(
            err.contains(&format!(
                "replay: {} events of host {other} from 1 file(s)",
                want.len()
            )),
            "{err}"
        );
        assert!(err.contains(&delivered), "{err}");
    }
    assert!(!file.exists(), "the file sink was written");
    let hosts = ch
        .rows("SELECT DISTINCT host FROM ssh_trace.events")
        .unwrap();
    assert_eq!(hosts, [serde_json::json!({ "host": other })]);
    for table in [
        "events",
        "sessions",
        "session_bytes_per_minute",
        "session_bytes_per_hour",
        "auth_per_source",
        "auth_attempts_per_source",
    ] {
        ch.exec(&format!("OPTIMIZE TABLE ssh_trace.{table} FINAL"))
            .unwrap();
    }
    let mut got: Vec<String> = ch
        .rows("SELECT data FROM ssh_trace.events")
        .unwrap()
        .iter()
        .map(|r| r["data"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let ends = assert_sessions_equal_their_ends(&ch, "1");
    assert_eq!(ends.len(), ports.len());
    assert_eq!(
        ch.number("SELECT count() FROM ssh_trace.sessions").unwrap(),
        ports.len() as u64
    );
    assert_rollups_sum_to_the_ends(&ch, &ends);
    let c = ch
        .number("SELECT uniqExactMerge(connections) FROM ssh_trace.auth_per_source")
        .unwrap();
    assert_eq!(c, ports.len() as u64);
}

/// A session whose traffic crosses a minute boundary: it prints a little
/// every second from at least 5 s before a full minute until 3 s past it.
/// Its client port.
fn session_over_a_minute_boundary(sshd: &Sshd) -> u16 {
    // The session itself finds the boundary (a loaded machine may take
    // seconds to log in: a boundary computed before could pass before the
    // session's first byte): it starts at least 5 s before a minute ends,
    // moves bytes every second until the minute changes, then 3 s more.
    let burst = "head -c 2000 /dev/urandom | base64; sleep 1";
    session(
        sshd,
        &format!(
            "echo $SSH_CONNECTION; while [ $(date +%S) -ge 55 ]; do sleep 1; done; \
             m=$(date +%M); while [ \"$(date +%M)\" = \"$m\" ]; do {burst}; done; \
             for i in 1 2 3; do {burst}; done"
        ),
    )
}

/// ClickHouse killed (SIGKILL) for 60 s while sessions run, one of them
/// across a minute boundary: the sink spools, then delivers everything
/// once; the views still equal each session's end, the long session's
/// bytes spread over its minutes.
#[test]
fn sixty_second_outage_loses_nothing() {
    if !root_or_skip("sixty_second_outage_loses_nothing") {
        return;
    }
    let sshd = Sshd::start("ch_outage").unwrap();
    let dir = test_dir("ch_outage");
    let mut ch = server(&dir, None);
    let filter = format!("destination.port = {}", sshd.port);
    // At most 1 KiB in memory: the outage goes to the spool.
    let extra = "queue_size = \"1KiB\"\nspool_size = \"10MiB\"\nretry_max = \"2s\"\n";
    let (cfg, file) = write_config(&dir, &ch_sink(&ch.url(), &filter, extra));
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    let mine = format!("destination_port = {}", sshd.port);
    let before = sessions(&sshd, 1, Duration::ZERO);
    wait_for_count(WAIT, 1, || {
        data(&ch, &format!("event = 'session.end' AND {mine}")).len()
    });

    let down = Instant::now();
    ch.kill();
    let long = std::thread::scope(|s| {
        let long = s.spawn(|| session_over_a_minute_boundary(&sshd));
        let during = sessions(&sshd, 2, Duration::from_secs(15));
        (long.join().unwrap(), during)
    });
    std::thread::sleep(Duration::from_secs(60).saturating_sub(down.elapsed()));
    let spooled = std::fs::metadata(dir.join("spool/ch.spool")).map_or(0, |m| m.len());
    assert!(spooled > 8, "the spool stayed empty");
    ch.resume().unwrap();

    let ports: Vec<u16> = before
        .iter()
        .chain(&long.1)
        .chain([&long.0])
        .copied()
        .collect();
    let want = reference(tracer, &ports);
    wait_for_same(&want, || session_lines(&data(&ch, &mine)));
    let err = agent.stop().unwrap();
    assert_same(
        "clickhouse after outage",
        &session_lines(&data(&ch, &mine)),
        &want,
    );
    assert!(
        err.contains("ssh-trace: sink ch: delivering again"),
        "{err}"
    );
    assert_all_delivered(&err, "ch");
    // The outage cost no sink an event and no session a record. (Kernel
    // counters are the machine's: another test's flood of user servers
    // shows up as kernel_listeners_full in every agent running then.)
    for l in lines_of(&file)
        .iter()
        .filter(|l| l.contains("\"agent.loss\""))
    {
        let loss: Value = serde_json::from_str(l).unwrap();
        let sinks = loss["loss"]["sinks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(sinks.iter().all(|s| s["dropped"] == 0), "{l}");
        assert!(loss["loss"].get("sessions").is_none(), "{l}");
    }
    let ends = assert_sessions_equal_their_ends(&ch, &mine);
    assert_eq!(ends.len(), ports.len());
    assert_rollups_sum_to_the_ends(&ch, &ends);
    let minutes = ch
        .number(&format!(
            "SELECT count() FROM ssh_trace.user_bytes_per_minute WHERE session_id IN \
             (SELECT session_id FROM ssh_trace.sessions WHERE source_port = {})",
            long.0
        ))
        .unwrap();
    assert!(minutes >= 2, "the long session spans {minutes} minute(s)");
}

/// The events table lacks a column: the sink names it and the statement
/// that adds it, delivers nothing and keeps every event in its spool;
/// after that statement, the next agent delivers them all.
#[test]
fn a_missing_column_is_named_and_the_events_stay_in_the_spool() {
    if !root_or_skip("a_missing_column_is_named_and_the_events_stay_in_the_spool") {
        return;
    }
    let sshd = Sshd::start("ch_column").unwrap();
    let dir = test_dir("ch_column");
    let ch = server(&dir, None);
    ch.exec("ALTER TABLE ssh_trace.events DROP COLUMN source_port")
        .unwrap();
    let filter = format!("destination.port = {}", sshd.port);
    let extra = "spool_size = \"10MiB\"\nretry_max = \"1s\"\n";
    let (cfg, file) = write_config(&dir, &ch_sink(&ch.url(), &filter, extra));
    let agent = Agent::start(&cfg, &file).unwrap();
    let ports = sessions(&sshd, 2, Duration::ZERO);
    let mine = |l: &String| {
        let e: Value = serde_json::from_str(l).unwrap();
        e["event"].as_str().unwrap().starts_with("agent.")
            || e["session"]["destination"]["port"] == sshd.port
    };
    for p in &ports {
        wait_for_count(WAIT, 1, || {
            lines_of(&file)
                .iter()
                .filter(|l| l.contains(&format!("\"port\":{p}}}")) && l.contains("session.end"))
                .count()
        });
    }
    let stderr = agent.stderr.clone();
    let error = format!(
        "ssh-trace: sink ch: ClickHouse at {}: table ssh_trace.events has no column source_port (UInt16), \
         which the shipped schema has (dist/clickhouse/schema.sql); add it: \
         ALTER TABLE ssh_trace.events ADD COLUMN source_port UInt16; retrying",
        ch.url()
    );
    wait_for_count(WAIT, 1, || {
        lines_of(&stderr).iter().filter(|l| **l == error).count()
    });
    let err = agent.stop().unwrap();
    assert!(err.lines().any(|l| l == error), "{err}");
    let run1: Vec<String> = lines_of(&file).into_iter().filter(mine).collect();
    assert!(
        err.contains(&format!(
            "ssh-trace: sink ch: 0 events delivered, 0 dropped, {} left in the spool",
            run1.len()
        )),
        "{err}\n{run1:#?}"
    );
    assert_eq!(
        ch.number("SELECT count() FROM ssh_trace.events").unwrap(),
        0
    );

    let alter = error
        .split("add it: ")
        .nth(1)
        .unwrap()
        .trim_end_matches("; retrying");
    ch.exec(alter).unwrap();
    std::fs::remove_file(&file).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    let port = format!("destination_port = {}", sshd.port);
    let want = session_lines(&run1);
    wait_for_same(&want, || session_lines(&data(&ch, &port)));
    let err = agent.stop().unwrap();
    assert_same("spooled events", &session_lines(&data(&ch, &port)), &want);
    assert_all_delivered(&err, "ch");
    // Every event of the first run, agent events included, is there once.
    for line in &run1 {
        let e: Value = serde_json::from_str(line).unwrap();
        let n = ch
            .number(&format!(
                "SELECT count() FROM ssh_trace.events FINAL WHERE data = '{}'",
                line.replace('\\', "\\\\").replace('\'', "\\'")
            ))
            .unwrap();
        assert_eq!(n, 1, "{e}");
    }
}

/// A session of `host` ending `days_ago` days ago, as the sink writes it
/// (session.bytes, then session.end a second later).
fn past_session(host: &str, days_ago: u64, id: u32) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = now - days_ago * 86_400;
    let row = |event: &str, t: u64, extra: &str| {
        format!(
            "{{\"time\":{t},\"time_ns\":{},\"host\":\"{host}\",\"event\":\"{event}\",\"event_id\":{id},\
             \"session_id\":\"00000000-0000-0000-0000-{id:012}\",\"user\":\"alice\",\"source_ip\":\"192.0.2.7\",\
             \"bytes_in\":100,\"bytes_out\":200{extra},\"data\":\"{{}}\"}}\n",
            t * 1_000_000_000
        )
    };
    row("session.bytes", t - 1, "")
        + &row("session.end", t, ",\"duration_ms\":2000,\"logged_in\":1")
}

/// dist/clickhouse/retention.sh DAYS drops the day partitions of the events
/// and the month partitions of the views older than DAYS days, nothing newer.
#[test]
fn retention_drops_partitions_older_than_the_days_kept() {
    if !root_or_skip("retention_drops_partitions_older_than_the_days_kept") {
        return;
    }
    let dir = test_dir("ch_retention");
    let ch = server(&dir, None);
    let rows = past_session("old", 100, 1) + &past_session("recent", 10, 2);
    ch.exec(&format!(
        "INSERT INTO ssh_trace.events FORMAT JSONEachRow\n{rows}"
    ))
    .unwrap();
    let script = workspace_root().join("dist/clickhouse/retention.sh");
    let run = |days: &str| {
        Command::new("sh")
            .arg(&script)
            .arg(days)
            .env("CLICKHOUSE_URL", ch.url())
            .output()
            .unwrap()
    };
    let out = run("30");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dropped = String::from_utf8_lossy(&out.stdout).into_owned();
    let hosts = "SELECT DISTINCT host FROM ssh_trace.";
    let tables = [
        ("events", hosts),
        ("sessions", hosts),
        ("session_bytes_per_minute", hosts),
        ("session_bytes_per_hour", hosts),
        (
            "auth_per_source",
            "SELECT arrayJoin(groupUniqArrayMerge(hosts)) AS host FROM ssh_trace.",
        ),
    ];
    for (t, select) in tables {
        let left = ch.rows(&format!("{select}{t}")).unwrap();
        assert_eq!(
            left,
            [serde_json::json!({"host": "recent"})],
            "{t}\n{dropped}"
        );
        assert!(
            dropped.contains(&format!("dropped ssh_trace.{t} partition ")),
            "{t}: {dropped}"
        );
    }
    assert_eq!(dropped.lines().count(), tables.len(), "{dropped}");
    let again = run("30");
    assert!(
        again.status.success() && again.stdout.is_empty(),
        "{again:?}"
    );
    assert_eq!(run("thirty").status.code(), Some(2));
}
