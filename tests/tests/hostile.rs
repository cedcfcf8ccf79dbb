//! A hostile user on the box: tricks that used to hide a session's
//! processes, fake or blind the server listeners. Each test is named after
//! what it proves; all run a real sshd and the real agent (root).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::time::Duration;

use serde_json::Value;
use ssh_trace_tests::*;

const WAIT: Duration = Duration::from_secs(20);

fn ended(port: u16) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port
}

/// Runs `cmd` in a session and returns that session's events.
fn session_of(name: &str, cmd: &str) -> Vec<Value> {
    let sshd = Sshd::start(name).unwrap();
    let tracer = Tracer::start(&[]).unwrap();
    let run = ssh(&sshd, &[], &format!("echo $SSH_CONNECTION; {cmd}")).unwrap();
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    let port = run.client_port.expect("SSH_CONNECTION printed");
    assert!(
        tracer.wait_for(WAIT, ended(port)),
        "no session.end for {port}"
    );
    let all = tracer.stop().unwrap();
    session_events(&all, port)
}

fn execs_with_args<'a>(ev: &'a [Value], args: &[&str]) -> Vec<&'a Value> {
    of_kind(ev, "process.exec")
        .into_iter()
        .filter(|e| args_of(e) == args)
        .collect()
}

/// The pid of the python process that ran `marker` (its exec record).
fn python_pid(ev: &[Value], marker: &str) -> u64 {
    of_kind(ev, "process.exec")
        .into_iter()
        .find(|e| {
            let a = args_of(e);
            a.first().is_some_and(|p| p == "python3") && a.iter().any(|a| a.contains(marker))
        })
        .and_then(|e| e["process"]["pid"].as_u64())
        .expect("python's exec")
}

#[test]
fn exec_from_a_thread_is_reported_and_tracking_continues() {
    if !root_or_skip("exec_from_a_thread_is_reported_and_tracking_continues") {
        return;
    }
    let py = "import threading,os,time\n\
              t=threading.Thread(target=lambda: os.execv('/bin/echo',['echo','from-thread']))\n\
              t.start(); time.sleep(5) # thread-exec-marker";
    let ev = session_of(
        "threadexec",
        &format!("python3 -c \"{py}\"; /bin/echo after-thread"),
    );
    let pid = python_pid(&ev, "thread-exec-marker");
    let echo = execs_with_args(&ev, &["echo", "from-thread"]);
    assert_eq!(echo.len(), 1, "the thread's exec is reported once");
    // de_thread() gives the exec'ing thread the process id.
    assert_eq!(echo[0]["process"]["pid"], pid);
    let exits: Vec<&Value> = of_kind(&ev, "process.exit")
        .into_iter()
        .filter(|e| e["process"]["pid"] == pid)
        .collect();
    assert_eq!(exits.len(), 1, "one exit, after echo ran: {exits:?}");
    assert_eq!(exits[0]["process"]["exit_code"], 0);
    assert_eq!(
        execs_with_args(&ev, &["/bin/echo", "after-thread"]).len(),
        1
    );
}

#[test]
fn leader_exiting_alone_keeps_its_threads_tracked() {
    if !root_or_skip("leader_exiting_alone_keeps_its_threads_tracked") {
        return;
    }
    // The main thread calls SYS_exit (60) alone; a thread then forks a
    // child that execs, and exits the group with status 7.
    let py = "import threading,os,time,ctypes\n\
              def work():\n    time.sleep(0.5)\n    p=os.fork()\n    \
              if p==0: os.execv('/bin/echo',['echo','forked-after-leader-exit'])\n    \
              os.waitpid(p,0); os._exit(7)\n\
              threading.Thread(target=work).start()\n\
              ctypes.CDLL(None).syscall(60,0) # leader-exit-marker";
    let ev = session_of(
        "leaderexit",
        &format!("python3 -c \"{py}\"; /bin/echo after-leader"),
    );
    let pid = python_pid(&ev, "leader-exit-marker");
    let echo = execs_with_args(&ev, &["echo", "forked-after-leader-exit"]);
    assert_eq!(echo.len(), 1, "the thread's child is reported");
    assert_eq!(echo[0]["process"]["ppid"], pid);
    let exits: Vec<&Value> = of_kind(&ev, "process.exit")
        .into_iter()
        .filter(|e| e["process"]["pid"] == pid)
        .collect();
    assert_eq!(
        exits.len(),
        1,
        "the process exits once, with its group: {exits:?}"
    );
    assert_eq!(exits[0]["process"]["exit_code"], 7);
    assert_eq!(
        execs_with_args(&ev, &["/bin/echo", "after-leader"]).len(),
        1
    );
}

