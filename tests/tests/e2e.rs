//! End-to-end: a real sshd on loopback, the real ssh client, the real agent.
//! Each test asserts exact values observed through independent witnesses
//! (`$SSH_CONNECTION`, `ssh -v`'s Transferred line, sshd's log, a counting
//! proxy). Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::{Read, Write},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use ssh_trace_tests::{schema::Schema, *};

const WAIT: Duration = Duration::from_secs(20);

/// Every line the agent wrote must match docs/schema.md.
fn check_schema(events: &[Value]) {
    let schema = Schema::load().unwrap();
    for e in events {
        if let Err(err) = schema.check(e) {
            panic!("{err}\nin: {e}");
        }
    }
}

fn ended(port: u16) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port
}

fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(events, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got {found:?}");
    found[0]
}

#[test]
fn login_runs_commands_and_counts_bytes() {
    if !root_or_skip("login_runs_commands_and_counts_bytes") {
        return;
    }
    let w = world();
    let sshd = Sshd::start("login").unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    // The proxy counts the TCP payload on the client's side of the connection.
    let counts = w.dir.join("proxy_counts");
    let proxy = format!(
        "ProxyCommand=python3 {} 127.0.0.1 {} {}",
        workspace_root()
            .join("tests/fixtures/count_proxy.py")
            .display(),
        sshd.port,
        counts.display()
    );
    let run = ssh(
        &sshd,
        &["-o", &proxy, "-c", "chacha20-poly1305@openssh.com"],
        "echo $SSH_CONNECTION; id; ls /",
    )
    .unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.expect("SSH_CONNECTION printed");
    assert!(
        tracer.wait_for(WAIT, ended(port)),
        "no session.end for port {port}"
    );
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let ev = session_events(&all, port);

    let connect = one(&ev, "session.connect");
    assert_eq!(connect["session"]["source"]["ip"], "127.0.0.1");
    assert_eq!(connect["session"]["destination"]["port"], sshd.port);
    assert!(connect["session"]["user"].is_null());

    let login = one(&ev, "session.login");
    assert_eq!(login["session"]["user"], TEST_USER);
    assert_eq!(login["session"]["uid"], w.uid);
    let id = connect["session"]["id"].as_str().unwrap();
    assert!(
        ev.iter().all(|e| e["session"]["id"] == id),
        "one session id throughout"
    );

    // The permanent switch to the user that made the login.
    let uid = w.uid as i64;
    assert!(of_kind(&ev, "user.change")
        .iter()
        .any(|e| e["change"]["syscall"] == "setresuid"
            && e["change"]["args"] == serde_json::json!([uid, uid, uid])
            && e["change"]["success"] == true
            && e["change"]["new"]["euid"] == uid));

    let execs = of_kind(&ev, "process.exec");
    let argv: Vec<Vec<String>> = execs.iter().map(|e| args_of(e)).collect();
    let cmd = "echo $SSH_CONNECTION; id; ls /";
    assert!(
        argv.contains(&vec!["bash".into(), "-c".into(), cmd.into()]),
        "{argv:?}"
    );
    assert!(argv.contains(&vec!["id".into()]), "{argv:?}");
    assert!(argv.contains(&vec!["ls".into(), "/".into()]), "{argv:?}");
    let id_exec = execs.iter().find(|e| args_of(e) == ["id"]).unwrap();
    assert_eq!(id_exec["process"]["uid"], w.uid);
    assert_eq!(id_exec["process"]["executable"], "/usr/bin/id");
    assert_eq!(id_exec["session"]["user"], TEST_USER);

    let end = one(&ev, "session.end");
    assert_eq!(end["session"]["logged_in"], true);
    let bytes_in = end["session"]["bytes_in"].as_u64().unwrap();
    let bytes_out = end["session"]["bytes_out"].as_u64().unwrap();
    // Exact: the proxy saw the same TCP payload the server's socket moved.
    let c = std::fs::read_to_string(&counts).unwrap();
    let c: Vec<u64> = c.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!(
        c[0], port as u64,
        "proxy's port is the session's source port"
    );
    assert_eq!(
        (bytes_in, bytes_out),
        (c[1], c[2]),
        "bytes vs counting proxy"
    );
    // ssh -v counts packets without the banner and the 16-byte
    // chacha20-poly1305 tag of each packet: the difference is exactly that.
    let (sent, received) = run.transferred.expect("Transferred line");
    let banner = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("debug1: Local version string "))
        .unwrap()
        .len() as u64
        + 2;
    let server_banner = banner; // same OpenSSH build on both ends
    for (ours, theirs, b) in [
        (bytes_in, sent, banner),
        (bytes_out, received, server_banner),
    ] {
        assert!(ours >= theirs + b, "{ours} vs {theirs}");
        assert_eq!(
            (ours - theirs - b) % 16,
            0,
            "difference {} is not banner + 16-byte tags",
            ours - theirs
        );
    }
}

