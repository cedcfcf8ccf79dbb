//! Elastic Common Schema lines (docs/ecs.md): one ECS document per event.
//! Fields ECS has no place for go under `ssh_trace.*`.
use super::doc::{base_name, Doc};
use crate::alert::{AlertKind, Severity};
use crate::{
    event::{Body, Event, Kind, SessionInfo},
    host::rfc3339,
};

pub const ECS_VERSION: &str = "8.17.0";

pub struct Ecs;

impl Ecs {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        document(ev, host).write_line(out);
    }
}

/// event.kind, event.category, event.type and event.outcome of one event.
struct Class {
    kind: &'static str,
    category: &'static [&'static str],
    types: &'static [&'static str],
    outcome: Option<&'static str>,
}

fn outcome(success: bool) -> Option<&'static str> {
    Some(if success { "success" } else { "failure" })
}

fn class(ev: &Event) -> Class {
    let c = |category, types, outcome| Class {
        kind: "event",
        category,
        types,
        outcome,
    };
    match (ev.kind, &ev.body) {
        // ECS expects every category with every type: a connection is
        // network only; the session starts at login and ends with it.
        (Kind::SessionConnect, _) => c(&["network"], &["connection", "start"], outcome(true)),
        (Kind::SessionLogin, _) => c(&["authentication", "session"], &["start"], outcome(true)),
        (Kind::ProcessExec, _) => c(&["process"], &["start"], outcome(true)),
        (Kind::ProcessExit, Body::ProcessExit { process }) => c(
            &["process"],
            &["end"],
            outcome(process.exit_code == Some(0)),
        ),
        (Kind::UserChange, Body::UserChange { change, .. }) => {
            c(&["process"], &["change"], outcome(change.success))
        }
        (Kind::SessionBytes, _) => c(&["network"], &["info"], None),
        (Kind::SessionEnd, _) => {
            let logged_in = ev
                .session
                .as_ref()
                .and_then(|s| s.end.as_ref())
                .is_some_and(|e| e.logged_in);
            if logged_in {
                c(&["network", "session"], &["end"], outcome(true))
            } else {
                c(&["network"], &["connection", "end"], outcome(false))
            }
        }
        (Kind::AgentStart, _) => c(&["process"], &["start"], outcome(true)),
        (Kind::AgentLoss, _) => c(&["host"], &["info"], outcome(false)),
        (Kind::AgentStop, _) => c(&["process"], &["end"], outcome(true)),
        // ECS alerts: event.kind "alert"; action failures are the agent's own.
        (Kind::Alert(AlertKind::ActionFailed), _) => c(&["host"], &["info"], outcome(false)),
        // A host-based detection that blocks nothing: intrusion_detection
        // expects allowed/denied/info ("indicator" belongs to threat intel).
        (Kind::Alert(_), _) => Class {
            kind: "alert",
            category: &["intrusion_detection"],
            types: &["info"],
            outcome: None,
        },
        // A kind with another kind's body is not made by the agent.
        _ => c(&[], &["info"], None),
    }
}

pub fn document(ev: &Event, host: &str) -> Doc {
    let mut d = Doc::default();
    d.put("@timestamp", rfc3339(ev.time_ns));
    d.put("ecs.version", ECS_VERSION);
    d.put("host.name", host);
    d.put("agent.type", "ssh-trace");
    let c = class(ev);
    d.put("event.kind", c.kind);
    d.put("event.category", c.category.to_vec());
    d.put("event.type", c.types.to_vec());
    d.put("event.action", ev.kind.name());
    d.put_opt("event.outcome", c.outcome);
    if let Some(s) = &ev.session {
        session(&mut d, s);
    }
    body(&mut d, &ev.body);
    d
}

fn session(d: &mut Doc, s: &SessionInfo) {
    // The entry leader is the session's first process, forked by the sshd
    // listener; the session id names it across all events of the session.
    d.put("process.entry_leader.entity_id", s.id.as_str());
    d.put("process.entry_leader.entry_meta.type", "sshd");
    if let Some(src) = &s.source {
        // ECS's entry_meta.source has only an ip; the port is in source.port.
        d.put("process.entry_leader.entry_meta.source.ip", src.ip.as_str());
        d.put_endpoint("source", src);
    }
    if let Some(dst) = &s.destination {
        d.put_endpoint("destination", dst);
    }
    d.put("network.transport", "tcp");
    d.put("network.protocol", "ssh");
    d.put("network.direction", "ingress");
    d.put_opt("user.name", s.user.as_deref());
    d.put_opt("user.id", s.uid.map(|u| u.to_string()));
    if s.discovered {
        d.put("ssh_trace.session.discovered", true);
    }
    if let Some(t) = &s.traffic {
        d.put("source.bytes", t.bytes_in);
        d.put("destination.bytes", t.bytes_out);
        d.put("network.bytes", t.bytes_in + t.bytes_out);
    }
    if let Some(e) = &s.end {
        d.put("event.duration", e.duration_ms.saturating_mul(1_000_000));
        d.put("ssh_trace.session.logged_in", e.logged_in);
    }
}