#[test]
fn exec_from_a_thread_after_the_leader_exited_is_reported() {
    if !root_or_skip("exec_from_a_thread_after_the_leader_exited_is_reported") {
        return;
    }
    let py = "import threading,os,time,ctypes\n\
              def work():\n    time.sleep(0.5)\n    os.execv('/bin/echo',['echo','exec-after-leader-exit'])\n\
              threading.Thread(target=work).start()\n\
              ctypes.CDLL(None).syscall(60,0) # leader-gone-marker";
    let ev = session_of(
        "leadergone",
        &format!("python3 -c \"{py}\"; /bin/echo after-exec"),
    );
    let pid = python_pid(&ev, "leader-gone-marker");
    let echo = execs_with_args(&ev, &["echo", "exec-after-leader-exit"]);
    assert_eq!(echo.len(), 1, "the exec is reported");
    assert_eq!(echo[0]["process"]["pid"], pid);
    let exits: Vec<&Value> = of_kind(&ev, "process.exit")
        .into_iter()
        .filter(|e| e["process"]["pid"] == pid)
        .collect();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(exits[0]["process"]["exit_code"], 0);
    assert_eq!(execs_with_args(&ev, &["/bin/echo", "after-exec"]).len(), 1);
}

/// Builds a shared object whose constructor forks `n` idle children
/// (an LD_PRELOAD a user could put under the real server binary).
fn fork_flood_preload(n: usize) -> std::path::PathBuf {
    let dir = world().dir.join("flood");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("flood.c");
    std::fs::write(
        &src,
        format!(
            "#include <unistd.h>\n#include <stdlib.h>\n\
             __attribute__((constructor)) static void flood(void) {{\n\
               if (!getenv(\"FLOOD\")) return;\n\
               for (int i = 0; i < {n}; i++) if (fork() == 0) {{ pause(); _exit(0); }}\n\
               pause();\n}}\n"
        ),
    )
    .unwrap();
    let so = dir.join("flood.so");
    let ok = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cc failed");
    use std::os::unix::fs::PermissionsExt;
    for p in [&dir, &so] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    so
}

/// Kills, when dropped, every process that carries `FLOOD=<tag>` in its
/// environment (runuser puts the flood in a process group of its own).
struct Flood(String);

