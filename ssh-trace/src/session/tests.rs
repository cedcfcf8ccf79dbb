//! The session state machine fed with event sequences in the shape recorded
//! from OpenSSH 9.2 on Debian 12 (listener → `sshd -R` monitor → privsep
//! child → user child → shell), as `ssh-trace tail --json` showed them.
use ssh_trace_common::event::*;

use super::*;
use crate::{
    decode::{Exec, KernelEvent},
    event::*,
    host::Clock,
};

pub(crate) const KEY: u64 = 0x0100_0000_0000_1234;
pub(crate) const USER: u32 = 1001;
const PRIVSEP: u32 = 102;

pub(crate) fn hdr(kind: EventKind, tgid: u32, t: u64) -> EventHeader {
    EventHeader {
        kind: kind as u32,
        tgid,
        ktime_ns: t * 1_000_000,
        session: KEY,
    }
}

pub(crate) fn root() -> Creds {
    Creds::default()
}

pub(crate) fn all(id: u32) -> Creds {
    Creds {
        uid: id,
        euid: id,
        suid: id,
        gid: id,
        egid: id,
        sgid: id,
    }
}

pub(crate) fn connect(t: u64) -> KernelEvent {
    let mut local = [0u8; 16];
    local[..4].copy_from_slice(&[127, 0, 0, 1]);
    KernelEvent::Connect(ConnectEvent {
        hdr: hdr(EventKind::Connect, 500, t),
        listener_tgid: 500,
        family: 2,
        local_port: 2222,
        remote_port: 39286,
        local_addr: local,
        remote_addr: local,
        sock: 0xffff_8880_0000_1000,
        ..Default::default()
    })
}

pub(crate) fn fork(parent: u32, child: u32, creds: Creds, t: u64) -> KernelEvent {
    KernelEvent::Fork(ForkEvent {
        hdr: hdr(EventKind::Fork, parent, t),
        child_tgid: child,
        _pad: 0,
        creds,
    })
}

pub(crate) fn exec(
    pid: u32,
    ppid: u32,
    creds: Creds,
    file: &str,
    args: &[&[u8]],
    t: u64,
) -> KernelEvent {
    KernelEvent::Exec(Exec {
        head: ExecHead {
            hdr: hdr(EventKind::Exec, pid, t),
            ppid,
            creds,
            ..Default::default()
        },
        executable: crate::text::escape_bytes(file.as_bytes()),
        args: crate::decode::split_args(
            &args
                .iter()
                .flat_map(|a| a.iter().copied().chain([0]))
                .collect::<Vec<u8>>(),
        ),
    })
}

pub(crate) fn cred(
    pid: u32,
    sc: CredSyscall,
    args: [u32; 3],
    ret: i64,
    old: Creds,
    new: Creds,
    t: u64,
) -> KernelEvent {
    KernelEvent::Cred(CredEvent {
        hdr: hdr(EventKind::CredChange, pid, t),
        syscall: sc as u32,
        args,
        ret,
        old,
        new,
    })
}

pub(crate) fn exit(pid: u32, code: u32, t: u64) -> KernelEvent {
    KernelEvent::Exit(ExitEvent {
        hdr: hdr(EventKind::Exit, pid, t),
        exit_code: code,
        _pad: 0,
    })
}

pub(crate) fn bytes(i: u64, o: u64, closed: bool, t: u64) -> KernelEvent {
    KernelEvent::Bytes(BytesEvent {
        hdr: hdr(EventKind::Bytes, 0, t),
        sock: 1,
        bytes_in: i,
        bytes_out: o,
        closed: closed as u32,
        _pad: 0,
    })
}

