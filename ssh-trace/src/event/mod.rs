//! The events ssh-trace emits (docs/schema.md): a time, the session it
//! belongs to (shared, not copied), and a body with one variant per event
//! type. The type (`Kind`) is derived from the body, so an event cannot
//! carry another type's body; `spec.rs` declares what each type is.
mod alert;
mod auth;
mod body;
pub mod fields;
pub mod resolve;
mod session;
pub mod spec;

use std::sync::Arc;

pub use alert::{Alert, AlertKind, Evidence, Severity};
pub use auth::*;
pub use body::*;
pub use session::{BadSessionId, Endpoint, IdText, Server, ServerMode, SessionId, SessionInfo};
pub use spec::Spec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// The session as known when the event was made (None for the agent's
    /// own events and session-less alerts).
    pub session: Option<Arc<SessionInfo>>,
    pub body: Body,
}

/// The type-specific part of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    SessionConnect,
    /// An authentication decision the server logged.
    SessionAuth(Box<AuthDecision>),
    SessionLogin(Login),
    ProcessExec(ProcessExec),
    ProcessExit(ProcessExit),
    UserChange(IdChange),
    SessionBytes(Traffic),
    SessionEnd(Closed),
    /// A file-transfer server moved a file or changed a directory.
    FileTransfer(Box<FileTransfer>),
    SessionForward(Box<Forward>),
    AgentStart(Box<AgentInfo>),
    AgentLoss(Box<AgentLoss>),
    AgentStop(Box<AgentStop>),
    AgentHeartbeat(Box<Heartbeat>),
    /// An alert rule fired: one event type per rule type.
    Alert(AlertKind, Box<Alert>),
    /// A piece of a recorded terminal: bulk data that only the consumers
    /// that ask for it take (spec `bulk`).
    SessionTty(Terminal),
}

/// An event type: the body's variant (alert types apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumCount)]
pub enum Kind {
    SessionConnect,
    SessionAuth,
    SessionLogin,
    ProcessExec,
    ProcessExit,
    UserChange,
    SessionBytes,
    SessionEnd,
    FileTransfer,
    SessionForward,
    AgentStart,
    AgentLoss,
    AgentStop,
    AgentHeartbeat,
    Alert(AlertKind),
    SessionTty,
}

impl Kind {
    /// Every event type but the alerts, in docs/schema.md's order.
    pub const BASE: [Kind; 15] = [
        Kind::SessionConnect,
        Kind::SessionAuth,
        Kind::SessionLogin,
        Kind::ProcessExec,
        Kind::ProcessExit,
        Kind::UserChange,
        Kind::SessionBytes,
        Kind::SessionEnd,
        Kind::FileTransfer,
        Kind::SessionForward,
        Kind::AgentStart,
        Kind::AgentLoss,
        Kind::AgentStop,
        Kind::AgentHeartbeat,
        Kind::SessionTty,
    ];

    /// Every event type, alerts included.
    pub fn all() -> impl Iterator<Item = Kind> {
        Self::BASE
            .into_iter()
            .chain(AlertKind::all().map(Kind::Alert))
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The type named `name` (as in the `event` field).
    pub fn from_name(name: &str) -> Option<Kind> {
        Self::all().find(|k| k.name() == name)
    }

    /// The type with capture code `code`.
    pub fn from_code(code: u8) -> Option<Kind> {
        static BY_CODE: std::sync::LazyLock<[Option<Kind>; 256]> = std::sync::LazyLock::new(|| {
            let mut t = [None; 256];
            for k in Kind::all() {
                t[k.spec().code as usize] = Some(k);
            }
            t
        });
        BY_CODE[code as usize]
    }
}

// A variant added to Kind but not to BASE does not compile.
const _: () = assert!(Kind::BASE.len() + 1 == <Kind as strum::EnumCount>::COUNT);

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::SessionConnect => Kind::SessionConnect,
            Body::SessionAuth(_) => Kind::SessionAuth,
            Body::SessionLogin(_) => Kind::SessionLogin,
            Body::ProcessExec(_) => Kind::ProcessExec,
            Body::ProcessExit(_) => Kind::ProcessExit,
            Body::UserChange(_) => Kind::UserChange,
            Body::SessionBytes(_) => Kind::SessionBytes,
            Body::SessionEnd(_) => Kind::SessionEnd,
            Body::FileTransfer(_) => Kind::FileTransfer,
            Body::SessionForward(_) => Kind::SessionForward,
            Body::AgentStart(_) => Kind::AgentStart,
            Body::AgentLoss(_) => Kind::AgentLoss,
            Body::AgentStop(_) => Kind::AgentStop,
            Body::AgentHeartbeat(_) => Kind::AgentHeartbeat,
            Body::Alert(k, _) => Kind::Alert(*k),
            Body::SessionTty(_) => Kind::SessionTty,
        }
    }

    /// The session's byte counters, on session.bytes and session.end.
    pub fn traffic(&self) -> Option<&Traffic> {
        match self {
            Body::SessionBytes(t) => Some(t),
            Body::SessionEnd(c) => Some(&c.traffic),
            Body::SessionConnect
            | Body::SessionAuth(_)
            | Body::SessionLogin(_)
            | Body::ProcessExec(_)
            | Body::ProcessExit(_)
            | Body::UserChange(_)
            | Body::FileTransfer(_)
            | Body::SessionForward(_)
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_)
            | Body::Alert(..)
            | Body::SessionTty(_) => None,
        }
    }

    pub fn alert(&self) -> Option<&Alert> {
        match self {
            Body::Alert(_, a) => Some(a),
            Body::SessionConnect
            | Body::SessionAuth(_)
            | Body::SessionLogin(_)
            | Body::ProcessExec(_)
            | Body::ProcessExit(_)
            | Body::UserChange(_)
            | Body::SessionBytes(_)
            | Body::SessionEnd(_)
            | Body::FileTransfer(_)
            | Body::SessionForward(_)
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_)
            | Body::SessionTty(_) => None,
        }
    }

    /// The file transfer of a file.transfer event.
    pub fn transfer(&self) -> Option<&FileTransfer> {
        let Body::FileTransfer(t) = self else {
            return None;
        };
        Some(t)
    }
}

impl Event {
    pub fn new(time_ns: u64, session: Option<Arc<SessionInfo>>, body: Body) -> Self {
        Self {
            time_ns,
            session,
            body,
        }
    }

    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    pub fn spec(&self) -> &'static Spec {
        self.kind().spec()
    }

    /// Heap bytes this event holds beyond its own size (for queues that
    /// bound memory): argv and the executable dominate.
    pub fn heap_bytes(&self) -> usize {
        match &self.body {
            Body::ProcessExec(p) => p.executable.capacity() + p.args.heap_bytes(),
            Body::SessionTty(t) => t.bytes().len(),
            Body::FileTransfer(t) => {
                let t = &t.transfer;
                std::mem::size_of::<FileTransfer>()
                    + t.path.capacity()
                    + t.target.as_ref().map_or(0, String::capacity)
                    + t.chroot.as_ref().map_or(0, String::capacity)
            }
            Body::SessionForward(f) => {
                std::mem::size_of::<Forward>() + f.path.as_ref().map_or(0, String::capacity)
            }
            Body::Alert(..)
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_) => 512,
            // Shared with the session's login; counted once, here.
            Body::SessionAuth(_) => 256,
            Body::SessionConnect
            | Body::SessionLogin(_)
            | Body::ProcessExit(_)
            | Body::UserChange(_)
            | Body::SessionBytes(_)
            | Body::SessionEnd(_) => 0,
        }
    }
}
