//! OCSF 1.3 lines (docs/ocsf.md): one OCSF event per event. Fields OCSF has
//! no attribute for go under `unmapped`.
use super::doc::{base_name, Doc};
use crate::event::{
    spec::Ocsf as OcsfClass, AgentInfo, Alert, AlertKind, AuthDecision, Body, Event, FileTransfer,
    FileType, IdChange, Kind, Method, Outcome, ProcessExec, SessionInfo, Severity, Terminal,
    Traffic, TransferOutcome, TtyKind,
};

pub const OCSF_VERSION: &str = "1.3.0";

pub struct Ocsf;

impl Ocsf {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        document(ev, host).write_line(out);
    }
}

pub use crate::event::spec::{
    Activity, APP_ACTION_FAILED, APP_LOSS, APP_START, APP_STOP, FINDING, LAUNCH, LOGOFF, LOGON,
    SET_USER_ID, SSH_CLOSE, SSH_OPEN, TERMINATE, TRAFFIC,
};

pub fn activity(ev: &Event) -> Activity {
    match &ev.spec().ocsf {
        OcsfClass::Always(a) => *a,
        OcsfClass::ByForward(by) => match &ev.body {
            Body::SessionForward(f) => *by.get(f.state),
            _ => by.open,
        },
        OcsfClass::ByLogin { logged_in, not } => {
            let yes = matches!(&ev.body, Body::SessionEnd(c) if c.end.logged_in);
            if yes {
                *logged_in
            } else {
                *not
            }
        }
        OcsfClass::ByAction(table) => {
            let action = ev.body.transfer().map(|t| t.transfer.action);
            table
                .iter()
                .find(|(a, _)| Some(*a) == action)
                .map_or(table[0].1, |(_, act)| *act)
        }
    }
}

/// status_id: 1 Success, 2 Failure.
fn status(d: &mut Doc, success: bool) {
    d.put("status_id", if success { 1 } else { 2 });
    d.put("status", if success { "Success" } else { "Failure" });
}

pub fn document(ev: &Event, host: &str) -> Doc {
    let a = activity(ev);
    let mut d = Doc::default();
    d.put("time", ev.time_ns / 1_000_000);
    d.put("class_uid", a.class_uid);
    d.put("class_name", a.class_name);
    d.put("category_uid", a.category_uid());
    d.put("category_name", a.category_name());
    d.put("activity_id", a.activity_id);
    d.put("activity_name", a.activity_name);
    d.put("type_uid", a.type_uid());
    d.put("type_name", a.type_name());
    let (sev_id, sev) = severity(ev);
    d.put("severity_id", sev_id);
    d.put("severity", sev);
    d.put("metadata.version", OCSF_VERSION);
    d.put("metadata.product.name", "ssh-trace");
    d.put("metadata.product.vendor_name", "ssh-trace");
    d.put("metadata.product.version", env!("CARGO_PKG_VERSION"));
    d.put("metadata.event_code", ev.kind().name());
    d.put("metadata.profiles", vec!["host"]);
    d.put("device.hostname", host);
    d.put("device.type_id", 1);
    d.put("device.type", "Server");
    if let Some(s) = &ev.session {
        session(&mut d, s, a, host);
    }
    body(&mut d, ev, a);
    d
}

/// 3 Medium: lost records are audit data that never arrives. Alerts carry
/// the rule's severity (1 Informational, 3 Medium, 5 Critical).
fn severity(ev: &Event) -> (u8, &'static str) {
    match &ev.body {
        Body::AgentLoss(_) | Body::Alert(AlertKind::ActionFailed, _) => (3, "Medium"),
        Body::Alert(_, alert) => match alert.severity {
            Severity::Info => (1, "Informational"),
            Severity::Warning => (3, "Medium"),
            Severity::Critical => (5, "Critical"),
        },
        Body::SessionConnect
        | Body::SessionAuth(_)
        | Body::SessionLogin(_)
        | Body::ProcessExec(_)
        | Body::ProcessExit(_)
        | Body::UserChange(_)
        | Body::SessionBytes(_)
        | Body::SessionEnd(_)
        | Body::FileTransfer(_)
        | Body::SessionForward(_)
        | Body::AgentStart(_)
        | Body::AgentStop(_)
        | Body::SessionTty(_)
        | Body::AgentHeartbeat(_) => (1, "Informational"),
    }
}