/// A transfer record as the kernel writes it, decoded: `names` are the
/// walk's (leaf first), `args` an operation's path arguments.
pub(crate) fn xfer(
    pid: u32,
    names: &[&str],
    root_at: u32,
    args: Option<(&str, Option<&str>)>,
    f: impl FnOnce(&mut XferHead),
    t: u64,
) -> KernelEvent {
    let mut path: Vec<u8> = Vec::new();
    for n in names {
        path.extend_from_slice(n.as_bytes());
        path.push(0);
    }
    let mut head = XferHead {
        hdr: hdr(EventKind::Transfer, pid, t),
        op: XFER_OP_FILE,
        server: XFER_SFTP_SERVER,
        root_at,
        path_len: path.len() as u32,
        ..Default::default()
    };
    f(&mut head);
    let mut buf = Vec::new();
    if let Some((a1, a2)) = args {
        head.flags |= XFER_FLAG_ARGS;
        head.arg1_len = a1.len() as u32;
        head.arg2_len = a2.map_or(0, |a| a.len() as u32);
        path.resize(XFER_PATH_AREA, 0);
        path.extend(a1.bytes());
        if let Some(a2) = a2 {
            path.resize(XFER_PATH_AREA + XFER_ARG_BYTES, 0);
            path.extend(a2.bytes());
        }
    }
    // SAFETY: XferHead is plain integers without padding.
    buf.extend_from_slice(unsafe {
        std::slice::from_raw_parts(
            &head as *const XferHead as *const u8,
            std::mem::size_of::<XferHead>(),
        )
    });
    buf.extend(path);
    crate::decode::decode(&buf).unwrap()
}

/// A forward record of the session's server process 601.
pub(crate) fn forward(phase: u16, how: u16, sock: u64, t: u64) -> KernelEvent {
    let mut f = ForwardEvent {
        hdr: hdr(EventKind::Forward, 601, t),
        sock,
        phase,
        how,
        family: 2,
        local_port: 41000,
        remote_port: 8080,
        ..Default::default()
    };
    f.local_addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    f.remote_addr[..4].copy_from_slice(&[10, 1, 2, 3]);
    (f.bytes_in, f.bytes_out) = (5000, 300);
    KernelEvent::Forward(Box::new(f))
}

/// A server process's log record: `text` written to `dest`.
pub(crate) fn log(pid: u32, dest: u32, text: &str, t: u64) -> KernelEvent {
    KernelEvent::Auth(crate::decode::AuthRecord {
        head: AuthHead {
            hdr: hdr(EventKind::Auth, pid, t),
            dest,
            flags: 0,
            len: text.len() as u32,
            copied: text.len() as u32,
        },
        text: text.as_bytes().to_vec(),
    })
}

pub(crate) const ACCEPTED: &str = "Accepted publickey for alice from 127.0.0.1 port 39286 ssh2: ED25519 SHA256:Q3CWul/NYDR8FMdRoB/uZHMglZ5aVTn3hYH0ZhzVXCk\r\n";

pub(crate) fn names(uid: u32) -> Option<String> {
    match uid {
        0 => Some("root".into()),
        PRIVSEP => Some("sshd".into()),
        USER => Some("alice".into()),
        65534 => Some("nobody".into()),
        _ => None,
    }
}

pub(crate) fn table() -> SessionTable {
    SessionTable::new(
        [7; 16],
        Clock::fixed(1_700_000_000_000_000_000),
        [PRIVSEP].into_iter().collect(),
        names,
    )
}

pub(crate) fn run(events: &[KernelEvent]) -> (SessionTable, Vec<Event>) {
    run_with(table(), events)
}

fn run_with(mut t: SessionTable, events: &[KernelEvent]) -> (SessionTable, Vec<Event>) {
    let mut out = Vec::new();
    for e in events {
        t.handle(e.clone(), &mut out);
    }
    (t, out)
}

/// A terminal record of the session's server process 602.
fn tty(stream: u8, flags: u8, lost: u64, data: &[u8], t: u64) -> KernelEvent {
    KernelEvent::Tty(crate::decode::Tty {
        head: TtyEvent {
            hdr: hdr(EventKind::Tty, 602, t),
            stream,
            flags,
            rows: 24,
            cols: 80,
            len: data.len() as u32,
            bytes: if flags != 0 { 8 } else { data.len() as u32 },
            lost,
            ..Default::default()
        },
        data: data.to_vec(),
    })
}

const NONE: u32 = u32::MAX;

