//! OCSF 1.3 lines (docs/ocsf.md): one OCSF event per event. Fields OCSF has
//! no attribute for go under `unmapped`.
use super::doc::{base_name, Doc};
use crate::alert::{AlertKind, Severity};
use crate::event::{AgentInfo, Body, Event, Kind, SessionInfo};

pub const OCSF_VERSION: &str = "1.3.0";

pub struct Ocsf;

impl Ocsf {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        document(ev, host).write_line(out);
    }
}

/// An OCSF class and activity: type_uid = class_uid * 100 + activity_id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    pub class_uid: u32,
    pub class_name: &'static str,
    pub activity_id: u32,
    pub activity_name: &'static str,
}

const fn act(class_uid: u32, activity_id: u32, activity_name: &'static str) -> Activity {
    let class_name = match class_uid {
        1007 => "Process Activity",
        3002 => "Authentication",
        4001 => "Network Activity",
        4007 => "SSH Activity",
        2004 => "Detection Finding",
        _ => "Application Lifecycle",
    };
    Activity {
        class_uid,
        class_name,
        activity_id,
        activity_name,
    }
}

pub const SSH_OPEN: Activity = act(4007, 1, "Open");
pub const SSH_CLOSE: Activity = act(4007, 2, "Close");
pub const LOGON: Activity = act(3002, 1, "Logon");
pub const LOGOFF: Activity = act(3002, 2, "Logoff");
pub const LAUNCH: Activity = act(1007, 1, "Launch");
pub const TERMINATE: Activity = act(1007, 2, "Terminate");
pub const SET_USER_ID: Activity = act(1007, 5, "Set User ID");
pub const TRAFFIC: Activity = act(4001, 6, "Traffic");
pub const APP_START: Activity = act(6002, 3, "Start");
pub const APP_STOP: Activity = act(6002, 4, "Stop");
pub const APP_LOSS: Activity = act(6002, 99, "Loss");
pub const APP_ACTION_FAILED: Activity = act(6002, 99, "Action Failed");
pub const FINDING: Activity = act(2004, 1, "Create");

impl Activity {
    pub fn category_uid(self) -> u32 {
        self.class_uid / 1000
    }

    pub fn category_name(self) -> &'static str {
        match self.category_uid() {
            1 => "System Activity",
            2 => "Findings",
            3 => "Identity & Access Management",
            4 => "Network Activity",
            _ => "Application Activity",
        }
    }

    pub fn type_uid(self) -> u32 {
        self.class_uid * 100 + self.activity_id
    }

    /// The caption OCSF gives type_uid: for 99 the activity is "Other",
    /// whatever source name activity_name carries.
    pub fn type_name(self) -> String {
        let activity = if self.activity_id == 99 {
            "Other"
        } else {
            self.activity_name
        };
        format!("{}: {activity}", self.class_name)
    }
}

fn logged_in(s: Option<&SessionInfo>) -> bool {
    s.and_then(|s| s.end.as_ref()).is_some_and(|e| e.logged_in)
}

