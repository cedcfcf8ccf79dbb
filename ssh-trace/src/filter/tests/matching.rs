//! What filters select.
use super::*;

const CURL: &[&str] = &["/usr/bin/curl", "-s", "https://example.org"];

fn with_session(mut ev: Event, f: impl FnOnce(&mut SessionInfo)) -> Event {
    if let Some(s) = ev.session.as_mut() {
        f(std::sync::Arc::make_mut(s));
    }
    ev
}

#[test]
fn example_user_network_not_exit() {
    let f = "user = alice and source.ip in 10.0.0.0/8 and not event = process.exit";
    assert!(m(f, &exec(CURL)));
    assert!(!m(f, &exit(Some(0), None)));
    let bob = with_session(exec(CURL), |s| s.user = Some("bob".into()));
    assert!(!m(f, &bob));
    let outside = with_session(exec(CURL), |s| {
        if let Some(src) = s.source.as_mut() {
            src.ip = "192.168.7.7".parse().unwrap();
        }
    });
    assert!(!m(f, &outside));
    assert_eq!(
        selected(f),
        [
            "process.exec",
            "user.change",
            "session.bytes",
            "session.end"
        ]
    );
}

#[test]
fn example_args_contains() {
    let f = r#"process.args contains "curl""#;
    assert!(m(f, &exec(CURL)));
    assert!(!m(f, &exec(&["/bin/ls", "-l"])));
    assert_eq!(selected(f), ["process.exec"]);
}

#[test]
fn example_session_id() {
    let f = "session.id = 5bedc86c-1cdc-4597-bf3e-b121a1db7198";
    assert_eq!(selected(f).len(), 6, "every session event");
    let other = with_session(exec(CURL), |s| s.id = SessionId(0));
    assert!(!m(f, &other));
    assert_eq!(
        selected(f),
        selected("session = 5bedc86c-1cdc-4597-bf3e-b121a1db7198")
    );
}

#[test]
fn example_event_in_or_uid() {
    let f = "event in (process.exec, user.change) or session.uid = 0";
    assert_eq!(selected(f), ["process.exec", "user.change"]);
    let root = with_session(exit(Some(0), None), |s| s.uid = Some(0));
    assert!(m(f, &root));
}

#[test]
fn example_change_to_root() {
    let f = "change.new.euid = 0 and change.success = true";
    assert!(m(f, &sudo(true)));
    assert!(!m(f, &sudo(false)));
    assert_eq!(selected(f), ["user.change"]);
}

#[test]
fn example_numbers_and_host() {
    assert_eq!(selected("session.bytes_in > 1000000"), ["session.bytes"]);
    assert_eq!(
        selected("process.pid >= 100"),
        ["process.exec", "process.exit", "user.change"]
    );
    assert!(selected("host != web1").is_empty());
    assert_eq!(selected("host = web1").len(), all_events().len());
    assert!(parse("host != web1").matches(&agent_start(), "db2"));
}

#[test]
fn example_port_or_not_discovered() {
    let f = "source.port = 22 or (user != root and not session.discovered = true)";
    // alice, not discovered: every session event with a user.
    assert_eq!(
        selected(f),
        [
            "process.exec",
            "process.exit",
            "user.change",
            "session.bytes",
            "session.end"
        ]
    );
    let discovered = with_session(exec(CURL), |s| s.discovered = true);
    assert!(!m(f, &discovered));
    let root = with_session(exec(CURL), |s| s.user = Some("root".into()));
    assert!(!m(f, &root));
    let from_22 = with_session(root.clone(), |s| {
        if let Some(src) = s.source.as_mut() {
            src.port = 22;
        }
    });
    assert!(m(f, &from_22));
}

