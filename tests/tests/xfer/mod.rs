//! The transfer cases, each run against the server kinds it applies to.
//! A case runs the real client, one session per transfer, and compares each
//! `file.transfer` with the file on disk. Every assertion message names the
//! server.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use ssh_trace_tests::*;

mod pipelined;
mod root;
pub use pipelined::*;
pub use root::*;

const WAIT: Duration = Duration::from_secs(30);

/// A directory of the test user's for the remote side, and one of ours for
/// the local side, both removed at the end.
struct Dirs {
    remote: PathBuf,
    local: PathBuf,
}

impl Dirs {
    fn new(kind: Kind, case: &str) -> Self {
        let name = format!(
            "ssh-trace-xfer-{}-{case}-{}",
            kind.name(),
            std::process::id()
        );
        let remote = Path::new("/tmp").join(&name);
        let local = world().dir.join(name);
        for d in [&remote, &local] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d).unwrap();
        }
        chown_to_user(&remote);
        Self { remote, local }
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.remote);
        let _ = std::fs::remove_dir_all(&self.local);
    }
}

fn chown_to_user(p: &Path) {
    let ok = Command::new("chown")
        .arg(format!("{TEST_USER}:"))
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown {}", p.display());
}

/// `size` random bytes in `path`, mode `mode`.
fn random_file(path: &Path, size: usize, mode: u32) {
    use std::io::Read;
    let mut data = vec![0u8; size];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    std::fs::write(path, &data).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn client(program: &str, server: &Server, port_flag: &str) -> Command {
    let mut c = Command::new(program);
    c.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
    ])
    .arg("-i")
    .arg(&world().key)
    .args([port_flag, &server.port.to_string()]);
    c
}

fn remote(p: &Path) -> String {
    format!("{TEST_USER}@127.0.0.1:{}", p.display())
}

/// Runs `cmd` (one session) while `tracer` runs; its session's events.
fn session(kind: Kind, server: &Server, tracer: &Tracer, cmd: &mut Command) -> Vec<Value> {
    let before = server.logged_client_ports().len();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "[{}] {cmd:?}: {}",
        kind.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let port = wait_until(WAIT, || server.logged_client_ports().get(before).copied())
        .unwrap_or_else(|| panic!("[{}] the server logged no connection", kind.name()));
    assert!(
        tracer.wait_for(WAIT, ended(port)),
        "[{}] no session.end for port {port}",
        kind.name()
    );
    session_events(&tracer.events(), port)
}

fn transfers(ev: &[Value]) -> Vec<&Value> {
    of_kind(ev, "file.transfer")
}

/// What a file.transfer must say, beyond its session.
struct Want<'a> {
    server: &'a str,
    action: &'a str,
    path: &'a Path,
    bytes: u64,
    /// The file on disk after the transfer (size and mode), if any.
    file: Option<&'a Path>,
    outcome: &'a str,
}

fn check(kind: Kind, t: &Value, w: &Want) {
    let k = kind.name();
    let x = &t["transfer"];
    assert_eq!(x["server"], w.server, "[{k}] server: {t}");
    assert_eq!(x["action"], w.action, "[{k}] action: {t}");
    assert_eq!(x["path"], w.path.display().to_string(), "[{k}] path: {t}");
    assert_eq!(x["bytes"], w.bytes, "[{k}] bytes: {t}");
    assert_eq!(x["outcome"], w.outcome, "[{k}] outcome: {t}");
    assert_eq!(x["late"], false, "[{k}] opened before the hooks: {t}");
    if let Some(f) = w.file {
        let m = std::fs::metadata(f).unwrap();
        assert_eq!(x["size"], m.len(), "[{k}] size: {t}");
        let mode = format!("{:04o}", m.permissions().mode() & 0o7777);
        assert_eq!(x["mode"], mode, "[{k}] mode: {t}");
        assert_eq!(x["type"], "file", "[{k}] type: {t}");
    }
}

fn tracer(kind: Kind) -> Tracer {
    let args = kind.agent_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Tracer::start(&args).unwrap()
}

