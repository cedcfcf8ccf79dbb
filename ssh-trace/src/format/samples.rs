//! One event of every type, with distinct values in every field, for the
//! format tests (shaped like what `tail --json` shows for an OpenSSH session).
//! Public (hidden) so the tests crate can check every type's ECS and OCSF
//! lines against the official schemas (tests/tests/conformance.rs).
use std::sync::Arc;

use super::{FormatKind, Formatter};
use crate::event::*;

pub const SESSION_ID: &str = "5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e5f";
pub const HOST: &str = "web-1";
/// 2025-11-13T02:13:20.123456789Z
pub const TIME_NS: u64 = 1_763_000_000_123_456_789;

pub fn session(logged_in: bool) -> Arc<SessionInfo> {
    Arc::new(SessionInfo {
        id: SESSION_ID.parse().unwrap(),
        user: logged_in.then(|| "alice".into()),
        uid: logged_in.then_some(1001),
        source: Some(Endpoint::new([192, 0, 2, 10].into(), 50022)),
        destination: Some(Endpoint::new([192, 0, 2, 1].into(), 22)),
        discovered: false,
        server: Some(Server {
            uid: 0,
            mode: ServerMode::Accept,
        }),
        parent: None,
    })
}

pub fn agent_info() -> AgentInfo {
    AgentInfo {
        version: "0.1.0".into(),
        pid: 777,
        kernel: "6.18.0".into(),
        ring_buffer_bytes: 8 << 20,
        server_binaries: vec!["/usr/sbin/sshd".into(), "/usr/sbin/sshd-session".into()],
        previous: None,
    }
}

pub fn loss() -> LossReport {
    let counts = LossCounts {
        kernel_ringbuf: 3,
        kernel_milestones: 21,
        kernel_tracked_full: 4,
        kernel_listeners_full: 22,
        kernel_socks_full: 5,
        kernel_rate_limited: 25,
        queue: 6,
        decode: 7,
        agent_restart: 23,
        sinks: vec![sink_loss("siem", 8), sink_loss("archive", 9)],
        tty_bytes: 0,
        auth_unwatched: 0,
        outputs: vec![output_loss(1, 2)],
    };
    LossReport {
        counts,
        sessions: vec![SessionLoss {
            id: SESSION_ID.parse().unwrap(),
            records: 2,
            untracked: 1,
            tty_bytes: 0,
        }],
        more_sessions: 24,
    }
}

pub fn heartbeat() -> Heartbeat {
    Heartbeat {
        interval_s: 60,
        uptime_s: 3600,
        events: 4242,
        records: 9000,
        lost: 7,
        sessions_open: 3,
        sessions_logged_in: 2,
        processes: 11,
        queue_batches: 1,
        sinks: vec![SinkBacklog {
            sink: "siem".into(),
            waiting: 12,
            delivered: 4230,
            dropped: 0,
        }],
    }
}

pub fn total() -> LossCounts {
    LossCounts {
        kernel_ringbuf: 13,
        kernel_milestones: 31,
        kernel_tracked_full: 14,
        kernel_listeners_full: 32,
        kernel_socks_full: 15,
        kernel_rate_limited: 35,
        queue: 16,
        decode: 17,
        agent_restart: 33,
        sinks: vec![sink_loss("siem", 18), sink_loss("archive", 19)],
        tty_bytes: 0,
        auth_unwatched: 0,
        outputs: vec![output_loss(11, 12)],
    }
}

fn sink_loss(sink: &str, dropped: u64) -> SinkLoss {
    SinkLoss {
        sink: sink.into(),
        dropped,
    }
}

pub const OUTPUT_ERROR: &str =
    "writing capture file /var/log/x.cap: No space left on device (os error 28)";

fn output_loss(failures: u64, events: u64) -> OutputLoss {
    OutputLoss {
        output: "capture".into(),
        error: OUTPUT_ERROR.into(),
        failures,
        events,
    }
}

