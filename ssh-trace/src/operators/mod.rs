//! The operators' view, attached to a running agent: the live session table
//! and its socket, Prometheus metrics, alert rules and their actions. All of
//! it sees what the sinks see (the events the filter selects).
//!
//! Two steps because of privileges: `prepare` binds sockets and reads files
//! while the agent still may; `start` serves them (tasks on the agent's
//! runtime) and spawns threads after the capabilities are dropped
//! (capabilities are per thread).
pub mod cli;
pub mod snapshot;

use std::{collections::HashMap, net::TcpListener, path::PathBuf};

use anyhow::Result;
use tokio::net::UnixStream;

use crate::{
    alert::{
        actions::{Dispatcher, Failure},
        config::Config,
        rules::Engine,
        state::KnownSources,
        Alert, AlertKind, Evidence, Severity,
    },
    event::{Body, Event, Kind},
    format::{human::Human, json::Json},
    host,
    metrics::{server, Metrics, SourceIpLabel},
    session::{
        live::{Listing, Live},
        socket::{self, Bound, Incoming, Request},
        SessionTable,
    },
    sink::{selected, Sinks},
};

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub sessions_socket: Option<PathBuf>,
    /// Given explicitly: failing to serve it is an error, not a warning.
    pub sessions_socket_given: bool,
    pub metrics_listen: Option<String>,
    pub metrics_source_ip: Option<SourceIpLabel>,
    pub alerts: Option<PathBuf>,
}

pub struct Operators {
    live: Live,
    socket: Option<Bound>,
    incoming: Option<Incoming>,
    metrics_listener: Option<TcpListener>,
    metrics: Option<Metrics>,
    alerts: Option<(Config, Engine)>,
    dispatcher: Option<Dispatcher>,
    host: String,
}

impl Operators {
    pub fn prepare(opts: Options, host: &str) -> Result<Self> {
        let alerts = match &opts.alerts {
            Some(p) => {
                let cfg = Config::load(p)?;
                let known = cfg
                    .rules
                    .iter()
                    .any(|r| r.kind == AlertKind::NewSource)
                    .then(|| KnownSources::load(&cfg.state_file))
                    .transpose()?;
                let engine = Engine::new(cfg.rules.clone(), known, host::now_unix_ns());
                Some((cfg, engine))
            }
            None => None,
        };
        let metrics_listener = opts
            .metrics_listen
            .as_deref()
            .map(server::bind)
            .transpose()?;
        let socket = match opts.sessions_socket.as_deref().map(socket::bind) {
            Some(Err(e)) if !opts.sessions_socket_given => {
                // The default socket is a convenience: a second agent
                // (another `tail`) still runs, without it.
                eprintln!("ssh-trace: not serving the session socket: {e:#}");
                None
            }
            r => r.transpose()?,
        };
        let metrics = metrics_listener.as_ref().map(|_| {
            Metrics::new(opts.metrics_source_ip.unwrap_or(SourceIpLabel {
                enabled: false,
                limit: 0,
            }))
        });
        Ok(Self {
            live: Live::new(),
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

    /// Takes in the new events in `events` (those the sinks select) and
    /// appends the alerts they fire.
    pub fn observe(&mut self, events: &mut Vec<Event>, sinks: &Sinks) {
        let mut alerts = Vec::new();
        for ev in events.iter() {
            if !selected(sinks.filter.as_ref(), ev, &sinks.host) {
                continue;
            }
            self.see(ev);
            if let Some((_, engine)) = &mut self.alerts {
                engine.observe(ev, &mut alerts);
            }
        }
        self.fired(alerts, events);
    }

    /// One event made outside the session model (agent.loss).
    pub fn observe_one(&mut self, ev: &Event) {
        self.see(ev);
    }

    fn see(&mut self, ev: &Event) {
        self.live.observe(ev);
        if let Some(m) = &mut self.metrics {
            m.observe(ev);
        }
    }

    /// New alerts: counted, shown in the live table, actions queued, and
    /// appended to `events` for the sinks.
    fn fired(&mut self, alerts: Vec<Event>, events: &mut Vec<Event>) {
        for a in alerts {
            self.see(&a);
            // A failed action is not run again for its own failure report.
            let failure = a.kind == Kind::Alert(AlertKind::ActionFailed);
            if let (Some(d), Body::Alert { alert }, false) =
                (&mut self.dispatcher, &a.body, failure)
            {
                let mut json = Vec::new();
                Json.write(&a, &self.host, &mut json);
                let mut line = Vec::new();
                Human { color: false }.write(&a, &mut line);
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
            events.push(a);
        }
    }

    /// About once a second: idle rules, failed actions, action counters.
    pub fn tick(&mut self, events: &mut Vec<Event>) {
        let now = host::now_unix_ns();
        let mut alerts = Vec::new();
        if let Some((_, engine)) = &mut self.alerts {
            engine.tick(now, &mut alerts);
        }
        if let Some(d) = &mut self.dispatcher {
            let failures = d.failures();
            alerts.extend(failures.into_iter().map(|f| failure_event(f, now)));
        }
        self.fired(alerts, events);
        self.sync_action_counts();
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
        let pids: HashMap<String, Vec<u32>> = table
            .sessions()
            .map(|s| (s.id.clone(), s.processes.iter().copied().collect()))
            .collect();
        let now = host::now_unix_ns();
        let json = match req {
            Request::List => serde_json::to_string(&Listing {
                origin: "agent".into(),
                time: host::rfc3339(now),
                sessions: self.live.rows(now, &|id| pids.get(id).cloned()),
            }),
            Request::Detail(id) => match self.live.detail(&id, now, pids.get(&id).cloned()) {
                Some(d) => serde_json::to_string(&d),
                None => {
                    Ok(serde_json::json!({ "error": format!("no open session {id}") }).to_string())
                }
            },
        };
        socket::answer(stream, json.unwrap_or_default());
    }

    /// At exit: waits for queued actions; their failures become events.
    /// Returns a summary line for standard error, if alerts were configured.
    pub fn finish(&mut self, events: &mut Vec<Event>) -> Option<String> {
        let d = self.dispatcher.as_mut()?;
        let failures = d.finish();
        let now = host::now_unix_ns();
        let alerts = failures
            .into_iter()
            .map(|f| failure_event(f, now))
            .collect();
        self.fired(alerts, events);
        self.sync_action_counts();
        let c = self.dispatcher.as_ref()?.counts;
        let state_errors = self.alerts.as_ref().map_or(0, |(_, e)| e.state_errors);
        Some(format!(
            "ssh-trace: alert actions: {} sent, {} failed, {} suppressed by rate limits, {} dropped (queue full); alert state save errors {}",
            c.sent, c.failed, c.suppressed, c.queue_full, state_errors
        ))
    }
}

fn failure_event(f: Failure, now: u64) -> Event {
    Event::new(
        now,
        Kind::Alert(AlertKind::ActionFailed),
        None,
        Body::Alert {
            alert: Alert {
                rule: f.rule,
                severity: Severity::Warning,
                evidence: Evidence {
                    action: Some(f.action),
                    error: Some(f.error),
                    ..Default::default()
                },
            },
        },
    )
}
