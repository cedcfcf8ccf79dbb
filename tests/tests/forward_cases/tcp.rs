//! TCP forwards: -L, -D, -R, ProxyJump, a refused target.
use super::*;

/// ssh_config for the ProxyJump: -J passes only -F on to its own ssh.
fn jump_config() -> PathBuf {
    let w = world();
    let p = w.dir.join("fwd_jump_config");
    let cfg = format!(
        "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  \
         UserKnownHostsFile /dev/null\n  BatchMode yes\n  AddressFamily inet\n",
        w.key.display()
    );
    std::fs::write(&p, cfg).unwrap();
    p
}

/// A local forward's connection as the target saw it: from this host's
/// end of the veth (the forward's `local`), exactly the bytes it counted.
pub(super) fn assert_local_bytes(k: &str, f: &Value, target: &Target, conn: &Conn) {
    assert_eq!(f["kind"], "local", "[{k}] {f}");
    assert_eq!(f["socket"], "tcp", "[{k}] {f}");
    assert_eq!(f["local"], ep(&conn.ip, conn.port), "[{k}] {f}");
    assert_eq!(f["target"], ep(&target.ip, TARGET_PORT), "[{k}] {f}");
    assert_eq!(
        f["bytes_out"], conn.received,
        "[{k}] sent to the target: {f}"
    );
    assert_eq!(
        f["bytes_in"], conn.sent,
        "[{k}] received from the target: {f}"
    );
}

pub fn local_forward_bytes_equal_what_the_target_counted(kind: Kind) {
    if !root_or_skip("local_forward_bytes_equal_what_the_target_counted") {
        return;
    }
    let k = kind.name();
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_local").unwrap();
    let t = tracer(kind, &[]);
    let lport = free_port().unwrap();
    let spec = format!("{lport}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-L", &spec], "true").unwrap();
    let port = held.port;
    let (_, sent, received) = http_get("127.0.0.1", lport, 200_000, None);
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "[{k}] through the tunnel"
    );
    let (_, close) = open_and_close(&t, port, &ep(&target.ip, TARGET_PORT));
    assert_local_bytes(k, &close, &target, &conn);
    let (_, all) = finish(held, t);
    assert_eq!(forwards(&all, port).len(), 2, "[{k}] open and close only");
}

pub fn dynamic_forward_bytes_equal_what_the_target_counted(kind: Kind) {
    if !root_or_skip("dynamic_forward_bytes_equal_what_the_target_counted") {
        return;
    }
    let k = kind.name();
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_dynamic").unwrap();
    let t = tracer(kind, &[]);
    let dport = free_port().unwrap();
    let held = HeldSession::open(&server, &["-D", &dport.to_string()], "true").unwrap();
    let port = held.port;
    let (_, sent, received) = http_get(&target.ip, TARGET_PORT, 70_000, Some(dport));
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "[{k}] through the tunnel"
    );
    let (_, close) = open_and_close(&t, port, &ep(&target.ip, TARGET_PORT));
    // The server cannot tell -D from -L: both are local forwards.
    assert_local_bytes(k, &close, &target, &conn);
    finish(held, t);
}

pub fn remote_forward_shows_its_listener_and_each_connection(kind: Kind) {
    if !root_or_skip("remote_forward_shows_its_listener_and_each_connection") {
        return;
    }
    let k = kind.name();
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_remote").unwrap();
    let t = tracer(kind, &[]);
    let rport = free_port().unwrap();
    let spec = format!("127.0.0.1:{rport}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-R", &spec], "true").unwrap();
    let port = held.port;
    // OpenSSH binds what was asked; dropbear binds ::1 as well.
    let at = ep("127.0.0.1", rport);
    let listen = wait_forward(&t, port, |f| f["state"] == "listen" && f["listen"] == at);
    let l = &listen["forward"];
    assert_eq!(
        (&l["kind"], &l["socket"]),
        (&json!("remote"), &json!("tcp")),
        "[{k}] {l}"
    );
    assert_eq!(l["listen"], ep("127.0.0.1", rport), "[{k}] {l}");
    // A peer on the server connects through it.
    let (peer_port, sent, received) = http_get("127.0.0.1", rport, 30_000, None);
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "[{k}] through the tunnel"
    );
    let open = wait_forward(&t, port, |f| {
        f["state"] == "open" && f["peer"]["port"] == peer_port
    });
    let id = open["forward"]["id"].clone();
    let close = wait_forward(&t, port, |f| f["state"] == "close" && f["id"] == id);
    let c = &close["forward"];
    assert_eq!(c["kind"], "remote", "[{k}] {c}");
    assert_eq!(c["listener"], l["id"], "[{k}] through its listener: {c}");
    assert_eq!(c["listen"], ep("127.0.0.1", rport), "[{k}] {c}");
    assert_eq!(c["peer"], ep("127.0.0.1", peer_port), "[{k}] {c}");
    assert_eq!(c["bytes_in"], sent, "[{k}] what the peer sent: {c}");
    assert_eq!(
        c["bytes_out"], received,
        "[{k}] what the peer received: {c}"
    );
    let lid = l["id"].clone();
    let (_, all) = finish(held, t);
    // The listener closes with its session.
    let fw = forwards(&all, port);
    let ended = fw
        .iter()
        .find(|e| e["forward"]["id"] == lid && e["forward"]["state"] == "close");
    assert!(
        ended.is_some_and(|e| e["forward"]["duration_ms"].is_u64()),
        "[{k}] {fw:#?}"
    );
}

