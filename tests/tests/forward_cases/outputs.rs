//! What forwards make elsewhere: the forward_target alert, ECS and OCSF lines.
use super::*;

pub fn forward_outside_the_allowed_networks_fires_forward_target(kind: Kind) {
    if !root_or_skip("forward_outside_the_allowed_networks_fires_forward_target") {
        return;
    }
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_alert").unwrap();
    let dir = world().dir.join("fwd_alert");
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    let rule = format!(
        "state_file = \"{}\"\n[[rule]]\ntype = \"forward_target\"\nallowed = [\"127.0.0.0/8\", \"::1\"]\n",
        dir.join("state.json").display()
    );
    std::fs::write(&rules, rule).unwrap();
    let rules = rules.display().to_string();
    let t = tracer(kind, &["--alerts", &rules]);
    let lport = free_port().unwrap();
    let spec = format!("{lport}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-L", &spec], "true").unwrap();
    let port = held.port;
    for _ in 0..2 {
        http_get("127.0.0.1", lport, 100, None);
    }
    let (_, all) = finish(held, t);
    let alerts: Vec<Value> = session_events(&all, port)
        .into_iter()
        .filter(|e| e["event"] == "alert.forward_target")
        .collect();
    // Once per session and target, however many connections.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let e = &alerts[0]["alert"]["evidence"];
    assert_eq!(
        (&e["target_ip"], &e["target_port"]),
        (&json!(target.ip), &json!(TARGET_PORT)),
        "{e}"
    );
    assert_eq!(e["user"], TEST_USER, "{e}");
    assert_eq!(e["source_ip"], "127.0.0.1", "{e}");
}

/// Every line an ECS and an OCSF agent print for a session with a local
/// forward, a remote forward with a connection, and agent forwarding.
pub fn forward_events_are_valid_ecs_and_ocsf(kind: Kind) {
    if !root_or_skip("forward_events_are_valid_ecs_and_ocsf") {
        return;
    }
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_conformance").unwrap();
    let agent = Agent::start("conformance");
    let only = format!("destination.port = {}", server.port);
    let start = |format: &str| {
        let mut args = agent_args(kind);
        args.extend(["--filter".to_string(), only.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Tracer::start_format(format, &args).unwrap()
    };
    let (ecs, ocsf) = (start("ecs"), start("ocsf"));
    let (lport, rport) = (free_port().unwrap(), free_port().unwrap());
    let l = format!("{lport}:{}:{TARGET_PORT}", target.ip);
    let r = format!("127.0.0.1:{rport}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open_env(
        &server,
        &["-A", "-L", &l, "-R", &r],
        "ssh-add -l",
        &[("SSH_AUTH_SOCK", &agent.sock)],
    )
    .unwrap();
    http_get("127.0.0.1", lport, 1000, None);
    http_get("127.0.0.1", rport, 1000, None);
    held.release().unwrap();
    held.finish().unwrap();
    let states = ["listen", "open", "close"];
    for (t, path) in [(&ecs, "ssh_trace"), (&ocsf, "unmapped")] {
        let done = wait_until(WAIT, || {
            let seen: Vec<Value> = t.events();
            let fw: Vec<&Value> = seen
                .iter()
                .filter(|e| event_name(e) == "session.forward")
                .collect();
            let all_states = states
                .iter()
                .all(|s| fw.iter().any(|e| e[path]["forward"]["state"] == *s));
            let end = seen.iter().any(|e| event_name(e) == "session.end");
            (all_states && end && fw.len() >= 7).then_some(())
        });
        assert!(done.is_some(), "[{path}] {:#?}", t.events());
    }
    let check = |t: Tracer, f: &dyn Fn(&Value) -> Vec<String>| {
        let lines = t.stop_raw().unwrap();
        let bad: Vec<String> = lines
            .iter()
            .filter_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                let errs = f(&v);
                (!errs.is_empty()).then(|| format!("{l}\n  - {}", errs.join("\n  - ")))
            })
            .collect();
        assert!(bad.is_empty(), "{}", bad.join("\n"));
        lines.len()
    };
    assert!(check(ecs, &|d| conformance::ecs().check(d)) > 10);
    assert!(check(ocsf, &|d| conformance::ocsf().check(d)) > 10);
}