/// Up to the monitor reading authorized_keys as the user (seteuid and back):
/// what every connection does, whether the key is right or not.
pub(crate) fn preauth() -> Vec<KernelEvent> {
    let user_e = Creds {
        euid: USER,
        egid: USER,
        ..root()
    };
    vec![
        connect(0),
        fork(500, 600, root(), 1),
        exec(
            600,
            500,
            root(),
            "/usr/sbin/sshd",
            &[b"/usr/sbin/sshd", b"-D", b"-R"],
            2,
        ),
        fork(600, 601, root(), 3),
        cred(
            601,
            CredSyscall::Setresgid,
            [65534; 3],
            0,
            root(),
            Creds {
                gid: 65534,
                egid: 65534,
                sgid: 65534,
                ..root()
            },
            4,
        ),
        cred(
            601,
            CredSyscall::Setresuid,
            [PRIVSEP; 3],
            0,
            root(),
            all(PRIVSEP),
            5,
        ),
        cred(
            601,
            CredSyscall::Setuid,
            [0, 0, 0],
            -1,
            all(PRIVSEP),
            all(PRIVSEP),
            6,
        ),
        cred(
            600,
            CredSyscall::Setresuid,
            [NONE, USER, NONE],
            0,
            root(),
            user_e,
            7,
        ),
        cred(
            600,
            CredSyscall::Setresuid,
            [NONE, 0, NONE],
            0,
            user_e,
            root(),
            8,
        ),
        exit(601, 0, 9),
    ]
}

pub(crate) fn kinds(out: &[Event]) -> Vec<&'static str> {
    out.iter().map(|e| e.kind().name()).collect()
}

#[test]
fn openssh_login_runs_a_command() {
    let mut seq = preauth();
    seq.extend([
        fork(600, 602, root(), 10),
        cred(
            602,
            CredSyscall::Setresuid,
            [USER; 3],
            0,
            root(),
            all(USER),
            11,
        ),
        fork(602, 603, all(USER), 12),
        exec(
            603,
            602,
            all(USER),
            "/bin/bash",
            &[b"bash", b"-c", b"id"],
            13,
        ),
        exec(603, 602, all(USER), "/usr/bin/id", &[b"id"], 14),
        exit(603, 0, 15),
        exit(602, 255 << 8, 16),
        exit(600, 255 << 8, 17),
        bytes(3765, 3941, true, 18),
    ]);
    let (t, out) = run(&seq);
    assert_eq!(
        kinds(&out),
        [
            "session.connect",
            "process.exec",
            "user.change",
            "user.change",
            "user.change",
            "user.change",
            "user.change",
            "process.exit",
            "user.change",
            "session.login",
            "process.exec",
            "process.exec",
            "process.exit",
            "process.exit",
            "process.exit",
            "session.end",
        ]
    );
    let connect = out[0].session.as_ref().unwrap();
    assert_eq!(
        connect.source,
        Some(Endpoint::new([127, 0, 0, 1].into(), 39286))
    );
    assert_eq!(connect.destination.as_ref().unwrap().port, 2222);
    assert_eq!(connect.user, None);
    let login = out[9].session.as_ref().unwrap();
    assert_eq!(
        (login.user.as_deref(), login.uid),
        (Some("alice"), Some(USER))
    );
    let Body::ProcessExec(process) = &out[11].body else {
        panic!()
    };
    assert_eq!(
        (
            process.args.iter().collect::<Vec<_>>(),
            process.pid,
            process.ppid
        ),
        (vec!["id"], 603, 602)
    );
    assert_eq!(
        out[11].session.as_ref().unwrap().user.as_deref(),
        Some("alice")
    );
    let Body::ProcessExit(process) = &out[13].body else {
        panic!()
    };
    assert_eq!((process.exit_code, process.signal), (Some(255), None));
    let Body::SessionEnd(end) = &out[15].body else {
        panic!()
    };
    assert_eq!(
        end.end,
        SessionEnd {
            duration_ms: 18,
            logged_in: true
        }
    );
    assert_eq!(
        end.traffic,
        Traffic {
            bytes_in: 3765,
            bytes_out: 3941
        }
    );
    assert!(out
        .iter()
        .all(|e| e.session.as_ref().unwrap().id == connect.id));
    assert_eq!(
        t.sessions().count(),
        0,
        "ended session with no process left is forgotten"
    );
}

