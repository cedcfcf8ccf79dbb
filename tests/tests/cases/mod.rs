//! The end-to-end core cases, each run against every server kind: exact
//! values observed through independent witnesses (`$SSH_CONNECTION`, the
//! counting proxy, `ssh -v`, the server's log). Every assertion message
//! names the server.
use std::{process::Stdio, sync::OnceLock, time::Duration};

use serde_json::{json, Value};
use ssh_trace_tests::{held::HeldSession, *};

const WAIT: Duration = Duration::from_secs(20);
const LOGIN_CMD: &str = "echo $SSH_CONNECTION; id; ls /";

/// One login with a command, through the counting proxy, as the agent saw it.
pub struct Login {
    server_port: u16,
    run: SshRun,
    counted: Counted,
    /// The session's events (by its client port).
    ev: Vec<Value>,
}

/// The login, made once per server kind and shared by the login cases.
fn login(kind: Kind) -> &'static Login {
    static LOGINS: [OnceLock<Login>; 4] = [const { OnceLock::new() }; 4];
    let at = Kind::ALL.iter().position(|k| *k == kind).unwrap();
    LOGINS[at].get_or_init(|| traced_login(kind))
}

fn traced_login(kind: Kind) -> Login {
    let k = kind.name();
    let server = Server::of(kind, "login").unwrap();
    let tracer = Tracer::start(&args(kind)).unwrap();
    let proxy = CountProxy::new(&server, "login");
    let run = ssh(
        &server,
        &["-o", &proxy.option, "-c", "chacha20-poly1305@openssh.com"],
        LOGIN_CMD,
    )
    .unwrap();
    assert!(run.success, "[{k}] ssh failed: {}", run.stderr);
    let port = run.client_port.expect("SSH_CONNECTION printed");
    let all = stop_after_end(kind, tracer, server.port, port);
    Login {
        server_port: server.port,
        counted: proxy.counted().unwrap(),
        ev: session_events(&all, port),
        run,
    }
}

/// Waits for the end of the session at client `port`, stops the agent and
/// checks every line against the schema: all it wrote.
fn stop_after_end(kind: Kind, tracer: Tracer, server_port: u16, port: u16) -> Vec<Value> {
    let seen = tracer.wait_for(WAIT, ended(port));
    let all = tracer.stop().unwrap();
    assert!(
        seen,
        "[{}] no session.end for port {port}; {}",
        kind.name(),
        at_server(&all, server_port)
    );
    check_schema(&all);
    all
}

/// For failure messages: what the agent reported about the server's port
/// (other tests' sessions left out).
fn at_server(all: &[Value], server_port: u16) -> String {
    let ours: Vec<&Value> = all
        .iter()
        .filter(|e| e["session"]["destination"]["port"] == server_port)
        .collect();
    format!(
        "{} of {} events at server port {server_port}: {ours:#?}",
        ours.len(),
        all.len()
    )
}

fn args(kind: Kind) -> Vec<&'static str> {
    static ARGS: [OnceLock<Vec<String>>; 4] = [const { OnceLock::new() }; 4];
    let at = Kind::ALL.iter().position(|k| *k == kind).unwrap();
    ARGS[at]
        .get_or_init(|| kind.agent_args())
        .iter()
        .map(String::as_str)
        .collect()
}

fn the<'a>(kind: Kind, ev: &'a [Value], event: &str) -> &'a Value {
    let found = of_kind(ev, event);
    assert_eq!(
        found.len(),
        1,
        "[{}] expected one {event}, got {found:#?}",
        kind.name()
    );
    found[0]
}

pub fn login_has_exact_client_port(kind: Kind) {
    if !root_or_skip("login_has_exact_client_port") {
        return;
    }
    let (k, l, w) = (kind.name(), login(kind), world());
    let port = l.run.client_port.unwrap();
    assert_eq!(
        l.counted.port, port,
        "[{k}] the proxy's port is the session's source port"
    );
    let connect = the(kind, &l.ev, "session.connect");
    assert_eq!(
        connect["session"]["source"]["ip"], "127.0.0.1",
        "[{k}] {connect}"
    );
    assert_eq!(
        connect["session"]["destination"]["port"], l.server_port,
        "[{k}] {connect}"
    );
    assert!(connect["session"]["user"].is_null(), "[{k}] {connect}");
    let login = the(kind, &l.ev, "session.login");
    assert_eq!(login["session"]["user"], TEST_USER, "[{k}] {login}");
    assert_eq!(login["session"]["uid"], w.uid, "[{k}] {login}");
    let id = &connect["session"]["id"];
    for e in &l.ev {
        assert_eq!(
            &e["session"]["id"], id,
            "[{k}] one session id throughout: {e}"
        );
    }
    let end = the(kind, &l.ev, "session.end");
    assert_eq!(end["session"]["logged_in"], true, "[{k}] {end}");
}

