//! Readable lines: time, event, session, user@source, then details.
use std::{cell::RefCell, fmt::Write as _};

use super::quiet::Quiet;

use super::auth_text;

use crate::{
    event::{
        Body, Event, FileTransfer, Heartbeat, IdChange, Kind, LossCounts, LossReport, ProcessExec,
        ProcessExit, Role, ServerMode, SessionInfo,
    },
    host::rfc3339,
    text::printable,
};

pub struct Human {
    color: bool,
    /// The quiet view's state (format/quiet.rs); None: every event.
    quiet: Option<RefCell<Quiet>>,
}

impl Human {
    /// Every event, one line each.
    pub fn new(color: bool) -> Self {
        Self { color, quiet: None }
    }

    /// The quiet view: the SSH server's own work folded away.
    pub fn quiet(color: bool) -> Self {
        Self {
            color,
            quiet: Some(RefCell::default()),
        }
    }

    pub fn write(&self, ev: &Event, out: &mut Vec<u8>) {
        if let Some(q) = &self.quiet {
            if !q.borrow_mut().shows(ev) {
                return;
            }
        }
        let mut line = String::with_capacity(160);
        // HH:MM:SS.mmm of the RFC 3339 time.
        let t = rfc3339(ev.time_ns);
        let clock = t.get(11..23).unwrap_or(&t);
        let (start, end) = if self.color {
            (ev.spec().colour, "\x1b[0m")
        } else {
            ("", "")
        };
        // The SSH server's own processes are dimmed: shown, not hidden.
        let dim = self.color && server_plumbing(&ev.body);
        if dim {
            line.push_str(DIM);
        }
        let _ = write!(line, "{clock} {start}{:<15}{end}", ev.kind().name());
        if dim {
            line.push_str(DIM);
        }
        match &ev.session {
            Some(s) => session(&mut line, s, ev.kind()),
            None => line.push_str(&format!(" {:<8} {:<12} {:<21}", "-", "-", "-")),
        }
        details(&mut line, &ev.body);
        let text = line.trim_end();
        out.extend_from_slice(text.as_bytes());
        if dim {
            out.extend_from_slice(RESET.as_bytes());
        }
        out.push(b'\n');
    }
}

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn server_plumbing(body: &Body) -> bool {
    matches!(body, Body::ProcessExec(p) if p.role == Some(Role::Server))
}

fn session(line: &mut String, s: &SessionInfo, kind: Kind) {
    let who = s
        .user
        .as_deref()
        .map(printable)
        .unwrap_or_else(|| "-".into());
    let src = s
        .source
        .as_ref()
        .map(|e| format!("{}:{}", e.ip, e.port))
        .unwrap_or_else(|| "?".into());
    let id = s.id.text();
    let _ = write!(line, " {:<8} {:<12} {:<21}", id.short(), who, src);
    if s.discovered && matches!(kind, Kind::SessionConnect | Kind::SessionLogin) {
        line.push_str(" (discovered)");
    }
    if kind == Kind::SessionConnect {
        if let Some(sv) = s.server.filter(|sv| sv.uid != 0) {
            let _ = write!(line, " server_uid={}", sv.uid);
        }
        if s.server.is_some_and(|sv| sv.mode == ServerMode::Inetd) {
            line.push_str(" inetd");
        }
        if let Some(p) = s.parent {
            let _ = write!(line, " from_session={}", p.text().short());
        }
    }
}

/// The type's own part of the line.
fn details(line: &mut String, body: &Body) {
    match body {
        Body::SessionConnect => {}
        Body::SessionAuth(a) => auth_text::decision(line, &a.auth),
        Body::SessionLogin(l) => {
            if let Some(a) = &l.auth {
                auth_text::accepted(line, a);
            }
        }
        Body::ProcessExec(p) => exec(line, p),
        Body::ProcessExit(p) => exit(line, p),
        Body::UserChange(c) => change(line, c),
        Body::SessionBytes(t) => {
            let _ = write!(line, " in={} out={}", t.bytes_in, t.bytes_out);
        }
        Body::SessionEnd(c) => {
            let (t, e) = (c.traffic, c.end);
            let _ = write!(line, " in={} out={}", t.bytes_in, t.bytes_out);
            let _ = write!(
                line,
                " duration={}ms logged_in={}",
                e.duration_ms, e.logged_in
            );
            if let Some(a) = &c.attempts {
                auth_text::attempts(line, a);
            }
        }
        Body::SessionForward(f) => {
            let _ = write!(line, " pid={} {}", f.pid, super::forward::summary(f));
        }
        Body::FileTransfer(t) => transfer(line, t),
        Body::AgentStart(agent) => {
            let _ = write!(
                line,
                " version={} pid={} kernel={}",
                agent.version, agent.pid, agent.kernel
            );
        }
        Body::AgentLoss(l) => loss(line, &l.loss, &l.total),
        Body::AgentStop(s) => {
            let t = &s.totals;
            let _ = write!(line, " events={} lost={}", t.events, t.lost.total());
        }
        Body::AgentHeartbeat(h) => heartbeat(line, h),
        Body::Alert(_, alert) => super::alert_text::write(alert, line),
        Body::SessionTty(t) => {
            let kind = super::ecs::tty_kind_name(t.kind);
            let _ = write!(line, " {kind} bytes={} {}x{}", t.bytes, t.cols, t.rows);
        }
    }
}

