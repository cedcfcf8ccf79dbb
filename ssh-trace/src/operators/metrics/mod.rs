//! Prometheus/OpenMetrics metrics made from the selected events as they
//! pass (counters, so short sessions are never missed), served by server.rs.
pub mod agent_self;
pub mod classic;
pub mod server;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use super::alert::actions::ActionCounts;
use crate::event::{
    AuthDecision, Body, Event, Forward, LossCounts, Method, SessionId, SessionInfo, Traffic,
    Transfer,
};

type Labels = Vec<(&'static str, String)>;

/// What the label `source_ip` may take: off, or at most `limit` distinct IPs
/// (later ones are counted under "other").
#[derive(Clone, Copy, Debug)]
pub struct SourceIpLabel {
    pub enabled: bool,
    pub limit: usize,
}

pub const OTHER_IP: &str = "other";
/// The user label before a login (connections that never authenticated).
pub const NO_USER: &str = "-";

/// The metric families, shared with the HTTP server thread.
pub struct Families {
    pub sessions_active: Family<Labels, Gauge>,
    pub logins: Family<Labels, Counter>,
    pub connections: Family<Labels, Counter>,
    pub session_bytes: Family<Labels, Counter>,
    pub duration: Histogram,
    pub events: Family<Labels, Counter>,
    pub lost: Family<Labels, Counter>,
    pub alerts: Family<Labels, Counter>,
    pub actions: Family<Labels, Counter>,
    pub transfer_bytes: Family<Labels, Counter>,
    pub transfers: Family<Labels, Counter>,
    pub forwards: Family<Labels, Counter>,
    pub forward_bytes: Family<Labels, Counter>,
    pub auth_attempts: Family<Labels, Counter>,
    /// When the agent's loop last wrote agent.heartbeat (the HTTP server
    /// answers from its own thread, so `up` alone misses a stalled loop).
    pub heartbeat: Gauge,
}

/// Per open session: its gauge labels (once logged in) and bytes counted so far.
#[derive(Default)]
struct Open {
    active: Option<Labels>,
    bytes_in: u64,
    bytes_out: u64,
}

pub struct Metrics {
    pub registry: Arc<Registry>,
    f: Arc<Families>,
    source_ip: SourceIpLabel,
    ips: HashSet<String>,
    /// The user label of ssh_trace_auth_attempts (the names tried are the
    /// clients' choice: off by default, capped like source_ip).
    auth_user: SourceIpLabel,
    users: HashSet<String>,
    open: HashMap<SessionId, Open>,
    actions_seen: ActionCounts,
}

impl Families {
    fn register(&self, r: &mut Registry) {
        let f = self;
        r.register(
            "ssh_trace_sessions_active",
            "Logged-in SSH sessions now open",
            f.sessions_active.clone(),
        );
        r.register(
            "ssh_trace_logins",
            "Logins (outcome: success)",
            f.logins.clone(),
        );
        r.register(
            "ssh_trace_connections",
            "Closed SSH connections by outcome (logged_in, never_authenticated)",
            f.connections.clone(),
        );
        r.register(
            "ssh_trace_session_bytes",
            "TCP payload bytes of SSH sessions (direction in: from the client)",
            f.session_bytes.clone(),
        );
        r.register(
            "ssh_trace_session_duration_seconds",
            "Duration of closed SSH sessions",
            f.duration.clone(),
        );
        r.register(
            "ssh_trace_events",
            "Events made, by event name",
            f.events.clone(),
        );
        r.register(
            "ssh_trace_events_lost",
            "Records or events lost, by where",
            f.lost.clone(),
        );
        r.register(
            "ssh_trace_alerts",
            "Alerts fired, by rule",
            f.alerts.clone(),
        );
        r.register(
            "ssh_trace_transfer_bytes",
            "Bytes of files moved by scp and sftp (action: upload, download)",
            f.transfer_bytes.clone(),
        );
        r.register(
            "ssh_trace_transfers",
            "File transfers and directory operations by scp and sftp, by outcome",
            f.transfers.clone(),
        );
        r.register(
            "ssh_trace_forwards",
            "Forward events by kind (local, remote, agent, x11) and state (listen, open, close, failed)",
            f.forwards.clone(),
        );
        r.register(
            "ssh_trace_forward_bytes",
            "TCP payload bytes of closed forward connections by kind (direction in: from the forward's peer)",
            f.forward_bytes.clone(),
        );
        r.register(
            "ssh_trace_auth_attempts",
            "Authentication decisions the SSH servers logged, by method and outcome (user: with --metrics-auth-user)",
            f.auth_attempts.clone(),
        );
        r.register(
            "ssh_trace_agent_heartbeat_timestamp_seconds",
            "Unix time of the agent's last agent.heartbeat",
            f.heartbeat.clone(),
        );
        r.register(
            "ssh_trace_alert_actions",
            "Alert actions by result (sent, failed, suppressed by the rate limit, queue_full)",
            f.actions.clone(),
        );
    }
}

/// `value` if it is one of the first `limit` distinct values seen, else
/// OTHER_IP ("other").
fn capped(seen: &mut HashSet<String>, limit: usize, value: &str) -> String {
    if seen.contains(value) {
        return value.to_owned();
    }
    if seen.len() < limit {
        seen.insert(value.to_owned());
        return value.to_owned();
    }
    OTHER_IP.to_owned()
}

impl Metrics {
    pub fn new(source_ip: SourceIpLabel) -> Self {
        Self::with_auth_user(
            source_ip,
            SourceIpLabel {
                enabled: false,
                limit: 0,
            },
        )
    }

    /// With the user label of ssh_trace_auth_attempts as `auth_user` says.
    pub fn with_auth_user(source_ip: SourceIpLabel, auth_user: SourceIpLabel) -> Self {
        let f = Families {
            sessions_active: Family::default(),
            logins: Family::default(),
            connections: Family::default(),
            session_bytes: Family::default(),
            // 1 s … ~9 h.
            duration: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                1.0, 2.0, 16,
            )),
            events: Family::default(),
            lost: Family::default(),
            alerts: Family::default(),
            actions: Family::default(),
            transfer_bytes: Family::default(),
            transfers: Family::default(),
            forwards: Family::default(),
            forward_bytes: Family::default(),
            auth_attempts: Family::default(),
            heartbeat: Gauge::default(),
        };
        let mut r = Registry::default();
        f.register(&mut r);
        r.register_collector(Box::new(agent_self::AgentSelf));
        Self {
            registry: Arc::new(r),
            f: Arc::new(f),
            source_ip,
            ips: HashSet::new(),
            auth_user,
            users: HashSet::new(),
            open: HashMap::new(),
            actions_seen: ActionCounts::default(),
        }
    }

    fn ip_label(&mut self, ip: Option<&str>) -> String {
        capped(&mut self.ips, self.source_ip.limit, ip.unwrap_or(""))
    }

    /// One decision: method ("unknown" when the server names none) and
    /// outcome, and the user name tried when that label is on.
    fn auth(&mut self, a: &AuthDecision) {
        let a = &a.auth;
        let method = a.method.map_or("unknown", Method::name);
        let mut labels = vec![
            ("method", method.to_owned()),
            ("outcome", a.outcome.name().to_owned()),
        ];
        if self.auth_user.enabled {
            let user = a.user.as_deref().unwrap_or(NO_USER);
            labels.push(("user", capped(&mut self.users, self.auth_user.limit, user)));
        }
        self.f.auth_attempts.get_or_create(&labels).inc();
    }

    pub fn observe(&mut self, ev: &Event) {
        self.f
            .events
            .get_or_create(&vec![("event", ev.kind().name().to_owned())])
            .inc();
        if let Body::AgentLoss(l) = &ev.body {
            self.count_loss(&l.loss.counts);
        }
        if let Body::AgentHeartbeat(_) = &ev.body {
            self.f.heartbeat.set((ev.time_ns / 1_000_000_000) as i64);
        }
        if let Body::Alert(_, alert) = &ev.body {
            self.f
                .alerts
                .get_or_create(&vec![
                    ("rule", alert.rule.clone()),
                    ("event", ev.kind().name().to_owned()),
                ])
                .inc();
        }
        if let Body::SessionForward(f) = &ev.body {
            self.forward(f);
        }
        if let Body::SessionAuth(a) = &ev.body {
            self.auth(a);
        }
        let Some(s) = &ev.session else { return };
        let user = s.user.clone().unwrap_or_else(|| NO_USER.to_owned());
        if let Body::SessionLogin(_) = ev.body {
            self.login(s, user);
            return;
        }
        if let Some(t) = ev.body.traffic() {
            self.traffic(s.id, t, &user);
        }
        if let Some(t) = ev.body.transfer() {
            self.transfer(&t.transfer, user.clone());
        }
        if let Body::SessionEnd(c) = &ev.body {
            if let Some(labels) = self.open.remove(&s.id).and_then(|o| o.active) {
                self.f.sessions_active.get_or_create(&labels).dec();
            }
            let outcome = if c.end.logged_in {
                "logged_in"
            } else {
                "never_authenticated"
            };
            self.f
                .connections
                .get_or_create(&vec![("outcome", outcome.into())])
                .inc();
            self.f.duration.observe(c.end.duration_ms as f64 / 1000.0);
        }
    }

    fn login(&mut self, s: &SessionInfo, user: String) {
        self.f
            .logins
            .get_or_create(&vec![("user", user.clone()), ("outcome", "success".into())])
            .inc();
        let mut labels = vec![("user", user)];
        if self.source_ip.enabled {
            let ip = s.source.map(|e| e.ip.to_string());
            labels.push(("source_ip", self.ip_label(ip.as_deref())));
        }
        self.f.sessions_active.get_or_create(&labels).inc();
        self.open.entry(s.id).or_default().active = Some(labels);
    }

    /// Counts the bytes moved since the session's previous counters.
    fn traffic(&mut self, id: SessionId, t: &Traffic, user: &str) {
        let o = self.open.entry(id).or_default();
        let (din, dout) = (
            t.bytes_in.saturating_sub(o.bytes_in),
            t.bytes_out.saturating_sub(o.bytes_out),
        );
        o.bytes_in = o.bytes_in.max(t.bytes_in);
        o.bytes_out = o.bytes_out.max(t.bytes_out);
        for (dir, d) in [("in", din), ("out", dout)] {
            if d > 0 {
                self.f
                    .session_bytes
                    .get_or_create(&vec![("user", user.to_owned()), ("direction", dir.into())])
                    .inc_by(d);
            }
        }
    }

    fn transfer(&self, t: &Transfer, user: String) {
        let (server, action) = (t.server.name().to_owned(), t.action.name().to_owned());
        self.f
            .transfers
            .get_or_create(&vec![
                ("server", server.clone()),
                ("action", action.clone()),
                ("outcome", t.outcome.name().into()),
            ])
            .inc();
        if t.bytes > 0 {
            self.f
                .transfer_bytes
                .get_or_create(&vec![
                    ("user", user),
                    ("server", server),
                    ("action", action),
                ])
                .inc_by(t.bytes);
        }
    }

    fn forward(&self, f: &Forward) {
        let kind = f.kind_name().to_owned();
        self.f
            .forwards
            .get_or_create(&vec![
                ("kind", kind.clone()),
                ("state", f.state_name().into()),
            ])
            .inc();
        for (dir, n) in [("in", f.bytes_in), ("out", f.bytes_out)] {
            if let Some(n) = n.filter(|&n| n > 0) {
                self.f
                    .forward_bytes
                    .get_or_create(&vec![("kind", kind.clone()), ("direction", dir.into())])
                    .inc_by(n);
            }
        }
    }

    fn count_loss(&self, loss: &LossCounts) {
        for (place, n) in loss.named() {
            if n > 0 {
                self.f
                    .lost
                    .get_or_create(&vec![("where", place.into())])
                    .inc_by(n);
            }
        }
        if loss.tty_bytes > 0 {
            // Bytes, not records: a series of its own.
            self.f
                .lost
                .get_or_create(&vec![("where", "tty_bytes".into())])
                .inc_by(loss.tty_bytes);
        }
        if loss.auth_unwatched > 0 {
            // Sessions, not records.
            self.f
                .lost
                .get_or_create(&vec![("where", "auth_unwatched".into())])
                .inc_by(loss.auth_unwatched);
        }
        // Agent-mode sinks: one series per sink that dropped.
        for s in loss.sinks.iter().filter(|s| s.dropped > 0) {
            self.f
                .lost
                .get_or_create(&vec![("where", "sink".into()), ("sink", s.sink.clone())])
                .inc_by(s.dropped);
        }
        // Outputs that lost events to failed writes (capture, stdout).
        for o in loss.outputs.iter().filter(|o| o.events > 0) {
            self.f
                .lost
                .get_or_create(&vec![
                    ("where", "output".into()),
                    ("output", o.output.clone()),
                ])
                .inc_by(o.events);
        }
    }

    /// Brings the action counters up to the dispatcher's totals.
    pub fn set_actions(&mut self, now: ActionCounts) {
        let was = self.actions_seen;
        for (result, n, before) in [
            ("sent", now.sent, was.sent),
            ("failed", now.failed, was.failed),
            ("suppressed", now.suppressed, was.suppressed),
            ("queue_full", now.queue_full, was.queue_full),
        ] {
            let c = self
                .f
                .actions
                .get_or_create(&vec![("result", result.into())]);
            if n > before {
                c.inc_by(n - before);
            }
        }
        self.actions_seen = now;
    }

    /// The metrics as OpenMetrics text.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

pub fn encode(registry: &Registry) -> String {
    let mut s = String::with_capacity(4096);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut s, registry);
    s
}