fn session(d: &mut Doc, s: &SessionInfo, a: Activity, host: &str) {
    d.put("actor.session.uid", s.id.to_string());
    d.put_opt("actor.user.name", s.user.as_deref());
    d.put_opt("actor.user.uid", s.uid.map(|u| u.to_string()));
    // Only the network and authentication classes have endpoints; a
    // Detection Finding has them in its evidences (see finding).
    if a.class_uid != 2004 {
        // Process and File System Activity have no endpoints.
        let under = if matches!(a.class_uid, 1007 | 1001) {
            "unmapped."
        } else {
            ""
        };
        if let Some(src) = &s.source {
            d.put_endpoint(&format!("{under}src_endpoint"), src);
        }
        match &s.destination {
            Some(dst) => d.put_endpoint(&format!("{under}dst_endpoint"), dst),
            // The network classes require a destination: the SSH server
            // is this machine even when its socket was not read.
            None if matches!(a.class_uid, 4001 | 4007) => d.put("dst_endpoint.hostname", host),
            None => {}
        }
    }
    if matches!(a.class_uid, 4001 | 4007) {
        d.put("connection_info.protocol_name", "tcp");
        d.put("connection_info.protocol_num", 6);
        d.put("connection_info.direction_id", 1);
        d.put("connection_info.direction", "Inbound");
    }
    if a.class_uid == 3002 {
        d.put("session.uid", s.id.to_string());
        d.put_opt("user.name", s.user.as_deref());
        d.put_opt("user.uid", s.uid.map(|u| u.to_string()));
        d.put("is_remote", true);
        d.put("logon_type_id", 10);
        d.put("logon_type", "Remote Interactive");
        d.put("service.name", "sshd");
        status(d, true);
    }
    if s.discovered {
        d.put("unmapped.discovered", true);
    }
    if let Some(sv) = &s.server {
        d.put("unmapped.server.uid", sv.uid);
        d.put("unmapped.server.mode", sv.mode.name());
    }
    if let Some(p) = &s.parent {
        d.put("unmapped.parent_session", p.to_string());
    }
}

fn traffic(d: &mut Doc, t: &Traffic, a: Activity) {
    // OCSF counts from the source (the SSH client): bytes_out is what it
    // sent (the server received), bytes_in what came back to it.
    let traffic = if a.class_uid == 3002 {
        "unmapped.traffic"
    } else {
        "traffic"
    };
    d.put(&format!("{traffic}.bytes_out"), t.bytes_in);
    d.put(&format!("{traffic}.bytes_in"), t.bytes_out);
    d.put(&format!("{traffic}.bytes"), t.bytes_in + t.bytes_out);
}

fn body(d: &mut Doc, ev: &Event, a: Activity) {
    match &ev.body {
        Body::SessionConnect => ssh_status(d, ev, a),
        Body::SessionAuth(x) => decision(d, x),
        Body::SessionLogin(l) => {
            if let Some(x) = &l.auth {
                d.put("auth_protocol_id", 99);
                d.put("auth_protocol", x.method.name());
                d.put("unmapped.auth", serde_json::to_value(x).unwrap_or_default());
            }
        }
        Body::SessionBytes(t) => {
            traffic(d, t, a);
            ssh_status(d, ev, a);
        }
        Body::SessionEnd(c) => {
            traffic(d, &c.traffic, a);
            d.put("duration", c.end.duration_ms);
            d.put("unmapped.logged_in", c.end.logged_in);
            if let Some(x) = &c.attempts {
                d.put("unmapped.auth", serde_json::to_value(x).unwrap_or_default());
            }
            ssh_status(d, ev, a);
        }
        Body::SessionForward(f) => super::forward::ocsf(d, f, ev.session.as_deref()),
        Body::ProcessExec(p) => exec(d, p),
        Body::ProcessExit(p) => {
            d.put("process.pid", p.pid);
            d.put_opt("exit_code", p.exit_code);
            d.put_opt("unmapped.signal", p.signal);
            status(d, p.exit_code == Some(0));
        }
        Body::UserChange(c) => change(d, c),
        Body::FileTransfer(t) => transfer(d, t),
        Body::AgentStart(agent) => {
            app(d, agent);
            status(d, true);
        }
        Body::AgentLoss(l) => {
            let (loss, total) = (&l.loss, &l.total);
            d.put("app.name", "ssh-trace");
            d.put("app.vendor_name", "ssh-trace");
            let tty = loss.counts.tty_bytes;
            let mut message = format!(
                "{} records lost since the previous agent.loss",
                loss.counts.total() - tty
            );
            if tty > 0 {
                message.push_str(&format!(", {tty} terminal bytes not recorded"));
            }
            d.put("message", message);
            d.put_loss_report("unmapped.loss", loss);
            d.put_loss("unmapped.total", total);
            status(d, false);
        }
        Body::AgentHeartbeat(h) => {
            d.put("app.name", "ssh-trace");
            d.put("app.vendor_name", "ssh-trace");
            d.put(
                "message",
                format!(
                    "alive: {} sessions open, {} events, {} lost",
                    h.sessions_open, h.events, h.lost
                ),
            );
            d.put_fields("unmapped.heartbeat", h);
            status(d, true);
        }
        Body::AgentStop(s) => {
            app(d, &s.agent);
            d.put("unmapped.totals.events", s.totals.events);
            d.put_loss("unmapped.totals.lost", &s.totals.lost);
            status(d, true);
        }
        Body::Alert(AlertKind::ActionFailed, alert) => action_failed(d, alert),
        Body::Alert(kind, alert) => finding(d, ev, *kind, alert),
        Body::SessionTty(t) => tty(d, t),
    }
}