fn body(d: &mut Doc, body: &Body) {
    match body {
        Body::None {} => {}
        Body::ProcessExec { process: p } => {
            d.put("process.pid", p.pid);
            d.put("process.parent.pid", p.ppid);
            d.put("process.executable", p.executable.as_str());
            d.put("process.name", base_name(&p.executable));
            d.put("process.args", p.args.clone());
            d.put("process.args_count", p.args.len());
            d.put("process.command_line", p.args.join(" "));
            // ECS: process.user is the effective user.
            d.put("process.user.id", p.euid.to_string());
            d.put("process.real_user.id", p.uid.to_string());
            d.put("process.group.id", p.egid.to_string());
            d.put("process.real_group.id", p.gid.to_string());
            d.put(
                "ssh_trace.process.executable_truncated",
                p.executable_truncated,
            );
            d.put("ssh_trace.process.args_truncated", p.args_truncated);
        }
        Body::ProcessExit { process: p } => {
            d.put("process.pid", p.pid);
            d.put_opt("process.exit_code", p.exit_code);
            d.put_opt("ssh_trace.process.signal", p.signal);
        }
        Body::UserChange { process, change: c } => {
            d.put("process.pid", process.pid);
            d.put("process.user.id", c.new.euid.to_string());
            d.put("process.real_user.id", c.new.uid.to_string());
            d.put("process.saved_user.id", c.new.suid.to_string());
            d.put("process.group.id", c.new.egid.to_string());
            d.put("process.real_group.id", c.new.gid.to_string());
            d.put("process.saved_group.id", c.new.sgid.to_string());
            // user.* stays the session's login user; the switch is shown as
            // the effective user, the target user and the user after the change.
            d.put("user.effective.id", c.new.euid.to_string());
            d.put_opt("user.effective.name", c.effective_user.as_deref());
            d.put("user.target.id", c.new.uid.to_string());
            d.put_opt("user.target.name", c.user.as_deref());
            d.put("user.changes.id", c.new.uid.to_string());
            d.put_opt("user.changes.name", c.user.as_deref());
            d.put("user.changes.group.id", c.new.gid.to_string());
            d.put_opt("error.code", c.errno.map(|e| e.to_string()));
            d.put("ssh_trace.change.syscall", c.syscall);
            d.put("ssh_trace.change.args", c.args.clone());
            d.put_ids("ssh_trace.change.old", &c.old);
        }
        Body::AgentStart { agent } => agent_fields(d, agent),
        Body::AgentLoss { loss, total } => {
            d.put_loss("ssh_trace.loss", loss);
            d.put_loss("ssh_trace.total", total);
        }
        Body::AgentStop { agent, totals } => {
            agent_fields(d, agent);
            d.put("ssh_trace.totals.events", totals.events);
            d.put_loss("ssh_trace.totals.lost", &totals.lost);
        }
        Body::Alert { alert } => {
            d.put("rule.name", alert.rule.as_str());
            d.put("event.severity", severity_number(alert.severity));
            d.put_evidence("ssh_trace.alert.evidence", &alert.evidence);
            d.put_opt("error.message", alert.evidence.error.as_deref());
        }
    }
}

/// ECS event.severity is a number; larger is more severe (OCSF's scale).
pub fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Warning => 3,
        Severity::Critical => 5,
    }
}

fn agent_fields(d: &mut Doc, a: &crate::event::AgentInfo) {
    d.put("agent.version", a.version.as_str());
    d.put("process.pid", a.pid);
    d.put("host.os.kernel", a.kernel.as_str());
    d.put("ssh_trace.agent.ring_buffer_bytes", a.ring_buffer_bytes);
    d.put("ssh_trace.agent.server_binaries", a.server_binaries.clone());
}