#[test]
fn equality_and_inequality() {
    let e = exec(CURL);
    assert!(m("process.executable = /usr/bin/curl", &e));
    assert!(m("process.executable == /usr/bin/curl", &e));
    assert!(!m("process.executable != /usr/bin/curl", &e));
    assert!(m("process.executable != /usr/bin/wget", &e));
    assert!(m(r#"process.executable = "/usr/bin/curl""#, &e));
    // Case-sensitive.
    assert!(!m("user = Alice", &e));
    assert!(m("change.args = -1", &sudo(true)));
    assert!(m("change.syscall = setresuid", &sudo(true)));
    assert!(m("event = process.exec", &e));
    assert!(m("event != process.exit", &e));
}

#[test]
fn ordering_numbers() {
    let e = exec(CURL);
    assert!(m("process.pid < 4243", &e));
    assert!(!m("process.pid < 4242", &e));
    assert!(m("process.pid <= 4242", &e));
    assert!(m("process.pid > 4241", &e));
    assert!(!m("process.pid > 4242", &e));
    assert!(m("process.pid >= 4242", &e));
    assert!(m("process.pid > -5", &e));
    // u64 counters compare exactly, beyond i64.
    let big = bytes(u64::MAX, 0);
    assert!(m("session.bytes_in = 18446744073709551615", &big));
    assert!(m("session.bytes_in > 9223372036854775807", &big));
    assert!(m("change.errno = 1", &sudo(false)));
}

#[test]
fn ordering_text_and_time() {
    let e = exec(CURL);
    assert!(m("user < bob", &e));
    assert!(m("user >= alice", &e));
    assert!(!m("user > alice", &e));
    assert!(m("event < process.exit", &e), "event names order as text");
    assert!(m("time = 2023-11-14T22:13:20Z", &e));
    assert!(m("time >= 2023-11-14T22:13:20.000000000Z", &e));
    assert!(m("time < 2023-11-14T22:13:20.000000001Z", &e));
    assert!(m(r#"time > "2023-11-14 22:13:19""#, &e));
    assert!(m("time >= 2023-11-14 and time < 2023-11-15", &e));
    assert!(!m("time >= 2023-11-15", &e));
    assert!(m("time in (2023-11-14T22:13:20Z, 2024-01-01)", &e));
}

#[test]
fn contains_and_startswith() {
    let e = exec(CURL);
    assert!(m("process.executable contains curl", &e));
    assert!(m("process.executable startswith /usr/", &e));
    assert!(!m("process.executable startswith curl", &e));
    assert!(m("process.args contains example", &e));
    assert!(m("process.args startswith https:", &e));
    assert!(!m("process.args startswith example", &e));
    assert!(m("user contains lic", &e));
    assert!(m("source.ip startswith 10.", &e));
    assert!(m("source.ip contains .2.", &e));
    assert!(m("event startswith process.", &e));
    assert!(m("agent.server_binaries contains dropbear", &agent_start()));
    // A list of numbers contains a number when an element equals it.
    assert!(m("change.args contains 0", &sudo(true)));
    assert!(!m("change.args contains 5", &sudo(true)));
    assert!(m(r#"process.args contains """#, &e), "empty needle");
}

#[test]
fn in_lists() {
    let e = exec(CURL);
    assert!(m("user in (bob, alice)", &e));
    assert!(m(r#"user in ("bob", "alice")"#, &e));
    assert!(!m("user in (bob)", &e));
    assert!(m("process.pid in (1, 4242)", &e));
    assert!(m("change.success in (true)", &sudo(true)));
    assert!(m("process.args in (-s, -v)", &e));
    assert!(m("change.args in (7, 0)", &sudo(true)));
    assert!(m("source.ip in (192.168.0.0/16, 10.1.2.3)", &e));
    assert!(!m("source.ip in (192.168.0.0/16, 10.1.2.4)", &e));
}

#[test]
fn exists() {
    assert!(m("session.user exists", &exec(CURL)));
    assert!(!m("session.user exists", &connect()));
    assert!(m("not user exists", &connect()));
    assert!(m("session exists", &connect()));
    assert!(!m("session exists", &agent_start()));
    assert!(m("process exists", &sudo(true)));
    assert!(m("process.args exists", &exec(&[])));
    assert!(m("process.exit_code exists", &exit(Some(1), None)));
    assert!(!m("process.exit_code exists", &exit(None, Some(9))));
    assert!(m("process.signal = 9", &exit(None, Some(9))));
    assert!(m("change.errno exists", &sudo(false)));
    assert!(!m("change.errno exists", &sudo(true)));
    assert_eq!(selected("agent exists"), ["agent.start", "agent.stop"]);
    assert_eq!(selected("session.duration_ms exists"), ["session.end"]);
    assert_eq!(
        selected("session.bytes_out exists"),
        ["session.bytes", "session.end"]
    );
    let lost = with_session(connect(), |s| s.source = None);
    assert!(!m("session.source exists", &lost));
    assert!(m("session.destination exists", &lost));
}

#[test]
fn aliases_equal_full_paths() {
    for (alias, full, value) in [
        ("user", "session.user", "alice"),
        ("uid", "session.uid", "1001"),
        ("source.ip", "session.source.ip", "10.1.2.3"),
        ("source.port", "session.source.port", "51234"),
        ("destination.ip", "session.destination.ip", "192.168.1.10"),
        ("destination.port", "session.destination.port", "22"),
        ("session", "session.id", SID),
    ] {
        let a = selected(&format!("{alias} = {value}"));
        assert_eq!(a, selected(&format!("{full} = {value}")), "{alias}");
        // Every session event, but user and uid are null before login.
        let want = if matches!(alias, "user" | "uid") {
            5
        } else {
            6
        };
        assert_eq!(a.len(), want, "{alias}");
    }
}

#[test]
fn missing_fields_are_false_and_not_is_true() {
    let start = agent_start();
    for f in [
        "user = alice",
        "user != alice",
        "user < zzz",
        "user contains a",
        "user startswith a",
        "user in (alice, bob)",
        "process.pid > 0",
        "process.args != x",
        "source.ip in 0.0.0.0/0",
        "source.ip != 10.0.0.0/8",
        "change.success = false",
        "session.discovered = false",
    ] {
        assert!(!m(f, &start), "{f}");
        assert!(m(&format!("not {f}"), &start), "not {f}");
    }
    // Before login, user is null: `!=` does not match it either.
    assert!(!m("user != root", &connect()));
}

#[test]
fn discovered_is_known_on_every_session_event() {
    // The JSON leaves it out when false; the filter still sees `false`.
    assert!(m("session.discovered = false", &exec(CURL)));
    let d = with_session(exec(CURL), |s| s.discovered = true);
    assert!(m("session.discovered = true", &d));
    assert!(m("session.discovered != false", &d));
}

#[test]
fn arrays_any_element() {
    let e = exec(CURL);
    assert!(m("process.args = -s", &e));
    assert!(!m("process.args = -v", &e));
    // `!=` on a list: no element equals.
    assert!(m("process.args != -v", &e));
    assert!(!m("process.args != -s", &e));
    assert!(m("change.args != 5", &sudo(true)));
    assert!(!m("change.args != 0", &sudo(true)));
    assert!(m("change.args < 0", &sudo(true)));
    assert!(!m("change.args > 0", &sudo(true)));
    assert!(m("process.args > https", &e));
    // An empty list has no element to match.
    assert!(!m("process.args = x", &exec(&[])));
    assert!(m("process.args != x", &exec(&[])));
}

#[test]
fn ipv4_cidr_and_addresses() {
    let e = exec(CURL);
    assert!(m("source.ip in 10.0.0.0/8", &e));
    assert!(m("source.ip in 10.1.2.0/24", &e));
    assert!(m("source.ip in 10.1.2.3/32", &e));
    assert!(m("source.ip in 0.0.0.0/0", &e));
    assert!(!m("source.ip in 10.1.3.0/24", &e));
    assert!(m("source.ip in 10.1.2.3", &e), "an address is its own /32");
    assert!(
        m("source.ip = 10.0.0.0/8", &e),
        "= with a network: inside it"
    );
    assert!(m("source.ip != 192.168.0.0/16", &e));
    assert!(!m("source.ip != 10.0.0.0/8", &e));
    assert!(m("source.ip = 10.1.2.3", &e));
    assert!(m("source.ip = ::ffff:10.1.2.3", &e), "IPv4-mapped is IPv4");
    assert!(m("source.ip > 10.1.2.2 and source.ip < 10.1.2.10", &e));
    assert!(m(
        "source.ip < 9.255.255.255 or destination.ip >= 192.168.1.10",
        &e
    ));
    assert!(!m("source.ip in 2001:db8::/32", &e), "families stay apart");
    assert!(!m("source.ip < ::1", &e));
}

#[test]
fn ipv6_cidr_and_addresses() {
    let v6 = with_session(exec(CURL), |s| {
        s.source = Some(Endpoint {
            ip: "2001:db8:0:1::42".parse().unwrap(),
            port: 40000,
        })
    });
    assert!(m("source.ip in 2001:db8::/32", &v6));
    assert!(m("source.ip in 2001:db8:0:1::/64", &v6));
    assert!(!m("source.ip in 2001:db8:0:2::/64", &v6));
    assert!(m("source.ip in ::/0", &v6));
    assert!(!m("source.ip in 0.0.0.0/0", &v6));
    // Compared as addresses, not as text.
    assert!(m(
        "source.ip = 2001:0db8:0000:0001:0000:0000:0000:0042",
        &v6
    ));
    assert!(m("source.ip > 2001:db8::", &v6));
    assert!(m("source.ip in (10.0.0.0/8, 2001:db8::/32)", &v6));
    assert!(m("source.ip startswith 2001:db8:", &v6));
}

#[test]
fn precedence_not_and_or() {
    let e = exec(CURL);
    // or binds loosest: true or (false and false).
    assert!(m("user = alice or user = bob and uid = 5", &e));
    assert!(!m("(user = alice or user = bob) and uid = 5", &e));
    // not binds tightest: (not false) and true.
    assert!(m("not user = bob and uid = 1001", &e));
    assert!(!m("not (user = alice and uid = 1001)", &e));
    assert!(m("not user = alice or uid = 1001", &e));
    assert!(m("not not user = alice", &e));
    assert!(m("user = x or user = y or user = alice", &e));
    assert!(!m("user = alice and uid = 1001 and host = db2", &e));
}

#[test]
fn words_that_look_like_keywords_are_values() {
    let e = with_session(exec(CURL), |s| s.user = Some("and".into()));
    assert!(m(r#"user = "and""#, &e));
    let e = with_session(exec(CURL), |s| s.user = Some("true".into()));
    assert!(m("user = true", &e));
    let e = with_session(exec(CURL), |s| s.user = Some("in".into()));
    assert!(m("user = in", &e));
}

#[test]
fn quoted_escapes() {
    let e = exec(&["echo", "say \"hi\"", r"C:\\dir"]);
    assert!(m(r#"process.args = "say \"hi\"""#, &e));
    // Event text keeps a backslash as `\\` (docs/schema.md), so matching one
    // takes `\\\\` inside quotes.
    assert!(m(r#"process.args = "C:\\\\dir""#, &e));
}

#[test]
fn counters_of_agent_events() {
    assert!(m(
        "loss.kernel_ringbuf = 3 and total.kernel_ringbuf = 10",
        &agent_loss()
    ));
    assert!(m("loss.queue > 0 or loss.decode > 0", &agent_loss()));
    assert!(m(
        "totals.events = 99 and totals.lost.decode = 4",
        &agent_stop()
    ));
    assert!(m("agent.ring_buffer_bytes = 4194304", &agent_stop()));
    assert!(m("agent.kernel startswith 6.1", &agent_start()));
    assert!(m(
        "session.logged_in = true and session.duration_ms < 2000",
        &end(true)
    ));
    assert!(!m("session.logged_in = true", &end(false)));
}

#[test]
fn every_field_parses_and_some_event_has_it() {
    let events = all_events();
    let mut more = vec![
        exit(None, Some(9)),
        sudo(false),
        alert(),
        sink_loss(),
        sink_stop(),
        output_loss(),
        restarted(),
        tty_output(),
        crate::format::samples::event(crate::event::Kind::FileTransfer),
    ];
    more.extend(crate::format::samples::transfer_shapes());
    let forwards: Vec<Event> = crate::format::samples::events()
        .into_iter()
        .filter(|e| matches!(e.body, Body::SessionForward(_)))
        .collect();
    // session.auth, a login with its key, an end with its attempts.
    more.extend(crate::format::samples::events());
    for name in crate::event::fields::all_names() {
        let f = parse(&format!("{name} exists"));
        assert!(
            events
                .iter()
                .chain(&more)
                .chain(&forwards)
                .any(|e| f.matches(e, HOST)),
            "no test event has `{name}`"
        );
    }
}

#[test]
fn auth_fields_select_decisions_logins_and_attempts() {
    let samples = crate::format::samples::events();
    let kinds = |src: &str| -> Vec<&'static str> {
        let f = parse(src);
        samples
            .iter()
            .filter(|e| f.matches(e, HOST))
            .map(|e| e.kind().name())
            .collect()
    };
    assert_eq!(
        kinds("auth.outcome = failed"),
        ["session.auth", "session.auth"]
    );
    assert_eq!(
        kinds("auth.invalid = true and auth.user = admin"),
        ["session.auth"]
    );
    // The method and key of a decision and of the login it let in.
    assert_eq!(
        kinds("auth.method = publickey and auth.certificate.serial = 42"),
        ["session.auth", "session.login"]
    );
    assert_eq!(
        kinds("auth.key.fingerprint startswith \"SHA256:Q3CW\""),
        ["session.auth", "session.login", "session.auth"]
    );
    assert_eq!(
        kinds("auth.users contains root and auth.failures >= 3"),
        ["session.end"]
    );
    assert_eq!(kinds("auth.submethod = pam"), ["session.auth"]);
}

/// An alert with every evidence field.
fn alert() -> Event {
    let evidence = Evidence {
        user: Some("alice".into()),
        source_ip: Some([10, 1, 2, 3].into()),
        count: Some(11),
        limit: Some(10),
        window_s: Some(60),
        idle_s: Some(5),
        pid: Some(4242),
        syscall: Some("execve".into()),
        executable: Some("memfd:x".into()),
        path: Some("/srv/x".into()),
        action: Some("webhook".into()),
        error: Some("refused".into()),
        target_ip: Some([10, 9, 9, 9].into()),
        target_port: Some(443),
        users: Some(vec!["root".into(), "admin".into()]),
        source_ips: Some(vec!["10.9.9.9".into()]),
    };
    let alert = Alert {
        rule: "r".into(),
        severity: Severity::Critical,
        evidence,
    };
    Event::new(
        T0 + 7,
        shared(),
        Body::Alert(AlertKind::ConnectionRate, Box::new(alert)),
    )
}

/// agent.stop of an agent whose sinks dropped events and whose capture
/// file failed to write.
fn sink_stop() -> Event {
    let mut ev = agent_stop();
    if let Body::AgentStop(s) = &mut ev.body {
        s.totals.lost.sinks.push(SinkLoss::default());
        s.totals.lost.tty_bytes = 1;
        s.totals.lost.auth_unwatched = 1;
        s.totals.lost.outputs.push(OutputLoss::default());
    }
    ev
}

/// agent.loss of an agent whose capture file could not be written.
fn output_loss() -> Event {
    let mut ev = agent_loss();
    if let Body::AgentLoss(l) = &mut ev.body {
        let o = OutputLoss {
            output: "capture".into(),
            error: "No space left on device".into(),
            failures: 1,
            events: 5,
        };
        l.loss.counts.outputs.push(o.clone());
        l.total.outputs.push(o);
    }
    ev
}

/// agent.loss of an agent with sinks, naming a session, having lost
/// terminal bytes and not watched a session's authentication.
fn sink_loss() -> Event {
    let mut ev = agent_loss();
    if let Body::AgentLoss(l) = &mut ev.body {
        let s = SinkLoss {
            sink: "siem".into(),
            dropped: 3,
        };
        l.loss.counts.sinks.push(s.clone());
        l.total.sinks.push(s);
        (l.loss.counts.tty_bytes, l.total.tty_bytes) = (100, 200);
        (l.loss.counts.auth_unwatched, l.total.auth_unwatched) = (1, 2);
        l.loss.sessions.push(SessionLoss {
            id: SID.parse().unwrap(),
            records: 3,
            untracked: 0,
            tty_bytes: 100,
        });
        l.loss.more_sessions = 1;
    }
    ev
}

/// agent.start after an agent that died.
fn restarted() -> Event {
    let mut ev = agent_start();
    if let Body::AgentStart(a) = &mut ev.body {
        a.previous = Some(PreviousAgent {
            last_alive: "2026-11-21T10:00:00Z".into(),
            clean: false,
            programs_kept: true,
            lost_in_flight: 2,
        });
    }
    ev
}

/// What a recorded terminal showed.
fn tty_output() -> Event {
    let t = Terminal::data(TtyKind::Output, 24, 80, b"uid=0(root)\r\n".to_vec());
    let session = connect().session;
    Event::new(T0 + 3, session, Body::SessionTty(t))
}

#[test]
fn terminal_records_filter_by_type_size_and_text() {
    assert!(m(
        "event = session.tty and tty.type = output",
        &tty_output()
    ));
    assert!(m(
        "tty.data contains \"uid=0\" and tty.cols = 80",
        &tty_output()
    ));
    assert!(m("tty.bytes = 13 and tty.rows < 25", &tty_output()));
    assert!(m(
        "loss.tty_bytes = 100 and total.tty_bytes = 200",
        &sink_loss()
    ));
    assert!(m(
        "loss.auth_unwatched = 1 and total.auth_unwatched = 2",
        &sink_loss()
    ));
    assert!(!m("loss.auth_unwatched exists", &agent_loss()));
    assert!(
        !m("loss.tty_bytes exists", &agent_loss()),
        "absent while none were lost"
    );
}

#[test]
fn alert_fields_and_sink_losses_filter() {
    assert!(m("alert.rule = r and alert.severity = critical", &alert()));
    assert!(m("alert.evidence.source_ip in 10.0.0.0/8", &alert()));
    assert!(m(
        "alert.evidence.count > 10 and alert.evidence.window_s = 60",
        &alert()
    ));
    assert!(m(
        "alert.evidence.syscall = execve and alert.evidence.pid = 4242",
        &alert()
    ));
    assert!(!m("alert exists", &exec(CURL)));
    assert!(m("loss.sinks exists and total.sinks exists", &sink_loss()));
    assert!(
        !m("loss.sinks exists", &agent_loss()),
        "absent without sinks, as in the JSON"
    );
    let mut stop = agent_stop();
    assert!(!m("totals.lost.sinks exists", &stop));
    if let Body::AgentStop(s) = &mut stop.body {
        s.totals.lost.sinks.push(SinkLoss::default());
    }
    assert!(m("totals.lost.sinks exists", &stop));
    assert!(m(
        "loss.outputs exists and total.outputs exists",
        &output_loss()
    ));
    assert!(
        !m("loss.outputs exists", &agent_loss()),
        "absent when nothing failed"
    );
}

/// Every path of docs/schema.md can be filtered on, and every filter field
/// is a documented path: the table and the document say the same.
#[test]
fn every_schema_path_is_filterable() {
    let md =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.md")).unwrap();
    let documented: std::collections::BTreeSet<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let fields: std::collections::BTreeSet<&str> = crate::event::fields::FIELDS
        .iter()
        .map(|f| f.name)
        .collect();
    // `session` is the object; the filter reads it as its id (an alias).
    let missing: Vec<&&str> = documented
        .iter()
        .filter(|p| !fields.contains(**p) && **p != "session")
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not filterable: {missing:?}"
    );
    let undocumented: Vec<&&str> = fields
        .iter()
        .filter(|f| !documented.contains(**f))
        .collect();
    assert!(
        undocumented.is_empty(),
        "filterable but not documented: {undocumented:?}"
    );
    assert!(documented.len() > 90, "{}", documented.len());
}

/// Replay's budget is 1 M events/s; run with
/// `cargo test --release -p ssh-trace filter::tests::matching::speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn speed() {
    let f = parse(
        "user = alice and source.ip in 10.0.0.0/8 and not event = process.exit \
         and (process.args contains \"example\" or session.bytes_in > 1000000)",
    );
    let events = all_events();
    let n = 10_000_000;
    let t = std::time::Instant::now();
    let mut hits = 0usize;
    for i in 0..n {
        hits += usize::from(f.matches(&events[i % events.len()], HOST));
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("{hits} hits, {:.1} M events/s", rate / 1e6);
    assert!(rate > 1e6);
}
