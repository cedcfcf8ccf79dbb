//! Unix-socket forwards: the agent's socket, -L to a unix socket.
use super::*;

pub fn agent_forwarding_shows_the_socket_and_each_use(kind: Kind) {
    if !root_or_skip("agent_forwarding_shows_the_socket_and_each_use") {
        return;
    }
    let k = kind.name();
    let server = Server::of(kind, "fwd_agent").unwrap();
    let agent = Agent::start(k);
    let t = tracer(kind, &[]);
    let held = HeldSession::open_env(
        &server,
        &["-A"],
        "ssh-add -l; echo AUTH=$SSH_AUTH_SOCK",
        &[("SSH_AUTH_SOCK", &agent.sock)],
    )
    .unwrap();
    let port = held.port;
    let (run, all) = finish(held, t);
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(world().key.with_extension("pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        run.stdout.contains(&fp),
        "[{k}] ssh-add -l through the forwarded agent: {}",
        run.stdout
    );
    let sock = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("AUTH="))
        .unwrap()
        .to_owned();
    let fw = forwards(&all, port);
    let find = |state: &str, listener: bool| {
        fw.iter()
            .map(|e| &e["forward"])
            .find(|f| f["state"] == state && f["listener"].is_null() != listener)
            .unwrap_or_else(|| panic!("[{k}] no {state} (listener {listener}): {fw:#?}"))
    };
    let l = find("listen", false);
    assert_eq!(
        (&l["kind"], &l["socket"]),
        (&json!("agent"), &json!("unix")),
        "[{k}] {l}"
    );
    assert_eq!(
        l["path"], sock,
        "[{k}] the socket $SSH_AUTH_SOCK names: {l}"
    );
    let used = find("open", true);
    assert_eq!(used["kind"], "agent", "[{k}] {used}");
    assert_eq!(
        (&used["listener"], &used["path"]),
        (&l["id"], &l["path"]),
        "[{k}] {used}"
    );
    let done = fw
        .iter()
        .map(|e| &e["forward"])
        .find(|f| f["state"] == "close" && f["id"] == used["id"]);
    let done = done.unwrap_or_else(|| panic!("[{k}] the use never ended: {fw:#?}"));
    // The kernel keeps no byte counters for unix sockets.
    assert!(
        done["bytes_in"].is_null() && done["bytes_out"].is_null(),
        "[{k}] {done}"
    );
    assert!(done["duration_ms"].is_u64(), "[{k}] {done}");
}

pub fn local_forward_to_a_unix_socket_names_its_path(kind: Kind) {
    if !root_or_skip("local_forward_to_a_unix_socket_names_its_path") {
        return;
    }
    let k = kind.name();
    let target = Target::on_unix_socket(k);
    let path = target.path.clone().unwrap();
    let server = Server::of(kind, "fwd_unix").unwrap();
    let t = tracer(kind, &[]);
    let lport = free_port().unwrap();
    let spec = format!("{lport}:{path}");
    let held = HeldSession::open(&server, &["-L", &spec], "true").unwrap();
    let port = held.port;
    let (_, sent, received) = http_get("127.0.0.1", lport, 4000, None);
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "[{k}] through the tunnel"
    );
    let open = wait_forward(&t, port, |f| {
        f["state"] == "open" && f["path"] == path.as_str()
    });
    let id = open["forward"]["id"].clone();
    // The end of a unix socket is seen by the agent's check once a second.
    let close = wait_forward(&t, port, |f| f["state"] == "close" && f["id"] == id);
    let c = &close["forward"];
    assert_eq!(
        (&c["kind"], &c["socket"]),
        (&json!("local"), &json!("unix")),
        "[{k}] {c}"
    );
    assert!(
        c["target"].is_null() && c["bytes_in"].is_null(),
        "[{k}] {c}"
    );
    finish(held, t);
}

pub fn remote_forward_on_a_unix_socket_shows_its_path_and_each_connection(kind: Kind) {
    if root_or_skip("remote_forward_on_a_unix_socket_shows_its_path_and_each_connection") {
        remote_unix_forward(kind, false)
    }
}

/// A `-R` unix-socket listener made before the agent started is reported
/// at its start (discovery), and a connection through it names it.
pub fn a_remote_unix_listener_made_before_the_agent_starts_is_reported(kind: Kind) {
    if root_or_skip("a_remote_unix_listener_made_before_the_agent_starts_is_reported") {
        remote_unix_forward(kind, true)
    }
}

/// `ssh -R PATH:target`, the agent started after the session (`before`)
/// or before it: the listener with its path, a connection through it with
/// the target's counts, its close.
fn remote_unix_forward(kind: Kind, before: bool) {
    let k = kind.name();
    let target = Target::in_namespace();
    let name = if before {
        "fwd_remote_unix_before"
    } else {
        "fwd_remote_unix"
    };
    let server = Server::of(kind, name).unwrap();
    let early = (!before).then(|| tracer(kind, &[]));
    let path = format!("/tmp/ssh-trace-fwd-{}-{k}-{name}.sock", std::process::id());
    let _ = std::fs::remove_file(&path);
    let spec = format!("{path}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-R", &spec], "true").unwrap();
    let port = held.port;
    let made = wait_until(WAIT, || std::path::Path::new(&path).exists().then_some(()));
    assert!(made.is_some(), "[{k}] no -R socket at {path}");
    let t = early.unwrap_or_else(|| tracer(kind, &[]));
    let listen = wait_forward(&t, port, |f| {
        f["state"] == "listen" && f["path"] == path.as_str()
    });
    let l = &listen["forward"];
    assert_eq!(
        (&l["kind"], &l["socket"]),
        (&json!("remote"), &json!("unix")),
        "[{k}] {l}"
    );
    // A peer on the server connects to the socket.
    let (_, sent, received) = http_get(&path, 0, 3000, None);
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "[{k}] through the tunnel"
    );
    let open = wait_forward(&t, port, |f| {
        f["state"] == "open" && f["listener"] == l["id"]
    });
    let id = open["forward"]["id"].clone();
    let close = wait_forward(&t, port, |f| f["state"] == "close" && f["id"] == id);
    let c = &close["forward"];
    assert_eq!(
        (&c["kind"], &c["socket"], &c["path"]),
        (&json!("remote"), &json!("unix"), &json!(path)),
        "[{k}] {c}"
    );
    // Unix sockets keep no byte counters.
    assert!(
        c["bytes_in"].is_null() && c["bytes_out"].is_null(),
        "[{k}] {c}"
    );
    finish(held, t);
    let _ = std::fs::remove_file(&path);
}
