//! Command-line parts of the operators' view: the flags an agent mode takes
//! and the `sessions` command.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use super::{
    live::{Listing, Row},
    metrics::SourceIpLabel,
    snapshot,
    socket::{self, Request, DEFAULT_PATH},
    Options,
};

#[derive(Args, Clone, Debug)]
pub struct OperatorArgs {
    /// Serve the open sessions (for `ssh-trace sessions` and `top`) on this
    /// unix socket, root's only unless --sessions-group [default: /run/ssh-trace/sessions.sock, skipped
    /// with a warning when another agent serves it].
    #[arg(long, value_name = "PATH")]
    sessions_socket: Option<PathBuf>,
    /// Let members of GROUP read the session socket (`ssh-trace sessions`
    /// and `top` without root): it is made mode 0660, owned root:GROUP.
    #[arg(long, value_name = "GROUP", conflicts_with = "no_sessions_socket")]
    sessions_group: Option<String>,
    /// Do not serve the session socket.
    #[arg(long, conflicts_with = "sessions_socket")]
    no_sessions_socket: bool,
    /// Serve Prometheus/OpenMetrics metrics on ADDR (e.g. 127.0.0.1:9464), path /metrics.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Label ssh_trace_sessions_active with source_ip too (at most
    /// --metrics-source-ip-limit distinct IPs; later ones count as "other").
    #[arg(long, requires = "metrics_listen")]
    metrics_source_ip: bool,
    #[arg(long, value_name = "N", default_value_t = 100)]
    metrics_source_ip_limit: usize,
    /// Label ssh_trace_auth_attempts with the user name tried too (at most
    /// --metrics-auth-user-limit distinct names; later ones count as
    /// "other"). Names tried are the clients' choice: off by default.
    #[arg(long, requires = "metrics_listen")]
    metrics_auth_user: bool,
    #[arg(long, value_name = "N", default_value_t = 100)]
    metrics_auth_user_limit: usize,
    /// Alert rules and actions (TOML, see docs/operators.md).
    #[arg(long, value_name = "FILE")]
    alerts: Option<PathBuf>,
}

impl OperatorArgs {
    pub fn options(&self) -> Options {
        Options {
            sessions_socket: (!self.no_sessions_socket).then(|| {
                self.sessions_socket
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PATH.into())
            }),
            sessions_socket_given: self.sessions_socket.is_some(),
            sessions_group: self.sessions_group.clone(),
            metrics_listen: self.metrics_listen.clone(),
            metrics_source_ip: Some(SourceIpLabel {
                enabled: self.metrics_source_ip,
                limit: self.metrics_source_ip_limit,
            }),
            metrics_auth_user: Some(SourceIpLabel {
                enabled: self.metrics_auth_user,
                limit: self.metrics_auth_user_limit,
            }),
            alerts: self.alerts.clone(),
        }
    }
}

/// The agent's listing, or (saying so on standard error) a /proc snapshot.
/// A socket this user may not read is a refusal, not "no agent".
pub fn listing(path: &Path) -> Result<Listing> {
    match socket::request(path, &Request::List) {
        Ok(json) => serde_json::from_str(&json)
            .with_context(|| format!("unexpected answer from {}: {json:?}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(socket::refusal(path)),
        Err(e) => {
            eprintln!(
                "ssh-trace: no running agent ({}: {e}); showing a one-shot /proc snapshot instead (no traffic, no idle time)",
                path.display()
            );
            Ok(snapshot::listing(&["sshd", "_sshd"]))
        }
    }
}

pub fn sessions(path: &Path, json: bool) -> Result<()> {
    let l = listing(path)?;
    if json {
        println!("{}", serde_json::to_string(&l)?);
        return Ok(());
    }
    print!("{}", table(&l));
    Ok(())
}

/// The short form of an id as text (the listing's ids are text).
pub fn short(id: &str) -> &str {
    id.get(..crate::event::SessionId::SHORT).unwrap_or(id)
}

pub fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

pub fn table(l: &Listing) -> String {
    let mut out = String::new();
    if l.origin != "agent" {
        out.push_str("# one-shot /proc snapshot: no agent running\n");
    }
    out.push_str(&format!(
        "{:<8} {:<12} {:<21} {:<8} {:>7} {:>10} {:>10} {:<7} {:>5} {:<20} {:<58} {}\n",
        "SESSION",
        "USER",
        "SOURCE",
        "START",
        "IDLE",
        "IN",
        "OUT",
        "TTY",
        "PROCS",
        "AUTH",
        "KEY",
        "WHAT"
    ));
    for r in &l.sessions {
        out.push_str(&row(r));
    }
    out
}

fn row(r: &Row) -> String {
    format!(
        "{:<8} {:<12} {:<21} {:<8} {:>7} {:>10} {:>10} {:<7} {:>5} {:<20} {:<58} {}\n",
        short(&r.id),
        r.user.as_deref().unwrap_or("-"),
        r.source.as_deref().unwrap_or("?"),
        r.start.get(11..19).unwrap_or(&r.start),
        r.idle_s.map(duration).unwrap_or_else(|| "-".into()),
        opt(r.bytes_in),
        opt(r.bytes_out),
        r.tty.as_deref().unwrap_or("-"),
        r.processes,
        r.method.as_deref().unwrap_or("-"),
        r.key.as_deref().unwrap_or("-"),
        r.command.as_deref().unwrap_or("-"),
    )
}