/// SSH Activity, Traffic: terminal bytes to the client (output) count as
/// its bytes_in, typed ones as its bytes_out; the record under unmapped.tty.
fn tty(d: &mut Doc, t: &Terminal) {
    match t.kind {
        TtyKind::Output => d.put("traffic.bytes_in", t.bytes),
        TtyKind::Input => d.put("traffic.bytes_out", t.bytes),
        TtyKind::Resize | TtyKind::Lost | TtyKind::Withheld => {}
    }
    d.put("unmapped.tty.type", super::ecs::tty_kind_name(t.kind));
    d.put("unmapped.tty.rows", t.rows);
    d.put("unmapped.tty.cols", t.cols);
    d.put("unmapped.tty.bytes", t.bytes);
    if let Some(data) = &t.data {
        d.put("unmapped.tty.data", crate::text::escape_bytes(&data.0));
    }
    status(d, true);
}

/// A logon attempt: its user is the name tried (dropbear does not name a
/// user that does not exist: the name is then empty, as OCSF needs one),
/// SSH's methods are no protocol OCSF lists (99 Other, named).
fn decision(d: &mut Doc, AuthDecision { pid, auth: x }: &AuthDecision) {
    d.put("actor.process.pid", *pid);
    d.put("user.name", x.user.as_deref().unwrap_or(""));
    d.put("auth_protocol_id", 99);
    d.put("auth_protocol", x.method.map_or("unknown", Method::name));
    status(d, x.outcome != Outcome::Failed);
    if x.outcome == Outcome::Partial {
        d.put("status_detail", "Partial: another method is required");
        d.put("is_mfa", true);
    }
    d.put(
        "unmapped.auth",
        serde_json::to_value(&**x).unwrap_or_default(),
    );
}

fn exec(d: &mut Doc, p: &ProcessExec) {
    d.put("process.pid", p.pid);
    d.put("process.parent_process.pid", p.ppid);
    d.put("process.file.path", p.executable.as_str());
    d.put("process.file.name", base_name(&p.executable));
    d.put("process.file.type_id", 1);
    d.put("process.file.type", "Regular File");
    d.put("process.cmd_line", p.args.join(" "));
    d.put("process.user.uid", p.euid.to_string());
    d.put("unmapped.process.args", p.args.iter().collect::<Vec<_>>());
    d.put("unmapped.process.uid", p.uid);
    d.put("unmapped.process.gid", p.gid);
    d.put("unmapped.process.egid", p.egid);
    d.put(
        "unmapped.process.executable_truncated",
        p.executable_truncated,
    );
    d.put("unmapped.process.args_truncated", p.args_truncated);
    if let Some(r) = p.role {
        d.put("unmapped.process.role", r.name());
    }
    d.put("unmapped.process.fileless", p.fileless);
    status(d, true);
}

fn change(d: &mut Doc, IdChange { process, change: c }: &IdChange) {
    d.put("process.pid", process.pid);
    d.put("process.user.uid", c.new.euid.to_string());
    d.put_opt("process.user.name", c.effective_user.as_deref());
    status(d, c.success);
    d.put_opt("status_code", c.errno.map(|e| e.to_string()));
    d.put("unmapped.syscall", c.syscall);
    d.put("unmapped.args", c.args.as_slice().to_vec());
    d.put_ids("unmapped.old", &c.old);
    d.put_ids("unmapped.new", &c.new);
    d.put_opt("unmapped.user", c.user.as_deref());
}