#[test]
fn wrong_key_never_logs_in() {
    let mut seq = preauth();
    seq.extend([exit(600, 255 << 8, 10), bytes(2000, 2500, true, 11)]);
    let (_, out) = run(&seq);
    assert!(!kinds(&out).contains(&"session.login"));
    let end = out.last().unwrap();
    let Body::SessionEnd(closed) = &end.body else {
        panic!()
    };
    assert!(!closed.end.logged_in);
    assert_eq!(end.session.as_ref().unwrap().user, None);
}

#[test]
fn root_login_counts_and_failed_switch_does_not() {
    let (_, out) = run(&[
        connect(0),
        fork(500, 600, root(), 1),
        cred(
            600,
            CredSyscall::Setresuid,
            [USER; 3],
            -1,
            root(),
            root(),
            2,
        ),
        cred(600, CredSyscall::Setresuid, [0; 3], 0, root(), root(), 3),
    ]);
    assert_eq!(
        kinds(&out),
        [
            "session.connect",
            "user.change",
            "user.change",
            "session.login"
        ]
    );
    let Body::UserChange(IdChange { change, .. }) = &out[1].body else {
        panic!()
    };
    assert_eq!((change.success, change.errno), (false, Some(1)));
    assert_eq!(
        out[3].session.as_ref().unwrap().user.as_deref(),
        Some("root")
    );
}

#[test]
fn setuid_program_exec_is_a_user_change() {
    let sudo = Creds {
        euid: 0,
        suid: 0,
        ..all(USER)
    };
    let (_, out) = run(&[
        connect(0),
        fork(500, 600, all(USER), 1),
        exec(
            600,
            500,
            sudo,
            "/usr/bin/sudo",
            &[b"sudo", b"-u", b"nobody", b"id"],
            2,
        ),
    ]);
    assert_eq!(
        kinds(&out),
        ["session.connect", "user.change", "process.exec"]
    );
    let Body::UserChange(IdChange { change, .. }) = &out[1].body else {
        panic!()
    };
    assert_eq!(change.syscall, "execve");
    assert_eq!(
        (change.old.euid, change.new.euid, change.new.uid),
        (USER, 0, USER)
    );
    assert_eq!(change.effective_user.as_deref(), Some("root"));
}

#[test]
fn lost_connect_still_attributes_later_events() {
    let (_, out) = run(&[exec(700, 600, all(USER), "/usr/bin/id", &[b"id"], 5)]);
    assert_eq!(kinds(&out), ["process.exec"]);
    let s = out[0].session.as_ref().unwrap();
    assert_eq!(s.source, None);
    assert_eq!(s.id, table().session_id(KEY));
}

#[test]
fn processes_outliving_the_connection_keep_their_session() {
    let (t, out) = run(&[
        connect(0),
        fork(500, 600, root(), 1),
        fork(600, 601, all(USER), 2),
        exit(600, 0, 3),
        bytes(10, 20, true, 4),
    ]);
    assert_eq!(
        kinds(&out),
        ["session.connect", "process.exit", "session.end"]
    );
    assert_eq!(t.sessions().count(), 1, "601 still runs");
    let mut t = t;
    let mut more = Vec::new();
    t.handle(exit(601, 9, 5), &mut more);
    let Body::ProcessExit(process) = &more[0].body else {
        panic!()
    };
    assert_eq!((process.exit_code, process.signal), (None, Some(9)));
    assert_eq!(
        more[0].session.as_ref().unwrap().id,
        out[0].session.as_ref().unwrap().id
    );
    assert_eq!(t.sessions().count(), 0);
}

#[test]
fn periodic_byte_flushes_do_not_end_the_session() {
    let (_, out) = run(&[
        connect(0),
        bytes(100, 200, false, 1),
        bytes(300, 400, true, 2),
    ]);
    assert_eq!(
        kinds(&out),
        ["session.connect", "session.bytes", "session.end"]
    );
    let t = |i: usize| *out[i].body.traffic().unwrap();
    assert_eq!((t(1).bytes_in, t(1).bytes_out), (100, 200));
    assert_eq!((t(2).bytes_in, t(2).bytes_out), (300, 400));
    assert!(matches!(out[1].body, Body::SessionBytes(_)));
}

