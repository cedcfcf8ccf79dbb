//! Readable lines: time, event, session, user@source, then details.
use std::fmt::Write as _;

use crate::{
    event::{Body, Event, Kind},
    host::rfc3339,
    text::printable,
};

pub struct Human {
    pub color: bool,
}

fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::SessionConnect | Kind::SessionEnd | Kind::SessionBytes => "\x1b[36m",
        Kind::SessionLogin => "\x1b[32m",
        Kind::UserChange => "\x1b[33m",
        Kind::AgentLoss => "\x1b[31m",
        Kind::AgentStart | Kind::AgentStop => "\x1b[2m",
        Kind::ProcessExec | Kind::ProcessExit => "",
        Kind::Alert(_) => "\x1b[1;31m",
    }
}

impl Human {
    pub fn write(&self, ev: &Event, out: &mut Vec<u8>) {
        let mut line = String::with_capacity(160);
        // HH:MM:SS.mmm of the RFC 3339 time.
        let t = rfc3339(ev.time_ns);
        let clock = t.get(11..23).unwrap_or(&t);
        let (start, end) = if self.color {
            (colour(ev.kind), "\x1b[0m")
        } else {
            ("", "")
        };
        let _ = write!(line, "{clock} {start}{:<15}{end}", ev.kind.name());
        match &ev.session {
            Some(s) => {
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
                let _ = write!(
                    line,
                    " {:<8} {:<12} {:<21}",
                    s.id.get(..8).unwrap_or(&s.id),
                    who,
                    src
                );
                if s.discovered && matches!(ev.kind, Kind::SessionConnect | Kind::SessionLogin) {
                    line.push_str(" (discovered)");
                }
                if let Some(t) = &s.traffic {
                    let _ = write!(line, " in={} out={}", t.bytes_in, t.bytes_out);
                }
                if let Some(e) = &s.end {
                    let _ = write!(
                        line,
                        " duration={}ms logged_in={}",
                        e.duration_ms, e.logged_in
                    );
                }
            }
            None => line.push_str(&format!(" {:<8} {:<12} {:<21}", "-", "-", "-")),
        }
        match &ev.body {
            Body::None {} => {}
            Body::ProcessExec { process: p } => {
                let _ = write!(line, " pid={} ppid={} uid={}", p.pid, p.ppid, p.uid);
                if p.euid != p.uid {
                    let _ = write!(line, " euid={}", p.euid);
                }
                let _ = write!(line, " {}", printable(&p.executable));
                for a in &p.args {
                    let _ = write!(line, " {}", printable(a));
                }
                if p.args_truncated {
                    line.push_str(" [args truncated]");
                }
            }
            Body::ProcessExit { process: p } => {
                let _ = write!(line, " pid={}", p.pid);
                if let Some(c) = p.exit_code {
                    let _ = write!(line, " exit={c}");
                }
                if let Some(s) = p.signal {
                    let _ = write!(line, " signal={s}");
                }
            }
            Body::UserChange { process, change: c } => {
                let _ = write!(
                    line,
                    " pid={} {}({}) {} uid {}->{} euid {}->{} suid {}->{}",
                    process.pid,
                    c.syscall,
                    c.args
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    if c.success { "ok" } else { "failed" },
                    c.old.uid,
                    c.new.uid,
                    c.old.euid,
                    c.new.euid,
                    c.old.suid,
                    c.new.suid
                );
            }
            Body::AgentStart { agent } => {
                let _ = write!(
                    line,
                    " version={} pid={} kernel={}",
                    agent.version, agent.pid, agent.kernel
                );
            }
            Body::AgentLoss { loss, total } => {
                let _ = write!(
                    line,
                    " lost={} (ringbuf={} tracked_full={} socks_full={} queue={} decode={}) total={}",
                    loss.total(),
                    loss.kernel_ringbuf,
                    loss.kernel_tracked_full,
                    loss.kernel_socks_full,
                    loss.queue,
                    loss.decode,
                    total.total()
                );
            }
            Body::Alert { alert } => super::alert_text::write(alert, &mut line),
            Body::AgentStop { totals, .. } => {
                let _ = write!(
                    line,
                    " events={} lost={}",
                    totals.events,
                    totals.lost.total()
                );
            }
        }
        out.extend_from_slice(line.trim_end().as_bytes());
        out.push(b'\n');
    }
}
