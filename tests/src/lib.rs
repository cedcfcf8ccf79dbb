//! End-to-end harness for ssh-trace: private SSH servers on loopback
//! (servers.rs), a test user with keys, the real ssh client, and the real
//! agent streaming JSON lines. Used by the tests in tests/ and by `cargo xtask bench`.
// The lib's unit tests see the dev-dependencies of the examples and tests.
#![cfg_attr(test, allow(unused_crate_dependencies))]
pub mod auth;
pub mod clickhouse;
pub mod conformance;
pub mod held;
pub mod json_schema;
pub mod peers;
pub mod prometheus;
pub mod schema;
pub mod servers;
pub mod sinks;
pub mod syslog;
pub mod tmux;

pub use servers::{Kind, Server, Setup, Sshd};

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, OnceLock},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub const TEST_USER: &str = "sshtrace-test";

/// True when running as root; otherwise prints why the test is skipped.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    eprintln!("skipped {test}: needs root (loads eBPF programs and runs sshd)");
    false
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The agent binary: $SSH_TRACE_BIN (set by `cargo xtask test`) or target/debug.
pub fn agent_bin() -> PathBuf {
    std::env::var_os("SSH_TRACE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/ssh-trace"))
}

/// Machine-wide fixtures made once per test process.
pub struct World {
    pub dir: PathBuf,
    pub uid: u32,
    pub key: PathBuf,
    pub wrong_key: PathBuf,
}

pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| make_world().expect("setting up the test user, keys and sudoers"))
}

fn make_world() -> Result<World> {
    for tool in ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/sudo"] {
        if !Path::new(tool).exists() {
            bail!("{tool} is missing: run `cargo xtask setup` (installs openssh-server, openssh-client, sudo)");
        }
    }
    std::fs::create_dir_all("/run/sshd")?;
    if run(Command::new("id").args(["-u", TEST_USER])).is_err() {
        run(Command::new("useradd").args(["-m", "-s", "/bin/bash", TEST_USER]))?;
    }
    // With PAM off sshd refuses accounts whose password field is locked.
    run(Command::new("usermod").args(["-p", "*", TEST_USER]))?;
    let uid: u32 = run(Command::new("id").args(["-u", TEST_USER]))?
        .trim()
        .parse()?;
    let dir = std::env::temp_dir().join(format!("ssh-trace-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let keygen = |name: &str| -> Result<PathBuf> {
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&p))?;
        Ok(p)
    };
    let (key, wrong_key) = (keygen("user_key")?, keygen("wrong_key")?);
    let home = PathBuf::from(format!("/home/{TEST_USER}"));
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir)?;
    // Appended (O_APPEND), not replaced: test processes running at the same
    // time each have their own key, and must not lock each other out.
    {
        use std::io::Write;
        let pubkey = std::fs::read(key.with_extension("pub"))?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ssh_dir.join("authorized_keys"))?
            .write_all(&pubkey)?;
    }
    run(Command::new("chown").args([
        "-R",
        &format!("{TEST_USER}:"),
        ssh_dir.to_str().unwrap_or_default(),
    ]))?;
    std::fs::write(
        "/etc/sudoers.d/ssh-trace-test",
        format!("{TEST_USER} ALL=(nobody) NOPASSWD: /usr/bin/id\n"),
    )?;
    Ok(World {
        dir,
        uid,
        key,
        wrong_key,
    })
}

pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What one ssh client run showed.
#[derive(Debug, Default)]
pub struct SshRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// "Transferred: sent N, received M bytes" from -v.
    pub transferred: Option<(u64, u64)>,
    /// Client port from `echo $SSH_CONNECTION` if the command printed it.
    pub client_port: Option<u16>,
}

pub fn ssh_base(sshd: &Sshd, key: &Path) -> Command {
    let mut c = Command::new("ssh");
    c.args([
        "-v",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
    ])
    .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=VERBOSE"])
    .arg("-i")
    .arg(key)
    .args(["-p", &sshd.port.to_string()]);
    c
}

