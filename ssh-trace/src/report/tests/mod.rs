//! Report tests on one hand-built stream of four sessions (see `stream`),
//! with every expected figure worked out by hand in the tests.
mod robustness;
mod sessions;
mod sources;
mod timeline;
mod transfers;
mod tree;
mod users;

use std::sync::Arc;

use super::{Bucket, Report, ReportKind};
use crate::event::*;

/// 2023-11-14T22:13:20Z.
pub const T0: u64 = 1_700_000_000_000_000_000;

/// `ms` milliseconds after T0.
pub fn at(ms: u64) -> u64 {
    T0 + ms * 1_000_000
}

pub const A: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1a1";
pub const B: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1b2";
pub const C: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1c3";
pub const D: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2f0d4";

/// Makes the events of one session, carrying the session object as the
/// model does: no user before login, the user on everything after.
pub struct Sess {
    info: Arc<SessionInfo>,
}

impl Sess {
    pub fn new(id: &str, ip: &str, port: u16) -> Self {
        Self {
            info: Arc::new(SessionInfo {
                id: id.parse().unwrap(),
                user: None,
                uid: None,
                source: Some(Endpoint::new(ip.parse().unwrap(), port)),
                destination: Some(Endpoint::new([10, 0, 0, 1].into(), 22)),
                discovered: false,
                server: None,
                parent: None,
            }),
        }
    }

    fn ev(&self, ms: u64, body: Body) -> Event {
        Event::new(at(ms), Some(self.info.clone()), body)
    }

    pub fn connect(&self, ms: u64) -> Event {
        self.ev(ms, Body::SessionConnect)
    }

    pub fn login(&mut self, ms: u64, user: &str, uid: u32) -> Event {
        let info = Arc::make_mut(&mut self.info);
        info.user = Some(user.into());
        info.uid = Some(uid);
        self.ev(ms, Body::SessionLogin(Login::default()))
    }

    pub fn exec(&self, ms: u64, pid: u32, ppid: u32, ids: (u32, u32), args: &[&str]) -> Event {
        let executable = match args.first() {
            Some(a) if a.starts_with('/') => a.to_string(),
            Some(a) => format!("/usr/bin/{}", a.trim_start_matches('-')),
            None => "/bin/true".into(),
        };
        self.ev(
            ms,
            Body::ProcessExec(ProcessExec {
                pid,
                ppid,
                uid: ids.0,
                euid: ids.1,
                gid: ids.0,
                egid: ids.0,
                executable,
                executable_truncated: false,
                args: Args::from_parts(args.iter().copied()),
                args_truncated: false,
                role: Some(Role::User),
                fileless: false,
            }),
        )
    }

    pub fn exit(&self, ms: u64, pid: u32, code: u8) -> Event {
        self.ev(
            ms,
            Body::ProcessExit(ProcessExit {
                pid,
                exit_code: Some(code),
                signal: None,
            }),
        )
    }

