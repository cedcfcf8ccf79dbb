//! The forward cases, each run against each server kind. Witnesses: the
//! counting HTTP server in the test's namespace (tests/fixtures/
//! count_http.py: what the target received and sent on each connection
//! and from which port), the client that connects through a forward
//! (http_get.py), the next hop's own session (ProxyJump), ssh-add's output
//! and `$SSH_AUTH_SOCK` (agent forwarding).
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use serde_json::{json, Value};
use ssh_trace_tests::{held::HeldSession, *};

const WAIT: Duration = Duration::from_secs(30);
const TARGET_PORT: u16 = 8080;

fn run_ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fixture(name: &str) -> String {
    workspace_root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// What the counting server saw on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Conn {
    ip: String,
    port: u16,
    received: u64,
    sent: u64,
}

/// The counting HTTP server: in a namespace of its own (10.252.N.2, the
/// host's end 10.252.N.1), or on a unix socket.
struct Target {
    ns: Option<(String, String)>,
    child: Child,
    counts: PathBuf,
    ip: String,
    /// The unix socket it listens on, if it does.
    path: Option<String>,
}

impl Target {
    fn in_namespace() -> Target {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed) % 250 + 1;
        let id = format!("{}x{n}", std::process::id() % 10_000);
        let (ns, veth, peer) = (
            format!("sshtr-fwd-{id}"),
            format!("sfa{id}"),
            format!("sfb{id}"),
        );
        let _ = Command::new("ip").args(["link", "del", &veth]).output();
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        run_ip(&["netns", "add", &ns]);
        run_ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
        run_ip(&["link", "set", &peer, "netns", &ns]);
        run_ip(&["addr", "add", &format!("10.252.{n}.1/24"), "dev", &veth]);
        run_ip(&["link", "set", &veth, "up"]);
        let ip = format!("10.252.{n}.2");
        run_ip(&["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", &peer]);
        run_ip(&["-n", &ns, "link", "set", &peer, "up"]);
        run_ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let counts = world().dir.join(format!("target_{id}"));
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &ns,
            "python3",
            &fixture("count_http.py"),
            &ip,
        ])
        .arg(TARGET_PORT.to_string())
        .arg(&counts);
        Self::spawn(cmd, counts, Some((ns, veth)), ip, None)
    }

    fn on_unix_socket(name: &str) -> Target {
        let path = format!("/tmp/ssh-trace-fwd-{}-{name}.sock", std::process::id());
        let _ = std::fs::remove_file(&path);
        let counts = world().dir.join(format!("target_{name}"));
        let mut cmd = Command::new("python3");
        cmd.args([&fixture("count_http.py"), &path, "0"])
            .arg(&counts);
        Self::spawn(cmd, counts, None, "unix".into(), Some(path))
    }

    fn spawn(
        mut cmd: Command,
        counts: PathBuf,
        ns: Option<(String, String)>,
        ip: String,
        path: Option<String>,
    ) -> Target {
        let _ = std::fs::remove_file(&counts);
        let ready = counts.with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let child = cmd.stdin(Stdio::null()).spawn().unwrap();
        let t = Target {
            ns,
            child,
            counts,
            ip,
            path,
        };
        let up = wait_until(WAIT, || ready.exists().then_some(()));
        assert!(up.is_some(), "the counting server did not start");
        t
    }

    fn connections(&self) -> Vec<Conn> {
        let text = std::fs::read_to_string(&self.counts).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some(Conn {
                    ip: f.first()?.to_string(),
                    port: f.get(1)?.parse().ok()?,
                    received: f.get(2)?.parse().ok()?,
                    sent: f.get(3)?.parse().ok()?,
                })
            })
            .collect()
    }

    /// Its only connection, once it closed.
    fn the_connection(&self) -> Conn {
        let c = wait_until(WAIT, || self.connections().pop());
        let all = self.connections();
        assert_eq!(all.len(), 1, "one connection to the target: {all:?}");
        c.unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((ns, veth)) = &self.ns {
            let _ = Command::new("ip").args(["link", "del", veth]).output();
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What http_get.py saw: its local port, bytes sent, bytes received.
fn http_get(host: &str, port: u16, size: u32, socks: Option<u16>) -> (u16, u64, u64) {
    let mut c = Command::new("python3");
    c.arg(fixture("http_get.py"))
        .args([host, &port.to_string(), &size.to_string()]);
    if let Some(s) = socks {
        c.args(["127.0.0.1", &s.to_string()]);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0] as u16, v[1], v[2])
}

fn agent_args(kind: Kind) -> Vec<String> {
    kind.agent_args()
}

fn tracer(kind: Kind, extra: &[&str]) -> Tracer {
    let mut args = agent_args(kind);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Tracer::start(&args).unwrap()
}

/// The session.forward events of the session at client port `port`.
fn forwards(events: &[Value], port: u16) -> Vec<Value> {
    session_events(events, port)
        .into_iter()
        .filter(|e| e["event"] == "session.forward")
        .collect()
}

/// Waits for a session.forward of the session at `port` matching `pred`.
fn wait_forward(t: &Tracer, port: u16, pred: impl Fn(&Value) -> bool) -> Value {
    let found = wait_until(WAIT, || {
        forwards(&t.events(), port)
            .into_iter()
            .find(|e| pred(&e["forward"]))
    });
    found.unwrap_or_else(|| {
        panic!(
            "no such forward; the session's: {:#?}",
            forwards(&t.events(), port)
        )
    })
}

fn state(s: &'static str) -> impl Fn(&Value) -> bool {
    move |f: &Value| f["state"] == s
}

fn ep(ip: &str, port: u16) -> Value {
    json!({"ip": ip, "port": port})
}

/// Ends the held session and the agent: every line checked against the schema.
fn finish(held: HeldSession, t: Tracer) -> (SshRun, Vec<Value>) {
    held.release().unwrap();
    let run = held.finish().unwrap();
    let port = run.client_port.unwrap();
    assert!(
        t.wait_for(WAIT, ended(port)),
        "no session.end: {}",
        run.stderr
    );
    (run, stop(t))
}

fn stop(t: Tracer) -> Vec<Value> {
    let all = t.stop().unwrap();
    check_schema(&all);
    all
}

/// Open and close of one forward: same id, kind, addresses; the close with
/// a duration.
fn open_and_close(t: &Tracer, port: u16, target: &Value) -> (Value, Value) {
    let open = wait_forward(t, port, |f| f["state"] == "open" && &f["target"] == target);
    let id = open["forward"]["id"].clone();
    let close = wait_forward(t, port, |f| f["state"] == "close" && f["id"] == id);
    let (o, c) = (&open["forward"], &close["forward"]);
    for k in [
        "kind", "socket", "pid", "local", "target", "listen", "peer", "path",
    ] {
        assert_eq!(o[k], c[k], "{k} differs between open and close: {o} {c}");
    }
    assert!(c["duration_ms"].is_u64(), "{c}");
    (o.clone(), c.clone())
}

/// A local forward's connection as the target saw it: from this host's
/// end of the veth (the forward's `local`), exactly the bytes it counted.
fn assert_local_bytes(k: &str, f: &Value, target: &Target, conn: &Conn) {
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

/// ssh-agent with the test key, on a socket of its own.
struct Agent {
    child: Child,
    sock: String,
}

impl Agent {
    fn start(name: &str) -> Agent {
        let sock = world()
            .dir
            .join(format!("agent_{name}.sock"))
            .display()
            .to_string();
        let _ = std::fs::remove_file(&sock);
        let child = Command::new("ssh-agent")
            .args(["-D", "-a", &sock])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let up = wait_until(WAIT, || Path::new(&sock).exists().then_some(()));
        assert!(up.is_some(), "ssh-agent did not start");
        let out = Command::new("ssh-add")
            .arg(&world().key)
            .env("SSH_AUTH_SOCK", &sock)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Agent { child, sock }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.sock);
    }
}

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

/// A fixture the session's user runs: copied where that user can read it.
fn user_fixture(name: &str) -> String {
    let dst = world().dir.join(name);
    std::fs::copy(fixture(name), &dst).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    dst.display().to_string()
}

/// The client's X server: a stand-in on /tmp/.X11-unix/X<display>.
struct XServer {
    child: Child,
    path: String,
    counts: PathBuf,
    display: u32,
}

impl XServer {
    fn start(kind: Kind, expect: u32, answer: u32) -> XServer {
        let at = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u32;
        let display = 500 + std::process::id() % 100 * 4 + at;
        std::fs::create_dir_all("/tmp/.X11-unix").unwrap();
        let path = format!("/tmp/.X11-unix/X{display}");
        let _ = std::fs::remove_file(&path);
        let counts = world().dir.join(format!("x_server_{display}"));
        let _ = std::fs::remove_file(&counts);
        let child = Command::new("python3")
            .args([&fixture("x_server.py"), &path])
            .args([expect.to_string(), answer.to_string()])
            .arg(&counts)
            .spawn()
            .unwrap();
        let ready = counts.with_extension("ready");
        assert!(wait_until(WAIT, || ready.exists().then_some(())).is_some());
        XServer {
            child,
            path,
            counts,
            display,
        }
    }
}

impl Drop for XServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn x11_forwarding_shows_the_display_and_each_connection(kind: Kind) {
    if !root_or_skip("x11_forwarding_shows_the_display_and_each_connection") {
        return;
    }
    let k = kind.name();
    // The connection setup (48 bytes with the cookie) and 5000 more.
    let x = XServer::start(kind, 5048, 3000);
    let server = Server::with_config(kind, "fwd_x11", "X11Forwarding yes\n").unwrap();
    let t = tracer(kind, &[]);
    let client = user_fixture("x11_client.py");
    let display = format!(":{}", x.display);
    let held = HeldSession::open_env(
        &server,
        &["-Y"],
        &format!("python3 {client} 5000"),
        &[("DISPLAY", &display)],
    )
    .unwrap();
    let port = held.port;
    let (run, all) = finish(held, t);
    let line = run.stdout.lines().find(|l| l.starts_with("X11 "));
    let line = line.unwrap_or_else(|| panic!("[{k}] {} {}", run.stdout, run.stderr));
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let (peer_port, sent, received, display_port) = (v[0], v[1], v[2], v[3]);
    let xc = std::fs::read_to_string(&x.counts).unwrap_or_default();
    assert_eq!(
        xc.trim(),
        format!("{sent} {received}"),
        "[{k}] the X server saw it all"
    );
    let fw = forwards(&all, port);
    let f = |pred: &dyn Fn(&Value) -> bool| {
        fw.iter()
            .map(|e| &e["forward"])
            .find(|f| pred(f))
            .unwrap_or_else(|| panic!("[{k}] {fw:#?}"))
            .clone()
    };
    let l = f(&|f| f["state"] == "listen" && f["listen"] == ep("127.0.0.1", display_port as u16));
    assert_eq!(l["kind"], "x11", "[{k}] {l}");
    let c = f(&|f| f["state"] == "close" && f["peer"]["port"] == peer_port);
    assert_eq!(
        (&c["kind"], &c["listener"]),
        (&json!("x11"), &l["id"]),
        "[{k}] {c}"
    );
    assert_eq!(c["bytes_in"], sent, "[{k}] what the X client sent: {c}");
    assert_eq!(c["bytes_out"], received, "[{k}] what it received: {c}");
}
