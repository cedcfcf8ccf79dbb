//! The agent's TOML configuration (`ssh-trace agent --config FILE`): agent
//! settings and one `[[sink]]` table per output (sinks/config.rs and each
//! sink's own folder). Every error names the file, the line and the key
//! (docs/agent.md describes each key).
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{de::IgnoredAny, Deserialize};
use toml::{de::DeTable, Spanned};

use crate::{
    agent::run_loop::{heartbeat_interval, DEFAULT_HEARTBEAT},
    operators::{self, metrics::SourceIpLabel, socket},
    sinks::SinkSpec,
    spanned::{at, duration, render, toml_error, At},
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    agent: RawAgent,
    /// Terminal recording (config/tty.rs).
    tty: Option<tty::RawTty>,
    /// A capture file of everything selected, recordings included.
    capture: Option<toml::Spanned<tty::RawCapture>>,
    /// Parsed apart, table by table (sinks/config.rs).
    #[serde(default)]
    #[allow(dead_code)]
    sink: Vec<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    ring_buffer_size: Option<u32>,
    server_binaries: Option<Vec<String>>,
    sftp_servers: Option<Vec<String>>,
    scp_binaries: Option<Vec<String>>,
    privsep_users: Option<Vec<String>>,
    spool_dir: Option<PathBuf>,
    drain_timeout: Option<Spanned<String>>,
    /// Operators' view (docs/operators.md), as the tail flags of the same names.
    sessions_socket: Option<PathBuf>,
    sessions_group: Option<String>,
    metrics_listen: Option<String>,
    metrics_source_ip: Option<bool>,
    metrics_source_ip_limit: Option<usize>,
    metrics_auth_user: Option<bool>,
    metrics_auth_user_limit: Option<usize>,
    alerts: Option<PathBuf>,
    /// agent.heartbeat interval ("0s": none).
    heartbeat: Option<Spanned<String>>,
    /// As `--persist NAME`: kernel programs pinned under this name.
    persist: Option<Spanned<String>>,
    /// As `--nice N`: the agent's scheduling priority.
    nice: Option<Spanned<i64>>,
}

#[derive(Debug)]
pub struct Config {
    pub ring_buffer_size: Option<u32>,
    pub server_binaries: Option<Vec<String>>,
    pub sftp_servers: Option<Vec<String>>,
    pub scp_binaries: Option<Vec<String>>,
    pub privsep_users: Option<Vec<String>>,
    /// How long a stopping agent keeps trying to deliver.
    pub drain_timeout: Duration,
    pub sinks: Vec<SinkSpec>,
    /// Session socket, metrics, alerts.
    pub operators: operators::Options,
    pub tty: Option<crate::agent::tty::Options>,
    pub capture: Option<(PathBuf, crate::capture::writer::Rotation)>,
    pub heartbeat: Option<Duration>,
    pub nice: Option<i32>,
    pub persist: Option<String>,
}

pub const DEFAULT_SPOOL_DIR: &str = "/var/lib/ssh-trace/spool";

pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
}

/// Why a configuration is refused: `LINE: KEY: problem`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Parses a configuration; errors read `LINE: KEY: problem`.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let err = |e: &toml::de::Error| ConfigError(toml_error(text, e));
    let raw: RawFile = toml::from_str(text).map_err(|e| err(&e))?;
    let doc = DeTable::parse(text).map_err(|e| err(&e))?;
    let spool_dir = raw
        .agent
        .spool_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR));
    let sinks = crate::sinks::config::sinks(text, doc.get_ref(), &spool_dir)
        .map_err(|a| ConfigError(render(text, &a)))?;
    build(raw, sinks).map_err(|a| ConfigError(render(text, &a)))
}

/// A nice value, -20 (most favoured) to 19.
fn nice(n: &Spanned<i64>) -> Result<i32, At> {
    match i32::try_from(*n.get_ref()) {
        Ok(v) if (-20..=19).contains(&v) => Ok(v),
        _ => Err(at(
            n,
            "nice",
            format!("{} is not a nice value (-20 to 19)", n.get_ref()),
        )),
    }
}

fn build(raw: RawFile, sinks: Vec<SinkSpec>) -> Result<Config, At> {
    let drain_timeout = match &raw.agent.drain_timeout {
        Some(d) => duration(d, "drain_timeout")?,
        None => Duration::from_secs(5),
    };
    let heartbeat = match &raw.agent.heartbeat {
        Some(d) => heartbeat_interval(duration(d, "heartbeat")?).map_err(|msg| At {
            span: d.span(),
            key: "heartbeat".into(),
            msg,
        })?,
        None => Some(DEFAULT_HEARTBEAT),
    };
    if let Some(name) = &raw.agent.persist {
        crate::probes::PinDir::new(name.get_ref()).map_err(|e| At {
            span: name.span(),
            key: "persist".into(),
            msg: e.to_string(),
        })?;
    }
    if sinks.is_empty() {
        return Err(At {
            span: 0..0,
            key: "sink".into(),
            msg: "no [[sink]] configured".into(),
        });
    }
    let capture = match raw.capture {
        Some(c) => Some(c.into_inner().file()?),
        None => None,
    };
    let tty = raw.tty.map(tty::RawTty::options).transpose()?;
    if tty.is_some() && capture.is_none() && !sinks.iter().any(|s| s.tty) {
        return Err(At {
            span: 0..0,
            key: "tty".into(),
            msg: "terminal recordings need somewhere to go: a [capture] file or a sink with tty = true".into(),
        });
    }
    Ok(Config {
        tty,
        capture,
        ring_buffer_size: raw.agent.ring_buffer_size,
        server_binaries: raw.agent.server_binaries,
        sftp_servers: raw.agent.sftp_servers,
        scp_binaries: raw.agent.scp_binaries,
        privsep_users: raw.agent.privsep_users,
        drain_timeout,
        sinks,
        heartbeat,
        persist: raw.agent.persist.map(Spanned::into_inner),
        nice: raw.agent.nice.as_ref().map(nice).transpose()?,
        operators: operators::Options {
            sessions_socket_given: raw.agent.sessions_socket.is_some(),
            sessions_socket: Some(
                raw.agent
                    .sessions_socket
                    .unwrap_or_else(|| socket::DEFAULT_PATH.into()),
            ),
            sessions_group: raw.agent.sessions_group,
            metrics_listen: raw.agent.metrics_listen,
            metrics_source_ip: Some(SourceIpLabel {
                enabled: raw.agent.metrics_source_ip.unwrap_or(false),
                limit: raw.agent.metrics_source_ip_limit.unwrap_or(100),
            }),
            metrics_auth_user: Some(SourceIpLabel {
                enabled: raw.agent.metrics_auth_user.unwrap_or(false),
                limit: raw.agent.metrics_auth_user_limit.unwrap_or(100),
            }),
            alerts: raw.agent.alerts,
        },
    })
}

#[cfg(test)]
mod tests;
mod tty;