pub fn command_argv_is_reported(kind: Kind) {
    if !root_or_skip("command_argv_is_reported") {
        return;
    }
    let (k, l, w) = (kind.name(), login(kind), world());
    let execs = of_kind(&l.ev, "process.exec");
    let argv: Vec<Vec<String>> = execs.iter().map(|e| args_of(e)).collect();
    for expected in [vec!["bash", "-c", LOGIN_CMD], vec!["id"], vec!["ls", "/"]] {
        assert!(
            argv.contains(&expected.iter().map(|a| a.to_string()).collect()),
            "[{k}] no exec of {expected:?} in {argv:?}"
        );
    }
    let id_exec = execs.iter().find(|e| args_of(e) == ["id"]).unwrap();
    assert_eq!(id_exec["process"]["uid"], w.uid, "[{k}] {id_exec}");
    assert_eq!(
        id_exec["process"]["executable"], "/usr/bin/id",
        "[{k}] {id_exec}"
    );
    assert_eq!(id_exec["session"]["user"], TEST_USER, "[{k}] {id_exec}");
}

pub fn user_switch_is_reported(kind: Kind) {
    if !root_or_skip("user_switch_is_reported") {
        return;
    }
    let (k, l, w) = (kind.name(), login(kind), world());
    let (syscall, call_args) = kind.user_switch(w.uid);
    let changes = of_kind(&l.ev, "user.change");
    assert!(
        changes.iter().any(|e| e["change"]["syscall"] == syscall
            && e["change"]["args"] == call_args
            && e["change"]["success"] == true
            && e["change"]["new"]["uid"] == w.uid
            && e["change"]["new"]["euid"] == w.uid),
        "[{k}] no successful {syscall}{call_args} to the user in {changes:#?}"
    );
}

pub fn bytes_equal_the_counting_proxy(kind: Kind) {
    if !root_or_skip("bytes_equal_the_counting_proxy") {
        return;
    }
    let (k, l) = (kind.name(), login(kind));
    let end = the(kind, &l.ev, "session.end");
    let bytes = (
        end["session"]["bytes_in"].as_u64(),
        end["session"]["bytes_out"].as_u64(),
    );
    assert_eq!(
        bytes,
        (Some(l.counted.sent), Some(l.counted.received)),
        "[{k}] (bytes_in, bytes_out) vs what the counting proxy relayed"
    );
    // ssh -v counts packets without the banners and the 16-byte
    // chacha20-poly1305 tag of each packet: the difference is exactly that.
    let (sent, received) = l.run.transferred.expect("Transferred line");
    let banners = banner_lengths(&l.run.stderr);
    for ((ours, theirs), banner) in [(l.counted.sent, sent), (l.counted.received, received)]
        .into_iter()
        .zip([banners.0, banners.1])
    {
        assert!(ours >= theirs + banner, "[{k}] {ours} vs ssh -v's {theirs}");
        assert_eq!(
            (ours - theirs - banner) % 16,
            0,
            "[{k}] difference {} from ssh -v is not banner ({banner}) + 16-byte tags",
            ours - theirs
        );
    }
}

/// Lengths of the client's and the server's identification lines with
/// their CR LF, from `ssh -v`.
fn banner_lengths(stderr: &str) -> (u64, u64) {
    let local = stderr
        .lines()
        .find_map(|l| l.strip_prefix("debug1: Local version string "))
        .expect("local version string");
    // "Remote protocol version 2.0, remote software version X"
    let remote = stderr
        .lines()
        .find_map(|l| l.strip_prefix("debug1: Remote protocol version "))
        .and_then(|r| r.split_once(", remote software version "))
        .map(|(proto, software)| format!("SSH-{proto}-{software}"))
        .expect("remote version");
    (local.len() as u64 + 2, remote.len() as u64 + 2)
}

