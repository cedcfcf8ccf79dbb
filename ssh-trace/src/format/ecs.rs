//! Elastic Common Schema lines (docs/ecs.md): one ECS document per event.
//! Fields ECS has no place for go under `ssh_trace.*`.
use super::doc::{base_name, Doc};
use crate::{
    event::{
        spec::{Ecs as ByType, EcsClass},
        AlertKind, Attempts, AuthDecision, Body, Certificate, Event, FileTransfer, FileType,
        IdChange, Key, Method, Outcome, ProcessExec, SessionInfo, Severity, Terminal, Traffic,
        TransferOutcome, TtyKind,
    },
    host::rfc3339,
};

pub const ECS_VERSION: &str = "8.17.0";

pub struct Ecs;

impl Ecs {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        document(ev, host).write_line(out);
    }
}

fn success(ok: bool) -> Option<&'static str> {
    Some(if ok { "success" } else { "failure" })
}

/// event.outcome of one event.
fn outcome(ev: &Event) -> Option<&'static str> {
    match &ev.body {
        Body::SessionConnect | Body::SessionLogin(_) | Body::ProcessExec(_) => success(true),
        // A partial step passed: the user is not in yet, but nothing failed.
        Body::SessionAuth(a) => success(a.auth.outcome != Outcome::Failed),
        Body::ProcessExit(p) => success(p.exit_code == Some(0)),
        Body::UserChange(c) => success(c.change.success),
        Body::SessionBytes(_) => None,
        Body::SessionForward(f) => success(f.state != crate::event::ForwardState::Failed),
        Body::SessionEnd(c) => success(c.end.logged_in),
        Body::FileTransfer(t) => match t.transfer.outcome {
            TransferOutcome::Complete => success(true),
            TransferOutcome::Error => success(false),
            // Neither: the client stopped early, or the connection dropped.
            TransferOutcome::Partial => Some("unknown"),
        },
        Body::AgentStart(_) | Body::AgentStop(_) => success(true),
        Body::AgentLoss(_) => success(false),
        Body::AgentHeartbeat(_) => success(true),
        // ECS alerts: event.kind "alert"; action failures are the agent's own.
        Body::Alert(AlertKind::ActionFailed, _) => success(false),
        Body::Alert(..) => None,
        Body::SessionTty(_) => None,
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
    d.put("event.action", ev.kind().name());
    d.put_opt("event.outcome", outcome(ev));
    if let Some(s) = &ev.session {
        session(&mut d, s);
    }
    body(&mut d, &ev.body);
    if let Body::SessionForward(f) = &ev.body {
        super::forward::ecs(&mut d, f, ev.session.as_deref());
    }
    d
}

/// event.kind, category and type: the type's, by login for session.end.
fn class(ev: &Event) -> &'static EcsClass {
    match &ev.spec().ecs {
        ByType::Always(c) => c,
        ByType::ByForward(by) => match &ev.body {
            Body::SessionForward(f) => by.get(f.state),
            _ => &by.open,
        },
        ByType::ByLogin { logged_in, not } => {
            if matches!(&ev.body, Body::SessionEnd(c) if c.end.logged_in) {
                logged_in
            } else {
                not
            }
        }
        ByType::ByAction(table) => {
            let action = ev.body.transfer().map(|t| t.transfer.action);
            table
                .iter()
                .find(|(a, _)| Some(*a) == action)
                .map_or(&table[0].1, |(_, c)| c)
        }
    }
}

