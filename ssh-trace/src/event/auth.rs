//! How a session authenticated (or tried to): one `session.auth` per
//! decision the SSH server logged, the accepted one on `session.login`,
//! and what a connection that never logged in tried on `session.end`.
//! Made from the server's own log messages (session/auth/).
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;

/// An authentication method (RFC 4252 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    None,
    Password,
    Publickey,
    KeyboardInteractive,
    Hostbased,
    GssapiWithMic,
    /// Debian's and Fedora's GSSAPI key exchange patch.
    GssapiKeyex,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Password => "password",
            Method::Publickey => "publickey",
            Method::KeyboardInteractive => "keyboard-interactive",
            Method::Hostbased => "hostbased",
            Method::GssapiWithMic => "gssapi-with-mic",
            Method::GssapiKeyex => "gssapi-keyex",
        }
    }

    pub fn from_name(s: &str) -> Option<Method> {
        <Method as strum::IntoEnumIterator>::iter().find(|m| m.name() == s)
    }
}

/// What the server decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Failed,
    /// One step of several (`AuthenticationMethods`) passed; more are required.
    Partial,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Failed => "failed",
            Outcome::Partial => "partial",
        }
    }

    pub fn from_name(s: &str) -> Option<Outcome> {
        <Outcome as strum::IntoEnumIterator>::iter().find(|o| o.name() == s)
    }
}

/// A public key as the server named it: OpenSSH's type names (`ED25519`,
/// `RSA`, `ECDSA`, `ED25519-CERT`, …, as `ssh-keygen -l` shows them) and
/// its fingerprint (`SHA256:…`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema)]
pub struct Key {
    #[serde(rename = "type")]
    pub key_type: String,
    pub fingerprint: String,
}

/// An OpenSSH certificate: its key ID, serial and the CA that signed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema)]
pub struct Certificate {
    pub id: String,
    pub serial: u64,
    pub ca: Key,
}

/// One authentication decision.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, JsonSchema)]
pub struct Auth {
    /// None when the server does not say (dropbear's message for a user
    /// that does not exist).
    pub method: Option<Method>,
    /// The method's variant, e.g. `pam` for `keyboard-interactive/pam`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submethod: Option<String>,
    /// The user name tried, as the server logged it (escaped like all text
    /// from the system); None when the server does not name it.
    pub user: Option<Arc<str>>,
    /// The user does not exist (or may not log in at all).
    pub invalid: bool,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
}

/// `session.auth`: the server process that logged the decision, and it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthDecision {
    pub pid: u32,
    pub auth: Arc<Auth>,
}

/// `session.login`: the accepted authentication, when the server logged it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Login {
    pub auth: Option<Box<Accepted>>,
}

/// How a session got in: the method and key of its accepted decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Accepted {
    pub method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submethod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
}

impl Accepted {
    /// The accepted decision's method and key (None: it names no method).
    pub fn of(a: &Auth) -> Option<Self> {
        Some(Self {
            method: a.method?,
            submethod: a.submethod.clone(),
            key: a.key.clone(),
            certificate: a.certificate.clone(),
        })
    }
}

/// At most this many distinct user names are kept per connection.
pub const USERS_MAX: usize = 16;

/// What a connection that never logged in tried (on its `session.end`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Attempts {
    /// Decisions the server logged (its `session.auth` events).
    pub attempts: u32,
    /// Of which failed.
    pub failures: u32,
    /// Distinct user names tried (the first USERS_MAX), from the server's
    /// log and from its switches to an existing user's uid.
    pub users: Vec<Arc<str>>,
    /// Times a server process switched its effective uid to a user's
    /// before the login: OpenSSH's monitor and dropbear do it to read
    /// authorized_keys, for each public key offered for an existing user.
    /// Seen by the kernel whatever the server logs.
    pub key_lookups: u32,
}

impl Attempts {
    pub fn is_empty(&self) -> bool {
        self.attempts == 0 && self.users.is_empty() && self.key_lookups == 0
    }

    /// Adds a user name tried (once; at most USERS_MAX).
    pub fn add_user(&mut self, user: &Arc<str>) {
        if self.users.len() < USERS_MAX && !self.users.iter().any(|u| u == user) {
            self.users.push(user.clone());
        }
    }
}
