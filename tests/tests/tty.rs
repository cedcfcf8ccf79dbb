//! Terminal recording (docs/tty.md) against a real `ssh -tt` session driven
//! under tmux: the screen `replay --tty`, `asciinema play` and `top` show
//! equals the live one, replay keeps the recorded pace (speed, idle limit),
//! a window change is replayed, a sudo password is not in the input
//! recording, a flood is bounded and its loss counted, an agent with
//! terminal programs attached stops promptly.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    path::PathBuf,
    process::Command,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Duration,
};

use serde_json::Value;
use ssh_trace_tests::{tmux::Tmux, *};

/// The attach test needs the machine without SSH sessions of this test
/// binary's other tests: they hold this shared, it exclusively.
static SESSIONS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    SESSIONS.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SESSIONS.write().unwrap_or_else(|e| e.into_inner())
}

/// The interactive client: quiet (no "Connection closed" of its own), a
/// pty forced, the login shell; the pane stays when it ends.
fn client(sshd: &Sshd, user: &str) -> String {
    format!(
        "ssh -q -tt -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o BatchMode=yes -o IdentitiesOnly=yes -i {} -p {} {user}@127.0.0.1; sleep 600",
        world().key.display(),
        sshd.port
    )
}

fn recorder(sshd: &Sshd, cap: &std::path::Path, extra: &[&str]) -> Tracer {
    let filter = format!("destination.port = {}", sshd.port);
    let mut args = vec![
        "--filter",
        &filter,
        "--no-sessions-socket",
        "-w",
        cap.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Tracer::start(&args).unwrap()
}

/// The session id of the connection from `port`.
fn session_of(events: &[Value], port: u16) -> String {
    let e = session_events(events, port);
    e.first().expect("session events")["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits for the shell's prompt, then types the client port out.
fn port_of(t: &Tmux) -> u16 {
    t.wait_screen(|s| s.contains('$')).expect("a prompt");
    t.type_line("echo port=${SSH_CONNECTION#* }");
    let s = t
        .wait_screen(|s| s.lines().any(|l| l.starts_with("port=")))
        .unwrap();
    let line = s.lines().find(|l| l.starts_with("port=")).unwrap();
    line[5..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn bin() -> String {
    agent_bin().display().to_string()
}

fn export(cap: &std::path::Path, id: &str, out: &std::path::Path, extra: &[&str]) {
    let run = Command::new(agent_bin())
        .args(["export", "asciicast", id, "-r"])
        .arg(cap)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "export of {id}: {err}");
}

/// The asciicast's events of `code`, their text joined.
fn cast_text(cast: &std::path::Path, code: &str) -> String {
    let text = std::fs::read_to_string(cast).unwrap();
    text.lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e[1] == code)
        .map(|e| e[2].as_str().unwrap().to_owned())
        .collect()
}

/// `asciinema cat` (it wants a terminal: run in one), its output.
fn asciinema_cat(cast: &std::path::Path) -> String {
    let out = cast.with_extension("cat");
    let rc = cast.with_extension("rc");
    let _ = std::fs::remove_file(&rc);
    let cmd = format!(
        "asciinema cat {} > {} 2>&1; echo $? > {}; sleep 600",
        cast.display(),
        out.display(),
        rc.display()
    );
    let _t = Tmux::start("tty-cat", 80, 24, &cmd);
    let code = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&rc).ok()
    })
    .expect("asciinema cat ends");
    let printed = std::fs::read_to_string(&out).unwrap();
    assert_eq!(code.trim(), "0", "asciinema cat: {printed}");
    printed
}