impl Drop for Flood {
    fn drop(&mut self) {
        let mark = format!("FLOOD={}", self.0);
        for _ in 0..3 {
            for pid in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = pid.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                if env.split(|&b| b == 0).any(|v| v == mark.as_bytes()) {
                    // SAFETY: signalling a process of this test's flood.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

#[test]
fn a_users_flood_of_server_copies_does_not_blind_the_real_server() {
    if !root_or_skip("a_users_flood_of_server_copies_does_not_blind_the_real_server") {
        return;
    }
    let tracer = Tracer::start(&[]).unwrap();
    let so = fork_flood_preload(1100);
    // The real server binary, run by the test user with the preload: every
    // fork is a copy of a server process, 1,101 of them.
    let tag = std::process::id().to_string();
    let _flood = Flood(tag.clone());
    let mut flood = std::process::Command::new("runuser")
        .args(["-u", TEST_USER, "--", "env", &format!("FLOOD={tag}")])
        .arg(format!("LD_PRELOAD={}", so.display()))
        .args(["/usr/sbin/sshd", "-D", "-f", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while count_procs(TEST_USER, "sshd") < 1101 {
        assert!(
            std::time::Instant::now() < deadline,
            "the flood did not start"
        );
        assert!(flood.try_wait().unwrap().is_none(), "the flood ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A real server started afterwards is seen, and its login traced.
    let sshd = Sshd::start("afterflood").unwrap();
    let run = ssh(
        &sshd,
        &[],
        "echo $SSH_CONNECTION; /bin/echo seen-after-flood",
    )
    .unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    let ended = |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port;
    assert!(
        tracer.wait_for(WAIT, ended),
        "the real server's session was not seen"
    );
    let lost = |e: &Value| {
        e["event"] == "agent.loss"
            && e["total"]["kernel_listeners_full"].as_u64().unwrap_or(0) >= 77
    };
    assert!(
        tracer.wait_for(WAIT, lost),
        "the user listeners over the quota (1,101 − 1,024) were not counted as lost"
    );
    drop(_flood);
    let _ = flood.wait();
    let all = tracer.stop().unwrap();
    let ev = session_events(&all, port);
    assert_eq!(of_kind(&ev, "session.login").len(), 1);
    assert_eq!(
        execs_with_args(&ev, &["/bin/echo", "seen-after-flood"]).len(),
        1
    );
}

/// Processes of `user` whose command name is `comm`.
fn count_procs(user: &str, comm: &str) -> usize {
    let out = std::process::Command::new("pgrep")
        .args(["-c", "-u", user, "-x", comm])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn a_full_process_table_is_counted_and_names_the_session_it_hid() {
    if !root_or_skip("a_full_process_table_is_counted_and_names_the_session_it_hid") {
        return;
    }
    // 64 entries: the listeners and a session's first processes fit, a
    // hundred sleeping children do not.
    let sshd = Sshd::start("procsfull").unwrap();
    let tracer = Tracer::start(&["--procs-max", "64"]).unwrap();
    let run = ssh(
        &sshd,
        &[],
        "echo $SSH_CONNECTION; for i in $(seq 1 100); do sleep 3 & done; wait",
    )
    .unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    let ended = |e: &Value| e["event"] == "session.end" && e["session"]["source"]["port"] == port;
    assert!(tracer.wait_for(WAIT, ended));
    let lost = |e: &Value| {
        e["event"] == "agent.loss" && e["total"]["kernel_tracked_full"].as_u64().unwrap_or(0) > 0
    };
    assert!(
        tracer.wait_for(WAIT, lost),
        "a full process table was not counted"
    );
    let all = tracer.stop().unwrap();
    let sleeps = of_kind(&session_events(&all, port), "process.exec")
        .into_iter()
        .filter(|e| args_of(e) == ["sleep", "3"])
        .count();
    assert!(
        sleeps < 100,
        "all sleeps were tracked: the table was not full"
    );
    let id = &session_events(&all, port)[0]["session"]["id"];
    // The loss names the session whose processes went untracked.
    let named = loss_share(&all, id, "untracked");
    assert!(named > 0, "the loss does not name the session {id}");
}

/// `session_of` with the `fileless_exec` alert rule on: the session's events
/// and the alerts naming it.
fn session_with_fileless_rule(name: &str, cmd: &str) -> (Vec<Value>, Vec<Value>, SshRun) {
    let dir = world().dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    let state = dir.join("state.json");
    std::fs::write(
        &rules,
        format!(
            "state_file = \"{}\"\n[[rule]]\ntype = \"fileless_exec\"\nseverity = \"critical\"\n",
            state.display()
        ),
    )
    .unwrap();
    let sshd = Sshd::start(name).unwrap();
    let tracer = Tracer::start(&["--alerts", rules.to_str().unwrap()]).unwrap();
    let run = ssh(&sshd, &[], &format!("echo $SSH_CONNECTION; {cmd}")).unwrap();
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    let port = run.client_port.expect("SSH_CONNECTION printed");
    assert!(
        tracer.wait_for(WAIT, ended(port)),
        "no session.end for {port}"
    );
    let all = tracer.stop().unwrap();
    let ev = session_events(&all, port);
    let alerts = ev
        .iter()
        .filter(|e| e["event"] == "alert.fileless_exec")
        .cloned()
        .collect();
    (ev, alerts, run)
}

/// The alert names the exec: its pid, what ran, the session's user.
fn assert_alert_names(alerts: &[Value], exec: &Value) {
    assert_eq!(alerts.len(), 1, "one alert per fileless exec: {alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["session"]["id"], exec["session"]["id"]);
    assert_eq!(a["alert"]["severity"], "critical");
    assert_eq!(a["alert"]["evidence"]["pid"], exec["process"]["pid"]);
    assert_eq!(
        a["alert"]["evidence"]["executable"],
        exec["process"]["executable"]
    );
    assert_eq!(a["alert"]["evidence"]["user"], TEST_USER);
}

#[test]
fn a_program_run_from_memory_is_named_by_its_memfd_and_alerted() {
    if !root_or_skip("a_program_run_from_memory_is_named_by_its_memfd_and_alerted") {
        return;
    }
    // memfd_create + fexecve (glibc: execveat(fd, "", AT_EMPTY_PATH)).
    let py = "import os\n\
              fd=os.memfd_create('payload')\n\
              os.write(fd, open('/bin/echo','rb').read())\n\
              os.execve(fd, ['payload','from-memory'], {})";
    let (ev, alerts, run) =
        session_with_fileless_rule("memfdexec", &format!("python3 -c \"{py}\""));
    assert!(run.stdout.contains("from-memory"), "{}", run.stdout);
    let exec = execs_with_args(&ev, &["payload", "from-memory"]);
    assert_eq!(exec.len(), 1, "the memfd program's exec");
    assert_eq!(exec[0]["process"]["executable"], "memfd:payload");
    assert_eq!(exec[0]["process"]["fileless"], true);
    assert_eq!(exec[0]["process"]["role"], "user");
    // Programs with files are not fileless, and raise nothing.
    let python = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| args_of(e).first().is_some_and(|a| a == "python3"))
        .expect("python's exec");
    assert_eq!(python["process"]["fileless"], false);
    assert_alert_names(&alerts, exec[0]);
}

#[test]
fn a_deleted_program_run_through_its_descriptor_is_named_by_its_file() {
    if !root_or_skip("a_deleted_program_run_through_its_descriptor_is_named_by_its_file") {
        return;
    }
    let cmd = "f=$(mktemp /tmp/st-gone.XXXXXX); cp /bin/echo $f; chmod 700 $f; \
               exec 3<$f; rm $f; echo FILE=$f; /proc/self/fd/3 from-deleted";
    let (ev, alerts, run) = session_with_fileless_rule("deletedexec", cmd);
    assert!(run.stdout.contains("from-deleted"), "{}", run.stdout);
    let file = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("FILE=/tmp/"))
        .expect("the file's name printed")
        .to_string();
    let exec = execs_with_args(&ev, &["/proc/self/fd/3", "from-deleted"]);
    assert_eq!(exec.len(), 1, "the deleted program's exec");
    assert_eq!(
        exec[0]["process"]["executable"],
        format!("{file} (deleted)")
    );
    assert_eq!(exec[0]["process"]["fileless"], true);
    assert_alert_names(&alerts, exec[0]);
}