#[test]
fn hostile_argv_is_kept_losslessly() {
    let (_, out) = run(&[
        connect(0),
        exec(
            600,
            500,
            all(USER),
            "/tmp/\x1b[2Jx",
            &[b"a\xff\\b", b"\n"],
            1,
        ),
    ]);
    let Body::ProcessExec(process) = &out[1].body else {
        panic!()
    };
    let args: Vec<&str> = process.args.iter().collect();
    assert_eq!(args, ["a\\xff\\\\b", "\n"]);
    assert_eq!(crate::text::unescape(args[0]).unwrap(), b"a\xff\\b");
    assert_eq!(process.executable, "/tmp/\x1b[2Jx");
}

#[test]
fn forward_records_make_forward_events_of_their_session() {
    let mut seq = preauth();
    seq.extend([
        forward(FWD_OPEN, FWD_CONNECT, 9, 20),
        forward(FWD_CLOSE, FWD_CONNECT, 9, 30),
    ]);
    let (_, out) = run(&seq);
    let fw: Vec<&Forward> = out
        .iter()
        .filter_map(|e| match &e.body {
            Body::SessionForward(f) => Some(&**f),
            _ => None,
        })
        .collect();
    assert_eq!(fw.len(), 2, "{out:#?}");
    let (open, close) = (fw[0], fw[1]);
    assert_eq!((open.id, open.state), (1, ForwardState::Open));
    assert_eq!((close.id, close.state), (1, ForwardState::Close));
    assert_eq!((close.bytes_in, close.bytes_out), (Some(5000), Some(300)));
    assert_eq!(close.target.unwrap().port, 8080);
    assert_eq!(close.pid, 601);
    let session = out.last().unwrap().session.as_ref().unwrap();
    assert_eq!(session.id, out[0].session.as_ref().unwrap().id);
}

fn forward_bodies(out: &[Event]) -> Vec<&Forward> {
    out.iter()
        .filter_map(|e| match &e.body {
            Body::SessionForward(f) => Some(&**f),
            _ => None,
        })
        .collect()
}

/// A listener found at start-up whose socket the agent finds gone
/// (listendiag.rs makes the kernel's close record for it) ends as one the
/// kernel saw: its id, `close`, its duration from the discovery, no
/// bytes; the session goes on, and its server's exit ends nothing more.
#[test]
fn a_discovered_listener_found_gone_ends_as_a_listener_the_kernel_saw() {
    let mut t = table();
    let at = Endpoint::new("127.0.0.1".parse().unwrap(), 4000);
    let found = [discover::Listening {
        pid: 601,
        inode: 4242,
        at: discover::ListenAt::Tcp(at),
    }];
    let d = Discovered {
        session: Session::new(KEY, SessionInfo::new(t.session_id(KEY)), 0),
        procs: &[(600, root()), (601, root())],
        listening: &found,
    };
    let mut out = Vec::new();
    t.add_discovered(d, t.wall_ns(1_000_000_000), &mut out);
    let gone = ForwardEvent {
        hdr: hdr(EventKind::Forward, 601, 1_500),
        sock: forward::discovered_sock(4242),
        ino: 4242,
        phase: FWD_CLOSE,
        how: FWD_LISTENER,
        family: 2,
        ..Default::default()
    };
    t.handle(KernelEvent::Forward(Box::new(gone)), &mut out);
    let fw = forward_bodies(&out);
    let [listen, close] = fw.as_slice() else {
        panic!("{out:#?}");
    };
    assert_eq!(listen.state, ForwardState::Listen);
    assert_eq!(
        (close.id, close.state, close.duration_ms),
        (listen.id, ForwardState::Close, Some(500))
    );
    assert_eq!((close.bytes_in, close.bytes_out), (None, None));
    assert_eq!(
        (close.kind, close.socket, close.listen, close.pid),
        (ForwardKind::Remote, ForwardSocket::Tcp, Some(at), 601)
    );
    assert!(!t.get(KEY).unwrap().ended, "the session goes on");
    let mut later = Vec::new();
    t.handle(
        KernelEvent::Exit(ExitEvent {
            hdr: hdr(EventKind::Exit, 601, 2_000),
            ..Default::default()
        }),
        &mut later,
    );
    assert!(forward_bodies(&later).is_empty(), "{later:#?}");
}