fn session(d: &mut Doc, s: &SessionInfo) {
    // The entry leader is the session's first process, forked by the sshd
    // listener; the session id names it across all events of the session.
    d.put("process.entry_leader.entity_id", s.id.to_string());
    d.put("process.entry_leader.entry_meta.type", "sshd");
    if let Some(src) = &s.source {
        // ECS's entry_meta.source has only an ip; the port is in source.port.
        d.put(
            "process.entry_leader.entry_meta.source.ip",
            src.ip.to_string(),
        );
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
    if let Some(sv) = &s.server {
        d.put("ssh_trace.session.server.uid", sv.uid);
        d.put("ssh_trace.session.server.mode", sv.mode.name());
    }
    if let Some(p) = &s.parent {
        d.put("ssh_trace.session.parent", p.to_string());
    }
}

fn traffic(d: &mut Doc, t: &Traffic) {
    d.put("source.bytes", t.bytes_in);
    d.put("destination.bytes", t.bytes_out);
    d.put("network.bytes", t.bytes_in + t.bytes_out);
}

fn body(d: &mut Doc, body: &Body) {
    match body {
        Body::SessionConnect => {}
        Body::SessionAuth(a) => decision(d, a),
        Body::SessionLogin(l) => {
            if let Some(a) = &l.auth {
                d.put("ssh_trace.auth.method", a.method.name());
                key_fields(d, a.key.as_ref(), a.certificate.as_ref());
            }
        }
        // Needs the session too: written by document().
        Body::SessionForward(_) => {}
        Body::SessionBytes(t) => traffic(d, t),
        Body::SessionEnd(c) => {
            traffic(d, &c.traffic);
            d.put(
                "event.duration",
                c.end.duration_ms.saturating_mul(1_000_000),
            );
            d.put("ssh_trace.session.logged_in", c.end.logged_in);
            if let Some(a) = &c.attempts {
                attempts(d, a);
            }
        }
        Body::ProcessExec(p) => exec(d, p),
        Body::ProcessExit(p) => {
            d.put("process.pid", p.pid);
            d.put_opt("process.exit_code", p.exit_code);
            d.put_opt("ssh_trace.process.signal", p.signal);
        }
        Body::UserChange(c) => change(d, c),
        Body::FileTransfer(t) => transfer(d, t),
        Body::AgentStart(agent) => agent_fields(d, agent),
        Body::AgentLoss(l) => {
            d.put_loss_report("ssh_trace.loss", &l.loss);
            d.put_loss("ssh_trace.total", &l.total);
        }
        Body::AgentStop(s) => {
            agent_fields(d, &s.agent);
            d.put("ssh_trace.totals.events", s.totals.events);
            d.put_loss("ssh_trace.totals.lost", &s.totals.lost);
        }
        Body::AgentHeartbeat(h) => d.put_fields("ssh_trace.heartbeat", h),
        Body::Alert(_, alert) => {
            d.put("rule.name", alert.rule.as_str());
            d.put("event.severity", severity_number(alert.severity));
            d.put_evidence("ssh_trace.alert.evidence", &alert.evidence);
            d.put_opt("error.message", alert.evidence.error.as_deref());
        }
        Body::SessionTty(t) => tty(d, t),
    }
}

/// Terminal data as ECS's process.io (what a session's terminal showed);
/// input, window sizes and the kind of record under ssh_trace.tty.
fn tty(d: &mut Doc, t: &Terminal) {
    d.put("process.io.type", "tty");
    match t.kind {
        TtyKind::Output | TtyKind::Input => {
            d.put("process.io.text", crate::text::escape_bytes(t.bytes()));
            d.put("process.io.total_bytes_captured", t.bytes);
        }
        TtyKind::Lost | TtyKind::Withheld => d.put("process.io.total_bytes_skipped", t.bytes),
        TtyKind::Resize => {}
    }
    d.put("ssh_trace.tty.type", tty_kind_name(t.kind));
    d.put("ssh_trace.tty.rows", t.rows);
    d.put("ssh_trace.tty.cols", t.cols);
}

pub fn tty_kind_name(k: TtyKind) -> &'static str {
    match k {
        TtyKind::Output => "output",
        TtyKind::Input => "input",
        TtyKind::Resize => "resize",
        TtyKind::Lost => "lost",
        TtyKind::Withheld => "withheld",
    }
}

/// session.auth: user.name is the name tried (the session has none yet).
fn decision(d: &mut Doc, AuthDecision { pid, auth: a }: &AuthDecision) {
    d.put("process.pid", *pid);
    if let Some(u) = a.user.as_deref() {
        d.put("user.name", u);
        d.put("related.user", vec![u]);
    }
    d.put_opt("ssh_trace.auth.method", a.method.map(Method::name));
    d.put_opt("ssh_trace.auth.submethod", a.submethod.as_deref());
    d.put("ssh_trace.auth.outcome", a.outcome.name());
    d.put("ssh_trace.auth.invalid", a.invalid);
    key_fields(d, a.key.as_ref(), a.certificate.as_ref());
}

