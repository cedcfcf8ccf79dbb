//! Capture files end to end: recorded real sessions replay exactly as they
//! were shown live; rotation; a recorder killed with SIGKILL; bad files.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
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
    // By number: rot.cap.10 comes after rot.cap.9.
    files.sort_by_key(|f| {
        let n = f.extension().and_then(|x| x.to_str()?.parse::<u32>().ok());
        n.unwrap_or(0)
    });
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

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A report over this test's sessions only: other tests record concurrently.
fn report(file: &Path, port: u16, args: &[&str]) -> serde_json::Value {
    let only = format!("destination.port = {port}");
    let out = Command::new(agent_bin())
        .arg("report")
        .arg("-r")
        .arg(file)
        .args(args)
        .args(["--json", "--filter", &only])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn filters_and_reports_on_a_recorded_run() {
    if !root_or_skip("filters_and_reports_on_a_recorded_run") {
        return;
    }
    let w = world();
    let dir = scratch("cap-report");
    let cap = dir.join("run.cap");
    let sshd = Sshd::start("cap-report").unwrap();
    let tracer = Tracer::start(&["-w", cap.to_str().unwrap()]).unwrap();
    let a = ssh(
        &sshd,
        &[],
        "echo $SSH_CONNECTION; id; ls / >/dev/null; uname -a",
    )
    .unwrap();
    let b = ssh(
        &sshd,
        &[],
        "echo $SSH_CONNECTION; curl --version >/dev/null 2>&1; true curl-marker",
    )
    .unwrap();
    let bad = ssh_base(&sshd, &w.wrong_key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("id")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let bad_port = *sshd.logged_client_ports().last().unwrap();
    let (pa, pb) = (a.client_port.unwrap(), b.client_port.unwrap());
    for p in [pa, pb, bad_port] {
        assert!(
            tracer.wait_for(Duration::from_secs(20), |e| e["event"] == "session.end"
                && e["session"]["source"]["port"] == p)
        );
    }
    tracer.stop().unwrap();

    let all_out = replay(&[&cap], &["--json"]);
    let all = json_lines(&all_out);
    let all_text = String::from_utf8_lossy(&all_out.stdout).into_owned();

    // A filter keeps exactly the matching lines, byte for byte, in order
    // (agent events always pass).
    let f = format!("source.port = {pb} and process.args contains \"curl\"");
    let filtered = replay(&[&cap], &["--json", "--filter", &f]);
    assert!(filtered.status.success());
    let expected: String = all_text
        .lines()
        .zip(&all)
        .filter(|(_, e)| {
            e["event"].as_str().unwrap().starts_with("agent.")
                || (e["session"]["source"]["port"] == pb
                    && args_of(e).iter().any(|a| a.contains("curl")))
        })
        .map(|(l, _)| format!("{l}\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&filtered.stdout), expected);
    assert!(expected.contains("curl-marker"));
    let bad_filter = replay(&[&cap], &["--filter", "user = = alice"]);
    assert!(!bad_filter.status.success());
    assert!(String::from_utf8_lossy(&bad_filter.stderr).contains("filter error at column 8"));

    // sessions: each row equals what the recorded events say.
    let sessions = report(&cap, sshd.port, &["sessions"]);
    let rows = sessions["sessions"].as_array().unwrap();
    for port in [pa, pb, bad_port] {
        let ev = session_events(&all, port);
        let end = of_kind(&ev, "session.end")[0];
        let row = rows
            .iter()
            .find(|r| r["source"]["port"] == port)
            .expect("session row");
        assert_eq!(row["id"], end["session"]["id"]);
        assert_eq!(row["bytes_in"], end["session"]["bytes_in"]);
        assert_eq!(row["bytes_out"], end["session"]["bytes_out"]);
        assert_eq!(row["logged_in"], end["session"]["logged_in"]);
        assert_eq!(row["duration_ms"], end["session"]["duration_ms"]);
        let commands = of_kind(&ev, "process.exec")
            .iter()
            .filter(|e| !e["session"]["user"].is_null())
            .count();
        assert_eq!(row["commands"], commands);
    }
    assert_eq!(rows.len(), 3);

    // sources: one IP, three connections, one never logged in.
    let sources = report(&cap, sshd.port, &["sources"]);
    let s = &sources["sources"][0];
    assert_eq!(
        (
            s["ip"].as_str(),
            s["connections"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some("127.0.0.1"), Some(3), Some(1))
    );

    // users: the test user's totals are the sum of its sessions' end counters.
    let users = report(&cap, sshd.port, &["users", "--by", "minute"]);
    let u = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == TEST_USER)
        .unwrap();
    let sum = |k: &str| -> u64 {
        [pa, pb]
            .iter()
            .map(|&p| {
                of_kind(&session_events(&all, p), "session.end")[0]["session"][k]
                    .as_u64()
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(u["sessions"], 2);
    assert_eq!(u["bytes_in"], sum("bytes_in"));
    assert_eq!(u["bytes_out"], sum("bytes_out"));
    let bucketed: u64 = u["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bytes_in"].as_u64().unwrap())
        .sum();
    assert_eq!(bucketed, sum("bytes_in"));

    // tree and timeline of session a: timeline by a prefix of its id.
    let id = of_kind(&session_events(&all, pa), "session.connect")[0]["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let timeline = report(&cap, sshd.port, &["timeline", &id[..12]]);
    assert_eq!(
        timeline["events"].as_array().unwrap().len(),
        session_events(&all, pa).len()
    );
    let tree = report(&cap, sshd.port, &["tree", &id]);
    let tree_text = tree.to_string();
    for e in of_kind(&session_events(&all, pa), "process.exec") {
        assert!(
            tree_text.contains(&format!("\"pid\":{}", e["process"]["pid"])),
            "pid {} in tree",
            e["process"]["pid"]
        );
    }
    assert!(tree_text.contains("\"uname\""));
}