    /// A successful uid change of `pid`: (uid, euid) before and after.
    pub fn change(
        &self,
        ms: u64,
        pid: u32,
        (syscall, args): (&'static str, &[i64]),
        old: (u32, u32),
        new: (u32, u32),
        names: (&str, &str),
    ) -> Event {
        let ids = |(uid, euid): (u32, u32)| Ids {
            uid,
            euid,
            suid: euid,
            gid: uid,
            egid: uid,
            sgid: uid,
        };
        self.ev(
            ms,
            Body::UserChange(IdChange {
                process: Pid { pid },
                change: UserChange {
                    syscall,
                    args: CallArgs::new(args),
                    success: true,
                    errno: None,
                    old: ids(old),
                    new: ids(new),
                    user: Some(names.0.into()),
                    effective_user: Some(names.1.into()),
                },
            }),
        )
    }

    /// A file.transfer of process `pid` (its other fields the sample's).
    pub fn transfer(&self, ms: u64, pid: u32, f: impl FnOnce(&mut Transfer)) -> Event {
        let mut b = crate::format::samples::transfer();
        if let Body::FileTransfer(t) = &mut b {
            t.process.pid = pid;
            f(&mut t.transfer);
        }
        self.ev(ms, b)
    }

    /// A decision the server logged for `user` (None: unnamed).
    pub fn auth(&self, ms: u64, user: Option<&str>, outcome: Outcome, invalid: bool) -> Event {
        let auth = Auth {
            method: Some(Method::Password),
            submethod: None,
            user: user.map(Into::into),
            invalid,
            outcome,
            key: None,
            certificate: None,
        };
        let d = AuthDecision {
            pid: 900,
            auth: Arc::new(auth),
        };
        self.ev(ms, Body::SessionAuth(Box::new(d)))
    }

    pub fn bytes(&self, ms: u64, bytes_in: u64, bytes_out: u64) -> Event {
        let t = Traffic {
            bytes_in,
            bytes_out,
        };
        self.ev(ms, Body::SessionBytes(t))
    }

    pub fn end(&self, ms: u64, bytes: (u64, u64), duration_ms: u64, logged_in: bool) -> Event {
        let closed = Closed {
            traffic: Traffic {
                bytes_in: bytes.0,
                bytes_out: bytes.1,
            },
            end: SessionEnd {
                duration_ms,
                logged_in,
            },
            attempts: None,
        };
        self.ev(ms, Body::SessionEnd(closed))
    }
}

/// Four sessions, in time order:
///
/// - A (10.0.0.5:40000, alice 1001), 22:13:20 → 22:14:10: 1000/2000 bytes
///   before login, execs of sshd (before login), `bash -c ls` and `ls`;
///   counters 3000/5000 at 22:13:50, 3500/9000 at 22:14:05, 4000/10000 at
///   the end (minute boundary crossed).
/// - B (10.0.0.5:40001), 22:13:30 → 22:13:32: never logs in, 2000/2500.
/// - D (192.168.1.9:50001, alice), 22:30:00 → 22:31:00: sshd child 699
///   logs in, `-bash` 700, `sudo id` 701 (set-user-ID), `id` 702 as root;
///   5000/6000 at the end.
/// - C (192.168.1.9:50000, bob 1002), from 22:59:58, never ends: `vim`;
///   counters 100/200 at 22:59:59 and 300/700 at 23:00:01 (hour boundary).
pub fn stream() -> Vec<Event> {
    let mut a = Sess::new(A, "10.0.0.5", 40000);
    let b = Sess::new(B, "10.0.0.5", 40001);
    let mut c = Sess::new(C, "192.168.1.9", 50000);
    let mut d = Sess::new(D, "192.168.1.9", 50001);
    let mut v = vec![
        a.connect(0),
        a.exec(100, 600, 500, (0, 0), &["/usr/sbin/sshd", "-D", "-R"]),
        a.bytes(500, 1000, 2000),
        a.login(1000, "alice", 1001),
        a.exec(1100, 601, 600, (1001, 1001), &["bash", "-c", "ls"]),
        a.exec(1200, 601, 600, (1001, 1001), &["ls"]),
        a.exit(1300, 601, 0),
        a.bytes(30_000, 3000, 5000),
        a.bytes(45_000, 3500, 9000),
        a.end(50_000, (4000, 10000), 50_000, true),
        b.connect(10_000),
        b.exec(10_100, 610, 500, (0, 0), &["/usr/sbin/sshd", "-D", "-R"]),
        b.exit(11_900, 610, 255),
        b.end(12_000, (2000, 2500), 2000, false),
        d.connect(1_000_000),
        d.change(
            1_000_500,
            699,
            ("setresuid", &[1001, 1001, 1001]),
            (0, 0),
            (1001, 1001),
            ("alice", "alice"),
        ),
        d.login(1_000_500, "alice", 1001),
        d.exec(1_001_000, 700, 699, (1001, 1001), &["-bash"]),
        d.change(
            1_002_000,
            701,
            ("execve", &[]),
            (1001, 1001),
            (1001, 0),
            ("alice", "root"),
        ),
        d.exec(1_002_000, 701, 700, (1001, 0), &["sudo", "id"]),
        d.change(
            1_003_000,
            702,
            ("setresuid", &[0, 0, 0]),
            (1001, 0),
            (0, 0),
            ("root", "root"),
        ),
        d.exec(1_003_100, 702, 701, (0, 0), &["id"]),
        d.exit(1_003_200, 702, 0),
        d.exit(1_003_300, 701, 0),
        d.exit(1_059_000, 700, 0),
        d.exit(1_059_500, 699, 255),
        d.end(1_060_000, (5000, 6000), 60_000, true),
        c.connect(2_798_000),
        c.login(2_798_500, "bob", 1002),
        c.exec(2_798_600, 800, 799, (1002, 1002), &["vim"]),
        c.bytes(2_799_000, 100, 200),
        c.bytes(2_801_000, 300, 700),
    ];
    v.sort_by_key(|e| e.time_ns);
    v
}

pub fn report(kind: ReportKind, events: &[Event]) -> Report {
    let mut r = Report::new(kind);
    for e in events {
        r.add(e);
    }
    r
}

pub fn text(r: &Report) -> String {
    let mut out = Vec::new();
    r.write_text(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

pub fn json(r: &Report) -> serde_json::Value {
    let mut out = Vec::new();
    r.write_json(&mut out).unwrap();
    assert_eq!(out.last(), Some(&b'\n'), "one document and a newline");
    serde_json::from_slice(&out).unwrap()
}

pub fn minute() -> ReportKind {
    ReportKind::Users { by: Bucket::Minute }
}