/// Sessions that transfer no file never have the transfer hooks attached
/// (every syscall on the machine pays for them while they are): the agent
/// says at its stop how often it attached them, and here it says nothing.
/// It used to attach them for every OpenSSH session (its session child
/// might have been internal-sftp until it exec'd the shell).
pub fn a_session_without_transfers_attaches_no_transfer_hooks(kind: Kind) {
    if !root_or_skip("a_session_without_transfers_attaches_no_transfer_hooks") {
        return;
    }
    let k = kind.name();
    let server = Server::of(kind, "nohooks").unwrap();
    let tracer = Tracer::start(&args(kind)).unwrap();
    let stderr = tracer.stderr.clone();
    let mut ports = Vec::new();
    for cmd in ["true", "echo $SSH_CONNECTION; ls / > /dev/null"] {
        let run = ssh(&server, &[], cmd).unwrap();
        assert!(run.success, "[{k}] ssh failed: {}", run.stderr);
        ports.push(run.client_port);
    }
    let port = ports[1].expect("SSH_CONNECTION printed");
    let all = stop_after_end(kind, tracer, server.port, port);
    assert!(
        !of_kind(&session_events(&all, port), "process.exec").is_empty(),
        "[{k}] the session was seen"
    );
    let said = stderr.lock().unwrap().clone();
    assert!(
        !said.contains("transfer hooks attached"),
        "[{k}] hooks attached for sessions without transfers: {said}"
    );
}