fn exec() -> Body {
    Body::ProcessExec(ProcessExec {
        pid: 4242,
        ppid: 4241,
        uid: 1001,
        euid: 0,
        gid: 1002,
        egid: 1003,
        executable: "/usr/bin/sudo".into(),
        executable_truncated: false,
        args: Args::from_parts(["sudo", "-u", "nobody", "id"]),
        args_truncated: true,
        role: Some(Role::User),
        fileless: false,
    })
}

fn change() -> Body {
    let ids = |uid, euid, suid, g| Ids {
        uid,
        euid,
        suid,
        gid: g,
        egid: g + 1,
        sgid: g + 2,
    };
    Body::UserChange(IdChange {
        process: Pid { pid: 4243 },
        change: UserChange {
            syscall: "setresuid",
            args: CallArgs::new(&[0, 65534, -1]),
            success: true,
            errno: None,
            old: ids(1001, 0, 0, 1002),
            new: ids(0, 65534, 0, 1012),
            user: Some("root".into()),
            effective_user: Some("nobody".into()),
        },
    })
}

/// internal-sftp in a chroot, uploading: every field has a value.
pub fn transfer() -> Body {
    Body::FileTransfer(Box::new(FileTransfer {
        process: Pid { pid: 4250 },
        transfer: Transfer {
            server: TransferServer::InternalSftp,
            action: TransferAction::Upload,
            path: "/upload/report.pdf".into(),
            target: None,
            chroot: Some("/srv/sftp/alice".into()),
            bytes: 1_048_576,
            size: Some(1_048_576),
            mode: Some("0640".into()),
            file_type: Some(FileType::File),
            outcome: TransferOutcome::Complete,
            errno: None,
            duration_ms: Some(420),
            path_truncated: false,
            late: false,
        },
    }))
}

/// The other shapes: a rename, a refused download, a dropped upload.
pub fn transfer_shapes() -> Vec<Event> {
    let with = |f: &dyn Fn(&mut Transfer)| {
        let mut b = transfer();
        if let Body::FileTransfer(t) = &mut b {
            f(&mut t.transfer);
        }
        Event::new(TIME_NS, Some(session(true)), b)
    };
    vec![
        with(&|t| {
            (t.server, t.action, t.chroot) =
                (TransferServer::SftpServer, TransferAction::Rename, None);
            t.path = "/home/alice/a.txt".into();
            t.target = Some("/home/alice/b.txt".into());
            (t.bytes, t.size, t.mode, t.file_type, t.duration_ms) = (0, None, None, None, None);
        }),
        with(&|t| {
            (t.server, t.action, t.chroot) = (TransferServer::Scp, TransferAction::Download, None);
            t.path = "/etc/shadow".into();
            (t.outcome, t.errno) = (TransferOutcome::Error, Some(13));
            (t.bytes, t.size, t.mode, t.file_type, t.duration_ms) = (0, None, None, None, None);
        }),
        with(&|t| {
            (t.outcome, t.bytes, t.late) = (TransferOutcome::Partial, 65_536, true);
        }),
    ]
}

/// A local forward's close, every field that can be there filled.
pub fn forward() -> Forward {
    Forward {
        id: 3,
        kind: ForwardKind::Local,
        state: ForwardState::Close,
        socket: ForwardSocket::Tcp,
        pid: 4240,
        listener: None,
        local: Some(Endpoint::new([192, 0, 2, 1].into(), 41000)),
        target: Some(Endpoint::new([198, 51, 100, 7].into(), 8080)),
        listen: None,
        peer: None,
        path: None,
        error: None,
        bytes_in: Some(5321),
        bytes_out: Some(187),
        duration_ms: Some(42),
    }
}

