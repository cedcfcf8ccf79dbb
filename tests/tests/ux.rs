//! What a person sees (issue 18), against real sessions: short ids that
//! tell concurrent sessions apart and select them by prefix, the quiet
//! human view of `tail` in a real terminal (tmux), the line saying what it
//! watches, and the session socket's refusals and group option.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use ops::*;
use serde_json::Value;
use ssh_trace_tests::*;

/// `ssh-trace ARGS…`, as root.
fn run(args: &[&str]) -> Output {
    Command::new(agent_bin()).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Client port → session id of every session.connect in `events`.
fn ids_by_port(events: &[Value]) -> BTreeMap<u16, String> {
    of_kind(events, "session.connect")
        .iter()
        .map(|e| {
            let s = &e["session"];
            let port = s["source"]["port"].as_u64().unwrap() as u16;
            (port, s["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The human lines of the session from 127.0.0.1:`port` (its source
/// column), leading and trailing blanks trimmed.
fn human_lines_of(out: &str, port: u16) -> Vec<String> {
    let src = format!("127.0.0.1:{port}");
    out.lines()
        .filter(|l| l.split_whitespace().any(|w| w == src))
        .map(|l| l.trim().to_owned())
        .collect()
}

fn kinds(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect()
}

/// The one client port of `events` not in `known` (sessions on our sshd
/// come one at a time).
fn new_port(events: &[Value], known: &BTreeSet<u16>) -> Option<u16> {
    let fresh: Vec<u16> = ids_by_port(events)
        .into_keys()
        .filter(|p| !known.contains(p))
        .collect();
    (fresh.len() == 1).then(|| fresh[0])
}

/// The agent (`tail --json`), kept to `sshd`'s sessions.
fn tracer_on(sshd: &Sshd, extra: &[&str]) -> Tracer {
    let filter = format!("destination.port = {}", sshd.port);
    let mut args = vec!["--filter", &filter];
    args.extend_from_slice(extra);
    Tracer::start(&args).unwrap()
}

/// The client port of the next session on our sshd once it ended (it is
/// then added to `known`).
fn next_ended(tracer: &Tracer, known: &mut BTreeSet<u16>) -> u16 {
    let port = wait_until(Duration::from_secs(15), || {
        new_port(&tracer.events(), known)
    })
    .expect("the session's connect");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    known.insert(port);
    port
}

/// The session's lines in the terminal, once its session.end is there.
fn lines_until_end(tmux: &Tmux, port: u16) -> Vec<String> {
    let has_end = || {
        let lines = human_lines_of(&tmux.history(), port);
        lines
            .iter()
            .any(|l| l.contains("session.end"))
            .then_some(lines)
    };
    wait_until(Duration::from_secs(15), has_end)
        .unwrap_or_else(|| panic!("no session.end line:\n{}", tmux.history()))
}

#[test]
fn tail_on_a_terminal_says_what_it_watches_and_folds_the_servers_work() {
    if !root_or_skip("tail_on_a_terminal_says_what_it_watches_and_folds_the_servers_work") {
        return;
    }
    let sshd = Sshd::start("ux_quiet").unwrap();
    let cap = world().dir.join("ux_quiet.cap");
    let _ = std::fs::remove_file(&cap);
    // Open before tail starts: it is discovered.
    let pty = PtySession::start(&sshd, 120);
    let tracer = tracer_on(
        &sshd,
        &["--no-sessions-socket", "-w", cap.to_str().unwrap()],
    );
    let tail = format!(
        "{} tail --filter 'destination.port = {}' --no-sessions-socket --ring-buffer-size 4194304",
        agent_bin().display(),
        sshd.port
    );
    let tmux = Tmux::start(
        &format!("sshtrace-ux-quiet-{}", std::process::id()),
        400,
        &tail,
    );
    tmux.wait_screen(|s| s.contains("agent.start"))
        .unwrap_or_else(|| panic!("tail did not start:\n{}", tmux.history()));

    // The first line says what it watches.
    let history = tmux.history();
    let first = history.lines().find(|l| !l.trim().is_empty()).unwrap();
    assert!(first.starts_with("ssh-trace: watching "), "{history}");
    assert!(first.contains("/usr/sbin/sshd"), "{first}");
    assert!(first.contains("ring buffer 4.0 MiB"), "{first}");
    let discovered: u32 = regex::Regex::new(r"; (\d+) open sessions? discovered;")
        .unwrap()
        .captures(first)
        .unwrap_or_else(|| panic!("no discovered count: {first}"))[1]
        .parse()
        .unwrap();
    assert!(discovered >= 1, "{first}");
    let pty_lines = human_lines_of(&history, pty.port);
    assert!(
        pty_lines
            .iter()
            .any(|l| l.contains("session.connect") && l.contains("(discovered)")),
        "{history}"
    );

    // A plain login with one command.
    let mut known = BTreeSet::from([pty.port]);
    assert!(ssh(&sshd, &[], "id").unwrap().success);
    let login = next_ended(&tracer, &mut known);
    let lines = lines_until_end(&tmux, login);
    assert!(
        lines.len() <= 6,
        "{} lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    let k = kinds(&lines);
    assert_eq!(k.first(), Some(&"session.connect"), "{lines:?}");
    assert!(k.contains(&"session.login"), "{lines:?}");
    assert_eq!(k.last(), Some(&"session.end"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("process.exec") && l.contains("/usr/bin/id")),
        "{lines:?}"
    );
    // The folded work is there in JSON (and nowhere in the quiet lines).
    let json = session_events(&tracer.events(), login);
    let id = json[0]["session"]["id"].as_str().unwrap().to_owned();
    assert!(json.len() > lines.len() + 4, "{json:#?}");
    assert!(!of_kind(&json, "user.change").is_empty(), "{json:#?}");
    assert!(
        json.iter()
            .any(|e| event_name(e) == "process.exec" && e["process"]["role"] == "server"),
        "{json:#?}"
    );
    assert!(!k.contains(&"user.change"), "{lines:?}");
    // Short ids: the first 8 characters of the session's id.
    for l in &lines {
        assert_eq!(l.split_whitespace().nth(2), Some(&id[..8]), "{l}");
    }

    // A wrong key.
    ssh_wrong_key(&sshd);
    let refused = next_ended(&tracer, &mut known);
    let wrong = lines_until_end(&tmux, refused);
    assert!(
        wrong.len() <= 3,
        "{} lines:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(kinds(&wrong).first(), Some(&"session.connect"), "{wrong:?}");
    assert_eq!(kinds(&wrong).last(), Some(&"session.end"), "{wrong:?}");
    assert!(session_events(&tracer.events(), refused).len() > wrong.len());

    // The user's own privilege changes stay in the quiet view.
    assert!(
        ssh(&sshd, &[], "sudo -n -u nobody /usr/bin/id")
            .unwrap()
            .success
    );
    let sudo = next_ended(&tracer, &mut known);
    let changes: Vec<String> = lines_until_end(&tmux, sudo)
        .into_iter()
        .filter(|l| l.contains("user.change"))
        .collect();
    // The test user's uid is the machine's (1001 on one, 1002 on another).
    let nobody = format!("euid {}->0", world().uid);
    assert!(
        changes
            .iter()
            .any(|l| l.contains("execve()") && l.contains(&nobody)),
        "sudo's set-user-ID exec not shown: {changes:#?}"
    );
    assert!(
        changes.iter().any(|l| l.contains("->65534")),
        "the switch to nobody not shown: {changes:#?}"
    );

    drop(pty);
    drop(tmux);
    let events = tracer.stop().unwrap();

    // replay folds alike; --verbose shows every event.
    let c = cap.to_str().unwrap();
    for (port, live) in [(login, &lines), (refused, &wrong)] {
        let only = format!("source.port = {port}");
        let quiet = run(&["replay", "-r", c, "--format", "human", "--filter", &only]);
        assert!(quiet.status.success(), "{}", text(&quiet.stderr));
        // Two agents (the terminal's tail and the recorder) convert kernel
        // clocks with their own readings: the times may differ by a
        // millisecond digit, never the rest of a line.
        let untimed = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|l| l.split_once(' ').map_or(l.clone(), |x| x.1.to_owned()))
                .collect()
        };
        let replayed = human_lines_of(&text(&quiet.stdout), port);
        assert_eq!(untimed(&replayed), untimed(live));
        let verbose = run(&[
            "replay",
            "-r",
            c,
            "--format",
            "human",
            "--verbose",
            "--filter",
            &only,
        ]);
        assert_eq!(
            human_lines_of(&text(&verbose.stdout), port).len(),
            session_events(&events, port).len()
        );
    }
}

#[test]
fn concurrent_sessions_have_distinct_short_ids_and_prefixes_select_them() {
    if !root_or_skip("concurrent_sessions_have_distinct_short_ids_and_prefixes_select_them") {
        return;
    }
    let sshd = Sshd::start("ux_ids").unwrap();
    let sock = world().dir.join("ux_ids.sock");
    let cap = world().dir.join("ux_ids.cap");
    let _ = std::fs::remove_file(&cap);
    let (s, c) = (sock.to_str().unwrap(), cap.to_str().unwrap());
    let tracer = tracer_on(&sshd, &["--sessions-socket", s, "-w", c]);
    let ptys: Vec<PtySession> = (0..3).map(|_| PtySession::start(&sshd, 120)).collect();
    wait_until(Duration::from_secs(15), || {
        let (l, _) = sessions_json(&sock);
        ptys.iter()
            .all(|p| row_of(&l, p.port).is_some_and(|r| r["command"] == "sleep 120"))
            .then_some(())
    })
    .expect("all three sessions listed");
    let ids = ids_by_port(&tracer.events());

    // `sessions`: one row each, under its own short id.
    let out = run(&["sessions", "--socket", sock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let mut shorts = BTreeSet::new();
    for p in &ptys {
        let rows = human_lines_of(&table, p.port);
        assert_eq!(rows.len(), 1, "{table}");
        let short = rows[0].split_whitespace().next().unwrap();
        assert_eq!(short, &ids[&p.port][..8], "{table}");
        shorts.insert(short.to_owned());
    }
    assert_eq!(shorts.len(), 3, "{table}");

    // `top` shows the same short ids.
    let top = format!("{} top --socket {}", agent_bin().display(), sock.display());
    let tmux = Tmux::start(
        &format!("sshtrace-ux-top-{}", std::process::id()),
        200,
        &top,
    );
    let screen = tmux
        .wait_screen(|s| {
            ptys.iter()
                .all(|p| s.contains(&format!("127.0.0.1:{}", p.port)))
        })
        .unwrap_or_else(|| panic!("no rows:\n{}", tmux.screen()));
    for p in &ptys {
        let row = human_lines_of(&screen.replace('│', " "), p.port);
        assert_eq!(row.len(), 1, "{screen}");
        assert_eq!(row[0].split_whitespace().next(), Some(&ids[&p.port][..8]));
    }
    drop(tmux);
    drop(ptys);

    // More sessions: with 17 ids at least two share a first character.
    for _ in 0..14 {
        assert!(ssh(&sshd, &[], "true").unwrap().success);
    }
    let want = 17;
    let events = wait_until(Duration::from_secs(30), || {
        let ev = tracer.events();
        (ids_by_port(&ev)
            .keys()
            .filter(|&&p| ev.iter().any(ended(p)))
            .count()
            >= want)
            .then_some(ev)
    })
    .expect("17 sessions ended");
    drop(events);
    let events = tracer.stop().unwrap();
    let ids = ids_by_port(&events);
    let all: BTreeSet<&str> = ids.values().map(String::as_str).collect();
    assert_eq!(all.len(), ids.len(), "ids repeat: {ids:?}");

    // `report timeline` takes the short form (and any unique prefix).
    let (&port, id) = ids.iter().next().unwrap();
    let unique = (1..=36)
        .map(|n| &id[..n])
        .find(|p| all.iter().filter(|i| i.starts_with(p)).count() == 1)
        .unwrap();
    for q in [&id[..8], unique] {
        let out = run(&["report", "-r", c, "--json", "timeline", q]);
        assert!(out.status.success(), "{q}: {}", text(&out.stderr));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["session"]["id"], id.as_str(), "{doc}");
        assert_eq!(
            doc["session"]["source"]["port"], port,
            "{q} selected another session: {doc}"
        );
    }

    // So does a filter on session.id in replay.
    let only = format!("session.id = {}", &id[..8]);
    let out = run(&["replay", "-r", c, "--json", "--filter", &only]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replayed: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &Value| e.get("session").is_some())
        .collect();
    assert_eq!(replayed.len(), session_events(&events, port).len());
    assert!(replayed.iter().all(|e| e["session"]["id"] == id.as_str()));

    // An ambiguous prefix is refused, naming the candidates.
    let mut by_first: BTreeMap<char, Vec<&str>> = BTreeMap::new();
    for i in &all {
        by_first
            .entry(i.chars().next().unwrap())
            .or_default()
            .push(i);
    }
    let (first, same) = by_first.iter().max_by_key(|(_, v)| v.len()).unwrap();
    assert!(same.len() >= 2);
    let out = run(&["report", "-r", c, "timeline", &first.to_string()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("matches {} sessions", same.len())),
        "{err}"
    );
    for cand in same.iter().take(8) {
        assert!(err.contains(cand), "{cand} not named: {err}");
    }
    let ambiguous = format!("session.id = {first}");
    let out = run(&["replay", "-r", c, "--json", "--filter", &ambiguous]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("matches {} sessions", same.len())),
        "{err}"
    );
}

/// `getent group NAME` → gid, creating the group if needed.
fn group(name: &str) -> u32 {
    let st = Command::new("groupadd")
        .args(["-f", name])
        .status()
        .unwrap();
    assert!(st.success(), "groupadd {name}");
    let out = Command::new("getent")
        .args(["group", name])
        .output()
        .unwrap();
    text(&out.stdout)
        .split(':')
        .nth(2)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `ssh-trace ARGS…` as the test user (not root), with these groups only.
fn as_test_user(groups: Option<u32>, args: &[&str]) -> Output {
    let uid = world().uid.to_string();
    let out = Command::new("id").args(["-g", TEST_USER]).output().unwrap();
    let gid = text(&out.stdout).trim().to_owned();
    let mut c = Command::new("setpriv");
    c.args(["--reuid", &uid, "--regid", &gid]);
    match groups {
        Some(g) => c.arg(format!("--groups={g}")),
        None => c.arg("--clear-groups"),
    };
    c.arg("--").arg(agent_bin()).args(args).output().unwrap()
}

#[test]
fn sessions_without_permission_says_so_and_a_group_may_read_the_socket() {
    if !root_or_skip("sessions_without_permission_says_so_and_a_group_may_read_the_socket") {
        return;
    }
    let gid = group("sshtrace-ux");
    let sshd = Sshd::start("ux_group").unwrap();
    // A directory anyone may traverse (the test dir may not be).
    let dir = std::env::temp_dir().join(format!("ssh-trace-ux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.join("sessions.sock");
    let s = sock.to_str().unwrap();
    let tracer = tracer_on(
        &sshd,
        &["--sessions-socket", s, "--sessions-group", "sshtrace-ux"],
    );
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, gid));
    let pty = PtySession::start(&sshd, 60);
    wait_until(Duration::from_secs(15), || {
        row_of(&sessions_json(&sock).0, pty.port).map(|_| ())
    })
    .expect("session listed");

    // Not in the group: refused, saying why and how to get it.
    for cmd in ["sessions", "top"] {
        let out = as_test_user(None, &[cmd, "--socket", s]);
        assert!(!out.status.success(), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("permission denied"), "{cmd}: {err}");
        assert!(err.contains("as root"), "{cmd}: {err}");
        assert!(err.contains("--sessions-group GROUP"), "{cmd}: {err}");
        assert!(!err.contains("no running agent"), "{cmd}: {err}");
    }

    // In the group: the listing, without root.
    let out = as_test_user(Some(gid), &["sessions", "--socket", s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let row = human_lines_of(&table, pty.port);
    assert_eq!(row.len(), 1, "{table}");
    assert!(row[0].contains(TEST_USER), "{table}");
    drop(pty);
    tracer.stop().unwrap();
    assert!(!Path::new(&sock).exists(), "socket left behind");
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn the_quiet_view_keeps_a_login_to_six_lines_and_a_wrong_key_to_three_on_every_server() {
    if !root_or_skip(
        "the_quiet_view_keeps_a_login_to_six_lines_and_a_wrong_key_to_three_on_every_server",
    ) {
        return;
    }
    for kind in Kind::ALL {
        let server = Server::of(kind, "ux_lines").unwrap();
        let cap = world().dir.join(format!("ux_lines_{}.cap", kind.name()));
        let _ = std::fs::remove_file(&cap);
        let c = cap.to_str().unwrap();
        let mut args = vec!["--no-sessions-socket", "-w", c];
        let extra = kind.agent_args();
        args.extend(extra.iter().map(String::as_str));
        let tracer = tracer_on(&server, &args);
        let mut known = BTreeSet::new();
        assert!(ssh(&server, &[], "id").unwrap().success, "{kind:?}");
        let login = next_ended(&tracer, &mut known);
        ssh_wrong_key(&server);
        let refused = next_ended(&tracer, &mut known);
        let events = tracer.stop().unwrap();
        let out = run(&["replay", "-r", c, "--format", "human"]);
        assert!(out.status.success(), "{kind:?}: {}", text(&out.stderr));
        let all = text(&out.stdout);

        let lines = human_lines_of(&all, login);
        let k = kinds(&lines);
        assert!(lines.len() <= 6, "{kind:?}: {lines:#?}");
        assert_eq!(k.first(), Some(&"session.connect"), "{kind:?}: {lines:#?}");
        assert!(k.contains(&"session.login"), "{kind:?}: {lines:#?}");
        assert!(
            lines.iter().any(|l| l.ends_with("/usr/bin/id id")),
            "{kind:?}: {lines:#?}"
        );
        assert_eq!(k.last(), Some(&"session.end"), "{kind:?}: {lines:#?}");
        assert!(
            session_events(&events, login).len() > lines.len(),
            "{kind:?}"
        );

        let wrong = human_lines_of(&all, refused);
        let k = kinds(&wrong);
        assert!(wrong.len() <= 3, "{kind:?}: {wrong:#?}");
        assert_eq!(k.first(), Some(&"session.connect"), "{kind:?}: {wrong:#?}");
        assert_eq!(k.last(), Some(&"session.end"), "{kind:?}: {wrong:#?}");
        eprintln!(
            "{}: login {} of {} events, wrong key {} of {}",
            kind.name(),
            lines.len(),
            session_events(&events, login).len(),
            wrong.len(),
            session_events(&events, refused).len()
        );
    }
}

#[test]
fn the_agent_configs_sessions_group_lets_its_members_read_the_socket() {
    if !root_or_skip("the_agent_configs_sessions_group_lets_its_members_read_the_socket") {
        return;
    }
    let gid = group("sshtrace-ux");
    let dir = std::env::temp_dir().join(format!("ssh-trace-ux-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (sock, events) = (dir.join("sessions.sock"), dir.join("events.json"));
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nsessions_socket = {:?}\nsessions_group = \"sshtrace-ux\"\nheartbeat = \"0s\"\n\
             [[sink]]\nname = \"file\"\ntype = \"file\"\npath = {:?}\n",
            sock.display().to_string(),
            events.display().to_string()
        ),
    )
    .unwrap();
    let agent = ssh_trace_tests::peers::Agent::start(&config, &events).unwrap();
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, gid));
    let s = sock.to_str().unwrap();
    let member = as_test_user(Some(gid), &["sessions", "--json", "--socket", s]);
    assert!(member.status.success(), "{}", text(&member.stderr));
    let listing: Value = serde_json::from_slice(&member.stdout).unwrap();
    assert_eq!(listing["origin"], "agent");
    let other = as_test_user(None, &["sessions", "--socket", s]);
    assert!(!other.status.success());
    assert!(text(&other.stderr).contains("permission denied"));
    agent.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
