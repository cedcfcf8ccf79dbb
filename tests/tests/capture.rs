//! Capture files end to end: recorded real sessions replay exactly as they
//! were shown live; rotation; a recorder killed with SIGKILL; bad files.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use ssh_trace_tests::*;

fn replay(files: &[&Path], extra: &[&str]) -> Output {
    let mut c = Command::new(agent_bin());
    c.arg("replay").arg("-r");
    for f in files {
        c.arg(f);
    }
    c.args(extra).output().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = world().dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn replay_equals_live_json_byte_for_byte() {
    if !root_or_skip("replay_equals_live_json_byte_for_byte") {
        return;
    }
    let dir = scratch("cap-live");
    let cap = dir.join("live.cap");
    let sshd = Sshd::start("cap-live").unwrap();
    let tracer = Tracer::start(&["-w", cap.to_str().unwrap()]).unwrap();
    // Hostile argv: control characters, invalid UTF-8, a backslash.
    let run = ssh(
        &sshd,
        &[],
        "echo $SSH_CONNECTION; /bin/echo $'\\x1b[2J\\xff\\\\' >/dev/null; id",
    )
    .unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    assert!(
        tracer.wait_for(Duration::from_secs(20), |e| e["event"] == "session.end"
            && e["session"]["source"]["port"] == port)
    );
    let raw = tracer.stop_raw().unwrap();
    let out = replay(&[&cap], &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live: String = raw.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), live);
    let hostile = raw
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["process"]["executable"] == "/bin/echo")
        .expect("echo exec recorded");
    assert_eq!(hostile["process"]["args"][1], "\u{1b}[2J\\xff\\\\");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cap).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Replays `file` until `pred` matches a JSON line (the recorder flushes a
/// block every second) or the time is up.
fn wait_in_file(file: &Path, timeout: Duration, pred: impl Fn(&serde_json::Value) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if file.exists() {
            let out = replay(&[file], &["--json"]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .any(|v| pred(&v))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn record(file: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(agent_bin())
        .args(["record", "-w"])
        .arg(file)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigkilled_recorder_leaves_a_replayable_file() {
    if !root_or_skip("sigkilled_recorder_leaves_a_replayable_file") {
        return;
    }
    let dir = scratch("cap-kill");
    let cap = dir.join("kill.cap");
    let sshd = Sshd::start("cap-kill").unwrap();
    let mut rec = record(&cap, &[]);
    assert!(
        wait_in_file(&cap, Duration::from_secs(20), |e| e["event"]
            == "agent.start"),
        "recorder did not start"
    );
    let run = ssh(&sshd, &[], "echo $SSH_CONNECTION; id").unwrap();
    let port = run.client_port.unwrap();
    // Everything up to the session's end reaches the file within a second.
    assert!(wait_in_file(&cap, Duration::from_secs(20), |e| e["event"]
        == "session.end"
        && e["session"]["source"]["port"] == port));
    // A burst the recorder may be in the middle of writing when killed.
    let _ = ssh(&sshd, &[], "for i in $(seq 200); do /bin/true; done");
    rec.kill().unwrap();
    rec.wait().unwrap();
    let out = replay(&[&cap], &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let ev = session_events(&events, port);
    for kind in [
        "session.connect",
        "session.login",
        "process.exec",
        "session.end",
    ] {
        assert!(
            !of_kind(&ev, kind).is_empty(),
            "{kind} missing after SIGKILL"
        );
    }
    assert!(
        of_kind(&events, "agent.stop").is_empty(),
        "a killed recorder wrote no stop"
    );
    // Whatever the kill cut off is at most a warning about the last block.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.is_empty() || (err.lines().count() == 1 && err.contains("truncated")),
        "{err}"
    );
}

#[test]
fn rotation_keeps_n_self_contained_files() {
    if !root_or_skip("rotation_keeps_n_self_contained_files") {
        return;
    }
    let dir = scratch("cap-rotate");
    let cap = dir.join("rot.cap");
    let sshd = Sshd::start("cap-rotate").unwrap();
    // One block per file: every second's events start a new file.
    let mut rec = record(&cap, &["--rotate-size", "1", "--rotate-count", "3"]);
    assert!(wait_in_file(&cap, Duration::from_secs(20), |e| e["event"]
        == "agent.start"));
    // A session that stays open across rotations.
    let long = ssh_base(&sshd, &world().key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("echo $SSH_CONNECTION; for i in 1 2 3 4 5 6; do /bin/echo tick-$i; sleep 1; done")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = parse_run(long.wait_with_output().unwrap());
    assert!(run.success);
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(rec.id() as i32, libc::SIGTERM) };
    assert!(rec.wait().unwrap().success());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let port = run.client_port.unwrap();
    for f in &files {
        let out = replay(&[f.as_path()], &["--json"]);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!events.is_empty(), "{} is empty", f.display());
        // Each file names the session fully on every event it holds.
        for e in session_events(&events, port) {
            assert_eq!(e["session"]["user"], TEST_USER);
        }
    }
    // The last file ends with the agent's stop; the first kept one no longer
    // holds the start (older files were deleted).
    let last = replay(&[files.last().unwrap().as_path()], &["--json"]);
    assert!(String::from_utf8_lossy(&last.stdout)
        .lines()
        .last()
        .unwrap()
        .contains("\"agent.stop\""));
    let all: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let merged = replay(&all, &["--json"]);
    assert!(
        !String::from_utf8_lossy(&merged.stdout).contains("\"agent.start\""),
        "oldest files deleted"
    );
}

#[test]
fn bad_capture_files_fail_clearly() {
    if !root_or_skip("bad_capture_files_fail_clearly") {
        return;
    }
    let dir = scratch("cap-bad");
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let junk = dir.join("junk");
    std::fs::write(&junk, b"this is not a capture").unwrap();
    for (path, msg) in [
        (empty.as_path(), "empty file"),
        (junk.as_path(), "not an ssh-trace capture (bad magic)"),
        (dir.as_path(), "is a directory"),
        (Path::new("/nonexistent/x.cap"), "cannot read"),
    ] {
        let out = replay(&[path], &[]);
        assert!(!out.status.success(), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("ssh-trace: error: ") && err.contains(msg),
            "{}: {err}",
            path.display()
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert!(out.stdout.is_empty());
    }
}