pub fn proxyjump_through_this_host_is_a_local_forward_to_the_next_hop(kind: Kind) {
    if !root_or_skip("proxyjump_through_this_host_is_a_local_forward_to_the_next_hop") {
        return;
    }
    let k = kind.name();
    let server = Server::of(kind, "fwd_jump").unwrap();
    let t = tracer(kind, &[]);
    let cfg = jump_config();
    // "localhost": ssh refuses a jump host spelled as its destination.
    let jump = format!("{TEST_USER}@localhost:{}", server.port);
    let cfg = cfg.display().to_string();
    // The next hop is this server again: its session is the witness.
    let held = HeldSession::open(&server, &["-F", &cfg, "-J", &jump], "true").unwrap();
    let inner = held.port;
    let (_, all) = finish(held, t);
    let end = one(&session_events(&all, inner), "session.end").clone();
    let jumps: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "session.forward" && e["forward"]["local"]["port"] == inner)
        .collect();
    let close = jumps.iter().find(|e| e["forward"]["state"] == "close");
    let c = &close.unwrap_or_else(|| panic!("[{k}] no jump forward: {jumps:#?}"))["forward"];
    assert_eq!(c["kind"], "local", "[{k}] {c}");
    assert_eq!(c["target"], ep("127.0.0.1", server.port), "[{k}] {c}");
    assert_eq!(c["local"], ep("127.0.0.1", inner), "[{k}] {c}");
    assert_eq!(
        c["bytes_out"], end["session"]["bytes_in"],
        "[{k}] {c} {end}"
    );
    assert_eq!(
        c["bytes_in"], end["session"]["bytes_out"],
        "[{k}] {c} {end}"
    );
    // The jump session is another session of the same server.
    assert_ne!(jumps[0]["session"]["id"], end["session"]["id"]);
}

pub fn failed_local_forward_names_its_target_and_errno(kind: Kind) {
    if !root_or_skip("failed_local_forward_names_its_target_and_errno") {
        return;
    }
    let k = kind.name();
    let target = Target::in_namespace();
    let server = Server::of(kind, "fwd_failed").unwrap();
    let t = tracer(kind, &[]);
    let lport = free_port().unwrap();
    // Nothing listens on 8081 in the namespace: the target refuses.
    let spec = format!("{lport}:{}:8081", target.ip);
    let held = HeldSession::open(&server, &["-L", &spec], "true").unwrap();
    let port = held.port;
    let _ = http_get("127.0.0.1", lport, 10, None);
    let failed = wait_forward(&t, port, state("failed"));
    let f = &failed["forward"];
    assert_eq!(f["kind"], "local", "[{k}] {f}");
    assert_eq!(f["target"], ep(&target.ip, 8081), "[{k}] {f}");
    assert_eq!(f["error"], 111, "[{k}] ECONNREFUSED: {f}");
    assert!(f["bytes_in"].is_null(), "[{k}] {f}");
    finish(held, t);
}

pub fn local_forward_to_an_ipv6_target_bytes_equal_what_it_counted(kind: Kind) {
    if !root_or_skip("local_forward_to_an_ipv6_target_bytes_equal_what_it_counted") {
        return;
    }
    let k = kind.name();
    let target = Target::in_namespace_v6();
    let server = Server::of(kind, "fwd_local6").unwrap();
    let t = tracer(kind, &[]);
    let lport = free_port().unwrap();
    let spec = format!("{lport}:[{}]:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-L", &spec], "true").unwrap();
    let port = held.port;
    let (_, sent, received) = http_get("127.0.0.1", lport, 60_000, None);
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "[{k}] through the tunnel"
    );
    let (_, close) = open_and_close(&t, port, &ep(&target.ip, TARGET_PORT));
    assert_local_bytes(k, &close, &target, &conn);
    finish(held, t);
}
