//! Servers users run: the real sshd binary started by a user (outside any
//! session, or from inside one), and a copy under LD_PRELOAD that accepts
//! any connection. Each is a session source of its own — its sessions carry
//! their real client endpoints, the server's owner (`session.server.uid`)
//! and, when started from a session, that session (`session.parent`) —
//! never mistaken for the system's server or the session it came from.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use ssh_trace_tests::*;

const WAIT: Duration = Duration::from_secs(20);

/// A directory the test user owns, with a host key and an sshd config for a
/// server the test user runs on `port`.
fn user_server_files(name: &str, port: u16) -> (PathBuf, PathBuf) {
    let w = world();
    let dir = w.dir.join(format!("user-server-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("host_key");
    let _ = std::fs::remove_file(&key);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let cfg = dir.join("sshd.conf");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\n\
             StrictModes no\nAuthorizedKeysFile /home/{TEST_USER}/.ssh/authorized_keys\n\
             PasswordAuthentication no\nLogLevel VERBOSE\n",
            key.display()
        ),
    )
    .unwrap();
    let chown = Command::new("chown")
        .args(["-R", &format!("{TEST_USER}:")])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    (cfg, dir.join("sshd.log"))
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ssh to the test user on a server at `port` (the harness' key).
fn ssh_to(port: u16, cmd: &str) -> SshRun {
    let out = Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(&world().key)
        .args(["-p", &port.to_string()])
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    parse_run(out)
}

/// `program` run directly as the test user (no runuser in between, so that
/// killing the child kills the server).
fn as_test_user(program: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(program);
    c.uid(world().uid).gid(world().uid);
    c
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn uid() -> u64 {
    world().uid as u64
}

#[test]
fn a_users_own_sshd_is_a_session_source_with_its_owner_and_login() {
    if !root_or_skip("a_users_own_sshd_is_a_session_source_with_its_owner_and_login") {
        return;
    }
    let port = free_port().unwrap();
    let (cfg, log) = user_server_files("outside", port);
    let tracer = Tracer::start(&[]).unwrap();
    let server = as_test_user("/usr/sbin/sshd")
        .args(["-D", "-f"])
        .arg(&cfg)
        .arg("-E")
        .arg(&log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Killed(server);
    wait_listening(port);
    let run = ssh_to(port, "echo $SSH_CONNECTION; /bin/echo from-users-server");
    assert!(run.success, "{}", run.stderr);
    let client = run.client_port.unwrap();
    let ended = |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == client;
    assert!(tracer.wait_for(WAIT, ended), "no session.end for {client}");
    let ev = session_events(&tracer.stop().unwrap(), client);
    let connect = &of_kind(&ev, "session.connect")[0];
    assert_eq!(connect["session"]["destination"]["port"], port);
    assert_eq!(connect["session"]["server"]["uid"], uid());
    assert_eq!(connect["session"]["server"]["mode"], "accept");
    assert!(connect["session"].get("parent").is_none());
    // A non-root server never switches uid: its login is its first
    // process that is not the server.
    let login = &of_kind(&ev, "session.login")[0];
    assert_eq!(login["session"]["user"], TEST_USER);
    let echo = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| args_of(e) == ["/bin/echo", "from-users-server"])
        .expect("the command")
        .clone();
    assert_eq!(echo["process"]["role"], "user");
    let end = &of_kind(&ev, "session.end")[0];
    assert_eq!(end["session"]["logged_in"], true);
}

#[test]
fn a_users_sshd_started_in_a_session_serves_sessions_of_its_own() {
    if !root_or_skip("a_users_sshd_started_in_a_session_serves_sessions_of_its_own") {
        return;
    }
    let port = free_port().unwrap();
    let (cfg, log) = user_server_files("inside", port);
    let sshd = Sshd::start("outer").unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    // The outer session starts the user's server and stays until told.
    let held = world().dir.join("inside.hold");
    let _ = std::fs::remove_file(&held);
    let cmd = format!(
        "echo $SSH_CONNECTION; /usr/sbin/sshd -D -f {} -E {} & \
         while [ ! -e {} ]; do sleep 0.1; done; kill %1",
        cfg.display(),
        log.display(),
        held.display()
    );
    let mut outer = ssh_base(&sshd, &world().key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(outer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let outer_port = connection_port(&line).unwrap();
    wait_listening(port);
    let run = ssh_to(port, "echo $SSH_CONNECTION; /bin/echo inner-marker");
    std::fs::write(&held, b"").unwrap();
    assert!(run.success, "{}", run.stderr);
    assert!(outer.wait().unwrap().success());
    let inner_port = run.client_port.unwrap();
    for p in [inner_port, outer_port] {
        let ended = |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == p;
        assert!(tracer.wait_for(WAIT, ended), "no session.end for {p}");
    }
    let all = tracer.stop().unwrap();
    let outer_id = session_events(&all, outer_port)[0]["session"]["id"].clone();
    let inner = session_events(&all, inner_port);
    let connect = &of_kind(&inner, "session.connect")[0];
    assert_ne!(connect["session"]["id"], outer_id);
    assert_eq!(connect["session"]["parent"], outer_id);
    assert_eq!(connect["session"]["server"]["uid"], uid());
    assert_eq!(connect["session"]["destination"]["port"], port);
    let marker: Vec<&Value> = of_kind(&all, "process.exec")
        .into_iter()
        .filter(|e| args_of(e) == ["/bin/echo", "inner-marker"])
        .collect();
    assert_eq!(marker.len(), 1);
    assert_eq!(
        marker[0]["session"]["source"]["port"], inner_port,
        "the inner command belongs to the inner session, not the outer one"
    );
    assert_eq!(
        of_kind(&inner, "session.login")[0]["session"]["user"],
        TEST_USER
    );
    // The server itself was the user's process in the outer session.
    let user_cfg = cfg.display().to_string();
    let server_exec = of_kind(&session_events(&all, outer_port), "process.exec")
        .into_iter()
        .find(|e| args_of(e).contains(&user_cfg))
        .expect("the user's sshd exec in the outer session")
        .clone();
    assert_eq!(server_exec["process"]["role"], "user");
}

#[test]
fn a_preloaded_server_copy_accepting_any_connection_is_its_users_session() {
    if !root_or_skip("a_preloaded_server_copy_accepting_any_connection_is_its_users_session") {
        return;
    }
    let port = free_port().unwrap();
    let so = accept_preload();
    let tracer = Tracer::start(&[]).unwrap();
    let fake = as_test_user("/usr/sbin/sshd")
        .env("FAKE_PORT", port.to_string())
        .env("LD_PRELOAD", &so)
        .args(["-D", "-f", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _fake = Killed(fake);
    wait_listening(port);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = c.write_all(b"SSH-2.0-hello\r\n");
    let client = c.local_addr().unwrap().port();
    let seen =
        |e: &Value| e["event"] == "session.connect" && e["session"]["source"]["port"] == client;
    assert!(tracer.wait_for(WAIT, seen), "the connection is not seen");
    let all = tracer.stop().unwrap();
    for e in session_events(&all, client) {
        assert_eq!(
            e["session"]["server"]["uid"],
            uid(),
            "a user's copy of the server is that user's, not the system's: {e}"
        );
    }
}

/// A shared object whose constructor, with FAKE_PORT set, accepts TCP
/// connections on that port and holds them.
fn accept_preload() -> PathBuf {
    let dir = world().dir.join("fake-accept");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("accept.c");
    std::fs::write(
        &src,
        "#include <arpa/inet.h>\n#include <stdlib.h>\n#include <sys/socket.h>\n#include <unistd.h>\n\
         __attribute__((constructor)) static void fake(void) {\n\
           char *p = getenv(\"FAKE_PORT\"); if (!p) return;\n\
           int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;\n\
           setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);\n\
           struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(p))};\n\
           a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);\n\
           if (bind(s, (void *)&a, sizeof a) || listen(s, 1)) _exit(1);\n\
           for (int i = 0; i < 16; i++) accept(s, 0, 0);\n\
           _exit(0);\n}\n",
    )
    .unwrap();
    let so = dir.join("accept.so");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cc failed");
    for p in [&dir, &so] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    so
}