pub fn parse_run(out: std::process::Output) -> SshRun {
    parse_output(
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn parse_output(success: bool, stdout: String, stderr: String) -> SshRun {
    let transferred = stderr.lines().find_map(|l| {
        let rest = l.strip_prefix("Transferred: sent ")?;
        let (sent, rest) = rest.split_once(", received ")?;
        let received = rest.split_whitespace().next()?;
        Some((sent.parse().ok()?, received.parse().ok()?))
    });
    let client_port = stdout.lines().find_map(connection_port);
    SshRun {
        success,
        stdout,
        stderr,
        transferred,
        client_port,
    }
}

/// The client port of a `$SSH_CONNECTION` line
/// ("client_ip client_port server_ip server_port").
pub fn connection_port(line: &str) -> Option<u16> {
    let f: Vec<&str> = line.split_whitespace().collect();
    (f.len() == 4 && f[0].contains('.'))
        .then(|| f[1].parse().ok())
        .flatten()
}

/// tests/fixtures/count_proxy.py as the client's ProxyCommand: it relays
/// the connection and counts the TCP payload each way, an independent
/// witness of what the server's socket moved.
pub struct CountProxy {
    counts: PathBuf,
    /// `-o` argument for ssh.
    pub option: String,
}

/// What the proxy counted: its local port (the session's source port),
/// bytes sent to the server and bytes received from it.
#[derive(Debug, PartialEq, Eq)]
pub struct Counted {
    pub port: u16,
    pub sent: u64,
    pub received: u64,
}

impl CountProxy {
    pub fn new(server: &Server, name: &str) -> Self {
        Self::make(server, name, None)
    }

    /// The proxy connecting from local port `port` (a client port known
    /// before the connection).
    pub fn from_port(server: &Server, name: &str, port: u16) -> Self {
        Self::make(server, name, Some(port))
    }

    fn make(server: &Server, name: &str, port: Option<u16>) -> Self {
        let counts = world()
            .dir
            .join(format!("proxy_counts_{}_{name}", server.port));
        let _ = std::fs::remove_file(&counts);
        let mut option = format!(
            "ProxyCommand=python3 {} 127.0.0.1 {} {}",
            workspace_root()
                .join("tests/fixtures/count_proxy.py")
                .display(),
            server.port,
            counts.display()
        );
        if let Some(p) = port {
            option.push_str(&format!(" {p}"));
        }
        Self { counts, option }
    }

    /// The counts, written when the proxy exited.
    pub fn counted(&self) -> Result<Counted> {
        Self::read(&self.counts)
    }

    /// The counts so far, while the proxy runs.
    pub fn live(&self) -> Result<Counted> {
        let mut p = self.counts.clone().into_os_string();
        p.push(".live");
        Self::read(Path::new(&p))
    }

    fn read(path: &Path) -> Result<Counted> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let v: Vec<u64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("counts {text:?}"))?;
        match v[..] {
            [port, sent, received] => Ok(Counted {
                port: u16::try_from(port)?,
                sent,
                received,
            }),
            _ => bail!("counts {text:?}: expected three numbers"),
        }
    }
}

/// `scp` to the test user on `sshd`, with the test key; add the source
/// file and the remote path.
pub fn scp_base(sshd: &Sshd) -> Command {
    let mut c = Command::new("scp");
    c.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
    ])
    .arg("-i")
    .arg(&world().key)
    .args(["-P", &sshd.port.to_string()]);
    c
}

/// Runs `cmd` in a session as the test user.
pub fn ssh(sshd: &Sshd, extra: &[&str], cmd: &str) -> Result<SshRun> {
    let out = ssh_base(sshd, &world().key)
        .args(extra)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(cmd)
        .stdin(Stdio::null())
        .output()?;
    Ok(parse_run(out))
}

