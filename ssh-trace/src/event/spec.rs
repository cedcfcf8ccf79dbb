//! The one declaration of every event type: what each output needs to know
//! of it. Every output matches on the type exhaustively, through this table
//! or through `Body`, so a new type that misses a mapping does not compile.
//! Adding an event type: docs/design.md.
use super::{AlertKind, Kind, TransferAction};

/// What one event type is, for every output.
#[derive(Debug)]
pub struct Spec {
    /// The `event` field (docs/schema.md heading).
    pub name: &'static str,
    /// Capture-file code: stable forever, never reused (docs/capture.md).
    pub code: u8,
    /// Whether events of this type carry a session.
    pub session: bool,
    /// Made by the agent about itself, or by an alert rule from events
    /// already selected: such events always pass a filter.
    pub always_selected: bool,
    /// ANSI colour of the event name in the human format.
    pub colour: &'static str,
    /// RFC 5424 severity: 4 warning for losses, 6 informational otherwise.
    pub syslog_severity: u8,
    pub ecs: Ecs,
    pub ocsf: Ocsf,
    /// Alert evidence fields: always there, and there when known.
    pub evidence: (&'static [&'static str], &'static [&'static str]),
    /// Bulk data (terminal recordings): only consumers that ask take it —
    /// the capture file, the operators' screens, sinks with `tty = true`;
    /// standard output and other sinks never see it.
    pub bulk: bool,
}

/// The ECS classification of a type; `session.end` has two (ECS expects
/// every category with every type: a session ends at logoff, a connection
/// that never logged in is only a network connection).
#[derive(Debug)]
pub enum Ecs {
    Always(EcsClass),
    ByLogin {
        logged_in: EcsClass,
        not: EcsClass,
    },
    /// `session.forward`: by the forward's state.
    ByForward(ByState<EcsClass>),
    /// file.transfer: by what was done to the file.
    ByAction(&'static [(TransferAction, EcsClass)]),
}

/// One value per `forward.state` (session.forward).
#[derive(Debug)]
pub struct ByState<T> {
    pub listen: T,
    pub open: T,
    pub close: T,
    pub failed: T,
}

impl<T> ByState<T> {
    pub fn get(&self, state: super::ForwardState) -> &T {
        use super::ForwardState as S;
        match state {
            S::Listen => &self.listen,
            S::Open => &self.open,
            S::Close => &self.close,
            S::Failed => &self.failed,
        }
    }
}

/// ECS event.kind, event.category and event.type.
#[derive(Debug)]
pub struct EcsClass {
    pub kind: &'static str,
    pub category: &'static [&'static str],
    pub types: &'static [&'static str],
}

/// The OCSF class and activity of a type; `session.end` has two.
#[derive(Debug)]
pub enum Ocsf {
    Always(Activity),
    /// Logoff pairs with a logon; a connection that never logged in has no
    /// logon, so its end is the SSH connection's close.
    ByLogin {
        logged_in: Activity,
        not: Activity,
    },
    /// File System Activity by what was done to the file.
    ByAction(&'static [(TransferAction, Activity)]),
    /// `session.forward`: Network Activity by the forward's state.
    ByForward(ByState<Activity>),
}

/// An OCSF class and activity: type_uid = class_uid * 100 + activity_id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    pub class_uid: u32,
    pub class_name: &'static str,
    pub activity_id: u32,
    pub activity_name: &'static str,
}

const fn act(class_uid: u32, activity_id: u32, activity_name: &'static str) -> Activity {
    let class_name = match class_uid {
        1007 => "Process Activity",
        3002 => "Authentication",
        4001 => "Network Activity",
        4007 => "SSH Activity",
        2004 => "Detection Finding",
        1001 => "File System Activity",
        _ => "Application Lifecycle",
    };
    Activity {
        class_uid,
        class_name,
        activity_id,
        activity_name,
    }
}

