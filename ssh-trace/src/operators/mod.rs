//! The operators' view, attached to a running agent: the live session table
//! and its socket, Prometheus metrics, alert rules and their actions. All of
//! it sees what the outputs see (the events the filter selects): it is the
//! pipeline's first consumer.
//!
//! Two steps because of privileges: `prepare` binds sockets and reads files
//! while the agent still may; `start` serves them (tasks on the agent's
//! runtime) and spawns threads after the capabilities are dropped
//! (capabilities are per thread).
pub mod alert;
pub mod cli;
pub mod live;
pub mod metrics;
pub mod snapshot;
pub mod socket;
pub mod top;

use std::{collections::HashMap, net::TcpListener, path::PathBuf};

use anyhow::Result;
use tokio::net::UnixStream;

use crate::{
    event::{resolve::resolve, Alert, AlertKind, Body, Event, Evidence, SessionId, Severity},
    format::{human::Human, json::Json},
    host,
    pipeline::{Consumer, Shared},
    session::SessionTable,
    terminal::screen::Screens,
};
use alert::{
    actions::{Dispatcher, Failure},
    config::Config,
    rules::Engine,
    state::KnownSources,
};
use live::{Listing, Live};
use metrics::{server, Metrics, SourceIpLabel};
use socket::{Bound, Incoming, Request};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub sessions_socket: Option<PathBuf>,
    /// Given explicitly: failing to serve it is an error, not a warning.
    pub sessions_socket_given: bool,
    /// A group whose members may read the session socket (0660 root:GROUP).
    pub sessions_group: Option<String>,
    pub metrics_listen: Option<String>,
    pub metrics_source_ip: Option<SourceIpLabel>,
    /// The user label of ssh_trace_auth_attempts (off unless asked).
    pub metrics_auth_user: Option<SourceIpLabel>,
    pub alerts: Option<PathBuf>,
}

pub struct Operators {
    live: Live,
    /// Live screens of recorded terminals.
    screens: Screens,
    socket: Option<Bound>,
    incoming: Option<Incoming>,
    metrics_listener: Option<TcpListener>,
    metrics: Option<Metrics>,
    alerts: Option<(Config, Engine)>,
    dispatcher: Option<Dispatcher>,
    host: String,
}

fn load_alerts(path: &std::path::Path) -> Result<(Config, Engine)> {
    let cfg = Config::load(path)?;
    let known = cfg
        .rules
        .iter()
        .any(|r| r.kind == AlertKind::NewSource)
        .then(|| KnownSources::load(&cfg.state_file))
        .transpose()?;
    let engine = Engine::new(cfg.rules.clone(), known, host::now_unix_ns());
    Ok((cfg, engine))
}

impl Operators {
    pub fn prepare(opts: Options, host: &str) -> Result<Self> {
        let alerts = opts.alerts.as_deref().map(load_alerts).transpose()?;
        let metrics_listener = opts
            .metrics_listen
            .as_deref()
            .map(server::bind)
            .transpose()?;
        let group = opts.sessions_group.as_deref();
        let socket = match opts
            .sessions_socket
            .as_deref()
            .map(|p| socket::bind(p, group))
        {
            Some(Err(e)) if !opts.sessions_socket_given => {
                // The default socket is a convenience: a second agent
                // (another `tail`) still runs, without it.
                eprintln!("ssh-trace: not serving the session socket: {e:#}");
                None
            }
            r => r.transpose()?,
        };
        let off = SourceIpLabel {
            enabled: false,
            limit: 0,
        };
        let metrics = metrics_listener.as_ref().map(|_| {
            Metrics::with_auth_user(
                opts.metrics_source_ip.unwrap_or(off),
                opts.metrics_auth_user.unwrap_or(off),
            )
        });
        Ok(Self {
            live: Live::new(),
            screens: Screens::default(),
            socket,
            incoming: None,
            metrics_listener,
            metrics,
            alerts,
            dispatcher: None,
            host: host.to_owned(),
        })
    }

    /// Serving tasks and action threads start here, after privileges are dropped.
    pub fn start(&mut self) -> Result<()> {
        if let (Some(l), Some(m)) = (self.metrics_listener.take(), &self.metrics) {
            server::serve(l, m.registry.clone())?;
        }
        if let Some(b) = &self.socket {
            self.incoming = Some(socket::serve(b)?);
        }
        if let Some((cfg, _)) = &self.alerts {
            self.dispatcher = Some(Dispatcher::start(cfg));
        }
        Ok(())
    }