/// Every event the model makes, in every format, matches docs/schema.md.
#[test]
fn json_lines_match_the_documented_schema() {
    let schema = ssh_trace_tests::schema::Schema::load().unwrap();
    let mut seq = preauth();
    seq.extend([
        log(600, AUTH_DEST_FILE, ACCEPTED, 9),
        fork(600, 602, root(), 10),
        cred(
            602,
            CredSyscall::Setresuid,
            [USER; 3],
            0,
            root(),
            all(USER),
            11,
        ),
        exec(
            602,
            600,
            Creds {
                euid: 0,
                ..all(USER)
            },
            "/usr/bin/sudo",
            &[b"sudo", b"\xff"],
            12,
        ),
        tty(TTY_OUTPUT, 0, 0, b"$ \x1b[1mid\x1b[0m\r\n\xff", 12),
        tty(TTY_INPUT, 0, 0, b"id\r", 12),
        tty(TTY_INPUT, TTY_FLAG_WITHHELD, 0, b"", 12),
        tty(TTY_OUTPUT, 0, 4096, b"x", 12),
        exit(602, 0, 13),
        xfer(
            603,
            &["x", "alice", "home"],
            3,
            None,
            |h| h.mode = 0o100644,
            13,
        ),
        bytes(1, 1, false, 13),
        forward(FWD_OPEN, FWD_CONNECT, 9, 13),
        forward(FWD_CLOSE, FWD_CONNECT, 9, 13),
        forward(FWD_FAILED, FWD_CONNECT, 10, 13),
        bytes(1, 2, true, 14),
    ]);
    let mut recording = table();
    recording.record_terminals(Default::default());
    let (_, mut out) = run_with(recording, &seq);
    let agent = AgentInfo {
        version: "0".into(),
        pid: 1,
        kernel: "6".into(),
        ring_buffer_bytes: 4096,
        server_binaries: vec!["/usr/sbin/sshd".into()],
        previous: None,
    };
    let loss = LossCounts {
        kernel_ringbuf: 3,
        tty_bytes: 4096,
        ..Default::default()
    };
    out.push(Event::new(
        1,
        None,
        Body::AgentStart(Box::new(agent.clone())),
    ));
    let l = AgentLoss {
        loss: loss.clone().into(),
        total: loss.clone(),
    };
    out.push(Event::new(2, None, Body::AgentLoss(Box::new(l))));
    let totals = AgentTotals {
        events: 5,
        lost: loss,
    };
    out.push(Event::new(
        3,
        None,
        Body::AgentStop(Box::new(AgentStop { agent, totals })),
    ));
    let beat = crate::format::samples::heartbeat();
    out.push(Event::new(4, None, Body::AgentHeartbeat(Box::new(beat))));
    let mut info = SessionInfo::new(SessionId(1));
    info.discovered = true;
    let discovered = Session::new(KEY ^ 1, info, 0);
    let mut t = table();
    let d = super::Discovered {
        session: discovered,
        procs: &[(900, root())],
        listening: &[],
    };
    t.add_discovered(d, 0, &mut out);
    let alerts = crate::operators::alert::tests::sample_alerts(out[0].session.as_ref().unwrap());
    out.extend(alerts);
    let mut documented: std::collections::HashSet<String> =
        schema.event_names().into_iter().collect();
    let json = crate::format::json::Json;
    for e in &out {
        let mut line = Vec::new();
        json.write(e, "h", &mut line);
        assert_eq!(
            line.iter().filter(|&&b| b == b'\n').count(),
            1,
            "one line per event"
        );
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        schema.check(&v).unwrap_or_else(|err| panic!("{err}: {v}"));
        documented.remove(e.kind().name());
    }
    assert!(
        documented.is_empty(),
        "documented but never produced here: {documented:?}"
    );
}

#[test]
fn human_lines_escape_control_characters() {
    let (_, out) = run(&[
        connect(0),
        exec(600, 500, all(USER), "/bin/x", &[b"x", b"\x1b[2J\n"], 1),
    ]);
    let h = crate::format::human::Human::new(false);
    let mut buf = Vec::new();
    h.write(&out[1], &mut buf);
    let line = String::from_utf8(buf).unwrap();
    assert!(
        line.ends_with("pid=600 ppid=500 uid=1001 /bin/x x \\x1b[2J\\x0a\n"),
        "{line}"
    );
    assert!(line.contains("127.0.0.1:39286"));
    assert_eq!(line.matches('\n').count(), 1);
}