pub const SSH_OPEN: Activity = act(4007, 1, "Open");
pub const SSH_CLOSE: Activity = act(4007, 2, "Close");
pub const LOGON: Activity = act(3002, 1, "Logon");
pub const LOGOFF: Activity = act(3002, 2, "Logoff");
pub const LAUNCH: Activity = act(1007, 1, "Launch");
pub const TERMINATE: Activity = act(1007, 2, "Terminate");
pub const SET_USER_ID: Activity = act(1007, 5, "Set User ID");
pub const TRAFFIC: Activity = act(4001, 6, "Traffic");
pub const SSH_TRAFFIC: Activity = act(4007, 6, "Traffic");
pub const NET_OPEN: Activity = act(4001, 1, "Open");
pub const NET_CLOSE: Activity = act(4001, 2, "Close");
pub const NET_FAIL: Activity = act(4001, 4, "Fail");
pub const NET_LISTEN: Activity = act(4001, 7, "Listen");
pub const APP_START: Activity = act(6002, 3, "Start");
pub const APP_STOP: Activity = act(6002, 4, "Stop");
pub const APP_LOSS: Activity = act(6002, 99, "Loss");
pub const APP_HEARTBEAT: Activity = act(6002, 99, "Heartbeat");
pub const APP_ACTION_FAILED: Activity = act(6002, 99, "Action Failed");
pub const FINDING: Activity = act(2004, 1, "Create");
pub const FILE_CREATE: Activity = act(1001, 1, "Create");
pub const FILE_READ: Activity = act(1001, 2, "Read");
pub const FILE_UPDATE: Activity = act(1001, 3, "Update");
pub const FILE_DELETE: Activity = act(1001, 4, "Delete");
pub const FILE_RENAME: Activity = act(1001, 5, "Rename");

impl Activity {
    pub fn category_uid(self) -> u32 {
        self.class_uid / 1000
    }

    pub fn category_name(self) -> &'static str {
        match self.category_uid() {
            1 => "System Activity",
            2 => "Findings",
            3 => "Identity & Access Management",
            4 => "Network Activity",
            _ => "Application Activity",
        }
    }

    pub fn type_uid(self) -> u32 {
        self.class_uid * 100 + self.activity_id
    }

    /// The caption OCSF gives type_uid: for 99 the activity is "Other",
    /// whatever source name activity_name carries.
    pub fn type_name(self) -> String {
        let activity = if self.activity_id == 99 {
            "Other"
        } else {
            self.activity_name
        };
        format!("{}: {activity}", self.class_name)
    }
}

const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const ALERT_RED: &str = "\x1b[1;31m";

const fn event(category: &'static [&'static str], types: &'static [&'static str]) -> EcsClass {
    EcsClass {
        kind: "event",
        category,
        types,
    }
}

/// A session event, or the agent's own (`always_selected`).
const fn base(
    name: &'static str,
    code: u8,
    session: bool,
    colour: &'static str,
    ecs: EcsClass,
    ocsf: Activity,
) -> Spec {
    Spec {
        name,
        code,
        session,
        always_selected: !session,
        colour,
        syslog_severity: 6,
        ecs: Ecs::Always(ecs),
        ocsf: Ocsf::Always(ocsf),
        evidence: (&[], &[]),
        bulk: false,
    }
}

/// A host-based detection that blocks nothing: intrusion_detection expects
/// allowed/denied/info ("indicator" belongs to threat intelligence).
const ALERT_ECS: EcsClass = EcsClass {
    kind: "alert",
    category: &["intrusion_detection"],
    types: &["info"],
};

/// An alert type: with or without a session, its evidence fields.
const fn alert(
    name: &'static str,
    code: u8,
    session: bool,
    always: &'static [&'static str],
    known: &'static [&'static str],
) -> Spec {
    Spec {
        name,
        code,
        session,
        always_selected: true,
        colour: ALERT_RED,
        syslog_severity: 6,
        ecs: Ecs::Always(ALERT_ECS),
        ocsf: Ocsf::Always(FINDING),
        evidence: (always, known),
        bulk: false,
    }
}

const RATE: &[&str] = &["source_ip", "count", "limit", "window_s"];
const WHO: &[&str] = &["user", "source_ip"];

impl Kind {
    pub fn spec(self) -> &'static Spec {
        match self {
            Kind::SessionConnect => &SESSION_CONNECT,
            Kind::SessionAuth => &SESSION_AUTH,
            Kind::SessionLogin => &SESSION_LOGIN,
            Kind::ProcessExec => &PROCESS_EXEC,
            Kind::ProcessExit => &PROCESS_EXIT,
            Kind::UserChange => &USER_CHANGE,
            Kind::SessionBytes => &SESSION_BYTES,
            Kind::SessionEnd => &SESSION_END,
            Kind::FileTransfer => &FILE_TRANSFER,
            Kind::SessionForward => &SESSION_FORWARD,
            Kind::AgentStart => &AGENT_START,
            Kind::AgentLoss => &AGENT_LOSS,
            Kind::AgentStop => &AGENT_STOP,
            Kind::AgentHeartbeat => &AGENT_HEARTBEAT,
            Kind::Alert(a) => a.spec(),
            Kind::SessionTty => &SESSION_TTY,
        }
    }
}