    /// An alert that fired: its actions run (a failed action is not run
    /// again for its own failure report).
    fn act(&mut self, kind: AlertKind, ev: &Event, alert: &Alert) {
        let Some(d) = &mut self.dispatcher else {
            return;
        };
        if kind == AlertKind::ActionFailed {
            return;
        }
        let mut json = Vec::new();
        Json.write(ev, &self.host, &mut json);
        let mut line = Vec::new();
        Human::new(false).write(ev, &mut line);
        let text = format!(
            "ssh-trace on {}: {}",
            self.host,
            String::from_utf8_lossy(&line).trim_end()
        );
        d.dispatch(
            &alert.rule,
            String::from_utf8_lossy(&json).trim_end(),
            &text,
        );
    }

    fn sync_action_counts(&mut self) {
        if let (Some(m), Some(d)) = (&mut self.metrics, &self.dispatcher) {
            m.set_actions(d.counts);
        }
    }

    /// The next session-socket request (never, without a socket).
    pub async fn request(&mut self) -> (Request, UnixStream) {
        match &mut self.incoming {
            Some(rx) => match rx.recv().await {
                Some(r) => r,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    pub fn answer(&self, req: Request, stream: UnixStream, table: &SessionTable) {
        let pids: HashMap<SessionId, Vec<u32>> = table
            .sessions()
            .map(|s| (s.id(), s.processes.iter().copied().collect()))
            .collect();
        let now = host::now_unix_ns();
        let json = match req {
            Request::List => serde_json::to_string(&Listing {
                origin: "agent".into(),
                time: host::rfc3339(now),
                sessions: self.live.rows(now, &|id| pids.get(&id).cloned()),
            }),
            Request::Detail(text) => {
                let found = resolve(&text, self.live.ids()).map_err(|e| e.to_string());
                match found.and_then(|id| {
                    self.live
                        .detail(id, now, pids.get(&id).cloned())
                        .ok_or_else(|| format!("no open session {text}"))
                }) {
                    Ok(d) => serde_json::to_string(&d),
                    Err(e) => Ok(serde_json::json!({ "error": e }).to_string()),
                }
            }
            Request::Screen(text) => {
                let id = text.parse::<SessionId>().ok();
                match id.and_then(|id| self.screens.screen(id)) {
                    Some(s) => serde_json::to_string(&s),
                    None => Ok(serde_json::json!({
                        "error": format!("no recorded terminal of an open session {text}")
                    })
                    .to_string()),
                }
            }
        };
        socket::answer(stream, json.unwrap_or_default());
    }

    /// At exit: waits for queued actions; their failures become events (in
    /// `more`). Returns a summary line for standard error, if alerts were
    /// configured.
    pub fn stop(&mut self, more: &mut Vec<Event>) -> Option<String> {
        let d = self.dispatcher.as_mut()?;
        let now = host::now_unix_ns();
        more.extend(d.finish().into_iter().map(|f| failure_event(f, now)));
        self.sync_action_counts();
        let c = self.dispatcher.as_ref()?.counts;
        let state_errors = self.alerts.as_ref().map_or(0, |(_, e)| e.state_errors);
        Some(format!(
            "ssh-trace: alert actions: {} sent, {} failed, {} suppressed by rate limits, {} dropped (queue full); alert state save errors {}",
            c.sent, c.failed, c.suppressed, c.queue_full, state_errors
        ))
    }
}

impl Consumer for Operators {
    fn take(&mut self, ev: &Shared, more: &mut Vec<Event>) -> Result<()> {
        self.live.observe(ev);
        self.screens.observe(ev);
        if let Some(m) = &mut self.metrics {
            m.observe(ev);
        }
        if let Body::Alert(kind, alert) = &ev.body {
            self.act(*kind, ev, alert);
        } else if let Some((_, engine)) = &mut self.alerts {
            engine.observe(ev, more);
        }
        Ok(())
    }

    /// Idle rules, failed actions, action counters.
    fn tick(&mut self, now_ns: u64, more: &mut Vec<Event>) -> Result<()> {
        if let Some((_, engine)) = &mut self.alerts {
            engine.tick(now_ns, more);
        }
        if let Some(d) = &mut self.dispatcher {
            more.extend(d.failures().into_iter().map(|f| failure_event(f, now_ns)));
        }
        self.sync_action_counts();
        Ok(())
    }
}

fn failure_event(f: Failure, now: u64) -> Event {
    let alert = Alert {
        rule: f.rule,
        severity: Severity::Warning,
        evidence: Evidence {
            action: Some(f.action),
            error: Some(f.error),
            ..Default::default()
        },
    };
    Event::new(
        now,
        None,
        Body::Alert(AlertKind::ActionFailed, Box::new(alert)),
    )
}