fn key_fields(d: &mut Doc, key: Option<&Key>, cert: Option<&Certificate>) {
    if let Some(k) = key {
        d.put("ssh_trace.auth.key.type", k.key_type.as_str());
        d.put("ssh_trace.auth.key.fingerprint", k.fingerprint.as_str());
    }
    if let Some(c) = cert {
        d.put("ssh_trace.auth.certificate.id", c.id.as_str());
        d.put("ssh_trace.auth.certificate.serial", c.serial);
        d.put("ssh_trace.auth.certificate.ca.type", c.ca.key_type.as_str());
        d.put(
            "ssh_trace.auth.certificate.ca.fingerprint",
            c.ca.fingerprint.as_str(),
        );
    }
}

/// session.end of a connection that never logged in: the names it tried
/// are related users.
fn attempts(d: &mut Doc, a: &Attempts) {
    d.put("ssh_trace.auth.attempts", a.attempts);
    d.put("ssh_trace.auth.failures", a.failures);
    d.put("ssh_trace.auth.key_lookups", a.key_lookups);
    let users: Vec<&str> = a.users.iter().map(|u| &**u).collect();
    d.put("ssh_trace.auth.users", users.clone());
    if !users.is_empty() {
        d.put("related.user", users);
    }
}

fn exec(d: &mut Doc, p: &ProcessExec) {
    d.put("process.pid", p.pid);
    d.put("process.parent.pid", p.ppid);
    d.put("process.executable", p.executable.as_str());
    d.put("process.name", base_name(&p.executable));
    d.put("process.args", p.args.iter().collect::<Vec<_>>());
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
    if let Some(r) = p.role {
        d.put("ssh_trace.process.role", r.name());
    }
    d.put("ssh_trace.process.fileless", p.fileless);
}

fn change(d: &mut Doc, IdChange { process, change: c }: &IdChange) {
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
    d.put("ssh_trace.change.args", c.args.as_slice().to_vec());
    d.put_ids("ssh_trace.change.old", &c.old);
}

/// `file.*` is the file on the host (chroot included); what the client
/// named it, and the rest, under ssh_trace.transfer.
fn transfer(
    d: &mut Doc,
    FileTransfer {
        process,
        transfer: t,
    }: &FileTransfer,
) {
    d.put("process.pid", process.pid);
    let path = t.host_path();
    d.put("file.name", base_name(&path));
    d.put("file.directory", parent_dir(&path));
    d.put("file.path", path);
    d.put_opt("file.size", t.size);
    d.put_opt("file.mode", t.mode.clone());
    d.put_opt("file.type", t.file_type.map(ecs_file_type));
    d.put_opt("error.code", t.errno.map(|e| e.to_string()));
    d.put_opt(
        "event.duration",
        t.duration_ms.map(|ms| ms.saturating_mul(1_000_000)),
    );
    d.put("ssh_trace.transfer.server", t.server.name());
    d.put("ssh_trace.transfer.action", t.action.name());
    d.put("ssh_trace.transfer.path", t.path.as_str());
    d.put_opt("ssh_trace.transfer.target", t.host_target());
    d.put_opt("ssh_trace.transfer.chroot", t.chroot.clone());
    d.put("ssh_trace.transfer.bytes", t.bytes);
    d.put("ssh_trace.transfer.outcome", t.outcome.name());
    d.put("ssh_trace.transfer.path_truncated", t.path_truncated);
    d.put("ssh_trace.transfer.late", t.late);
}

/// ECS file.type: file, dir, symlink (the others as ssh-trace names them).
fn ecs_file_type(t: FileType) -> &'static str {
    match t {
        FileType::File => "file",
        FileType::Directory => "dir",
        FileType::BlockDevice | FileType::CharDevice | FileType::Other => t.name(),
    }
}

/// `/a/b/c` → `/a/b`; `/c` → `/`.
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
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