impl AlertKind {
    pub fn spec(self) -> &'static Spec {
        match self {
            AlertKind::NewSource => &NEW_SOURCE,
            AlertKind::ConnectionRate => &CONNECTION_RATE,
            AlertKind::UnauthenticatedRate => &UNAUTHENTICATED_RATE,
            AlertKind::RootLogin => &ROOT_LOGIN,
            AlertKind::PrivilegeGain => &PRIVILEGE_GAIN,
            AlertKind::SessionBytes => &ALERT_SESSION_BYTES,
            AlertKind::Idle => &IDLE,
            AlertKind::LoginAfterIdle => &LOGIN_AFTER_IDLE,
            AlertKind::ActionFailed => &ACTION_FAILED,
            AlertKind::FilelessExec => &FILELESS_EXEC,
            AlertKind::BruteForce => &BRUTE_FORCE,
            AlertKind::PasswordSpraying => &PASSWORD_SPRAYING,
            AlertKind::DistributedGuessing => &DISTRIBUTED_GUESSING,
            AlertKind::ForwardTarget => &FORWARD_TARGET,
            AlertKind::TransferBytes => &TRANSFER_BYTES,
        }
    }
}

static SESSION_CONNECT: Spec = base(
    "session.connect",
    1,
    true,
    CYAN,
    event(&["network"], &["connection", "start"]),
    SSH_OPEN,
);
static SESSION_LOGIN: Spec = base(
    "session.login",
    2,
    true,
    "\x1b[32m",
    event(&["authentication", "session"], &["start"]),
    LOGON,
);
static PROCESS_EXEC: Spec = base(
    "process.exec",
    3,
    true,
    "",
    event(&["process"], &["start"]),
    LAUNCH,
);
static PROCESS_EXIT: Spec = base(
    "process.exit",
    4,
    true,
    "",
    event(&["process"], &["end"]),
    TERMINATE,
);
static USER_CHANGE: Spec = base(
    "user.change",
    5,
    true,
    "\x1b[33m",
    event(&["process"], &["change"]),
    SET_USER_ID,
);
static SESSION_BYTES: Spec = base(
    "session.bytes",
    6,
    true,
    CYAN,
    event(&["network"], &["info"]),
    TRAFFIC,
);
static SESSION_END: Spec = Spec {
    ecs: Ecs::ByLogin {
        logged_in: event(&["network", "session"], &["end"]),
        not: event(&["network"], &["connection", "end"]),
    },
    ocsf: Ocsf::ByLogin {
        logged_in: LOGOFF,
        not: SSH_CLOSE,
    },
    ..base(
        "session.end",
        7,
        true,
        CYAN,
        event(&["network", "session"], &["connection", "end"]),
        SSH_CLOSE,
    )
};
/// Uploads change a file's content (new or not), downloads read it.
static FILE_TRANSFER: Spec = Spec {
    ecs: Ecs::ByAction(&[
        (TransferAction::Upload, event(&["file"], &["change"])),
        (TransferAction::Download, event(&["file"], &["access"])),
        (TransferAction::Rename, event(&["file"], &["change"])),
        (TransferAction::Remove, event(&["file"], &["deletion"])),
        (TransferAction::Mkdir, event(&["file"], &["creation"])),
        (TransferAction::Rmdir, event(&["file"], &["deletion"])),
        (TransferAction::Link, event(&["file"], &["creation"])),
    ]),
    ocsf: Ocsf::ByAction(&[
        (TransferAction::Upload, FILE_UPDATE),
        (TransferAction::Download, FILE_READ),
        (TransferAction::Rename, FILE_RENAME),
        (TransferAction::Remove, FILE_DELETE),
        (TransferAction::Mkdir, FILE_CREATE),
        (TransferAction::Rmdir, FILE_DELETE),
        (TransferAction::Link, FILE_CREATE),
    ]),
    ..base(
        "file.transfer",
        13,
        true,
        "\x1b[35m",
        event(&["file"], &["access"]),
        FILE_READ,
    )
};
/// One decision of the server: a logon attempt, whatever its outcome.
static SESSION_AUTH: Spec = base(
    "session.auth",
    11,
    true,
    "\x1b[35m",
    event(&["authentication"], &["info"]),
    LOGON,
);
/// A forward is a connection of its own (ECS network, OCSF Network
/// Activity), made or accepted by the session's server.
static SESSION_FORWARD: Spec = Spec {
    ecs: Ecs::ByForward(ByState {
        listen: event(&["network"], &["start"]),
        open: event(&["network"], &["connection", "start"]),
        close: event(&["network"], &["connection", "end"]),
        failed: event(&["network"], &["connection", "denied"]),
    }),
    ocsf: Ocsf::ByForward(ByState {
        listen: NET_LISTEN,
        open: NET_OPEN,
        close: NET_CLOSE,
        failed: NET_FAIL,
    }),
    ..base(
        "session.forward",
        12,
        true,
        "\x1b[35m",
        event(&["network"], &["connection", "start"]),
        NET_OPEN,
    )
};
static AGENT_START: Spec = base(
    "agent.start",
    8,
    false,
    DIM,
    event(&["process"], &["start"]),
    APP_START,
);
static AGENT_LOSS: Spec = Spec {
    syslog_severity: 4,
    ..base(
        "agent.loss",
        9,
        false,
        "\x1b[31m",
        event(&["host"], &["info"]),
        APP_LOSS,
    )
};
static AGENT_STOP: Spec = base(
    "agent.stop",
    10,
    false,
    DIM,
    event(&["process"], &["end"]),
    APP_STOP,
);