/// File System Activity: the server process is the actor, `file` the file
/// on the host (chroot included), `file_result` a rename's or link's target.
fn transfer(
    d: &mut Doc,
    FileTransfer {
        process,
        transfer: t,
    }: &FileTransfer,
) {
    d.put("actor.process.pid", process.pid);
    file(d, "file", &t.host_path(), t.file_type);
    d.put_opt("file.size", t.size);
    if let Some(target) = t.host_target() {
        file(d, "file_result", &target, t.file_type);
    }
    d.put_opt("duration", t.duration_ms);
    match t.outcome {
        TransferOutcome::Complete => status(d, true),
        TransferOutcome::Error => status(d, false),
        TransferOutcome::Partial => {
            d.put("status_id", 99);
            d.put("status", "Partial");
        }
    }
    d.put_opt("status_code", t.errno.map(|e| e.to_string()));
    d.put("unmapped.transfer.server", t.server.name());
    d.put("unmapped.transfer.action", t.action.name());
    d.put("unmapped.transfer.path", t.path.as_str());
    d.put_opt("unmapped.transfer.chroot", t.chroot.clone());
    d.put("unmapped.transfer.bytes", t.bytes);
    d.put_opt("unmapped.transfer.mode", t.mode.clone());
    d.put("unmapped.transfer.outcome", t.outcome.name());
    d.put("unmapped.transfer.path_truncated", t.path_truncated);
    d.put("unmapped.transfer.late", t.late);
}

/// An OCSF file object: name, path, parent folder and type.
fn file(d: &mut Doc, at: &str, path: &str, t: Option<FileType>) {
    d.put(&format!("{at}.name"), base_name(path));
    d.put(&format!("{at}.path"), path);
    d.put(&format!("{at}.parent_folder"), super::ecs::parent_dir(path));
    let (id, name) = match t {
        Some(FileType::File) => (1, "Regular File"),
        Some(FileType::Directory) => (2, "Folder"),
        Some(FileType::CharDevice) => (3, "Character Device"),
        Some(FileType::BlockDevice) => (4, "Block Device"),
        Some(FileType::Other) => (99, "Other"),
        None => (0, "Unknown"),
    };
    d.put(&format!("{at}.type_id"), id);
    d.put(&format!("{at}.type"), name);
}

/// Detection Finding: the rule is the analytic; the session's endpoints and
/// the evidence's user and process are its evidences; the whole evidence
/// also stays as ssh-trace has it.
fn finding(d: &mut Doc, ev: &Event, kind: AlertKind, alert: &Alert) {
    let name = Kind::Alert(kind).name();
    d.put("finding_info.title", name);
    d.put("finding_info.uid", format!("{name}-{}", ev.time_ns));
    d.put("finding_info.analytic.name", alert.rule.as_str());
    d.put("finding_info.analytic.type_id", 1);
    d.put("finding_info.analytic.type", "Rule");
    let mut evidence = Doc::default();
    if let Some(s) = &ev.session {
        if let Some(src) = &s.source {
            evidence.put_endpoint("src_endpoint", src);
        }
        if let Some(dst) = &s.destination {
            evidence.put_endpoint("dst_endpoint", dst);
        }
    }
    evidence.put_opt("user.name", alert.evidence.user.as_deref());
    evidence.put_opt("process.pid", alert.evidence.pid);
    if !evidence.0.is_empty() {
        d.put("evidences", vec![serde_json::Value::Object(evidence.0)]);
    }
    d.put_evidence("unmapped.evidence", &alert.evidence);
    // Detection Finding redefines status as the finding's: 1 New.
    d.put("status_id", 1);
    d.put("status", "New");
}

/// Application Lifecycle has no finding: the failure is the message, the
/// rule and evidence stay as ssh-trace has them.
fn action_failed(d: &mut Doc, alert: &Alert) {
    let e = &alert.evidence;
    d.put("app.name", "ssh-trace");
    d.put("app.vendor_name", "ssh-trace");
    d.put(
        "message",
        format!(
            "alert action {} failed: {}",
            e.action.as_deref().unwrap_or("?"),
            e.error.as_deref().unwrap_or("?")
        ),
    );
    d.put("unmapped.rule", alert.rule.as_str());
    d.put_evidence("unmapped.evidence", e);
    status(d, false);
}

/// SSH Activity events say whether the connection opened.
fn ssh_status(d: &mut Doc, ev: &Event, a: Activity) {
    if a.class_uid == 4007 {
        status(d, matches!(ev.body, Body::SessionConnect));
    }
}

fn app(d: &mut Doc, a: &AgentInfo) {
    d.put("app.name", "ssh-trace");
    d.put("app.vendor_name", "ssh-trace");
    d.put("app.version", a.version.as_str());
    d.put("actor.process.pid", a.pid);
    d.put("device.os.name", "Linux");
    d.put("device.os.type_id", 200);
    d.put("device.os.type", "Linux");
    d.put("device.os.version", a.kernel.as_str());
    d.put("unmapped.ring_buffer_bytes", a.ring_buffer_bytes);
    d.put("unmapped.server_binaries", a.server_binaries.clone());
}