fn exec(line: &mut String, p: &ProcessExec) {
    let _ = write!(line, " pid={} ppid={} uid={}", p.pid, p.ppid, p.uid);
    if p.euid != p.uid {
        let _ = write!(line, " euid={}", p.euid);
    }
    let _ = write!(line, " {}", printable(&p.executable));
    for a in p.args.iter() {
        let _ = write!(line, " {}", printable(a));
    }
    if p.args_truncated {
        line.push_str(" [args truncated]");
    }
    if p.fileless {
        line.push_str(" [fileless]");
    }
}

fn exit(line: &mut String, p: &ProcessExit) {
    let _ = write!(line, " pid={}", p.pid);
    if let Some(c) = p.exit_code {
        let _ = write!(line, " exit={c}");
    }
    if let Some(s) = p.signal {
        let _ = write!(line, " signal={s}");
    }
}

fn change(line: &mut String, c: &IdChange) {
    let (pid, c) = (c.process.pid, &c.change);
    let args: Vec<String> = c.args.as_slice().iter().map(i64::to_string).collect();
    let _ = write!(
        line,
        " pid={pid} {}({}) {} uid {}->{} euid {}->{} suid {}->{}",
        c.syscall,
        args.join(","),
        if c.success { "ok" } else { "failed" },
        c.old.uid,
        c.new.uid,
        c.old.euid,
        c.new.euid,
        c.old.suid,
        c.new.suid
    );
}

/// ` pid=N sftp-server upload /path bytes=N size=N mode=0644 complete`.
fn transfer(line: &mut String, t: &FileTransfer) {
    let (pid, t) = (t.process.pid, &t.transfer);
    let _ = write!(
        line,
        " pid={pid} {} {} {}",
        t.server.name(),
        t.action.name(),
        printable(&t.path)
    );
    if let Some(target) = &t.target {
        let _ = write!(line, " -> {}", printable(target));
    }
    if let Some(root) = &t.chroot {
        let _ = write!(line, " chroot={}", printable(root));
    }
    if t.size.is_some() || t.bytes > 0 {
        let _ = write!(line, " bytes={}", t.bytes);
    }
    if let (Some(size), Some(mode)) = (t.size, &t.mode) {
        let _ = write!(line, " size={size} mode={mode}");
    }
    let _ = write!(line, " {}", t.outcome.name());
    if let Some(e) = t.errno {
        let _ = write!(line, " errno={e}");
    }
    if t.late {
        line.push_str(" [opened before the hooks]");
    }
}

fn heartbeat(line: &mut String, h: &Heartbeat) {
    let _ = write!(
        line,
        " uptime={}s events={} lost={} sessions={} logged_in={} processes={} queue={}",
        h.uptime_s,
        h.events,
        h.lost,
        h.sessions_open,
        h.sessions_logged_in,
        h.processes,
        h.queue_batches
    );
    for s in &h.sinks {
        let _ = write!(line, " sink:{}={}", s.sink, s.waiting);
    }
}

fn loss(line: &mut String, report: &LossReport, total: &LossCounts) {
    let loss = &report.counts;
    let _ = write!(
        line,
        " lost={} (ringbuf={} tracked_full={} socks_full={} queue={} decode={}",
        loss.total(),
        loss.kernel_ringbuf,
        loss.kernel_tracked_full,
        loss.kernel_socks_full,
        loss.queue,
        loss.decode,
    );
    // Counters that are rarely not zero, only when they are not.
    for (name, n) in [
        ("milestones", loss.kernel_milestones),
        ("listeners_full", loss.kernel_listeners_full),
        ("agent_restart", loss.agent_restart),
        ("rate_limited", loss.kernel_rate_limited),
        ("tty_bytes", loss.tty_bytes),
        ("auth_unwatched", loss.auth_unwatched),
    ] {
        if n > 0 {
            let _ = write!(line, " {name}={n}");
        }
    }
    let _ = write!(line, ") total={}", total.total());
    for (i, s) in report.sessions.iter().enumerate() {
        let sep = if i == 0 { " sessions=" } else { "," };
        let _ = write!(
            line,
            "{sep}{}:{}",
            s.id.text().short(),
            s.records + s.untracked
        );
        if s.tty_bytes > 0 {
            let _ = write!(line, "+{}B", s.tty_bytes);
        }
    }
    if report.more_sessions > 0 {
        let _ = write!(line, " +{} more", report.more_sessions);
    }
    for o in &loss.outputs {
        let _ = write!(
            line,
            "; {}: {} failed writes, {} events lost: {}",
            o.output, o.failures, o.events, o.error
        );
    }
}