pub fn activity(ev: &Event) -> Activity {
    match ev.kind {
        Kind::SessionConnect => SSH_OPEN,
        Kind::SessionLogin => LOGON,
        Kind::ProcessExec => LAUNCH,
        Kind::ProcessExit => TERMINATE,
        Kind::UserChange => SET_USER_ID,
        Kind::SessionBytes => TRAFFIC,
        // A logoff pairs with the logon; a connection that never logged in
        // has no logon, so its end is the SSH connection's close.
        Kind::SessionEnd if logged_in(ev.session.as_ref()) => LOGOFF,
        Kind::SessionEnd => SSH_CLOSE,
        Kind::AgentStart => APP_START,
        Kind::AgentLoss => APP_LOSS,
        Kind::AgentStop => APP_STOP,
        // An action that failed is the agent's own trouble, like a loss.
        Kind::Alert(AlertKind::ActionFailed) => APP_ACTION_FAILED,
        Kind::Alert(_) => FINDING,
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
    let loss = matches!(
        ev.kind,
        Kind::AgentLoss | Kind::Alert(AlertKind::ActionFailed)
    );
    // 3 Medium: lost records are audit data that never arrives. Alerts
    // carry the rule's severity (1 Informational, 3 Medium, 5 Critical).
    let (sev_id, sev) = match &ev.body {
        Body::Alert { alert } if !loss => match alert.severity {
            Severity::Info => (1, "Informational"),
            Severity::Warning => (3, "Medium"),
            Severity::Critical => (5, "Critical"),
        },
        _ if loss => (3, "Medium"),
        _ => (1, "Informational"),
    };
    d.put("severity_id", sev_id);
    d.put("severity", sev);
    d.put("metadata.version", OCSF_VERSION);
    d.put("metadata.product.name", "ssh-trace");
    d.put("metadata.product.vendor_name", "ssh-trace");
    d.put("metadata.product.version", env!("CARGO_PKG_VERSION"));
    d.put("metadata.event_code", ev.kind.name());
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

fn session(d: &mut Doc, s: &SessionInfo, a: Activity, host: &str) {
    d.put("actor.session.uid", s.id.as_str());
    d.put_opt("actor.user.name", s.user.as_deref());
    d.put_opt("actor.user.uid", s.uid.map(|u| u.to_string()));
    // Only the network and authentication classes have endpoints; a
    // Detection Finding has them in its evidences (see finding).
    if a.class_uid != 2004 {
        let under = if a.class_uid == 1007 { "unmapped." } else { "" };
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
        d.put("session.uid", s.id.as_str());
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
    if let Some(t) = &s.traffic {
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
    if let Some(e) = &s.end {
        d.put("duration", e.duration_ms);
        d.put("unmapped.logged_in", e.logged_in);
    }
}

fn body(d: &mut Doc, ev: &Event, a: Activity) {
    match &ev.body {
        Body::None {} => {
            if a.class_uid == 4007 {
                status(d, ev.kind == Kind::SessionConnect);
            }
        }
        Body::ProcessExec { process: p } => {
            d.put("process.pid", p.pid);
            d.put("process.parent_process.pid", p.ppid);
            d.put("process.file.path", p.executable.as_str());
            d.put("process.file.name", base_name(&p.executable));
            d.put("process.file.type_id", 1);
            d.put("process.file.type", "Regular File");
            d.put("process.cmd_line", p.args.join(" "));
            d.put("process.user.uid", p.euid.to_string());
            d.put("unmapped.process.args", p.args.clone());
            d.put("unmapped.process.uid", p.uid);
            d.put("unmapped.process.gid", p.gid);
            d.put("unmapped.process.egid", p.egid);
            d.put(
                "unmapped.process.executable_truncated",
                p.executable_truncated,
            );
            d.put("unmapped.process.args_truncated", p.args_truncated);
            status(d, true);
        }
        Body::ProcessExit { process: p } => {
            d.put("process.pid", p.pid);
            d.put_opt("exit_code", p.exit_code);
            d.put_opt("unmapped.signal", p.signal);
            status(d, p.exit_code == Some(0));
        }
        Body::UserChange { process, change: c } => {
            d.put("process.pid", process.pid);
            d.put("process.user.uid", c.new.euid.to_string());
            d.put_opt("process.user.name", c.effective_user.as_deref());
            status(d, c.success);
            d.put_opt("status_code", c.errno.map(|e| e.to_string()));
            d.put("unmapped.syscall", c.syscall);
            d.put("unmapped.args", c.args.clone());
            d.put_ids("unmapped.old", &c.old);
            d.put_ids("unmapped.new", &c.new);
            d.put_opt("unmapped.user", c.user.as_deref());
        }
        Body::AgentStart { agent } => {
            app(d, agent);
            status(d, true);
        }
        Body::AgentLoss { loss, total } => {
            d.put("app.name", "ssh-trace");
            d.put("app.vendor_name", "ssh-trace");
            d.put(
                "message",
                format!(
                    "{} records lost since the previous agent.loss",
                    loss.total()
                ),
            );
            d.put_loss("unmapped.loss", loss);
            d.put_loss("unmapped.total", total);
            status(d, false);
        }
        Body::AgentStop { agent, totals } => {
            app(d, agent);
            d.put("unmapped.totals.events", totals.events);
            d.put_loss("unmapped.totals.lost", &totals.lost);
            status(d, true);
        }
        Body::Alert { alert } if ev.kind == Kind::Alert(AlertKind::ActionFailed) => {
            // Application Lifecycle has no finding: the failure is the
            // message, the rule and evidence stay as ssh-trace has them.
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
        Body::Alert { alert } => finding(d, ev, alert),
    }
}

/// Detection Finding: the rule is the analytic; the session's endpoints and
/// the evidence's user and process are its evidences; the whole evidence
/// also stays as ssh-trace has it.
fn finding(d: &mut Doc, ev: &Event, alert: &crate::alert::Alert) {
    d.put("finding_info.title", ev.kind.name());
    d.put(
        "finding_info.uid",
        format!("{}-{}", ev.kind.name(), ev.time_ns),
    );
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