#[test]
fn scp_upload_counts_bytes_in() {
    if !root_or_skip("scp_upload_counts_bytes_in") {
        return;
    }
    let w = world();
    let sshd = Sshd::start("scp").unwrap();
    let file = w.dir.join("upload.bin");
    let mut data = vec![0u8; 5_000_000];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    std::fs::write(&file, &data).unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let before = sshd.logged_client_ports().len();
    let out = scp_base(&sshd)
        .arg("-v")
        .arg(&file)
        .arg(format!("{TEST_USER}@127.0.0.1:/tmp/ssh-trace-upload.bin"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = parse_run(out);
    assert!(run.success, "{}", run.stderr);
    let port = sshd.logged_client_ports()[before];
    assert!(tracer.wait_for(WAIT, ended(port)));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let ev = session_events(&all, port);
    let end = one(&ev, "session.end");
    let bytes_in = end["session"]["bytes_in"].as_u64().unwrap();
    let (sent, _) = run.transferred.expect("Transferred line");
    assert!(bytes_in >= 5_000_000, "{bytes_in}");
    let diff = bytes_in.abs_diff(sent) as f64 / sent as f64;
    assert!(
        diff < 0.01,
        "bytes_in {bytes_in} vs Transferred sent {sent}: {:.3} %",
        diff * 100.0
    );
    assert!(of_kind(&ev, "process.exec")
        .iter()
        .any(|e| e["process"]["executable"] == "/usr/lib/openssh/sftp-server"));
    let _ = std::fs::remove_file("/tmp/ssh-trace-upload.bin");
}

#[test]
fn wrong_key_never_logs_in() {
    if !root_or_skip("wrong_key_never_logs_in") {
        return;
    }
    let w = world();
    let sshd = Sshd::start("wrongkey").unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let out = ssh_base(&sshd, &w.wrong_key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("id")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = parse_run(out);
    assert!(!run.success, "the wrong key was accepted");
    // sshd's own log names the client port.
    let port = *sshd
        .logged_client_ports()
        .last()
        .expect("sshd logged the connection");
    assert!(tracer.wait_for(WAIT, ended(port)));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let ev = session_events(&all, port);
    one(&ev, "session.connect");
    assert!(of_kind(&ev, "session.login").is_empty());
    let end = one(&ev, "session.end");
    assert_eq!(end["session"]["logged_in"], false);
    assert!(end["session"]["user"].is_null());
    // Only sshd itself ran (its -R re-exec); no user process.
    for e in of_kind(&ev, "process.exec") {
        assert_eq!(e["process"]["executable"], "/usr/sbin/sshd", "{e}");
    }
    assert!(of_kind(&ev, "user.change")
        .iter()
        .all(|e| e["change"]["new"]["uid"] != w.uid));
}

#[test]
fn concurrent_sessions_are_kept_apart() {
    if !root_or_skip("concurrent_sessions_are_kept_apart") {
        return;
    }
    let sshd = Sshd::start("concurrent").unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let runs: Vec<(usize, SshRun)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let sshd = &sshd;
                s.spawn(move || {
                    (
                        i,
                        ssh(
                            sshd,
                            &[],
                            &format!("echo $SSH_CONNECTION; /bin/echo marker-{i}"),
                        )
                        .unwrap(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ports: Vec<u16> = runs
        .iter()
        .map(|(_, r)| r.client_port.expect("SSH_CONNECTION"))
        .collect();
    for &p in &ports {
        assert!(tracer.wait_for(WAIT, ended(p)), "no end for {p}");
    }
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let mut ids = std::collections::HashSet::new();
    for (i, run) in &runs {
        assert!(run.success, "{}", run.stderr);
        assert_eq!(
            run.stdout.lines().last(),
            Some(format!("marker-{i}").as_str())
        );
        let marker = vec!["/bin/echo".to_string(), format!("marker-{i}")];
        let hits: Vec<&Value> = of_kind(&all, "process.exec")
            .into_iter()
            .filter(|e| args_of(e) == marker)
            .collect();
        assert_eq!(hits.len(), 1, "marker-{i}");
        assert_eq!(
            hits[0]["session"]["source"]["port"],
            run.client_port.unwrap(),
            "marker-{i} attributed to its own session"
        );
        assert_eq!(hits[0]["session"]["user"], TEST_USER);
        ids.insert(hits[0]["session"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 20, "twenty distinct session ids");
}

#[test]
fn sudo_in_pty_session_shows_as_user_change() {
    if !root_or_skip("sudo_in_pty_session_shows_as_user_change") {
        return;
    }
    let w = world();
    let sshd = Sshd::start("sudo").unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let run = ssh(
        &sshd,
        &["-tt"],
        "echo $SSH_CONNECTION; sudo -n -u nobody id",
    )
    .unwrap();
    assert!(run.success, "{} {}", run.stdout, run.stderr);
    assert!(run.stdout.contains("uid=65534(nobody)"), "{}", run.stdout);
    let port = run.client_port.expect("SSH_CONNECTION");
    assert!(tracer.wait_for(WAIT, ended(port)));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let ev = session_events(&all, port);
    let changes = of_kind(&ev, "user.change");
    // sudo is set-user-ID root: its exec raises the effective uid to 0...
    let gain = changes
        .iter()
        .find(|e| e["change"]["syscall"] == "execve" && e["change"]["new"]["euid"] == 0)
        .expect("sudo's euid 0 at exec");
    assert_eq!(gain["change"]["old"]["euid"], w.uid);
    // ...then it switches to the target user.
    let to_nobody = changes
        .iter()
        .find(|e| {
            e["change"]["success"] == true
                && e["change"]["new"]["uid"] == 65534
                && e["change"]["new"]["euid"] == 65534
        })
        .expect("switch to nobody");
    for e in [gain, to_nobody] {
        assert_eq!(e["session"]["source"]["ip"], "127.0.0.1");
        assert_eq!(
            e["session"]["user"], TEST_USER,
            "origin user kept after sudo"
        );
    }
    let id = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| e["process"]["executable"] == "/usr/bin/id")
        .expect("id ran");
    assert_eq!(id["process"]["uid"], 65534);
}

#[test]
fn a_program_named_sshd_is_not_a_server() {
    if !root_or_skip("a_program_named_sshd_is_not_a_server") {
        return;
    }
    let w = world();
    let sshd = Sshd::start("fake").unwrap();
    let fake_dir = w.dir.join("fake");
    std::fs::create_dir_all(&fake_dir).unwrap();
    let fake = fake_dir.join("sshd");
    std::fs::copy("/usr/bin/python3", &fake).unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let script = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n\
                  print(s.getsockname()[1],flush=True)\nc,_=s.accept()\nc.recv(100)\n\
                  import os\npid=os.fork()\nif pid==0:\n    os.execv('/bin/true',['true','fake-child'])\nos.waitpid(pid,0)\n";
    let mut child = Command::new(&fake)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut b = [0u8; 1];
    while stdout.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0] as char);
    }
    let fake_port: u16 = line.trim().parse().unwrap();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", fake_port)).unwrap();
    conn.write_all(b"SSH-2.0-test\r\n").unwrap();
    assert!(child.wait().unwrap().success());
    // A real login in the same run: the agent was watching.
    let run = ssh(&sshd, &[], "echo $SSH_CONNECTION").unwrap();
    let port = run.client_port.unwrap();
    assert!(tracer.wait_for(WAIT, ended(port)));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    assert_eq!(
        of_kind(&session_events(&all, port), "session.connect").len(),
        1
    );
    let fake_pid = child.id();
    for e in &all {
        assert_ne!(
            e["session"]["destination"]["port"], fake_port,
            "fake sshd made a session: {e}"
        );
        assert_ne!(
            e["process"]["ppid"], fake_pid,
            "fake sshd's child traced: {e}"
        );
        assert!(!args_of(e).contains(&"fake-child".to_string()), "{e}");
    }
}

#[test]
fn open_session_is_discovered_at_start() {
    if !root_or_skip("open_session_is_discovered_at_start") {
        return;
    }
    let sshd = Sshd::start("discover").unwrap();
    let client = ssh_base(&sshd, &world().key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("echo $SSH_CONNECTION; sleep 3; /bin/echo marker-late")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the user's command runs, then start the agent.
    let deadline = std::time::Instant::now() + WAIT;
    while !Command::new("pgrep")
        .args(["-u", TEST_USER, "-x", "sleep"])
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "session did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tracer = Tracer::start(&[]).unwrap();
    let run = parse_run(client.wait_with_output().unwrap());
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    assert!(tracer.wait_for(WAIT, ended(port)));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let ev = session_events(&all, port);
    let connect = one(&ev, "session.connect");
    assert_eq!(connect["session"]["discovered"], true);
    assert_eq!(connect["session"]["destination"]["port"], sshd.port);
    let login = one(&ev, "session.login");
    assert_eq!(login["session"]["user"], TEST_USER);
    let marker = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| args_of(e) == ["/bin/echo", "marker-late"])
        .expect("the next command is attributed to the discovered session");
    assert_eq!(marker["session"]["id"], connect["session"]["id"]);
    assert_eq!(marker["session"]["user"], TEST_USER);
    let end = one(&ev, "session.end");
    assert_eq!(end["session"]["logged_in"], true);
    assert!(
        end["session"]["bytes_out"].as_u64().unwrap() > 0,
        "connection adopted for byte counting"
    );
}

#[test]
fn tiny_ring_buffer_reports_loss() {
    if !root_or_skip("tiny_ring_buffer_reports_loss") {
        return;
    }
    let sshd = Sshd::start("loss").unwrap();
    let tracer = Tracer::start(&["--ring-buffer-size", "4096"]).unwrap();
    // 300 execs whose argv fills the 4096-byte argv buffer: each exec record
    // (about 4.7 KiB) is larger than the whole ring and must be dropped.
    let run = ssh(
        &sshd,
        &[],
        "echo $SSH_CONNECTION; for i in $(seq 300); do /bin/true $(seq 2000); done",
    )
    .unwrap();
    assert!(run.success, "{}", run.stderr);
    std::thread::sleep(Duration::from_millis(1500));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let losses = of_kind(&all, "agent.loss");
    assert!(
        !losses.is_empty(),
        "no agent.loss with a 4 KiB ring and an exec burst"
    );
    let lost: u64 = losses
        .iter()
        .map(|e| e["loss"]["kernel_ringbuf"].as_u64().unwrap())
        .sum();
    assert!(
        lost >= 300,
        "lost {lost}, expected at least the 300 oversized exec records"
    );
    let stop = one(&all, "agent.stop");
    assert_eq!(
        stop["totals"]["lost"]["kernel_ringbuf"], lost,
        "stop summary equals the sum of loss events"
    );
    let ev = session_events(&all, run.client_port.unwrap());
    assert!(of_kind(&ev, "process.exec")
        .iter()
        .all(|e| e["process"]["executable"] != "/bin/true"));
    // The small records of the same burst (fork, exit) still arrive.
    assert!(of_kind(&ev, "process.exit").len() >= 300);
}

#[test]
fn clear_errors_for_bad_setups() {
    if !root_or_skip("clear_errors_for_bad_setups") {
        return;
    }
    let bin = agent_bin();
    // Not root: one clear line, non-zero exit, nothing loaded.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("tail")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "ssh-trace: error: ssh-trace must run as root (it loads eBPF programs into the kernel)"
    );
    // A ring buffer size the kernel would refuse.
    let out = Command::new(&bin)
        .args(["tail", "--ring-buffer-size", "5000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ring buffer size 5000 must be a power of two"),
        "{err}"
    );
    // No SSH server binary at the given path.
    let out = Command::new(&bin)
        .args(["tail", "--server-binary", "/nonexistent/sshd"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("none of the SSH server binaries exists: /nonexistent/sshd"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn tail_filter_keeps_only_matching_events() {
    if !root_or_skip("tail_filter_keeps_only_matching_events") {
        return;
    }
    let sshd = Sshd::start("tailfilter").unwrap();
    // Other tests run concurrently: keep to this test's server.
    let filter = format!(
        "event = process.exec and process.executable = /bin/echo and destination.port = {}",
        sshd.port
    );
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let run = ssh(&sshd, &[], "echo $SSH_CONNECTION; /bin/echo marker-f; id").unwrap();
    assert!(run.success);
    assert!(tracer.wait_for(WAIT, |e| args_of(e) == ["/bin/echo", "marker-f"]));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let kinds: Vec<&str> = all.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["agent.start", "process.exec", "agent.stop"]);
    assert_eq!(
        all[1]["session"]["source"]["port"],
        run.client_port.unwrap()
    );
}

#[test]
fn two_agents_agree_on_session_ids() {
    if !root_or_skip("two_agents_agree_on_session_ids") {
        return;
    }
    let sshd = Sshd::start("twoagents").unwrap();
    let (a, b) = (Tracer::start(&[]).unwrap(), Tracer::start(&[]).unwrap());
    let runs: Vec<SshRun> = (0..3)
        .map(|_| ssh(&sshd, &[], "echo $SSH_CONNECTION").unwrap())
        .collect();
    for r in &runs {
        let port = r.client_port.unwrap();
        assert!(a.wait_for(WAIT, ended(port)) && b.wait_for(WAIT, ended(port)));
    }
    let (ea, eb) = (a.stop().unwrap(), b.stop().unwrap());
    let mut ids = std::collections::HashSet::new();
    for r in &runs {
        let port = r.client_port.unwrap();
        let id_a = one(&session_events(&ea, port), "session.connect")["session"]["id"].clone();
        let id_b = one(&session_events(&eb, port), "session.connect")["session"]["id"].clone();
        assert_eq!(id_a, id_b, "both agents name the session alike");
        ids.insert(id_a.to_string());
    }
    assert_eq!(ids.len(), 3);
}
