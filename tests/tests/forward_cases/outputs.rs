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
