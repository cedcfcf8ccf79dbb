//! Alerts: rules over the event stream (rules.rs), their configuration
//! (config.rs), state kept across restarts (state.rs) and the actions they
//! trigger (actions.rs). Each alert is itself an event (`alert.*`).
pub mod actions;
pub mod config;
pub mod rules;
pub mod state;
#[cfg(test)]
pub(crate) mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The rule types; each fires events of its own kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
}

pub const ALL_KINDS: [AlertKind; 9] = [
    AlertKind::NewSource,
    AlertKind::ConnectionRate,
    AlertKind::UnauthenticatedRate,
    AlertKind::RootLogin,
    AlertKind::PrivilegeGain,
    AlertKind::SessionBytes,
    AlertKind::Idle,
    AlertKind::LoginAfterIdle,
    AlertKind::ActionFailed,
];

impl AlertKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::NewSource => "alert.new_source",
            Self::ConnectionRate => "alert.connection_rate",
            Self::UnauthenticatedRate => "alert.unauthenticated_rate",
            Self::RootLogin => "alert.root_login",
            Self::PrivilegeGain => "alert.privilege_gain",
            Self::SessionBytes => "alert.session_bytes",
            Self::Idle => "alert.idle",
            Self::LoginAfterIdle => "alert.login_after_idle",
            Self::ActionFailed => "alert.action_failed",
        }
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
    pub source_ip: Option<String>,
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
    /// The alert an action failed for, and the action's name and last error.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}