/// The one transfer of a session that moved one file.
fn only(kind: Kind, ev: &[Value]) -> &Value {
    let t = transfers(ev);
    assert_eq!(
        t.len(),
        1,
        "[{}] expected one file.transfer: {t:?}",
        kind.name()
    );
    t[0]
}

/// Upload then download of one file, each with `extra` scp options: the
/// server side is sftp-server (the default) or `scp -t`/`-f` (`-O`).
fn scp_round_trip(kind: Kind, case: &str, extra: &[&str], up: &str, down: &str) {
    if !root_or_skip(case) {
        return;
    }
    let server = Server::with_config(kind, case, &kind.scp_path_config()).unwrap();
    let d = Dirs::new(kind, case);
    let (local, back) = (d.local.join("data.bin"), d.local.join("back.bin"));
    let target = d.remote.join("up.bin");
    random_file(&local, 1_234_567, 0o640);
    let tracer = tracer(kind);
    let mut cmd = client("scp", &server, "-P");
    cmd.args(extra).arg(&local).arg(remote(&target));
    let ev = session(kind, &server, &tracer, &mut cmd);
    let server_name = if extra.contains(&"-O") {
        "scp"
    } else {
        "sftp-server"
    };
    let want = |action, path, file| Want {
        server: server_name,
        action,
        path,
        bytes: 1_234_567,
        file,
        outcome: "complete",
    };
    check(
        kind,
        only(kind, &ev),
        &want("upload", &target, Some(&target)),
    );
    assert_executed(kind, &ev, up);
    let mut cmd = client("scp", &server, "-P");
    cmd.args(extra).arg(remote(&target)).arg(&back);
    let ev = session(kind, &server, &tracer, &mut cmd);
    check(
        kind,
        only(kind, &ev),
        &want("download", &target, Some(&target)),
    );
    assert_executed(kind, &ev, down);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
    check_schema(&tracer.stop().unwrap());
}

/// The session exec'd `program` (the transfer server's binary).
fn assert_executed(kind: Kind, ev: &[Value], program: &str) {
    assert!(
        of_kind(ev, "process.exec")
            .iter()
            .any(|e| e["process"]["executable"] == program),
        "[{}] no exec of {program}: {ev:?}",
        kind.name()
    );
}

pub fn scp_upload_and_download_are_exact(kind: Kind) {
    let sftp = kind.sftp_server();
    scp_round_trip(kind, "scp", &[], &sftp, &sftp);
}

pub fn legacy_scp_upload_and_download_are_exact(kind: Kind) {
    let scp = kind.scp_binary();
    scp_round_trip(kind, "scp_legacy", &["-O"], &scp, &scp);
}

/// `sftp -b` with `batch` (one command a line) in one session.
fn sftp_batch(kind: Kind, server: &Server, tracer: &Tracer, dir: &Path, batch: &str) -> Vec<Value> {
    let file = dir.join("batch");
    std::fs::write(&file, batch).unwrap();
    let mut cmd = client("sftp", server, "-P");
    cmd.arg("-b")
        .arg(&file)
        .arg(format!("{TEST_USER}@127.0.0.1"));
    session(kind, server, tracer, &mut cmd)
}