static AGENT_HEARTBEAT: Spec = base(
    "agent.heartbeat",
    15,
    false,
    DIM,
    event(&["host"], &["info"]),
    APP_HEARTBEAT,
);

static SESSION_TTY: Spec = Spec {
    bulk: true,
    ..base(
        "session.tty",
        14,
        true,
        DIM,
        event(&["session"], &["info"]),
        SSH_TRAFFIC,
    )
};

// Alert codes are fixed per type, never reused (docs/capture.md): 32-41 in
// AlertKind order, then 42-44 authentication, 45 file transfers, 48 forwards.
static NEW_SOURCE: Spec = alert("alert.new_source", 32, true, WHO, &[]);
static CONNECTION_RATE: Spec = alert("alert.connection_rate", 33, true, RATE, &[]);
static UNAUTHENTICATED_RATE: Spec = alert("alert.unauthenticated_rate", 34, true, RATE, &[]);
static ROOT_LOGIN: Spec = alert("alert.root_login", 35, true, &[], WHO);
static PRIVILEGE_GAIN: Spec = alert("alert.privilege_gain", 36, true, &["pid", "syscall"], WHO);
static ALERT_SESSION_BYTES: Spec = alert("alert.session_bytes", 37, true, &["count", "limit"], WHO);
static IDLE: Spec = alert("alert.idle", 38, false, &["idle_s"], &[]);
static FILELESS_EXEC: Spec = alert("alert.fileless_exec", 41, true, &["pid", "executable"], WHO);
static LOGIN_AFTER_IDLE: Spec = alert("alert.login_after_idle", 39, true, &["idle_s"], WHO);
// Codes are fixed per type (docs/capture.md): 42-44 authentication, 45 file
// transfers, 48 forwards.
static TRANSFER_BYTES: Spec = alert(
    "alert.transfer_bytes",
    45,
    true,
    &["count", "limit", "pid", "path"],
    WHO,
);
static FORWARD_TARGET: Spec = alert(
    "alert.forward_target",
    48,
    true,
    &["pid", "target_ip", "target_port"],
    WHO,
);
/// An action that failed is the agent's own trouble, like a loss.
static ACTION_FAILED: Spec = Spec {
    ecs: Ecs::Always(event(&["host"], &["info"])),
    ocsf: Ocsf::Always(APP_ACTION_FAILED),
    ..alert("alert.action_failed", 40, false, &["action", "error"], &[])
};

/// Authentication rules: the window's count, its limit and the names tried.
const GUESSES: &[&str] = &["source_ip", "count", "limit", "window_s", "users"];
static BRUTE_FORCE: Spec = alert("alert.brute_force", 42, true, GUESSES, &[]);
static PASSWORD_SPRAYING: Spec = alert("alert.password_spraying", 43, true, GUESSES, &[]);
static DISTRIBUTED_GUESSING: Spec = alert(
    "alert.distributed_guessing",
    44,
    true,
    &[
        "user",
        "source_ip",
        "count",
        "limit",
        "window_s",
        "source_ips",
    ],
    &[],
);