fn transfer_of(ev: KernelEvent) -> FileTransfer {
    let (_, out) = run(&[connect(0), ev]);
    let Body::FileTransfer(t) = &out[1].body else {
        panic!("{out:?}")
    };
    (**t).clone()
}

#[test]
fn a_chrooted_upload_has_the_users_path_and_the_chroot() {
    let names = ["c.bin", "upload", "alice", "sftp", "srv"];
    let t = transfer_of(xfer(
        700,
        &names,
        2,
        None,
        |h| {
            h.server = XFER_INTERNAL_SFTP;
            (h.open_flags, h.bytes_written, h.high_pos) = (0o1101, 5000, 5000);
            (h.size, h.mode, h.open_ns) = (5000, 0o100640, 1_000_000);
        },
        43,
    ));
    assert_eq!(t.process.pid, 700);
    let x = &t.transfer;
    assert_eq!(
        (x.server, x.action),
        (TransferServer::InternalSftp, TransferAction::Upload)
    );
    assert_eq!(x.path, "/upload/c.bin");
    assert_eq!(x.chroot.as_deref(), Some("/srv/sftp/alice"));
    assert_eq!(x.host_path(), "/srv/sftp/alice/upload/c.bin");
    assert_eq!(
        (x.bytes, x.size, x.mode.as_deref()),
        (5000, Some(5000), Some("0640"))
    );
    assert_eq!(
        (x.outcome, x.duration_ms),
        (TransferOutcome::Complete, Some(42))
    );
    assert_eq!(x.file_type, Some(FileType::File));
}

#[test]
fn operations_resolve_their_arguments_against_the_directory() {
    let home = ["alice", "home"];
    let rename = |h: &mut XferHead| h.op = XFER_OP_RENAME;
    let t = transfer_of(xfer(
        701,
        &home,
        2,
        Some(("a", Some("./d/../b"))),
        rename,
        5,
    ));
    let x = &t.transfer;
    assert_eq!(x.action, TransferAction::Rename);
    assert_eq!(
        (x.path.as_str(), x.target.as_deref()),
        ("/home/alice/a", Some("/home/alice/b"))
    );
    assert_eq!(
        (x.chroot.as_ref(), x.size, x.outcome),
        (None, None, TransferOutcome::Complete)
    );
    let refused = |h: &mut XferHead| (h.errno, h.open_flags) = (13, 0);
    let t = transfer_of(xfer(
        701,
        &home,
        2,
        Some(("../../etc/shadow", None)),
        refused,
        6,
    ));
    let x = &t.transfer;
    assert_eq!(
        (x.action, x.path.as_str()),
        (TransferAction::Download, "/etc/shadow")
    );
    assert_eq!(
        (x.outcome, x.errno, x.bytes),
        (TransferOutcome::Error, Some(13), 0)
    );
}

#[test]
fn a_short_read_or_an_exit_with_the_file_open_is_partial() {
    let file = ["f", "tmp"];
    let short = |h: &mut XferHead| (h.bytes_read, h.high_pos, h.size) = (100, 100, 1000);
    assert_eq!(
        transfer_of(xfer(702, &file, 2, None, short, 5))
            .transfer
            .outcome,
        TransferOutcome::Partial
    );
    let resumed = |h: &mut XferHead| (h.bytes_read, h.high_pos, h.size) = (400, 1000, 1000);
    let t = transfer_of(xfer(702, &file, 2, None, resumed, 5)).transfer;
    assert_eq!((t.outcome, t.bytes), (TransferOutcome::Complete, 400));
    let dropped = |h: &mut XferHead| {
        (h.open_flags, h.bytes_written, h.size) = (1, 64, 64);
        h.flags |= XFER_FLAG_AT_EXIT | XFER_FLAG_LATE;
    };
    let t = transfer_of(xfer(702, &file, 2, None, dropped, 5)).transfer;
    assert_eq!(
        (t.action, t.outcome, t.late),
        (TransferAction::Upload, TransferOutcome::Partial, true)
    );
}
