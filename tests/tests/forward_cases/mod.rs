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

pub use serde_json::{json, Value};
pub use ssh_trace_tests::{held::HeldSession, *};

mod cancel;
mod discovery;
mod outputs;
mod tcp;
mod unix;
mod users;
mod x11;

pub use cancel::*;
pub use discovery::*;
pub use outputs::*;
pub use tcp::*;
pub use unix::*;
pub use users::*;
pub use x11::*;

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

/// The counting HTTP server: in a namespace of its own (10.P.N.2, the
/// host's end 10.P.N.1, P from the test process's pid), or on a unix socket.
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
        Self::in_namespace_on(false)
    }

    /// The same over IPv6 (fd52:P:N::2, the host's end fd52:P:N::1).
    fn in_namespace_v6() -> Target {
        Self::in_namespace_on(true)
    }

    fn in_namespace_on(v6: bool) -> Target {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed) % 250 + 1;
        // The second octet is the test process's: two test runs at once
        // (other suites, other checkouts) never share a subnet, whose
        // connections the host would route to either's target.
        let net = 100 + std::process::id() % 150;
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
        run_ip(&["addr", "add", &format!("10.{net}.{n}.1/24"), "dev", &veth]);
        run_ip(&["link", "set", &veth, "up"]);
        let ip = format!("10.{net}.{n}.2");
        run_ip(&["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", &peer]);
        run_ip(&["-n", &ns, "link", "set", &peer, "up"]);
        run_ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let ip = if v6 {
            let (host, target) = (format!("fd52:{net}:{n}::1"), format!("fd52:{net}:{n}::2"));
            // nodad: usable at once, not after duplicate address detection.
            run_ip(&["addr", "add", &format!("{host}/64"), "dev", &veth, "nodad"]);
            let dev = [
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{target}/64"),
                "dev",
                &peer,
            ];
            run_ip(&[&dev[..], &["nodad"]].concat());
            target
        } else {
            ip
        };
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
