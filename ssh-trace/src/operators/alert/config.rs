//! The alert rules file (TOML), e.g.
//!
//! ```toml
//! state_file = "/var/lib/ssh-trace/alert-state.json"
//! [[rule]]
//! type = "connection_rate"   # see AlertKind
//! max = 10
//! window = "1m"
//! actions = ["ops"]
//! rate_limit = { max = 5, per = "10m" }
//! [[action]]
//! name = "ops"
//! webhook = "http://alerts.example:8080/hook"
//! preset = "slack"
//! ```
use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{
    event::{AlertKind, Severity},
    filter::net::Net,
};

pub const DEFAULT_STATE_FILE: &str = "/var/lib/ssh-trace/alert-state.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_file: Option<PathBuf>,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    action: Vec<RawAction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: AlertKind,
    #[serde(default)]
    severity: Severity,
    max: Option<u64>,
    window: Option<String>,
    after: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    rate_limit: Option<RawRateLimit>,
    /// forward_target: the networks forwards may reach (CIDR).
    allowed: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    max: u32,
    per: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: String,
    webhook: Option<String>,
    #[serde(default)]
    preset: Preset,
    command: Option<Vec<String>>,
}

/// Body of a webhook POST: the alert event as JSON, or a chat message.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    #[default]
    Json,
    /// `{"text": "..."}` (Slack, Mattermost, Rocket.Chat incoming webhooks).
    Slack,
    /// `{"msg_type":"text","content":{"text":"..."}}` (Feishu/Lark bots).
    Feishu,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Webhook {
        url: String,
        preset: Preset,
    },
    /// argv; the alert JSON is written to its standard input.
    Command(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct Action {
    pub name: String,
    pub kind: ActionKind,
}

/// At most `max` action runs per `per` for one rule; alerts beyond it are
/// still events, their actions are counted as suppressed.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub kind: AlertKind,
    pub severity: Severity,
    /// Count limit (rates) or byte limit (session_bytes).
    pub max: u64,
    pub window: Duration,
    /// Idle period (idle, login_after_idle).
    pub after: Duration,
    /// Indexes into Config::actions.
    pub actions: Vec<usize>,
    pub rate_limit: RateLimit,
    /// Networks forwards may reach (forward_target).
    pub allowed: Vec<Net>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub state_file: PathBuf,
    pub rules: Vec<Rule>,
    pub actions: Vec<Action>,
}

fn duration(rule: &str, field: &str, s: Option<&str>) -> Result<Option<Duration>> {
    s.map(|s| {
        humantime::parse_duration(s).with_context(|| {
            format!("rule {rule}: {field} = {s:?} is not a duration (e.g. 30s, 10m)")
        })
    })
    .transpose()
}

impl Config {
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading alert rules {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("alert rules {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text)?;
        let mut actions: Vec<Action> = Vec::new();
        for a in raw.action {
            let a = action(a)?;
            if actions.iter().any(|x| x.name == a.name) {
                bail!("action {} is defined twice", a.name);
            }
            actions.push(a);
        }
        let mut rules: Vec<Rule> = Vec::new();
        for r in raw.rule {
            let r = rule(r, &actions)?;
            if rules.iter().any(|x| x.name == r.name) {
                bail!(
                    "rule {} is defined twice (give each rule its own name)",
                    r.name
                );
            }
            rules.push(r);
        }
        Ok(Config {
            state_file: raw.state_file.unwrap_or_else(|| DEFAULT_STATE_FILE.into()),
            rules,
            actions,
        })
    }
}

fn action(a: RawAction) -> Result<Action> {
    let kind = match (a.webhook, a.command) {
        (Some(url), None) => {
            if !url.starts_with("http://") {
                bail!("action {}: webhook {url:?} must be an http:// URL", a.name);
            }
            ActionKind::Webhook {
                url,
                preset: a.preset,
            }
        }
        (None, Some(argv)) if !argv.is_empty() => ActionKind::Command(argv),
        (None, Some(_)) => bail!("action {}: command is empty", a.name),
        _ => bail!("action {}: give exactly one of webhook or command", a.name),
    };
    Ok(Action { name: a.name, kind })
}

/// Each rule type's required keys.
fn check_needs(
    name: &str,
    r: &RawRule,
    window: Option<Duration>,
    after: Option<Duration>,
) -> Result<()> {
    let needs = |what: &str, ok: bool| -> Result<()> {
        if !ok {
            bail!("rule {name}: type {:?} needs {what}", r.kind.name());
        }
        Ok(())
    };
    match r.kind {
        AlertKind::ConnectionRate
        | AlertKind::UnauthenticatedRate
        | AlertKind::BruteForce
        | AlertKind::PasswordSpraying
        | AlertKind::DistributedGuessing => {
            needs("max and window", r.max.is_some() && window.is_some())
        }
        AlertKind::SessionBytes | AlertKind::TransferBytes => needs("max (bytes)", r.max.is_some()),
        AlertKind::Idle | AlertKind::LoginAfterIdle => needs("after", after.is_some()),
        AlertKind::ActionFailed => bail!("rule {name}: action_failed is not a rule type"),
        AlertKind::ForwardTarget => needs(
            "allowed (a list of networks, e.g. [\"10.0.0.0/8\"])",
            r.allowed.is_some(),
        ),
        AlertKind::NewSource
        | AlertKind::RootLogin
        | AlertKind::PrivilegeGain
        | AlertKind::FilelessExec => Ok(()),
    }
}

fn rule(r: RawRule, actions: &[Action]) -> Result<Rule> {
    let kind_name = r.kind.name().trim_start_matches("alert.").to_owned();
    let name = r.name.clone().unwrap_or(kind_name);
    let window = duration(&name, "window", r.window.as_deref())?;
    let after = duration(&name, "after", r.after.as_deref())?;
    check_needs(&name, &r, window, after)?;
    let mut idx = Vec::new();
    for a in &r.actions {
        let i = actions
            .iter()
            .position(|x| &x.name == a)
            .with_context(|| format!("rule {name}: no action named {a:?}"))?;
        idx.push(i);
    }
    let rate_limit = match &r.rate_limit {
        Some(l) => RateLimit {
            max: l.max,
            per: duration(&name, "rate_limit.per", Some(&l.per))?.unwrap_or_default(),
        },
        None => RateLimit {
            max: 10,
            per: Duration::from_secs(60),
        },
    };
    let allowed = networks(&name, r.allowed.as_deref().unwrap_or_default())?;
    Ok(Rule {
        name,
        kind: r.kind,
        severity: r.severity,
        max: r.max.unwrap_or(0),
        window: window.unwrap_or_default(),
        after: after.unwrap_or_default(),
        actions: idx,
        rate_limit,
        allowed,
    })
}

/// `allowed` networks: `addr/prefix`, or one address.
fn networks(rule: &str, list: &[String]) -> Result<Vec<Net>> {
    list.iter()
        .map(|s| {
            let one = |a: std::net::IpAddr| format!("{a}/{}", if a.is_ipv4() { 32 } else { 128 });
            let cidr = match s.parse::<std::net::IpAddr>() {
                Ok(a) => one(a),
                Err(_) => s.clone(),
            };
            Net::parse(&cidr).with_context(|| {
                format!(
                    "rule {rule}: allowed {s:?} is not a network (e.g. 10.0.0.0/8) or an address"
                )
            })
        })
        .collect()
}