pub fn sftp_put_get_rename_rm_mkdir_are_reported(kind: Kind) {
    if !root_or_skip("sftp_put_get_rename_rm_mkdir_are_reported") {
        return;
    }
    let server = Server::of(kind, "sftp").unwrap();
    let d = Dirs::new(kind, "sftp");
    let (local, back) = (d.local.join("a.bin"), d.local.join("back.bin"));
    random_file(&local, 777_777, 0o600);
    let (dir, a, b) = (
        d.remote.join("d"),
        d.remote.join("d/a.bin"),
        d.remote.join("d/b.bin"),
    );
    let batch = format!(
        "mkdir {dir}\nput {local} {a}\nget {a} {back}\nrename {a} {b}\nrm {b}\nrmdir {dir}\n",
        dir = dir.display(),
        local = local.display(),
        a = a.display(),
        back = back.display(),
        b = b.display()
    );
    let tracer = tracer(kind);
    let ev = sftp_batch(kind, &server, &tracer, &d.local, &batch);
    let t = transfers(&ev);
    let k = kind.name();
    let actions: Vec<&str> = t
        .iter()
        .filter_map(|e| e["transfer"]["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["mkdir", "upload", "download", "rename", "remove", "rmdir"],
        "[{k}] {t:?}"
    );
    let op = |i: usize, path: &Path| {
        let want = Want {
            server: "sftp-server",
            action: actions[i],
            path,
            bytes: 0,
            file: None,
            outcome: "complete",
        };
        check(kind, t[i], &want);
    };
    op(0, &dir);
    for (i, action) in [(1, "upload"), (2, "download")] {
        // The file is gone by now: its size and mode are the local copy's
        // (put keeps the mode, minus the server's umask of 022).
        let x = &t[i]["transfer"];
        assert_eq!(x["action"], action, "[{k}] {x}");
        assert_eq!(x["path"], a.display().to_string(), "[{k}] {x}");
        assert_eq!(x["bytes"], 777_777, "[{k}] {x}");
        assert_eq!(x["size"], 777_777, "[{k}] {x}");
        assert_eq!(x["mode"], "0600", "[{k}] {x}");
        assert_eq!(x["outcome"], "complete", "[{k}] {x}");
    }
    op(3, &a);
    assert_eq!(t[3]["transfer"]["target"], b.display().to_string(), "[{k}]");
    op(4, &b);
    op(5, &dir);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
    assert!(!dir.exists());
    check_schema(&tracer.stop().unwrap());
}

pub fn refused_download_is_an_error(kind: Kind) {
    if !root_or_skip("refused_download_is_an_error") {
        return;
    }
    let server = Server::of(kind, "refused").unwrap();
    let d = Dirs::new(kind, "refused");
    let tracer = tracer(kind);
    // `-` before the command: the batch goes on after the refusal.
    let batch = format!("-get /etc/shadow {}\n", d.local.join("shadow").display());
    let ev = sftp_batch(kind, &server, &tracer, &d.local, &batch);
    let t = only(kind, &ev);
    let want = Want {
        server: "sftp-server",
        action: "download",
        path: Path::new("/etc/shadow"),
        bytes: 0,
        file: None,
        outcome: "error",
    };
    check(kind, t, &want);
    assert_eq!(
        t["transfer"]["errno"],
        libc::EACCES,
        "[{}] {t}",
        kind.name()
    );
    tracer.stop().unwrap();
}

/// An upload throttled to ~1 MB/s, its client killed after a second: the
/// server exits with the file open. Its bytes are what reached the disk.
pub fn dropped_upload_is_partial(kind: Kind) {
    if !root_or_skip("dropped_upload_is_partial") {
        return;
    }
    let server = Server::of(kind, "dropped").unwrap();
    let d = Dirs::new(kind, "dropped");
    let local = d.local.join("big.bin");
    random_file(&local, 20_000_000, 0o644);
    let target = d.remote.join("big.bin");
    let tracer = tracer(kind);
    let before = server.logged_client_ports().len();
    let mut child = client("scp", &server, "-P")
        .args(["-l", "8000"])
        .arg(&local)
        .arg(remote(&target))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_until(WAIT, || {
        std::fs::metadata(&target)
            .ok()
            .filter(|m| m.len() > 100_000)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        started.is_some(),
        "[{}] the upload never started",
        kind.name()
    );
    let port = server.logged_client_ports()[before];
    assert!(tracer.wait_for(WAIT, ended(port)));
    assert!(tracer.wait_for(WAIT, |e| e["event"] == "file.transfer"
        && e["session"]["source"]["port"] == port));
    let ev = session_events(&tracer.events(), port);
    let t = only(kind, &ev);
    let on_disk = std::fs::metadata(&target).unwrap().len();
    assert!(
        on_disk < 20_000_000,
        "[{}] the upload finished",
        kind.name()
    );
    let want = Want {
        server: "sftp-server",
        action: "upload",
        path: &target,
        bytes: on_disk,
        file: Some(&target),
        outcome: "partial",
    };
    check(kind, t, &want);
    tracer.stop().unwrap();
}

/// A root-owned chroot (outside /tmp: sshd refuses chroots below
/// world-writable directories) with an `upload` directory of the test
/// user's, and the sshd configuration that makes that user's sessions
/// internal-sftp in it.
fn chroot(kind: Kind, name: &str) -> (PathBuf, String) {
    let root = PathBuf::from(format!(
        "/srv/ssh-trace-{name}-{}-{}",
        kind.name(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("upload")).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_to_user(&root.join("upload"));
    let config = format!(
        "Match User {TEST_USER}\n  ChrootDirectory {}\n  ForceCommand internal-sftp\n",
        root.display()
    );
    (root, config)
}

/// A user whose sessions are internal-sftp in a root-owned chroot (outside
/// /tmp: sshd refuses chroots below world-writable directories).
pub fn internal_sftp_chroot_paths_are_the_users(kind: Kind) {
    if !root_or_skip("internal_sftp_chroot_paths_are_the_users") {
        return;
    }
    let (root, config) = chroot(kind, "chroot");
    let server = Server::with_config(kind, "chroot", &config).unwrap();
    let d = Dirs::new(kind, "chroot");
    let (local, back) = (d.local.join("c.bin"), d.local.join("back.bin"));
    random_file(&local, 345_678, 0o644);
    let tracer = tracer(kind);
    let batch = format!(
        "put {} /upload/c.bin\nget /upload/c.bin {}\n",
        local.display(),
        back.display()
    );
    let ev = sftp_batch(kind, &server, &tracer, &d.local, &batch);
    let t = transfers(&ev);
    let k = kind.name();
    assert_eq!(t.len(), 2, "[{k}] {t:?}");
    let on_host = root.join("upload/c.bin");
    for (x, action) in t.iter().zip(["upload", "download"]) {
        let want = Want {
            server: "internal-sftp",
            action,
            path: Path::new("/upload/c.bin"),
            bytes: 345_678,
            file: Some(&on_host),
            outcome: "complete",
        };
        check(kind, x, &want);
        assert_eq!(
            x["transfer"]["chroot"],
            root.display().to_string(),
            "[{k}] {x}"
        );
    }
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
    check_schema(&tracer.stop().unwrap());
    let _ = std::fs::remove_dir_all(&root);
}

/// A session that reads and writes files with other programs: no
/// file.transfer (only the transfer servers are watched).
pub fn a_session_without_transfers_has_none(kind: Kind) {
    if !root_or_skip("a_session_without_transfers_has_none") {
        return;
    }
    let server = Server::of(kind, "none").unwrap();
    let d = Dirs::new(kind, "none");
    let tracer = tracer(kind);
    let f = d.remote.join("f");
    let run = ssh(
        &server,
        &[],
        &format!("echo $SSH_CONNECTION; head -c 100000 /dev/urandom > {f}; cat {f} > /dev/null; mv {f} {f}.2; rm {f}.2", f = f.display()),
    )
    .unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    assert!(tracer.wait_for(WAIT, ended(port)));
    let ev = session_events(&tracer.stop().unwrap(), port);
    assert!(transfers(&ev).is_empty(), "[{}] {ev:?}", kind.name());
    assert!(!of_kind(&ev, "process.exec").is_empty());
}

/// Two uploads, one over the rule's limit: one alert.transfer_bytes with
/// that file's bytes and path; the metrics count both files' bytes; the
/// capture written meanwhile gives `report transfers` the same figures.
pub fn a_large_upload_alerts_counts_and_is_reported(kind: Kind) {
    if !root_or_skip("a_large_upload_alerts_counts_and_is_reported") {
        return;
    }
    let server = Server::of(kind, "alert").unwrap();
    let d = Dirs::new(kind, "alert");
    let rules = d.local.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\ntype = \"transfer_bytes\"\nmax = 1000000\n",
    )
    .unwrap();
    let capture = d.local.join("capture.cap");
    let metrics = format!("127.0.0.1:{}", free_port().unwrap());
    let mut args = kind.agent_args();
    args.extend(["--no-sessions-socket", "--alerts", rules.to_str().unwrap()].map(String::from));
    args.extend(
        [
            "--metrics-listen",
            &metrics,
            "-w",
            capture.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args).unwrap();
    let mut sent = Vec::new();
    for (name, size) in [("big.bin", 1_234_567), ("small.bin", 500_000)] {
        let (local, target) = (d.local.join(name), d.remote.join(name));
        random_file(&local, size, 0o644);
        let mut cmd = client("scp", &server, "-P");
        cmd.arg(&local).arg(remote(&target));
        let ev = session(kind, &server, &tracer, &mut cmd);
        sent.push((only(kind, &ev).clone(), target));
    }
    let scraped = ureq::get(&format!("http://{metrics}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let all = tracer.stop().unwrap();
    let k = kind.name();
    let fired = of_kind(&all, "alert.transfer_bytes");
    assert_eq!(fired.len(), 1, "[{k}] {fired:?}");
    let e = &fired[0]["alert"]["evidence"];
    assert_eq!(e["count"], 1_234_567, "[{k}] {e}");
    assert_eq!(e["limit"], 1_000_000, "[{k}] {e}");
    assert_eq!(e["path"], sent[0].1.display().to_string(), "[{k}] {e}");
    assert_eq!(e["pid"], sent[0].0["process"]["pid"], "[{k}] {e}");
    let series = format!(
        "ssh_trace_transfer_bytes_total{{user=\"{TEST_USER}\",server=\"sftp-server\",action=\"upload\"}} 1734567"
    );
    assert!(
        scraped.contains(&series),
        "[{k}] {series} not in:\n{scraped}"
    );
    let out = Command::new(agent_bin())
        .args([
            "report",
            "-r",
            capture.to_str().unwrap(),
            "--json",
            "transfers",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["transfers"].as_array().unwrap();
    let ours: Vec<&Value> = rows
        .iter()
        .filter(|r| sent.iter().any(|(t, _)| t["session"]["id"] == r["session"]))
        .collect();
    assert_eq!(ours.len(), 2, "[{k}] {report}");
    for (row, (live, target)) in ours.iter().zip(&sent) {
        assert_eq!(row["transfer"], live["transfer"], "[{k}] report vs live");
        assert_eq!(row["host_path"], target.display().to_string());
    }
}

const RUNNING_SIZE: u64 = 6_000_000;

/// Starts `cmd`, a download of RUNNING_SIZE bytes into `local` limited to
/// 4000 kbit/s (about twelve seconds; the agent starts in one or two),
/// starts the agent once the file is coming in, and returns the session's
/// one file.transfer after the download ended.
fn transfer_running_at_start(
    kind: Kind,
    server: &Server,
    cmd: &mut Command,
    local: &Path,
) -> Value {
    let before = server.logged_client_ports().len();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let k = kind.name();
    let started = wait_until(WAIT, || {
        std::fs::metadata(local).ok().filter(|m| m.len() > 200_000)
    });
    if started.is_none() {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("[{k}] the download never started: {out:?}");
    }
    let tracer = tracer(kind);
    let unfinished = std::fs::metadata(local).unwrap().len();
    assert!(
        unfinished < RUNNING_SIZE,
        "[{k}] the download ended before the agent started"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "[{k}] {cmd:?}: {out:?}");
    // Ours is the last connection logged: the server's readiness probe may
    // be logged after `before` was counted.
    let ports = server.logged_client_ports();
    assert!(
        ports.len() > before,
        "[{k}] the server logged no connection"
    );
    let port = *ports.last().unwrap();
    let got = |e: &Value| e["event"] == "file.transfer" && e["session"]["source"]["port"] == port;
    if !tracer.wait_for(WAIT, got) {
        let err = tracer.stderr.lock().unwrap().clone();
        eprintln!("agent stderr: {err}");
        let all = tracer.stop().unwrap();
        let ours = session_events(&all, port);
        let lost: Vec<&Value> = of_kind(&all, "agent.loss");
        let found: Vec<String> = all
            .iter()
            .filter(|e| e["session"]["discovered"] == true)
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["event"], e["session"]["source"], e["process"]["args"]
                )
            })
            .collect();
        panic!(
            "[{k}] no file.transfer for port {port}: {ours:?} discovered: {found:?} lost: {lost:?}"
        );
    }
    let ev = session_events(&tracer.stop().unwrap(), port);
    let t = only(kind, &ev).clone();
    assert_eq!(t["session"]["discovered"], true, "[{k}] {t}");
    t
}

/// The file.transfer of a download found running: the whole file, late.
fn check_running(kind: Kind, t: &Value, server_name: &str, path: &Path) {
    let k = kind.name();
    let x = &t["transfer"];
    assert_eq!(x["server"], server_name, "[{k}] {x}");
    assert_eq!(x["action"], "download", "[{k}] {x}");
    assert_eq!(x["path"], path.display().to_string(), "[{k}] {x}");
    assert_eq!(x["bytes"], RUNNING_SIZE, "[{k}] {x}");
    assert_eq!(x["size"], RUNNING_SIZE, "[{k}] {x}");
    assert_eq!(x["mode"], "0640", "[{k}] {x}");
    assert_eq!(x["outcome"], "complete", "[{k}] {x}");
    assert_eq!(x["late"], true, "[{k}] {x}");
}

/// A download already under way when the agent starts: its session is
/// discovered, its transfer server (sftp-server, or `scp -f` found by its
/// argv) marked, and the file's bytes (those moved before, taken from the
/// file's position, and after) are the file's size.
fn running_at_start(kind: Kind, case: &str, extra: &[&str], server_name: &str) {
    if !root_or_skip(case) {
        return;
    }
    let server = Server::with_config(kind, case, &kind.scp_path_config()).unwrap();
    let d = Dirs::new(kind, case);
    let (source, local) = (d.remote.join("big.bin"), d.local.join("big.bin"));
    random_file(&source, RUNNING_SIZE as usize, 0o640);
    chown_to_user(&source);
    let mut cmd = client("scp", &server, "-P");
    cmd.args(extra)
        .args(["-l", "4000"])
        .arg(remote(&source))
        .arg(&local);
    let t = transfer_running_at_start(kind, &server, &mut cmd, &local);
    check_running(kind, &t, server_name, &source);
    assert_eq!(
        std::fs::read(&local).unwrap(),
        std::fs::read(&source).unwrap()
    );
}

pub fn a_transfer_running_at_start_is_counted_exactly(kind: Kind) {
    running_at_start(kind, "running", &[], "sftp-server");
}

pub fn a_legacy_scp_running_at_start_is_counted_exactly(kind: Kind) {
    running_at_start(kind, "running_legacy", &["-O"], "scp");
}

/// An internal-sftp download in a chroot under way at the start: found by
/// OpenSSH's process title, the path as the user saw it, and the chroot.
pub fn internal_sftp_running_at_start_is_counted_exactly(kind: Kind) {
    if !root_or_skip("internal_sftp_running_at_start_is_counted_exactly") {
        return;
    }
    let (root, config) = chroot(kind, "chroot-running");
    let on_host = root.join("upload/big.bin");
    random_file(&on_host, RUNNING_SIZE as usize, 0o640);
    chown_to_user(&on_host);
    let server = Server::with_config(kind, "chroot_running", &config).unwrap();
    let d = Dirs::new(kind, "chroot_running");
    let local = d.local.join("big.bin");
    let batch = d.local.join("batch");
    std::fs::write(&batch, format!("get /upload/big.bin {}\n", local.display())).unwrap();
    let mut cmd = client("sftp", &server, "-P");
    cmd.args(["-l", "4000", "-b"])
        .arg(&batch)
        .arg(format!("{TEST_USER}@127.0.0.1"));
    let t = transfer_running_at_start(kind, &server, &mut cmd, &local);
    check_running(kind, &t, "internal-sftp", Path::new("/upload/big.bin"));
    let k = kind.name();
    assert_eq!(
        t["transfer"]["chroot"],
        root.display().to_string(),
        "[{k}] {t}"
    );
    assert_eq!(
        std::fs::read(&local).unwrap(),
        std::fs::read(&on_host).unwrap()
    );
    let _ = std::fs::remove_dir_all(&root);
}
