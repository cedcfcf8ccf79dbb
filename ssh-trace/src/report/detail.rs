//! Short one-line descriptions of events for text reports. Text from the
//! monitored system goes through `printable` so it cannot drive a terminal.
use crate::event::{Body, Event, FileTransfer, ProcessExec, ProcessExit, UserChange};
use crate::format::auth_text;
use crate::text::printable;

use super::endpoint_text;
use super::sessions::duration_text;

/// argv joined by spaces, or the executable when argv is empty.
pub fn command(p: &ProcessExec) -> String {
    let mut s = if p.args.is_empty() {
        printable(&p.executable).into_owned()
    } else {
        p.args
            .iter()
            .map(|a| printable(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if p.args_truncated {
        s.push_str(" [args truncated]");
    }
    s
}

/// `uid=1001`, plus ` euid=0` when it differs (set-user-ID programs).
pub fn ids(p: &ProcessExec) -> String {
    if p.uid == p.euid {
        format!("uid={}", p.uid)
    } else {
        format!("uid={} euid={}", p.uid, p.euid)
    }
}

pub fn exit(p: &ProcessExit) -> String {
    match (p.exit_code, p.signal) {
        (Some(c), _) => format!("exit={c}"),
        (None, Some(s)) => format!("signal={s}"),
        (None, None) => "exited".into(),
    }
}

/// `setresuid(1001,1001,1001) ok uid 0->1001 euid 0->1001 (alice)`: the
/// ids the call is about (user or group), and the new user names.
pub fn change(c: &UserChange) -> String {
    let args: Vec<String> = c.args.as_slice().iter().map(i64::to_string).collect();
    let mut s = format!("{}({})", c.syscall, args.join(","));
    match (c.success, c.errno) {
        (true, _) => s.push_str(" ok"),
        (false, Some(e)) => s.push_str(&format!(" failed errno={e}")),
        (false, None) => s.push_str(" failed"),
    }
    if c.syscall.ends_with("gid") {
        s.push_str(&format!(
            " gid {}->{} egid {}->{}",
            c.old.gid, c.new.gid, c.old.egid, c.new.egid
        ));
        return s;
    }
    s.push_str(&format!(
        " uid {}->{} euid {}->{}",
        c.old.uid, c.new.uid, c.old.euid, c.new.euid
    ));
    match (&c.user, &c.effective_user) {
        (Some(u), Some(e)) if u != e => {
            s.push_str(&format!(" ({}/{})", printable(u), printable(e)))
        }
        (Some(u), _) | (None, Some(u)) => s.push_str(&format!(" ({})", printable(u))),
        (None, None) => {}
    }
    s
}

/// `pid=N sftp-server upload /path 1048576 bytes complete (chroot /srv/x)`.
pub fn transfer(t: &FileTransfer) -> String {
    let (pid, t) = (t.process.pid, &t.transfer);
    let mut s = format!(
        "pid={pid} {} {} {}",
        t.server.name(),
        t.action.name(),
        printable(&t.path)
    );
    if let Some(target) = &t.target {
        s.push_str(&format!(" -> {}", printable(target)));
    }
    if matches!(t.action.name(), "upload" | "download") {
        s.push_str(&format!(" {} bytes", t.bytes));
    }
    s.push(' ');
    s.push_str(t.outcome.name());
    if let Some(e) = t.errno {
        s.push_str(&format!(" errno={e}"));
    }
    if let Some(root) = &t.chroot {
        s.push_str(&format!(" (chroot {})", printable(root)));
    }
    s
}

/// Details of any event for the timeline.
pub fn event(ev: &Event) -> String {
    let info = ev.session.as_deref();
    match &ev.body {
        Body::ProcessExec(p) => {
            format!("pid={} ppid={} {} {}", p.pid, p.ppid, ids(p), command(p))
        }
        Body::ProcessExit(p) => format!("pid={} {}", p.pid, exit(p)),
        Body::UserChange(c) => format!("pid={} {}", c.process.pid, change(&c.change)),
        Body::SessionConnect => {
            let mut s = format!(
                "from {} to {}",
                endpoint_text(info.and_then(|i| i.source.as_ref())),
                endpoint_text(info.and_then(|i| i.destination.as_ref()))
            );
            if info.is_some_and(|i| i.discovered) {
                s.push_str(" (discovered)");
            }
            s
        }
        Body::SessionAuth(a) => {
            let mut s = format!("pid={}", a.pid);
            auth_text::decision(&mut s, &a.auth);
            s
        }
        Body::SessionLogin(l) => {
            let user = info.and_then(|i| i.user.as_deref()).unwrap_or("?");
            let mut s = match info.and_then(|i| i.uid) {
                Some(uid) => format!("user={} uid={uid}", printable(user)),
                None => format!("user={}", printable(user)),
            };
            if let Some(a) = &l.auth {
                auth_text::accepted(&mut s, a);
            }
            s
        }
        Body::SessionBytes(t) => format!("in={} out={}", t.bytes_in, t.bytes_out),
        Body::SessionForward(f) => format!("pid={} {}", f.pid, crate::format::forward::summary(f)),
        Body::SessionEnd(c) => {
            let (t, e) = (c.traffic, c.end);
            let mut s = format!(
                "in={} out={} duration={}.{:03} logged_in={}",
                t.bytes_in,
                t.bytes_out,
                duration_text(e.duration_ms),
                e.duration_ms % 1000,
                if e.logged_in { "yes" } else { "no" }
            );
            if let Some(a) = &c.attempts {
                auth_text::attempts(&mut s, a);
            }
            s
        }
        Body::FileTransfer(t) => transfer(t),
        // Agent events carry no session, so a timeline never holds them.
        Body::AgentStart(_) | Body::AgentLoss(_) | Body::AgentStop(_) | Body::AgentHeartbeat(_) => {
            String::new()
        }
        // Kept as before the event types were declared in one place (the
        // timeline showed no detail for alerts); see the redesign notes.
        Body::Alert(..) => String::new(),
        Body::SessionTty(t) => format!(
            "{} bytes={} {}x{}",
            crate::format::ecs::tty_kind_name(t.kind),
            t.bytes,
            t.cols,
            t.rows
        ),
    }
}
