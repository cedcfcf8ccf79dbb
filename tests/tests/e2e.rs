//! End-to-end: a real sshd on loopback, the real ssh client, the real agent.
//! Each test asserts exact values observed through independent witnesses
//! (`$SSH_CONNECTION`, `ssh -v`'s Transferred line, sshd's log, a counting
//! proxy). The core cases (login, argv, uid change, bytes, wrong key,
//! concurrency, sudo, discovery) run against every server kind in
//! servers.rs. Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::{Read, Write},
    process::{Command, Stdio},
    time::Duration,
};

use ssh_trace_tests::*;

const WAIT: Duration = Duration::from_secs(20);

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