fn cap_file(name: &str) -> PathBuf {
    let p = world().dir.join(format!("{name}.cap"));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn a_replayed_terminal_shows_the_live_screen() {
    if !root_or_skip("a_replayed_terminal_shows_the_live_screen") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_screen").unwrap();
    let cap = cap_file("tty_screen");
    let tracer = recorder(&sshd, &cap, &["--tty"]);
    let live = Tmux::start("tty-live", 80, 24, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    for line in [
        r"printf '\033[1;31mred\033[0m and \033[4munderlined\033[0m\n'",
        "seq 1 3; echo done-$((6*7))",
        "exit",
    ] {
        live.type_line(line);
    }
    let want = live
        .settled(|s| s.contains("logout"))
        .expect("the session ends");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    let events = tracer.stop().unwrap();
    let id = session_of(&events, port);
    assert!(
        events.iter().all(|e| event_name(e) != "session.tty"),
        "terminal data never goes to standard output"
    );

    let cmd = format!(
        "{} replay -r {} --tty {id}; sleep 600",
        bin(),
        cap.display()
    );
    let replay = Tmux::start("tty-replay", 80, 24, &cmd);
    let got = replay.settled(|s| s.contains("logout")).unwrap();
    assert_eq!(got, want, "replay --tty shows the live screen");

    let cast = world().dir.join("tty_screen.cast");
    export(&cap, &id, &cast, &[]);
    let play = Tmux::start(
        "tty-play",
        80,
        24,
        &format!("asciinema play {}; sleep 600", cast.display()),
    );
    let got = play.settled(|s| s.contains("logout")).unwrap();
    assert_eq!(got, want, "asciinema play shows the live screen");
    let printed = asciinema_cat(&cast);
    assert_eq!(
        printed,
        cast_text(&cast, "o"),
        "asciinema cat prints every output event"
    );
    assert!(
        printed.contains("\x1b[1;31mred\x1b[0m") && printed.contains("done-42"),
        "{printed:?}"
    );
}

/// The asciicast's events in order: (code, text).
fn cast_events(cast: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(cast).unwrap();
    text.lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| {
            (
                e[1].as_str().unwrap().to_owned(),
                e[2].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_window_resize_is_replayed() {
    if !root_or_skip("a_window_resize_is_replayed") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_resize").unwrap();
    let cap = cap_file("tty_resize");
    let tracer = recorder(&sshd, &cap, &["--tty"]);
    let live = Tmux::start("tty-resize", 80, 24, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    live.type_line("echo before; stty size");
    live.wait_screen(|s| s.contains("24 80"))
        .expect("80x24 first");
    live.resize(100, 30);
    live.type_line("stty size; printf '%*s\\n' \"$(tput cols)\" '' | tr ' ' =");
    // The whole line first: an `exit` typed ahead is echoed into it.
    live.wait_screen(|s| s.contains("30 100") && s.contains(&"=".repeat(100)))
        .expect("the session sees 100x30");
    live.type_line("exit");
    let want = live
        .settled(|s| s.contains("logout"))
        .expect("the session ends");
    assert!(want.contains(&"=".repeat(100)), "{want}");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    let events = tracer.stop().unwrap();
    let id = session_of(&events, port);

    let cast = world().dir.join("tty_resize.cast");
    export(&cap, &id, &cast, &[]);
    let header: Value = serde_json::from_str(
        std::fs::read_to_string(&cast)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (header["width"].clone(), header["height"].clone()),
        (80.into(), 24.into())
    );
    let ev = cast_events(&cast);
    let at = |pred: &dyn Fn(&(String, String)) -> bool| ev.iter().position(pred).unwrap();
    let resize = at(&|e| e.0 == "r");
    assert_eq!(ev[resize].1, "100x30");
    assert!(
        at(&|e| e.1.contains("24 80")) < resize,
        "the resize comes after 80x24 output"
    );
    assert!(
        resize < at(&|e| e.1.contains("30 100")),
        "and before what it changed"
    );

    // Replayed where the window ended: the same screen, 100 wide.
    let cmd = format!(
        "{} replay -r {} --tty {id}; sleep 600",
        bin(),
        cap.display()
    );
    let replay = Tmux::start("tty-resize-replay", 100, 30, &cmd);
    let got = replay.settled(|s| s.contains("logout")).unwrap();
    assert_eq!(got, want, "replay --tty after the resize");
    let play = Tmux::start(
        "tty-resize-play",
        100,
        30,
        &format!("asciinema play {}; sleep 600", cast.display()),
    );
    let got = play.settled(|s| s.contains("logout")).unwrap();
    assert_eq!(got, want, "asciinema play after the resize");
}

/// Seconds between the cast's first output event holding `a` and its first
/// holding `b` (the recorded gap).
fn cast_gap(cast: &std::path::Path, a: &str, b: &str) -> f64 {
    let text = std::fs::read_to_string(cast).unwrap();
    let events: Vec<Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |s: &str| {
        events
            .iter()
            .find(|e| e[1] == "o" && e[2].as_str().unwrap().contains(s))
            .unwrap_or_else(|| panic!("{s} in {text}"))[0]
            .as_f64()
            .unwrap()
    };
    at(b) - at(a)
}

/// Seconds `replay --tty` (to a pipe) takes from printing `a` to printing `b`.
fn replay_gap(cap: &std::path::Path, id: &str, a: &str, b: &str, extra: &[&str]) -> f64 {
    use std::{io::Read, time::Instant};
    let mut child = Command::new(agent_bin())
        .args(["replay", "-r"])
        .arg(cap)
        .args(["--tty", id])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut seen, mut buf) = (Vec::new(), [0u8; 4096]);
    let (mut t_a, mut t_b) = (None, None);
    while t_b.is_none() {
        let n = out.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "{b:?} not played: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if t_a.is_none() && text.contains(a) {
            t_a = Some(Instant::now());
        }
        if text.contains(b) {
            t_b = Some(Instant::now());
        }
    }
    assert!(child.wait().unwrap().success());
    (t_b.unwrap() - t_a.expect("a before b")).as_secs_f64()
}

#[test]
fn replay_tty_keeps_the_recorded_pace_its_speed_factor_and_idle_limit() {
    if !root_or_skip("replay_tty_keeps_the_recorded_pace_its_speed_factor_and_idle_limit") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_pace").unwrap();
    let cap = cap_file("tty_pace");
    let tracer = recorder(&sshd, &cap, &["--tty"]);
    let live = Tmux::start("tty-pace", 80, 24, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    // The markers appear only in the output, not in the echoed command.
    live.type_line("echo $((6*7))-first; sleep 8; echo $((7*8))-second");
    live.wait_screen(|s| s.contains("56-second"))
        .expect("the pause ends");
    live.type_line("exit");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    let events = tracer.stop().unwrap();
    let id = session_of(&events, port);
    let cast = world().dir.join("tty_pace.cast");
    export(&cap, &id, &cast, &[]);
    let (a, b) = ("42-first", "56-second");
    let recorded = cast_gap(&cast, a, b);
    // The server may read the first marker late (a loaded machine): a
    // little less than the 8 s the shell slept.
    assert!(
        recorded > 7.5,
        "the kernel's timestamps hold the pause: {recorded}"
    );

    // A loaded machine only lengthens a replay's pauses, except that the
    // first marker may be read late: lower bounds keep a 20% margin, upper
    // ones several seconds.
    let real = replay_gap(&cap, &id, a, b, &[]);
    assert!(
        real >= 0.8 * recorded,
        "real pace: {real} s for {recorded} s"
    );
    let fast = replay_gap(&cap, &id, a, b, &["--speed", "4"]);
    assert!(
        fast >= 0.8 * recorded / 4.0 && fast < recorded - 3.0,
        "four times as fast: {fast} s for {recorded} s"
    );
    let cut = replay_gap(&cap, &id, a, b, &["--idle-limit", "1s"]);
    assert!(
        (0.8..recorded - 3.0).contains(&cut),
        "the pause cut to 1 s: {cut} s for {recorded} s"
    );
    let both = replay_gap(&cap, &id, a, b, &["--idle-limit", "2s", "--speed", "2"]);
    assert!(
        (0.8..recorded - 3.0).contains(&both),
        "cut to 2 s, then twice as fast: {both} s"
    );
    eprintln!("pause {recorded:.3} s; replayed {real:.3} / x4 {fast:.3} / cut 1s {cut:.3} / cut 2s x2 {both:.3}");
}

/// The user whose password sudo asks for (`targetpw`): the test user may
/// run `id` as it, with that password.
const SUDO_TARGET: &str = "sshtrace-tty";

fn sudo_target(password: &str) {
    let run = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
    if !Command::new("id")
        .arg(SUDO_TARGET)
        .output()
        .unwrap()
        .status
        .success()
    {
        run(Command::new("useradd").args(["-M", "-s", "/usr/sbin/nologin", SUDO_TARGET]));
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = chpasswd.stdin.take().unwrap();
    writeln!(stdin, "{SUDO_TARGET}:{password}").unwrap();
    drop(stdin);
    assert!(chpasswd.wait().unwrap().success());
    std::fs::write(
        "/etc/sudoers.d/ssh-trace-tty",
        format!(
            "Defaults>{SUDO_TARGET} targetpw\nDefaults:{TEST_USER} timestamp_timeout=0, lecture=never\n\
             {TEST_USER} ALL=({SUDO_TARGET}) /usr/bin/id\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_sudo_password_is_absent_from_the_input_recording() {
    if !root_or_skip("a_sudo_password_is_absent_from_the_input_recording") {
        return;
    }
    let _sessions = shared();
    let password = format!("Pw{}x{}", std::process::id(), host_nanos() % 1_000_000);
    sudo_target(&password);
    let sshd = Sshd::start("tty_sudo").unwrap();
    let cap = cap_file("tty_sudo");
    let tracer = recorder(&sshd, &cap, &["--tty-input"]);
    let live = Tmux::start("tty-sudo", 100, 30, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    live.type_line(&format!("sudo -k; sudo -u {SUDO_TARGET} id -un"));
    live.wait_screen(|s| s.contains(&format!("[sudo] password for {SUDO_TARGET}")))
        .expect("sudo asks for the password");
    live.type_line(&password);
    live.wait_screen(|s| s.lines().any(|l| l == SUDO_TARGET))
        .unwrap_or_else(|| panic!("the password was taken:\n{}", live.screen()));
    live.type_line("echo typed-after");
    live.type_line("exit");
    live.settled(|s| s.contains("logout"))
        .expect("the session ends");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    let events = tracer.stop().unwrap();
    let id = session_of(&events, port);

    let cast = world().dir.join("tty_sudo.cast");
    export(&cap, &id, &cast, &["--input"]);
    let typed = cast_text(&cast, "i");
    assert!(
        typed.contains(&format!("sudo -k; sudo -u {SUDO_TARGET} id -un\r")),
        "{typed:?}"
    );
    assert!(typed.contains("echo typed-after\r"), "{typed:?}");
    let whole = std::fs::read_to_string(&cast).unwrap();
    assert!(
        !whole.contains(&password),
        "the password is in the recording"
    );
    // What was withheld: the password and its Enter, counted, not kept.
    let withheld: u64 = cast_events(&cast)
        .iter()
        .filter(|(code, text)| code == "m" && text.contains("echo off"))
        .map(|(_, text)| {
            text.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(withheld, password.len() as u64 + 1, "{whole}");
}

fn host_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Sums of a cast's output bytes and of the bytes its markers say were lost.
fn recorded_and_lost(cast: &std::path::Path) -> (u64, u64) {
    let (mut out, mut lost) = (0, 0);
    for (code, text) in cast_events(cast) {
        match code.as_str() {
            "o" => out += text.len() as u64,
            "m" if text.contains("not recorded") => {
                lost += text
                    .split_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            }
            _ => {}
        }
    }
    (out, lost)
}

#[test]
fn a_terminal_flood_is_bounded_and_its_loss_counted_and_marked() {
    if !root_or_skip("a_terminal_flood_is_bounded_and_its_loss_counted_and_marked") {
        return;
    }
    let _sessions = shared();
    // 100 MB of text lines (ASCII: asciicast text lengths are byte counts).
    let big = world().dir.join("flood.txt");
    let line = "0123456789 the quick brown fox jumps over the lazy dog 0123456789\n";
    let text = line.repeat(100_000_000 / line.len());
    std::fs::write(&big, &text).unwrap();
    let perm = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(&big, perm).unwrap();
    let sshd = Sshd::start("tty_flood").unwrap();
    let cap = cap_file("tty_flood");
    let (rate, burst) = (256u64 << 10, 1u64 << 20);
    let tracer = recorder(
        &sshd,
        &cap,
        &["--tty", "--tty-rate", "256KiB", "--tty-burst", "1MiB"],
    );
    let started = std::time::Instant::now();
    let out = ssh_base(&sshd, &world().key)
        .arg("-q")
        .arg("-tt")
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(format!("echo $SSH_CONNECTION; cat {}", big.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let shown = out.stdout.len() as u64;
    let port = String::from_utf8_lossy(&out.stdout[..200])
        .lines()
        .find_map(connection_port)
        .expect("the client port");
    assert!(shown > text.len() as u64, "the pty's CRs are shown too");
    if !tracer.wait_for(Duration::from_secs(30), ended(port)) {
        let names: Vec<String> = tracer
            .events()
            .iter()
            .map(|e| format!("{} {}", event_name(e), e["session"]["source"]))
            .collect();
        panic!(
            "no end for {port} (took {took:?}, {shown} shown): {names:?} {}",
            tracer.stderr.lock().unwrap()
        );
    }
    // The last loss is reported within a second.
    std::thread::sleep(Duration::from_millis(1500));
    let events = tracer.stop().unwrap();
    let id = session_of(&events, port);
    let cast = world().dir.join("tty_flood.cast");
    export(&cap, &id, &cast, &[]);
    let (recorded, lost) = recorded_and_lost(&cast);
    assert_eq!(
        recorded + lost,
        shown,
        "every byte the terminal showed is recorded or counted lost"
    );
    let bound = burst + rate * (took.as_secs() + 2);
    assert!(
        recorded <= bound,
        "{recorded} bytes recorded in {took:?}: over the rate limit"
    );
    assert!(lost > 90_000_000, "{lost}");
    let reported: u64 = of_kind(&events, "agent.loss")
        .iter()
        .map(|e| e["loss"]["tty_bytes"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(reported, lost, "agent.loss counts what the recording marks");
    let named = loss_share(&events, &id.as_str().into(), "tty_bytes");
    assert_eq!(named, lost, "agent.loss names the session with its share");
    let stop = one(&events, "agent.stop");
    assert_eq!(stop["totals"]["lost"]["tty_bytes"].as_u64(), Some(lost));
}

/// Terminal programs process `pid` holds attached: its BPF link file
/// descriptors (fdinfo names the program) whose program is a tty_* one.
fn tty_links(pid: u32) -> usize {
    let out = Command::new("bpftool")
        .args(["prog", "show", "-j"])
        .output()
        .expect("bpftool (cargo xtask setup installs it)");
    let progs: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let tty: Vec<u64> = progs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"].as_str().is_some_and(|n| n.starts_with("tty_")))
        .filter_map(|p| p["id"].as_u64())
        .collect();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).unwrap();
    fds.flatten()
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .filter(|info| info.contains("link_id:"))
        .filter_map(|info| {
            let line = info.lines().find(|l| l.starts_with("prog_id:"))?;
            line[8..].trim().parse::<u64>().ok()
        })
        .filter(|id| tty.contains(id))
        .count()
}

#[test]
fn terminal_programs_are_attached_only_while_a_session_is_open() {
    if !root_or_skip("terminal_programs_are_attached_only_while_a_session_is_open") {
        return;
    }
    let _sessions = exclusive();
    let sshd = Sshd::start("tty_attach").unwrap();
    let cap = cap_file("tty_attach");
    let tracer = recorder(&sshd, &cap, &["--tty", "--tty-detach-after", "0s"]);
    // Other agents of this test binary may be running: count our own.
    assert_eq!(tty_links(tracer.pid()), 0, "no session: nothing attached");
    let live = Tmux::start("tty-attach", 80, 24, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    let attached = wait_until(Duration::from_secs(15), || {
        Some(tty_links(tracer.pid())).filter(|&n| n > 0)
    });
    assert_eq!(
        attached,
        Some(2),
        "read enter and exit, while the session is open"
    );
    live.type_line("exit");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    let gone = wait_until(Duration::from_secs(15), || {
        Some(tty_links(tracer.pid())).filter(|&n| n == 0)
    });
    assert_eq!(gone, Some(0), "detached when the last session ended");
    tracer.stop().unwrap();
}

#[test]
fn an_agent_recording_an_open_session_stops_promptly() {
    if !root_or_skip("an_agent_recording_an_open_session_stops_promptly") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_stop").unwrap();
    let cap = cap_file("tty_stop");
    let tracer = recorder(&sshd, &cap, &["--tty-input"]);
    let live = Tmux::start("tty-stop", 80, 24, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    let pid = tracer.pid();
    let attached = wait_until(Duration::from_secs(15), || {
        Some(tty_links(pid)).filter(|&n| n > 0)
    });
    assert!(attached.is_some(), "terminal programs attached");
    let (events, output_ended, exited) = tracer.stop_timed().unwrap();
    eprintln!(
        "SIGTERM with {attached:?} terminal links attached: output ended after \
         {output_ended:?}, exited after {exited:?}"
    );
    let stops = events.iter().filter(|e| event_name(e) == "agent.stop");
    assert_eq!(stops.count(), 1, "agent.stop written");
    // Detaching (the terminal programs' links too) comes after stdout is
    // closed; the bound leaves room for a loaded machine.
    assert!(
        output_ended < Duration::from_secs(3),
        "SIGTERM took {output_ended:?}"
    );
    // The capture is whole: the session's terminal up to the stop.
    let id = session_of(&events, port);
    let cast = world().dir.join("tty_stop.cast");
    export(&cap, &id, &cast, &["--input"]);
    assert!(cast_text(&cast, "o").contains(&format!("port={port}")));
    assert!(cast_text(&cast, "i").contains("echo port="));
}

/// The agent's live screen of session `id` (the session socket's `screen`).
fn socket_screen(sock: &std::path::Path, id: &str) -> Value {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    writeln!(s, "screen {id}").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

/// Screen text without trailing blanks and blank last rows.
fn trimmed(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    let n = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines[..n].join("\n")
}

/// Waits until the agent's screen of `id` is the live pane's (`cols`
/// wide) once that shows `what`; returns the screen text.
fn agent_screen_is_live(
    sock: &std::path::Path,
    id: &str,
    live: &Tmux,
    what: &str,
    cols: u16,
) -> String {
    live.settled(|s| s.contains(what))
        .expect("the live screen settles");
    let want = trimmed(&live.screen());
    let got = wait_until(Duration::from_secs(15), || {
        let s = socket_screen(sock, id);
        Some(s).filter(|s| s["cols"] == cols && trimmed(s["text"].as_str().unwrap_or("")) == want)
    });
    assert!(
        got.is_some(),
        "agent's screen {:?} != live {want:?}",
        socket_screen(sock, id)
    );
    want
}

#[test]
fn top_shows_a_recorded_sessions_live_screen() {
    if !root_or_skip("top_shows_a_recorded_sessions_live_screen") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_top").unwrap();
    let sock = world().dir.join("tty_top.sock");
    let filter = format!("destination.port = {}", sshd.port);
    let args = [
        "--filter",
        &filter,
        "--sessions-socket",
        sock.to_str().unwrap(),
        "--tty",
    ];
    let tracer = Tracer::start(&args).unwrap();
    let live = Tmux::start("tty-top-live", 80, 24, &client(&sshd, TEST_USER));
    let port = port_of(&live);
    live.type_line(r"printf 'top sees \033[7mthis\033[0m\n'; seq 1 4");
    live.wait_screen(|s| s.contains("\n4\n")).expect("output");
    let id = wait_until(Duration::from_secs(15), || {
        tracer
            .events()
            .iter()
            .find(|e| e["session"]["source"]["port"] == port)
            .map(|e| e["session"]["id"].as_str().unwrap().to_owned())
    })
    .unwrap();
    // The agent's copy of the screen is the live one (once caught up).
    agent_screen_is_live(&sock, &id, &live, "\n4\n", 80);
    // After a resize too.
    live.resize(100, 30);
    live.type_line("stty size");
    live.wait_screen(|s| s.contains("30 100")).unwrap();
    let want = agent_screen_is_live(&sock, &id, &live, "30 100", 100);

    let top = format!("{} top --socket {}", bin(), sock.display());
    let t = Tmux::start("tty-top", 140, 50, &top);
    t.wait_screen(|s| s.contains(&format!("127.0.0.1:{port}")))
        .expect("the session row");
    t.cmd(&["send-keys", "-t", &t.0, "s"]);
    let shown = t
        .wait_screen(|s| {
            s.contains("screen of") && s.contains("top sees this") && s.contains("30 100")
        })
        .unwrap_or_else(|| panic!("no live screen in top:\n{}", t.screen()));
    for line in want.lines().filter(|l| !l.is_empty()) {
        assert!(
            shown.contains(line),
            "top's screen lacks {line:?}:\n{shown}"
        );
    }
    live.type_line("exit");
    assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
    tracer.stop().unwrap();
}

#[test]
fn only_the_selected_users_terminals_are_recorded() {
    if !root_or_skip("only_the_selected_users_terminals_are_recorded") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_select").unwrap();
    let session = |cap: &std::path::Path, who: &[&str]| {
        let mut args = vec!["--tty"];
        args.extend_from_slice(who);
        let tracer = recorder(&sshd, cap, &args);
        let out = ssh(
            &sshd,
            &["-tt"],
            "echo $SSH_CONNECTION; echo selected-or-not",
        )
        .unwrap();
        let port = out.client_port.unwrap();
        assert!(tracer.wait_for(Duration::from_secs(15), ended(port)));
        let id = session_of(&tracer.stop().unwrap(), port);
        Command::new(agent_bin())
            .args(["export", "asciicast", &id, "-r"])
            .arg(cap)
            .output()
            .unwrap()
    };
    let not = session(&cap_file("tty_select_not"), &["--tty-user", "root"]);
    assert!(
        !not.status.success(),
        "root's only: nothing of the test user's"
    );
    assert!(
        String::from_utf8_lossy(&not.stderr).contains("no terminal recording"),
        "{not:?}"
    );
    let group = session(&cap_file("tty_select_group"), &["--tty-group", TEST_USER]);
    assert!(group.status.success(), "{group:?}");
    assert!(String::from_utf8_lossy(&group.stdout).contains("selected-or-not"));
}

/// [tty] with input, a [capture] file, a file sink asking for terminal data
/// and one not.
fn agent_config(
    sshd: &Sshd,
    dir: &std::path::Path,
    cap: &std::path::Path,
    with: &std::path::Path,
    without: &std::path::Path,
) -> PathBuf {
    let filter = format!("destination.port = {}", sshd.port);
    let cfg = dir.join("agent.toml");
    let sink = |name: &str, path: &std::path::Path| {
        format!(
            "[[sink]]\nname = \"{name}\"\ntype = \"file\"\npath = \"{}\"\nfilter = \"{filter}\"\n",
            path.display()
        )
    };
    let text = format!(
        "[agent]\nsessions_socket = \"{}\"\n[tty]\ninput = true\n[capture]\npath = \"{}\"\n{}tty = true\n{}",
        dir.join("s.sock").display(),
        cap.display(),
        sink("with", with),
        sink("without", without),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// `ssh-trace agent --config` with [tty] and [capture]: the recording is in
/// the capture file and in the sink that asked for it (`tty = true`), never
/// in the one that did not.
#[test]
fn agent_mode_records_terminals_only_for_the_sinks_that_ask() {
    if !root_or_skip("agent_mode_records_terminals_only_for_the_sinks_that_ask") {
        return;
    }
    let _sessions = shared();
    let sshd = Sshd::start("tty_agent").unwrap();
    let dir = world().dir.join("tty_agent");
    std::fs::create_dir_all(&dir).unwrap();
    let (with, without, cap) = (
        dir.join("with.json"),
        dir.join("without.json"),
        dir.join("all.cap"),
    );
    for f in [&with, &without, &cap] {
        let _ = std::fs::remove_file(f);
    }
    let cfg = agent_config(&sshd, &dir, &cap, &with, &without);
    let mut agent = Command::new(agent_bin())
        .args(["agent", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = |p: &std::path::Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_until(Duration::from_secs(30), || {
        lines(&without)
            .iter()
            .any(|e| event_name(e) == "agent.start")
            .then_some(())
    })
    .expect("the agent starts");
    let run = ssh(
        &sshd,
        &["-tt"],
        "echo $SSH_CONNECTION; echo agent-mode-screen",
    )
    .unwrap();
    let port = run.client_port.unwrap();
    wait_until(Duration::from_secs(30), || {
        lines(&without).iter().any(ended(port)).then_some(())
    })
    .expect("the session ends");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    assert!(agent.wait().unwrap().success());

    let tty_of = |p: &std::path::Path| -> Vec<Value> {
        let all = lines(p);
        session_events(&all, port)
            .into_iter()
            .filter(|e| event_name(e) == "session.tty")
            .collect()
    };
    let sent = tty_of(&with);
    assert!(
        sent.iter().any(|e| e["tty"]["type"] == "output"
            && e["tty"]["data"]
                .as_str()
                .is_some_and(|d| d.contains("agent-mode-screen"))),
        "{sent:?}"
    );
    assert!(
        tty_of(&without).is_empty(),
        "a sink that did not ask gets no terminal data"
    );
    let id = session_of(&lines(&without), port);
    let cast = dir.join("all.cast");
    export(&cap, &id, &cast, &[]);
    assert!(cast_text(&cast, "o").contains("agent-mode-screen"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cap).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&cast).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Output and input of every SSH server the project runs: the programs
/// know each server's process by its lineage, not by name.
#[test]
fn every_server_kinds_terminal_is_recorded() {
    if !root_or_skip("every_server_kinds_terminal_is_recorded") {
        return;
    }
    let _sessions = shared();
    for kind in Kind::ALL {
        let server = Server::of(kind, "tty_kinds").unwrap();
        let cap = cap_file(&format!("tty_kind_{}", kind.name()));
        let mut args = vec!["--tty-input".to_string()];
        args.extend(kind.agent_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let tracer = recorder(&server, &cap, &args);
        let name = format!("tty-kind-{}", kind.name());
        let live = Tmux::start(&name, 80, 24, &client(&server, TEST_USER));
        let port = port_of(&live);
        live.type_line("echo kind-$((40+2))");
        live.wait_screen(|s| s.contains("kind-42")).expect("output");
        live.type_line("exit");
        if !tracer.wait_for(Duration::from_secs(15), ended(port)) {
            let names: Vec<String> = tracer
                .events()
                .iter()
                .map(|e| format!("{} {}", event_name(e), e["session"]["source"]["port"]))
                .collect();
            panic!(
                "{kind:?} {port}: {names:?}\n{}\n{}",
                live.screen(),
                tracer.stderr.lock().unwrap()
            );
        }
        let id = session_of(&tracer.stop().unwrap(), port);
        let cast = cap.with_extension("cast");
        export(&cap, &id, &cast, &["--input"]);
        assert!(cast_text(&cast, "o").contains("kind-42"), "{kind:?} output");
        assert!(
            cast_text(&cast, "i").contains("echo kind-$((40+2))"),
            "{kind:?} input"
        );
    }
}
