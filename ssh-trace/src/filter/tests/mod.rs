//! Filter tests on hand-built events: one of each type, from one session
//! (alice from 10.1.2.3 to 192.168.1.10:22) unless a test changes it.
mod errors;
mod garbage;
mod matching;

use std::sync::Arc;

use super::{Filter, FilterError};
use crate::event::*;

pub const HOST: &str = "web1";
pub const SID: &str = "5bedc86c-1cdc-4597-bf3e-b121a1db7198";
/// 2023-11-14T22:13:20Z
pub const T0: u64 = 1_700_000_000_000_000_000;

pub fn session() -> SessionInfo {
    SessionInfo {
        id: SID.parse().unwrap(),
        user: Some("alice".into()),
        uid: Some(1001),
        source: Some(Endpoint::new([10, 1, 2, 3].into(), 51234)),
        destination: Some(Endpoint::new([192, 168, 1, 10].into(), 22)),
        discovered: false,
        server: Some(Server {
            uid: 0,
            mode: ServerMode::Accept,
        }),
        parent: Some("5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e60".parse().unwrap()),
    }
}

pub fn shared() -> Option<Arc<SessionInfo>> {
    Some(Arc::new(session()))
}

pub fn exec(args: &[&str]) -> Event {
    Event::new(
        T0,
        shared(),
        Body::ProcessExec(ProcessExec {
            pid: 4242,
            ppid: 4200,
            uid: 1001,
            euid: 1001,
            gid: 1001,
            egid: 1001,
            executable: args.first().map_or("", |a| a).into(),
            executable_truncated: false,
            args: Args::from_parts(args.iter().copied()),
            args_truncated: false,
            role: Some(Role::User),
            fileless: false,
        }),
    )
}

pub fn exit(code: Option<u8>, signal: Option<u8>) -> Event {
    Event::new(
        T0 + 1,
        shared(),
        Body::ProcessExit(ProcessExit {
            pid: 4242,
            exit_code: code,
            signal,
        }),
    )
}

fn ids(id: u32) -> Ids {
    Ids {
        uid: id,
        euid: id,
        suid: id,
        gid: id,
        egid: id,
        sgid: id,
    }
}

/// sudo becoming root (success) or failing to.
pub fn sudo(success: bool) -> Event {
    let new = if success {
        Ids {
            euid: 0,
            ..ids(1001)
        }
    } else {
        ids(1001)
    };
    Event::new(
        T0 + 2,
        shared(),
        Body::UserChange(IdChange {
            process: Pid { pid: 4300 },
            change: UserChange {
                syscall: "setresuid",
                args: CallArgs::new(&[-1, 0, -1]),
                success,
                errno: (!success).then_some(1),
                old: ids(1001),
                new,
                user: Some("alice".into()),
                effective_user: Some(if success { "root" } else { "alice" }.into()),
            },
        }),
    )
}

pub fn bytes(bytes_in: u64, bytes_out: u64) -> Event {
    let t = Traffic {
        bytes_in,
        bytes_out,
    };
    Event::new(T0 + 3, shared(), Body::SessionBytes(t))
}

pub fn end(logged_in: bool) -> Event {
    let closed = Closed {
        traffic: Traffic {
            bytes_in: 5000,
            bytes_out: 7000,
        },
        end: SessionEnd {
            duration_ms: 1234,
            logged_in,
        },
        attempts: None,
    };
    Event::new(T0 + 4, shared(), Body::SessionEnd(closed))
}

/// A connect before login: no user yet.
pub fn connect() -> Event {
    let mut s = session();
    s.user = None;
    s.uid = None;
    Event::new(T0 - 10, Some(Arc::new(s)), Body::SessionConnect)
}

pub fn agent_info() -> AgentInfo {
    AgentInfo {
        version: "0.1.0".into(),
        pid: 77,
        kernel: "6.1.0-18-amd64".into(),
        ring_buffer_bytes: 1 << 22,
        server_binaries: vec!["/usr/sbin/sshd".into(), "/usr/sbin/dropbear".into()],
        previous: None,
    }
}

pub fn agent_start() -> Event {
    Event::new(T0 - 100, None, Body::AgentStart(Box::new(agent_info())))
}

pub fn agent_loss() -> Event {
    let loss = LossCounts {
        kernel_ringbuf: 3,
        queue: 1,
        ..Default::default()
    };
    let total = LossCounts {
        kernel_ringbuf: 10,
        queue: 2,
        decode: 1,
        ..Default::default()
    };
    Event::new(
        T0 + 5,
        None,
        Body::AgentLoss(Box::new(AgentLoss {
            loss: loss.into(),
            total,
        })),
    )
}

pub fn agent_stop() -> Event {
    let totals = AgentTotals {
        events: 99,
        lost: LossCounts {
            decode: 4,
            ..Default::default()
        },
    };
    let stop = AgentStop {
        agent: agent_info(),
        totals,
    };
    Event::new(T0 + 6, None, Body::AgentStop(Box::new(stop)))
}

/// One event of every type.
pub fn all_events() -> Vec<Event> {
    vec![
        agent_start(),
        connect(),
        exec(&["/usr/bin/curl", "-s", "https://example.org"]),
        exit(Some(0), None),
        sudo(true),
        bytes(2_000_000, 10),
        end(true),
        agent_loss(),
        agent_stop(),
        crate::format::samples::event(crate::event::Kind::AgentHeartbeat),
    ]
}

pub fn parse(src: &str) -> Filter {
    Filter::parse(src).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `src` matches `ev` on host web1.
pub fn m(src: &str, ev: &Event) -> bool {
    parse(src).matches(ev, HOST)
}

/// The kinds of `all_events()` that `src` selects.
pub fn selected(src: &str) -> Vec<&'static str> {
    let f = parse(src);
    all_events()
        .iter()
        .filter(|e| f.matches(e, HOST))
        .map(|e| e.kind().name())
        .collect()
}

pub fn err(src: &str) -> FilterError {
    match Filter::parse(src) {
        Ok(f) => panic!("`{src}` parsed: {f:?}"),
        Err(e) => e,
    }
}