/// The other shapes of forwards: a remote listener, a connection through
/// it, the agent socket, a failed connect, a unix-socket local forward.
fn forward_shapes() -> Vec<Event> {
    let ev = |f: Forward| {
        Event::new(
            TIME_NS,
            Some(session(true)),
            Body::SessionForward(Box::new(f)),
        )
    };
    let base = forward();
    let listen = Forward {
        id: 4,
        kind: ForwardKind::Remote,
        state: ForwardState::Listen,
        local: None,
        target: None,
        listen: Some(Endpoint::new([127, 0, 0, 1].into(), 8022)),
        bytes_in: None,
        bytes_out: None,
        duration_ms: None,
        ..base.clone()
    };
    let accepted = Forward {
        id: 5,
        state: ForwardState::Open,
        listener: Some(4),
        peer: Some(Endpoint::new([127, 0, 0, 1].into(), 51234)),
        ..listen.clone()
    };
    let agent = Forward {
        id: 6,
        kind: ForwardKind::Agent,
        socket: ForwardSocket::Unix,
        listen: None,
        path: Some("/tmp/ssh-XXXXabcdef/agent.4240".into()),
        ..listen.clone()
    };
    let failed = Forward {
        id: 7,
        state: ForwardState::Failed,
        error: Some(111),
        bytes_in: None,
        bytes_out: None,
        duration_ms: None,
        ..base.clone()
    };
    let unix = Forward {
        id: 8,
        state: ForwardState::Open,
        socket: ForwardSocket::Unix,
        local: None,
        target: None,
        path: Some("/run/docker.sock".into()),
        ..failed.clone()
    };
    let unix = Forward {
        error: None,
        ..unix
    };
    [listen, accepted, agent, failed, unix].map(ev).to_vec()
}

pub const KEY_FP: &str = "SHA256:Q3CWul/NYDR8FMdRoB/uZHMglZ5aVTn3hYH0ZhzVXCk";
pub const CA_FP: &str = "SHA256:VeJ9qaKLCB8hpCIBAD6YWn8gL6rjcNns2sLH1iyHIRo";

/// An accepted certificate: every field of a decision filled in.
pub fn auth() -> Auth {
    Auth {
        method: Some(Method::Publickey),
        submethod: None,
        user: Some("alice".into()),
        invalid: false,
        outcome: Outcome::Accepted,
        key: Some(Key {
            key_type: "ED25519-CERT".into(),
            fingerprint: KEY_FP.into(),
        }),
        certificate: Some(Certificate {
            id: "alice@corp".into(),
            serial: 42,
            ca: Key {
                key_type: "ED25519".into(),
                fingerprint: CA_FP.into(),
            },
        }),
    }
}

fn decision(a: Auth) -> Body {
    Body::SessionAuth(Box::new(AuthDecision {
        pid: 4240,
        auth: Arc::new(a),
    }))
}

fn alert(k: AlertKind) -> Event {
    use AlertKind as A;
    let mut e = Evidence::default();
    let ip = Some([203, 0, 113, 7].into());
    match k {
        A::NewSource | A::RootLogin => {
            e.user = Some(if k == A::RootLogin { "root" } else { "alice" }.into());
            e.source_ip = ip;
        }
        A::ConnectionRate | A::UnauthenticatedRate => {
            e.source_ip = ip;
            (e.count, e.limit, e.window_s) = (Some(11), Some(10), Some(60));
        }
        A::PrivilegeGain => {
            (e.user, e.source_ip) = (Some("alice".into()), ip);
            (e.pid, e.syscall) = (Some(4242), Some("execve".into()));
        }
        A::SessionBytes => {
            (e.user, e.source_ip) = (Some("alice".into()), ip);
            (e.count, e.limit) = (Some(2_000_000), Some(1_000_000));
        }
        A::Idle => e.idle_s = Some(900),
        A::LoginAfterIdle => {
            (e.user, e.source_ip) = (Some("alice".into()), ip);
            e.idle_s = Some(900);
        }
        A::FilelessExec => {
            (e.user, e.source_ip) = (Some("alice".into()), ip);
            (e.pid, e.executable) = (Some(4242), Some("memfd:payload".into()));
        }
        A::ActionFailed => {
            e.action = Some("webhook".into());
            e.error = Some("connection refused".into());
        }
        A::TransferBytes => {
            (e.user, e.source_ip) = (Some("alice".into()), ip);
            (e.count, e.limit) = (Some(1_048_576), Some(1_000_000));
            (e.pid, e.path) = (Some(4250), Some("/srv/sftp/alice/upload/report.pdf".into()));
        }
        A::ForwardTarget => {
            (e.user, e.source_ip, e.pid) = (Some("alice".into()), ip, Some(4240));
            (e.target_ip, e.target_port) = (Some([198, 51, 100, 7].into()), Some(8080));
        }
        A::BruteForce | A::PasswordSpraying => {
            e.source_ip = ip;
            (e.count, e.limit, e.window_s) = (Some(6), Some(5), Some(60));
            e.users = Some(vec!["root".into(), "admin".into()]);
        }
        A::DistributedGuessing => {
            (e.user, e.source_ip) = (Some("root".into()), ip);
            (e.count, e.limit, e.window_s) = (Some(4), Some(3), Some(600));
            e.source_ips = Some(vec!["203.0.113.7".into(), "198.51.100.2".into()]);
        }
    }
    let alert = Alert {
        rule: format!("rule-{}", k.name()),
        severity: Severity::Critical,
        evidence: e,
    };
    let session = k.spec().session.then(|| session(true));
    Event::new(TIME_NS, session, Body::Alert(k, Box::new(alert)))
}