/// A login attempt as the test user with the wrong key: refused by sshd (a
/// connection that never authenticates).
pub fn ssh_wrong_key(sshd: &Sshd) {
    let out = ssh_base(sshd, &world().wrong_key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .expect("running ssh");
    assert!(!out.status.success(), "the wrong key was accepted");
}

/// The agent running `tail --json`, its lines collected as they come.
pub struct Tracer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Tracer {
    pub fn start(extra: &[&str]) -> Result<Self> {
        Self::spawn(&["tail", "--json"], extra)
    }

    /// `tail --format <format>` (ecs, ocsf, json); its lines are read the
    /// same way, and `events()` returns them as written by that format.
    pub fn start_format(format: &str, extra: &[&str]) -> Result<Self> {
        Self::spawn(&["tail", "--format", format], extra)
    }

    /// `tail --json` started by `wrapper`, a command that runs the rest of
    /// its arguments (the agent keeps the pid: it must exec it), e.g. in a
    /// UTS namespace with another host name.
    pub fn start_wrapped(wrapper: &[&str], extra: &[&str]) -> Result<Self> {
        Self::spawn_with(wrapper, &["tail", "--json"], extra)
    }

    fn spawn(tail: &[&str], extra: &[&str]) -> Result<Self> {
        Self::spawn_with(&[], tail, extra)
    }

    fn spawn_with(wrapper: &[&str], tail: &[&str], extra: &[&str]) -> Result<Self> {
        let bin = agent_bin();
        if !bin.exists() {
            bail!(
                "{} not built: run `cargo xtask test` (or cargo build -p ssh-trace)",
                bin.display()
            );
        }
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = cmd
            .args(tail)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("starting ssh-trace")?;
        let stdout = child.stdout.take().context("stdout")?;
        let stderr_pipe = child.stderr.take().context("stderr")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let e2 = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut e = e2.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        let t = Self {
            child,
            lines,
            reader: Some(reader),
            stderr,
        };
        if !t.wait_for(Duration::from_secs(30), |e| event_name(e) == "agent.start") {
            bail!("ssh-trace did not start: {}", t.stderr.lock().unwrap());
        }
        Ok(t)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn events(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// SIGKILL (a crash), then every event it had written: what was still
    /// in the pipe is read to its end first.
    pub fn kill(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.events()
    }

    pub fn raw_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Polls until an event matches (true) or the time is up (false).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.events().iter().any(&pred) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// SIGTERM, then every line it wrote (ends with agent.stop).
    pub fn stop(self) -> Result<Vec<Value>> {
        let lines = self.stop_raw()?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// SIGTERM; every event, how long until its output ended (agent.stop
    /// written and standard output closed) and until the process exited
    /// (after the kernel detached its programs).
    pub fn stop_timed(mut self) -> Result<(Vec<Value>, Duration, Duration)> {
        let asked = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let output_ended = asked.elapsed();
        let status = self.child.wait()?;
        let exited = asked.elapsed();
        if !status.success() {
            bail!(
                "ssh-trace exited with {status}: {}",
                self.stderr.lock().unwrap()
            );
        }
        Ok((self.events(), output_ended, exited))
    }

    /// SIGTERM, then every line exactly as written.
    pub fn stop_raw(mut self) -> Result<Vec<String>> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if !status.success() {
            bail!(
                "ssh-trace exited with {status}: {}",
                self.stderr.lock().unwrap()
            );
        }
        Ok(self.raw_lines())
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls `f` every 100 ms until it gives a value or the time is up.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The native event type of a line in any JSON format: `event` (native),
/// `event.action` (ECS) or `metadata.event_code` (OCSF).
pub fn event_name(e: &Value) -> &str {
    e["event"]
        .as_str()
        .or_else(|| e["event"]["action"].as_str())
        .or_else(|| e["metadata"]["event_code"].as_str())
        .unwrap_or_default()
}

/// Events of the session whose client port is `port`.
pub fn session_events(events: &[Value], port: u16) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["session"]["source"]["port"] == port)
        .cloned()
        .collect()
}

/// The sum of `field` (records, untracked, tty_bytes) over the entries
/// for session `id` in every agent.loss's `loss.sessions`.
pub fn loss_share(events: &[Value], id: &Value, field: &str) -> u64 {
    of_kind(events, "agent.loss")
        .iter()
        .filter_map(|e| e["loss"]["sessions"].as_array())
        .flatten()
        .filter(|s| &s["id"] == id)
        .map(|s| s[field].as_u64().unwrap_or(0))
        .sum()
}

pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The only event of `kind` in `events`.
pub fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(events, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {found:?}");
    found[0]
}

/// Matches the end of the session whose client port is `port`.
pub fn ended(port: u16) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port
}

/// Every line the agent wrote must match docs/schema.md.
pub fn check_schema(events: &[Value]) {
    let schema = schema::Schema::load().unwrap();
    for e in events {
        if let Err(err) = schema.check(e) {
            panic!("{err}\nin: {e}");
        }
    }
}

pub fn args_of(e: &Value) -> Vec<String> {
    e["process"]["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect()
}