/// `ssh-trace report -r FILE ARGS` over the session at client port `port`
/// (other tests record at the same time).
fn report_of(file: &Path, port: u16, args: &[&str], json: bool) -> String {
    let only = format!("source.port = {port}");
    let mut c = Command::new(agent_bin());
    c.arg("report").arg("-r").arg(file).args(args);
    if json {
        c.arg("--json");
    }
    let out = c.args(["--filter", &only]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A recorded session with a local forward and a remote forward with a
/// connection through it: `report forwards`, the sessions report's
/// forward totals and the timeline give each connection the bytes its
/// peer counted.
pub fn reports_show_the_forwards_with_the_bytes_their_peers_counted(kind: Kind) {
    if !root_or_skip("reports_show_the_forwards_with_the_bytes_their_peers_counted") {
        return;
    }
    let k = kind.name();
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_reports").unwrap();
    let cap = world().dir.join(format!("fwd_reports_{k}.cap"));
    let _ = std::fs::remove_file(&cap);
    let t = tracer(kind, &["-w", &cap.display().to_string()]);
    let (lport, rport) = (free_port().unwrap(), free_port().unwrap());
    let l = format!("{lport}:{}:{TARGET_PORT}", target.ip);
    let r = format!("127.0.0.1:{rport}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-L", &l, "-R", &r], "true").unwrap();
    let port = held.port;
    let listen = ep("127.0.0.1", rport);
    wait_forward(&t, port, |f| {
        f["state"] == "listen" && f["listen"] == listen
    });
    http_get("127.0.0.1", lport, 50_000, None);
    let local = target.the_connection();
    let (peer_port, peer_sent, peer_received) = http_get("127.0.0.1", rport, 20_000, None);
    let peer = ep("127.0.0.1", peer_port);
    wait_forward(&t, port, |f| f["state"] == "close" && f["peer"] == peer);
    let (_, all) = finish(held, t);
    let id = session_events(&all, port)[0]["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let doc: Value = serde_json::from_str(&report_of(&cap, port, &["forwards"], true)).unwrap();
    let rows = doc["forwards"].as_array().unwrap();
    let closed = |pred: &dyn Fn(&Value) -> bool| -> Value {
        let found = rows.iter().find(|f| f["state"] == "close" && pred(f));
        found.unwrap_or_else(|| panic!("[{k}] {rows:#?}")).clone()
    };
    let target_ep = ep(&target.ip, TARGET_PORT);
    let lrow = closed(&|f| f["kind"] == "local" && f["target"] == target_ep);
    assert_eq!(
        (&lrow["bytes_out"], &lrow["bytes_in"], &lrow["session"]),
        (&json!(local.received), &json!(local.sent), &json!(id)),
        "[{k}] the local forward as the target counted: {lrow}"
    );
    let rrow = closed(&|f| f["kind"] == "remote" && f["peer"] == peer);
    assert_eq!(
        (&rrow["bytes_in"], &rrow["bytes_out"]),
        (&json!(peer_sent), &json!(peer_received)),
        "[{k}] the remote forward's connection as its peer counted: {rrow}"
    );
    // Listeners: the -R one (dropbear adds ::1); both closed at the end.
    let listeners: Vec<&Value> = rows
        .iter()
        .filter(|f| f["kind"] == "remote" && f["peer"].is_null())
        .collect();
    assert!(
        !listeners.is_empty() && listeners.iter().all(|f| f["state"] == "close"),
        "[{k}] {rows:#?}"
    );

    let doc: Value = serde_json::from_str(&report_of(&cap, port, &["sessions"], true)).unwrap();
    let totals = &doc["sessions"][0]["forwards"];
    assert_eq!(
        *totals,
        json!({"listeners": listeners.len(), "connections": 2, "failed": 0,
               "bytes_in": local.sent + peer_sent,
               "bytes_out": local.received + peer_received}),
        "[{k}] {doc}"
    );

    let text = report_of(&cap, port, &["timeline", &id], false);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("session.forward"))
        .collect();
    for (f, (i, o)) in [
        (&lrow, (local.sent, local.received)),
        (&rrow, (peer_sent, peer_received)),
    ] {
        let want = format!("#{} {} close", f["id"], f["kind"].as_str().unwrap());
        let line = lines.iter().find(|l| l.contains(&want));
        assert!(
            line.is_some_and(|l| l.contains(&format!(" in={i} out={o} "))),
            "[{k}] {want} in={i} out={o} in:\n{text}"
        );
    }
}