pub fn event(kind: Kind) -> Event {
    let ev = |session, body| Event::new(TIME_NS, session, body);
    let traffic = |i, o| Traffic {
        bytes_in: i,
        bytes_out: o,
    };
    match kind {
        Kind::SessionConnect => ev(Some(session(false)), Body::SessionConnect),
        Kind::SessionAuth => ev(Some(session(false)), decision(auth())),
        Kind::SessionLogin => ev(
            Some(session(true)),
            Body::SessionLogin(Login {
                auth: Accepted::of(&auth()).map(Box::new),
            }),
        ),
        Kind::ProcessExec => ev(Some(session(true)), exec()),
        Kind::ProcessExit => ev(
            Some(session(true)),
            Body::ProcessExit(ProcessExit {
                pid: 4242,
                exit_code: Some(0),
                signal: None,
            }),
        ),
        Kind::UserChange => ev(Some(session(true)), change()),
        Kind::SessionBytes => ev(Some(session(true)), Body::SessionBytes(traffic(3000, 5000))),
        Kind::SessionEnd => ev(
            Some(session(true)),
            Body::SessionEnd(Closed {
                traffic: traffic(3100, 5400),
                end: SessionEnd {
                    duration_ms: 1234,
                    logged_in: true,
                },
                attempts: None,
            }),
        ),
        Kind::FileTransfer => ev(Some(session(true)), transfer()),
        Kind::SessionForward => ev(
            Some(session(true)),
            Body::SessionForward(Box::new(forward())),
        ),
        Kind::AgentStart => ev(None, Body::AgentStart(Box::new(agent_info()))),
        Kind::AgentLoss => ev(
            None,
            Body::AgentLoss(Box::new(AgentLoss {
                loss: loss(),
                total: total(),
            })),
        ),
        Kind::AgentStop => ev(
            None,
            Body::AgentStop(Box::new(AgentStop {
                agent: agent_info(),
                totals: AgentTotals {
                    events: 99,
                    lost: total(),
                },
            })),
        ),
        Kind::AgentHeartbeat => ev(None, Body::AgentHeartbeat(Box::new(heartbeat()))),
        Kind::Alert(k) => alert(k),
        Kind::SessionTty => ev(
            Some(session(true)),
            Body::SessionTty(Terminal::data(
                TtyKind::Output,
                24,
                80,
                b"$ id\r\nuid=1001(alice)\x1b[0m\r\n".to_vec(),
            )),
        ),
    }
}

/// Every event type, alert kinds included.
pub fn every_kind() -> Vec<Kind> {
    Kind::all().collect()
}

pub const ALL_KINDS: [Kind; 15] = Kind::BASE;