pub fn wrong_key_never_logs_in(kind: Kind) {
    if !root_or_skip("wrong_key_never_logs_in") {
        return;
    }
    let (k, w) = (kind.name(), world());
    let server = Server::of(kind, "wrongkey").unwrap();
    let tracer = Tracer::start(&args(kind)).unwrap();
    let out = ssh_base(&server, &w.wrong_key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("id")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = parse_run(out);
    assert!(!run.success, "[{k}] the wrong key was accepted");
    // The server's own log names the client port.
    let port = *server
        .logged_client_ports()
        .last()
        .unwrap_or_else(|| panic!("[{k}] the server logged no connection"));
    let all = stop_after_end(kind, tracer, server.port, port);
    let ev = session_events(&all, port);
    the(kind, &ev, "session.connect");
    assert!(of_kind(&ev, "session.login").is_empty(), "[{k}] {ev:#?}");
    let end = the(kind, &ev, "session.end");
    assert_eq!(end["session"]["logged_in"], false, "[{k}] {end}");
    assert!(end["session"]["user"].is_null(), "[{k}] {end}");
    // Only the server itself ran; no user process.
    let own = kind.own_executables();
    for e in of_kind(&ev, "process.exec") {
        let exe = e["process"]["executable"].as_str().unwrap_or_default();
        assert!(
            own.iter().any(|o| o == exe),
            "[{k}] not the server's own: {e}"
        );
    }
    for e in of_kind(&ev, "user.change") {
        assert_ne!(e["change"]["new"]["uid"], w.uid, "[{k}] {e}");
    }
}

pub fn concurrent_sessions_are_kept_apart(kind: Kind) {
    if !root_or_skip("concurrent_sessions_are_kept_apart") {
        return;
    }
    const N: usize = 20;
    let k = kind.name();
    let server = Server::of(kind, "concurrent").unwrap();
    let tracer = Tracer::start(&args(kind)).unwrap();
    // Each client from its own loopback address: dropbear admits at most
    // five unauthenticated connections per source address.
    let source = |i: usize| format!("127.0.0.{}", 10 + i);
    let runs: Vec<SshRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (server, from) = (&server, source(i));
                s.spawn(move || {
                    let cmd = format!("echo $SSH_CONNECTION; /bin/echo marker-{i}");
                    ssh(server, &["-b", &from], &cmd).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, run) in runs.iter().enumerate() {
        assert!(run.success, "[{k}] client {i}: {}", run.stderr);
    }
    let unended: Vec<(String, u16)> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| (source(i), run.client_port.expect("SSH_CONNECTION")))
        .filter(|(ip, port)| {
            !tracer.wait_for(WAIT, |e| {
                ended(*port)(e) && e["session"]["source"]["ip"] == *ip
            })
        })
        .collect();
    let all = tracer.stop().unwrap();
    assert!(
        unended.is_empty(),
        "[{k}] no session.end for {unended:?}; {}",
        at_server(&all, server.port)
    );
    check_schema(&all);
    let mut ids = std::collections::HashSet::new();
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(
            run.stdout.lines().last(),
            Some(format!("marker-{i}").as_str()),
            "[{k}]"
        );
        let marker = vec!["/bin/echo".to_string(), format!("marker-{i}")];
        let hits: Vec<&Value> = of_kind(&all, "process.exec")
            .into_iter()
            .filter(|e| args_of(e) == marker)
            .collect();
        assert_eq!(hits.len(), 1, "[{k}] marker-{i}: {hits:#?}");
        let session = &hits[0]["session"];
        assert_eq!(
            (&session["source"]["ip"], &session["source"]["port"]),
            (&json!(source(i)), &json!(run.client_port.unwrap())),
            "[{k}] marker-{i} attributed to its own session"
        );
        assert_eq!(session["user"], TEST_USER, "[{k}] marker-{i}");
        ids.insert(session["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), N, "[{k}] {N} distinct session ids");
}

pub fn sudo_in_pty_session_shows_as_user_change(kind: Kind) {
    if !root_or_skip("sudo_in_pty_session_shows_as_user_change") {
        return;
    }
    let (k, w) = (kind.name(), world());
    let server = Server::of(kind, "sudo").unwrap();
    let tracer = Tracer::start(&args(kind)).unwrap();
    let run = ssh(
        &server,
        &["-tt"],
        "echo $SSH_CONNECTION; sudo -n -u nobody id",
    )
    .unwrap();
    assert!(run.success, "[{k}] {} {}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("uid=65534(nobody)"),
        "[{k}] {}",
        run.stdout
    );
    let port = run.client_port.expect("SSH_CONNECTION");
    let all = stop_after_end(kind, tracer, server.port, port);
    let ev = session_events(&all, port);
    let changes = of_kind(&ev, "user.change");
    // sudo is set-user-ID root: its exec raises the effective uid to 0...
    let gain = changes
        .iter()
        .find(|e| e["change"]["syscall"] == "execve" && e["change"]["new"]["euid"] == 0)
        .unwrap_or_else(|| panic!("[{k}] no euid 0 at sudo's exec in {changes:#?}"));
    assert_eq!(gain["change"]["old"]["euid"], w.uid, "[{k}] {gain}");
    // ...then it switches to the target user.
    let to_nobody = changes
        .iter()
        .find(|e| {
            e["change"]["success"] == true
                && e["change"]["new"]["uid"] == 65534
                && e["change"]["new"]["euid"] == 65534
        })
        .unwrap_or_else(|| panic!("[{k}] no switch to nobody in {changes:#?}"));
    for e in [gain, to_nobody] {
        assert_eq!(e["session"]["source"]["ip"], "127.0.0.1", "[{k}] {e}");
        assert_eq!(
            e["session"]["user"], TEST_USER,
            "[{k}] origin user kept after sudo: {e}"
        );
    }
    let id = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| e["process"]["executable"] == "/usr/bin/id")
        .unwrap_or_else(|| panic!("[{k}] no exec of id"));
    assert_eq!(id["process"]["uid"], 65534, "[{k}] {id}");
}

pub fn open_session_is_discovered_at_start(kind: Kind) {
    if root_or_skip("open_session_is_discovered_at_start") {
        discovered(kind, &args(kind));
    }
}

/// Issue 12: with only the binary the server was started as on the list
/// (not its helpers: sshd-session, sshd-auth), a discovered session is
/// still complete.
pub fn discovered_with_only_the_server_binary_listed(kind: Kind) {
    if root_or_skip("discovered_with_only_the_server_binary_listed") {
        discovered(kind, &["--server-binary", &kind.server_binary()]);
    }
}

fn discovered(kind: Kind, agent_args: &[&str]) {
    let k = kind.name();
    let server = Server::of(kind, "discover").unwrap();
    // The session is up and its shell waits: only then the agent starts.
    let held = HeldSession::open(&server, &[], "/bin/echo marker-late").unwrap();
    let tracer = Tracer::start(agent_args).unwrap();
    held.release().unwrap();
    let run = held.finish().unwrap();
    assert!(run.success, "[{k}] {}", run.stderr);
    let port = run.client_port.unwrap();
    let all = stop_after_end(kind, tracer, server.port, port);
    let ev = session_events(&all, port);
    let connect = the(kind, &ev, "session.connect");
    assert_eq!(connect["session"]["discovered"], true, "[{k}] {connect}");
    assert_eq!(
        connect["session"]["destination"]["port"], server.port,
        "[{k}] {connect}"
    );
    let login = the(kind, &ev, "session.login");
    assert_eq!(login["session"]["user"], TEST_USER, "[{k}] {login}");
    let marker = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| args_of(e) == ["/bin/echo", "marker-late"])
        .unwrap_or_else(|| {
            panic!("[{k}] the next command is not attributed to the discovered session: {ev:#?}")
        });
    assert_eq!(
        marker["session"]["id"], connect["session"]["id"],
        "[{k}] {marker}"
    );
    assert_eq!(marker["session"]["user"], TEST_USER, "[{k}] {marker}");
    let end = the(kind, &ev, "session.end");
    assert_eq!(end["session"]["logged_in"], true, "[{k}] {end}");
    assert!(
        end["session"]["bytes_out"].as_u64().unwrap_or(0) > 0,
        "[{k}] connection adopted for byte counting: {end}"
    );
}
