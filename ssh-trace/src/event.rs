//! Events ssh-trace emits (documented in docs/schema.md). The JSON shape is
//! `{"time", "event", "host", "session"?, <body fields>}`.
use schemars::JsonSchema;
use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Endpoint {
    pub ip: String,
    pub port: u16,
}

/// The session an event belongs to, as known when the event was made.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct SessionInfo {
    pub id: String,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub source: Option<Endpoint>,
    pub destination: Option<Endpoint>,
    /// Found in /proc when the agent started, not seen connecting.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discovered: bool,
    /// Byte counters so far: on session.bytes and session.end only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
    /// Present on session.end only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub end: Option<SessionEnd>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Traffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct SessionEnd {
    pub duration_ms: u64,
    pub logged_in: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct ProcessExec {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub executable: String,
    pub executable_truncated: bool,
    pub args: Vec<String>,
    pub args_truncated: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct ProcessExit {
    pub pid: u32,
    /// Exit status when the process exited normally.
    pub exit_code: Option<u8>,
    /// Signal number when it was killed by a signal.
    pub signal: Option<u8>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct UserChange {
    /// setuid, setreuid, setresuid, setgid, setregid, setresgid, or execve
    /// (a set-user-ID or set-group-ID program).
    pub syscall: &'static str,
    /// Syscall arguments; -1 means "unchanged". Empty for execve.
    pub args: Vec<i64>,
    pub success: bool,
    /// errno when the syscall failed.
    pub errno: Option<i32>,
    pub old: Ids,
    pub new: Ids,
    /// Names of the new real and effective users.
    pub user: Option<String>,
    pub effective_user: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Pid {
    pub pid: u32,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq, JsonSchema)]
pub struct LossCounts {
    /// Records the kernel could not put on the full ring buffer.
    pub kernel_ringbuf: u64,
    /// Processes not tracked because the TRACKED map was full.
    pub kernel_tracked_full: u64,
    /// Connections not counted because the SESSION_SOCKS map was full.
    pub kernel_socks_full: u64,
    /// Records dropped because the agent's queue was full.
    pub queue: u64,
    /// Records the agent could not decode.
    pub decode: u64,
    /// Events each agent-mode sink dropped (absent without such sinks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<SinkLoss>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SinkLoss {
    /// The sink's configured name.
    pub sink: String,
    /// Events its queue and spool could not hold.
    pub dropped: u64,
}

impl LossCounts {
    pub fn total(&self) -> u64 {
        self.kernel_ringbuf
            + self.kernel_tracked_full
            + self.kernel_socks_full
            + self.queue
            + self.decode
            + self.sinks.iter().map(|s| s.dropped).sum::<u64>()
    }

    pub fn since(&self, earlier: &LossCounts) -> LossCounts {
        LossCounts {
            kernel_ringbuf: self.kernel_ringbuf - earlier.kernel_ringbuf,
            kernel_tracked_full: self.kernel_tracked_full - earlier.kernel_tracked_full,
            kernel_socks_full: self.kernel_socks_full - earlier.kernel_socks_full,
            queue: self.queue - earlier.queue,
            decode: self.decode - earlier.decode,
            // Sinks never go away, so they line up with the earlier counts.
            sinks: self
                .sinks
                .iter()
                .map(|s| SinkLoss {
                    sink: s.sink.clone(),
                    dropped: s.dropped
                        - earlier
                            .sinks
                            .iter()
                            .find(|e| e.sink == s.sink)
                            .map_or(0, |e| e.dropped),
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct AgentInfo {
    pub version: String,
    pub pid: u32,
    pub kernel: String,
    pub ring_buffer_bytes: u32,
    pub server_binaries: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct AgentTotals {
    pub events: u64,
    pub lost: LossCounts,
}

/// Kind-specific part of an event; its fields sit at the top level.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(untagged)]
pub enum Body {
    None {},
    ProcessExec {
        process: ProcessExec,
    },
    ProcessExit {
        process: ProcessExit,
    },
    UserChange {
        process: Pid,
        change: UserChange,
    },
    AgentStart {
        agent: AgentInfo,
    },
    AgentLoss {
        loss: LossCounts,
        total: LossCounts,
    },
    AgentStop {
        agent: AgentInfo,
        totals: AgentTotals,
    },
    Alert {
        alert: crate::alert::Alert,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub enum Kind {
    #[serde(rename = "session.connect")]
    SessionConnect,
    #[serde(rename = "session.login")]
    SessionLogin,
    #[serde(rename = "process.exec")]
    ProcessExec,
    #[serde(rename = "process.exit")]
    ProcessExit,
    #[serde(rename = "user.change")]
    UserChange,
    #[serde(rename = "session.bytes")]
    SessionBytes,
    #[serde(rename = "session.end")]
    SessionEnd,
    #[serde(rename = "agent.start")]
    AgentStart,
    #[serde(rename = "agent.loss")]
    AgentLoss,
    #[serde(rename = "agent.stop")]
    AgentStop,
    /// An alert rule fired (crate::alert); one kind per rule type.
    #[serde(rename = "alert")]
    Alert(crate::alert::AlertKind),
}

impl Kind {
    /// Every event type but the alerts, in docs/schema.md's order.
    pub const BASE: [Kind; 10] = [
        Kind::SessionConnect,
        Kind::SessionLogin,
        Kind::ProcessExec,
        Kind::ProcessExit,
        Kind::UserChange,
        Kind::SessionBytes,
        Kind::SessionEnd,
        Kind::AgentStart,
        Kind::AgentLoss,
        Kind::AgentStop,
    ];

    /// Every event type, alerts included.
    pub fn all() -> impl Iterator<Item = Kind> {
        Self::BASE
            .into_iter()
            .chain(crate::alert::ALL_KINDS.map(Kind::Alert))
    }

    /// The agent's own events (start, loss, stop).
    pub fn is_agent(self) -> bool {
        matches!(self, Self::AgentStart | Self::AgentLoss | Self::AgentStop)
    }

    /// Alerts: made from selected events, so they always pass the filter too.
    pub fn is_alert(self) -> bool {
        matches!(self, Self::Alert(_))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Alert(a) => a.name(),
            Self::SessionConnect => "session.connect",
            Self::SessionLogin => "session.login",
            Self::ProcessExec => "process.exec",
            Self::ProcessExit => "process.exit",
            Self::UserChange => "user.change",
            Self::SessionBytes => "session.bytes",
            Self::SessionEnd => "session.end",
            Self::AgentStart => "agent.start",
            Self::AgentLoss => "agent.loss",
            Self::AgentStop => "agent.stop",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    pub kind: Kind,
    pub session: Option<SessionInfo>,
    pub body: Body,
}

impl Event {
    pub fn new(time_ns: u64, kind: Kind, session: Option<SessionInfo>, body: Body) -> Self {
        Self {
            time_ns,
            kind,
            session,
            body,
        }
    }
}