/// The sample of every kind, then the shapes where optional parts are
/// absent or a mapping takes another branch.
pub fn events() -> Vec<Event> {
    let mut out: Vec<Event> = every_kind().into_iter().map(event).collect();
    let mut killed = event(Kind::ProcessExit);
    if let Body::ProcessExit(p) = &mut killed.body {
        (p.exit_code, p.signal) = (None, Some(9));
    }
    let mut refused = event(Kind::UserChange);
    if let Body::UserChange(c) = &mut refused.body {
        (c.change.success, c.change.errno) = (false, Some(1));
    }
    let mut no_login = event(Kind::SessionEnd);
    no_login.session = Some(session(false));
    if let Body::SessionEnd(c) = &mut no_login.body {
        c.end = SessionEnd {
            duration_ms: 55,
            logged_in: false,
        };
        c.attempts = Some(Box::new(Attempts {
            attempts: 4,
            failures: 3,
            users: vec!["root".into(), "admin".into()],
            key_lookups: 1,
        }));
    }
    // A failed password for a user that does not exist, and dropbear's
    // decision that names neither user nor method.
    let failed = ev_auth(Auth {
        method: Some(Method::KeyboardInteractive),
        submethod: Some("pam".into()),
        user: Some("admin".into()),
        invalid: true,
        outcome: Outcome::Failed,
        key: None,
        certificate: None,
    });
    let unnamed = ev_auth(Auth {
        method: None,
        user: None,
        ..failed_auth()
    });
    let partial = ev_auth(Auth {
        outcome: Outcome::Partial,
        certificate: None,
        ..auth()
    });
    // A login the server did not log.
    let unlogged = Event::new(
        TIME_NS,
        Some(session(true)),
        Body::SessionLogin(Login::default()),
    );
    // A session found in /proc at start-up whose sockets were not read.
    let mut discovered = event(Kind::SessionBytes);
    let mut s = (*session(true)).clone();
    (s.discovered, s.source, s.destination) = (true, None, None);
    discovered.session = Some(Arc::new(s));
    // Terminal records of the other types: typed, lost, withheld, resized.
    let marks = [
        Terminal::data(TtyKind::Input, 24, 80, b"id\r".to_vec()),
        Terminal::mark(TtyKind::Lost, 24, 80, 65536),
        Terminal::mark(TtyKind::Withheld, 24, 80, 9),
        Terminal::mark(TtyKind::Resize, 30, 100, 0),
    ]
    .map(|t| Event::new(TIME_NS, Some(session(true)), Body::SessionTty(t)));
    // A program run from a memfd, in a session served by a user's own
    // server started from another session.
    let mut fileless = event(Kind::ProcessExec);
    let mut s = (*session(true)).clone();
    s.server = Some(Server {
        uid: 1001,
        mode: ServerMode::Inetd,
    });
    s.parent = Some("5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e60".parse().unwrap());
    fileless.session = Some(Arc::new(s));
    if let Body::ProcessExec(p) = &mut fileless.body {
        (p.executable, p.fileless, p.role) = ("memfd:payload".into(), true, Some(Role::PreLogin));
    }
    // An agent continuing after one that died (persistent programs).
    let mut restarted = event(Kind::AgentStart);
    if let Body::AgentStart(a) = &mut restarted.body {
        a.previous = Some(PreviousAgent {
            last_alive: "2025-11-13T02:13:19.000000000Z".into(),
            clean: false,
            programs_kept: true,
            lost_in_flight: 5,
        });
    }
    out.extend([killed, refused, no_login, discovered, fileless, restarted]);
    out.extend(transfer_shapes());
    out.extend(forward_shapes());
    out.extend([failed, unnamed, partial, unlogged]);
    out.extend(marks);
    out
}

fn failed_auth() -> Auth {
    Auth {
        method: Some(Method::Password),
        submethod: None,
        user: Some("root".into()),
        invalid: false,
        outcome: Outcome::Failed,
        key: None,
        certificate: None,
    }
}

fn ev_auth(a: Auth) -> Event {
    Event::new(TIME_NS, Some(session(false)), decision(a))
}

/// Every sample of [`events`] as `format` writes it, one line each.
pub fn lines(format: FormatKind) -> Vec<String> {
    let f = Formatter::new(format, false);
    events()
        .iter()
        .map(|ev| {
            let mut out = Vec::new();
            f.write(ev, HOST, &mut out);
            String::from_utf8_lossy(&out).trim_end().to_owned()
        })
        .collect()
}
