//! Alert events (`alert.*`): what a rule that fired carries (the rules
//! themselves live in operators/alert/).
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The rule types; each fires events of its own type (`alert.<type>`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::EnumIter,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// First login of a user from a source IP not seen before.
    NewSource,
    /// More than `max` connections from one IP within `window`.
    ConnectionRate,
    /// More than `max` never-authenticated connections from one IP within `window`.
    UnauthenticatedRate,
    /// A login as uid 0.
    RootLogin,
    /// A process of a non-root session gained uid 0 (sudo, su).
    PrivilegeGain,
    /// A session moved more than `max_bytes`.
    SessionBytes,
    /// No open session for `after`.
    Idle,
    /// The first login after an idle period of at least `after`.
    LoginAfterIdle,
    /// An action of an alert failed for good (after its retries).
    ActionFailed,
    /// A session ran a program with no file (a memfd, or deleted).
    FilelessExec,
    /// More than `max` failed authentications from one IP within `window`.
    BruteForce,
    /// More than `max` distinct user names tried from one IP within `window`.
    PasswordSpraying,
    /// More than `max` source IPs failing for one user name within `window`.
    DistributedGuessing,
    /// A session's server connected (or tried to) on the client's behalf
    /// to an address outside the rule's `allowed` networks.
    ForwardTarget,
    /// A file transfer (upload or download of one file) moved more than
    /// `max_bytes`.
    TransferBytes,
}

impl AlertKind {
    /// Every alert type, in capture-code order.
    pub fn all() -> impl Iterator<Item = AlertKind> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    pub fn name(self) -> &'static str {
        super::Kind::Alert(self).name()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// What an alert carries besides its session: the rule's name and why it fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    pub rule: String,
    pub severity: Severity,
    pub evidence: Evidence,
}

/// Why the rule fired; only the fields that apply to the rule are present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schemars(with = "Option<String>")]
    pub source_ip: Option<IpAddr>,
    /// How many times it happened within the window, or the bytes moved.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub count: Option<u64>,
    /// The configured limit that was exceeded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idle_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub syscall: Option<String>,
    /// The program an exec rule fired on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub executable: Option<String>,
    /// The file of a transfer, as the client named it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    /// The alert an action failed for, and the action's name and last error.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The address a forward connected (or tried to connect) to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schemars(with = "Option<String>")]
    pub target_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_port: Option<u16>,
    /// The user names tried within the window (authentication rules; the
    /// first 16, in the order first tried).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub users: Option<Vec<String>>,
    /// The source IPs within the window (distributed_guessing; the first 16).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_ips: Option<Vec<String>>,
}
