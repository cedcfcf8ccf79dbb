//! The fields a filter can name: every path of docs/schema.md, next to the
//! structs they read, with its type and how to read it straight from an
//! `Event` (no JSON, no parsing). One row per path; a test checks the rows
//! against docs/schema.md both ways.
use std::{net::IpAddr, sync::Arc};

use super::*;

/// What kind of value a field holds; decides which operators and literals
/// the parser accepts for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Int,
    Text,
    Bool,
    Ip,
    Time,
    Event,
    TextList,
    IntList,
    Object,
}

impl Ty {
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Int => "a number",
            Ty::Text => "text",
            Ty::Bool => "a boolean",
            Ty::Ip => "an IP address",
            Ty::Time => "a time",
            Ty::Event => "an event type",
            Ty::TextList => "a list of text",
            Ty::IntList => "a list of numbers",
            Ty::Object => "an object",
        }
    }
}

/// A list of text in an event.
#[derive(Clone, Copy, Debug)]
pub enum TextList<'a> {
    Args(&'a Args),
    Strings(&'a [String]),
    Shared(&'a [Arc<str>]),
}

impl<'a> TextList<'a> {
    pub fn any(self, mut f: impl FnMut(&'a str) -> bool) -> bool {
        match self {
            TextList::Args(a) => a.iter().any(f),
            TextList::Strings(s) => s.iter().any(|s| f(s)),
            TextList::Shared(s) => s.iter().any(|s| f(s)),
        }
    }
}

/// A field's value in one event, borrowed from it.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Int(i128),
    Text(&'a str),
    /// A session id: text when compared.
    Id(SessionId),
    Bool(bool),
    Ip(IpAddr),
    /// Nanoseconds since the Unix epoch.
    Time(i128),
    Event(Kind),
    TextList(TextList<'a>),
    IntList(&'a [i64]),
    Object,
}

type Get = for<'a> fn(&'a Event, &'a str) -> Option<Val<'a>>;

/// One filterable path.
pub struct FieldDef {
    pub name: &'static str,
    pub ty: Ty,
    get: Get,
}

/// A field, resolved at parse time.
pub type Field = &'static FieldDef;

impl FieldDef {
    /// The value in `ev` seen on `host`, or None when the event does not
    /// have the field (absent or null in the JSON).
    pub fn get<'a>(&self, ev: &'a Event, host: &'a str) -> Option<Val<'a>> {
        (self.get)(ev, host)
    }
}

impl std::fmt::Debug for FieldDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for FieldDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

const fn f(name: &'static str, ty: Ty, get: Get) -> FieldDef {
    FieldDef { name, ty, get }
}

fn int<'a>(n: impl Into<i128>) -> Val<'a> {
    Val::Int(n.into())
}

fn text(s: &str) -> Val<'_> {
    Val::Text(s)
}

fn session(ev: &Event) -> Option<&SessionInfo> {
    ev.session.as_deref()
}

fn exec(ev: &Event) -> Option<&ProcessExec> {
    let Body::ProcessExec(p) = &ev.body else {
        return None;
    };
    Some(p)
}

fn exit(ev: &Event) -> Option<&ProcessExit> {
    let Body::ProcessExit(p) = &ev.body else {
        return None;
    };
    Some(p)
}

fn change(ev: &Event) -> Option<&UserChange> {
    let Body::UserChange(c) = &ev.body else {
        return None;
    };
    Some(&c.change)
}

/// `process.pid`: exec, exit, user.change, session.auth and file.transfer have a process.
fn pid(ev: &Event) -> Option<u32> {
    if let Body::UserChange(c) = &ev.body {
        return Some(c.process.pid);
    }
    if let Some(t) = ev.body.transfer() {
        return Some(t.process.pid);
    }
    if let Body::SessionAuth(a) = &ev.body {
        return Some(a.pid);
    }
    exec(ev).map(|p| p.pid).or_else(|| exit(ev).map(|p| p.pid))
}

fn transfer(ev: &Event) -> Option<&Transfer> {
    ev.body.transfer().map(|t| &t.transfer)
}

fn fwd(ev: &Event) -> Option<&Forward> {
    let Body::SessionForward(f) = &ev.body else {
        return None;
    };
    Some(f)
}

/// A forward's endpoint field: the object, its `ip` or its `port`.
macro_rules! fwd_ep {
    ($name:literal, $field:ident, object) => {
        f($name, T::Object, |e, _| fwd(e)?.$field.map(|_| Val::Object))
    };
    ($name:literal, $field:ident, ip) => {
        f($name, T::Ip, |e, _| fwd(e)?.$field.map(|s| Val::Ip(s.ip)))
    };
    ($name:literal, $field:ident, port) => {
        f($name, T::Int, |e, _| fwd(e)?.$field.map(|s| int(s.port)))
    };
}

fn end(ev: &Event) -> Option<&SessionEnd> {
    let Body::SessionEnd(c) = &ev.body else {
        return None;
    };
    Some(&c.end)
}

/// A session.auth's decision.
fn decision(ev: &Event) -> Option<&Auth> {
    let Body::SessionAuth(a) = &ev.body else {
        return None;
    };
    Some(&a.auth)
}

/// A login's accepted decision.
fn accepted(ev: &Event) -> Option<&Accepted> {
    let Body::SessionLogin(l) = &ev.body else {
        return None;
    };
    l.auth.as_deref()
}

/// What a connection that never logged in tried (session.end).
fn attempts(ev: &Event) -> Option<&Attempts> {
    let Body::SessionEnd(c) = &ev.body else {
        return None;
    };
    c.attempts.as_deref()
}

/// `auth.method`, `auth.key`, `auth.certificate`: session.auth and session.login.
fn method(ev: &Event) -> Option<Method> {
    decision(ev).map_or(accepted(ev).map(|a| a.method), |d| d.method)
}

fn auth_key(ev: &Event) -> Option<&Key> {
    decision(ev).map_or(accepted(ev).and_then(|a| a.key.as_ref()), |d| {
        d.key.as_ref()
    })
}

fn certificate(ev: &Event) -> Option<&Certificate> {
    decision(ev).map_or(accepted(ev).and_then(|a| a.certificate.as_ref()), |d| {
        d.certificate.as_ref()
    })
}

fn submethod(ev: &Event) -> Option<&str> {
    decision(ev).map_or(accepted(ev).and_then(|a| a.submethod.as_deref()), |d| {
        d.submethod.as_deref()
    })
}

fn agent(ev: &Event) -> Option<&AgentInfo> {
    if let Body::AgentStart(a) = &ev.body {
        return Some(a);
    }
    let Body::AgentStop(s) = &ev.body else {
        return None;
    };
    Some(&s.agent)
}

fn loss(ev: &Event) -> Option<&AgentLoss> {
    let Body::AgentLoss(l) = &ev.body else {
        return None;
    };
    Some(l)
}

fn totals(ev: &Event) -> Option<&AgentTotals> {
    let Body::AgentStop(s) = &ev.body else {
        return None;
    };
    Some(&s.totals)
}

fn heartbeat(ev: &Event) -> Option<&Heartbeat> {
    let Body::AgentHeartbeat(h) = &ev.body else {
        return None;
    };
    Some(h)
}

fn evidence(ev: &Event) -> Option<&Evidence> {
    ev.body.alert().map(|a| &a.evidence)
}

fn tty(ev: &Event) -> Option<&Terminal> {
    let Body::SessionTty(t) = &ev.body else {
        return None;
    };
    Some(t)
}

/// `tty_bytes` is in the JSON only once terminal bytes were lost.
fn tty_bytes<'a>(l: &LossCounts) -> Option<Val<'a>> {
    (l.tty_bytes > 0).then(|| int(l.tty_bytes))
}

/// `auth_unwatched` is in the JSON only once a session was not watched.
fn auth_unwatched<'a>(l: &LossCounts) -> Option<Val<'a>> {
    (l.auth_unwatched > 0).then(|| int(l.auth_unwatched))
}

/// `sinks` is in the JSON only when there are agent-mode sinks.
fn sinks(l: &LossCounts) -> Option<Val<'static>> {
    (!l.sinks.is_empty()).then_some(Val::Object)
}

/// `outputs` is in the JSON only when an output failed to write.
fn outputs(l: &LossCounts) -> Option<Val<'static>> {
    (!l.outputs.is_empty()).then_some(Val::Object)
}

use Ty as T;

/// Every schema path, in docs/schema.md order.
pub static FIELDS: &[FieldDef] = &[
    f("time", T::Time, |e, _| Some(Val::Time(e.time_ns.into()))),
    f("event", T::Event, |e, _| Some(Val::Event(e.kind()))),
    f("host", T::Text, |_, h| Some(text(h))),
    f("session.id", T::Text, |e, _| Some(Val::Id(session(e)?.id))),
    f("session.user", T::Text, |e, _| {
        session(e)?.user.as_deref().map(text)
    }),
    f("session.uid", T::Int, |e, _| session(e)?.uid.map(int)),
    f("session.source", T::Object, |e, _| {
        session(e)?.source.map(|_| Val::Object)
    }),
    f("session.source.ip", T::Ip, |e, _| {
        session(e)?.source.map(|s| Val::Ip(s.ip))
    }),
    f("session.source.port", T::Int, |e, _| {
        session(e)?.source.map(|s| int(s.port))
    }),
    f("session.destination", T::Object, |e, _| {
        session(e)?.destination.map(|_| Val::Object)
    }),
    f("session.destination.ip", T::Ip, |e, _| {
        session(e)?.destination.map(|s| Val::Ip(s.ip))
    }),
    f("session.destination.port", T::Int, |e, _| {
        session(e)?.destination.map(|s| int(s.port))
    }),
    // The JSON omits `discovered` when false; the filter still knows it,
    // so `session.discovered = false` selects ordinary sessions.
    f("session.discovered", T::Bool, |e, _| {
        Some(Val::Bool(session(e)?.discovered))
    }),
    f("session.server", T::Object, |e, _| {
        session(e)?.server.map(|_| Val::Object)
    }),
    f("session.server.uid", T::Int, |e, _| {
        session(e)?.server.map(|s| int(s.uid))
    }),
    f("session.server.mode", T::Text, |e, _| {
        session(e)?.server.map(|s| text(s.mode.name()))
    }),
    f("session.parent", T::Text, |e, _| {
        session(e)?.parent.map(Val::Id)
    }),
    f("session.bytes_in", T::Int, |e, _| {
        e.body.traffic().map(|t| int(t.bytes_in))
    }),
    f("session.bytes_out", T::Int, |e, _| {
        e.body.traffic().map(|t| int(t.bytes_out))
    }),
    f("session.duration_ms", T::Int, |e, _| {
        end(e).map(|x| int(x.duration_ms))
    }),
    f("session.logged_in", T::Bool, |e, _| {
        end(e).map(|x| Val::Bool(x.logged_in))
    }),
    f("auth", T::Object, |e, _| {
        let any = decision(e).is_some() || accepted(e).is_some() || attempts(e).is_some();
        any.then_some(Val::Object)
    }),
    f("auth.method", T::Text, |e, _| {
        method(e).map(|m| text(m.name()))
    }),
    f("auth.submethod", T::Text, |e, _| submethod(e).map(text)),
    f("auth.user", T::Text, |e, _| {
        decision(e)?.user.as_deref().map(text)
    }),
    f("auth.invalid", T::Bool, |e, _| {
        decision(e).map(|d| Val::Bool(d.invalid))
    }),
    f("auth.outcome", T::Text, |e, _| {
        decision(e).map(|d| text(d.outcome.name()))
    }),
    f("auth.key", T::Object, |e, _| {
        auth_key(e).map(|_| Val::Object)
    }),
    f("auth.key.type", T::Text, |e, _| {
        auth_key(e).map(|k| text(&k.key_type))
    }),
    f("auth.key.fingerprint", T::Text, |e, _| {
        auth_key(e).map(|k| text(&k.fingerprint))
    }),
    f("auth.certificate", T::Object, |e, _| {
        certificate(e).map(|_| Val::Object)
    }),
    f("auth.certificate.id", T::Text, |e, _| {
        certificate(e).map(|c| text(&c.id))
    }),
    f("auth.certificate.serial", T::Int, |e, _| {
        certificate(e).map(|c| int(c.serial))
    }),
    f("auth.certificate.ca", T::Object, |e, _| {
        certificate(e).map(|_| Val::Object)
    }),
    f("auth.certificate.ca.type", T::Text, |e, _| {
        certificate(e).map(|c| text(&c.ca.key_type))
    }),
    f("auth.certificate.ca.fingerprint", T::Text, |e, _| {
        certificate(e).map(|c| text(&c.ca.fingerprint))
    }),
    f("auth.attempts", T::Int, |e, _| {
        attempts(e).map(|a| int(a.attempts))
    }),
    f("auth.failures", T::Int, |e, _| {
        attempts(e).map(|a| int(a.failures))
    }),
    f("auth.users", T::TextList, |e, _| {
        attempts(e).map(|a| Val::TextList(TextList::Shared(&a.users)))
    }),
    f("auth.key_lookups", T::Int, |e, _| {
        attempts(e).map(|a| int(a.key_lookups))
    }),
    f("process", T::Object, |e, _| pid(e).map(|_| Val::Object)),
    f("process.pid", T::Int, |e, _| pid(e).map(int)),
    f("process.ppid", T::Int, |e, _| exec(e).map(|p| int(p.ppid))),
    f("process.uid", T::Int, |e, _| exec(e).map(|p| int(p.uid))),
    f("process.euid", T::Int, |e, _| exec(e).map(|p| int(p.euid))),
    f("process.gid", T::Int, |e, _| exec(e).map(|p| int(p.gid))),
    f("process.egid", T::Int, |e, _| exec(e).map(|p| int(p.egid))),
    f("process.executable", T::Text, |e, _| {
        exec(e).map(|p| text(&p.executable))
    }),
    f("process.executable_truncated", T::Bool, |e, _| {
        exec(e).map(|p| Val::Bool(p.executable_truncated))
    }),
    f("process.args", T::TextList, |e, _| {
        exec(e).map(|p| Val::TextList(TextList::Args(&p.args)))
    }),
    f("process.args_truncated", T::Bool, |e, _| {
        exec(e).map(|p| Val::Bool(p.args_truncated))
    }),
    f("process.role", T::Text, |e, _| {
        exec(e)?.role.map(|r| text(r.name()))
    }),
    f("process.fileless", T::Bool, |e, _| {
        exec(e).map(|p| Val::Bool(p.fileless))
    }),
    f("process.exit_code", T::Int, |e, _| {
        exit(e)?.exit_code.map(int)
    }),
    f("process.signal", T::Int, |e, _| exit(e)?.signal.map(int)),
    f("change", T::Object, |e, _| change(e).map(|_| Val::Object)),
    f("change.syscall", T::Text, |e, _| {
        change(e).map(|c| text(c.syscall))
    }),
    f("change.args", T::IntList, |e, _| {
        change(e).map(|c| Val::IntList(c.args.as_slice()))
    }),
    f("change.success", T::Bool, |e, _| {
        change(e).map(|c| Val::Bool(c.success))
    }),
    f("change.errno", T::Int, |e, _| change(e)?.errno.map(int)),
    f("change.old", T::Object, |e, _| {
        change(e).map(|_| Val::Object)
    }),
    f("change.old.uid", T::Int, |e, _| {
        change(e).map(|c| int(c.old.uid))
    }),
    f("change.old.euid", T::Int, |e, _| {
        change(e).map(|c| int(c.old.euid))
    }),
    f("change.old.suid", T::Int, |e, _| {
        change(e).map(|c| int(c.old.suid))
    }),
    f("change.old.gid", T::Int, |e, _| {
        change(e).map(|c| int(c.old.gid))
    }),
    f("change.old.egid", T::Int, |e, _| {
        change(e).map(|c| int(c.old.egid))
    }),
    f("change.old.sgid", T::Int, |e, _| {
        change(e).map(|c| int(c.old.sgid))
    }),
    f("change.new", T::Object, |e, _| {
        change(e).map(|_| Val::Object)
    }),
    f("change.new.uid", T::Int, |e, _| {
        change(e).map(|c| int(c.new.uid))
    }),
    f("change.new.euid", T::Int, |e, _| {
        change(e).map(|c| int(c.new.euid))
    }),
    f("change.new.suid", T::Int, |e, _| {
        change(e).map(|c| int(c.new.suid))
    }),
    f("change.new.gid", T::Int, |e, _| {
        change(e).map(|c| int(c.new.gid))
    }),
    f("change.new.egid", T::Int, |e, _| {
        change(e).map(|c| int(c.new.egid))
    }),
    f("change.new.sgid", T::Int, |e, _| {
        change(e).map(|c| int(c.new.sgid))
    }),
    f("change.user", T::Text, |e, _| {
        change(e)?.user.as_deref().map(text)
    }),
    f("change.effective_user", T::Text, |e, _| {
        change(e)?.effective_user.as_deref().map(text)
    }),
    f("transfer", T::Object, |e, _| {
        transfer(e).map(|_| Val::Object)
    }),
    f("transfer.server", T::Text, |e, _| {
        transfer(e).map(|t| text(t.server.name()))
    }),
    f("transfer.action", T::Text, |e, _| {
        transfer(e).map(|t| text(t.action.name()))
    }),
    f("transfer.path", T::Text, |e, _| {
        transfer(e).map(|t| text(&t.path))
    }),
    f("transfer.target", T::Text, |e, _| {
        transfer(e)?.target.as_deref().map(text)
    }),
    f("transfer.chroot", T::Text, |e, _| {
        transfer(e)?.chroot.as_deref().map(text)
    }),
    f("transfer.bytes", T::Int, |e, _| {
        transfer(e).map(|t| int(t.bytes))
    }),
    f("transfer.size", T::Int, |e, _| transfer(e)?.size.map(int)),
    f("transfer.mode", T::Text, |e, _| {
        transfer(e)?.mode.as_deref().map(text)
    }),
    f("transfer.type", T::Text, |e, _| {
        transfer(e)?.file_type.map(|t| text(t.name()))
    }),
    f("transfer.outcome", T::Text, |e, _| {
        transfer(e).map(|t| text(t.outcome.name()))
    }),
    f("transfer.errno", T::Int, |e, _| transfer(e)?.errno.map(int)),
    f("transfer.duration_ms", T::Int, |e, _| {
        transfer(e)?.duration_ms.map(int)
    }),
    f("transfer.path_truncated", T::Bool, |e, _| {
        transfer(e).map(|t| Val::Bool(t.path_truncated))
    }),
    f("transfer.late", T::Bool, |e, _| {
        transfer(e).map(|t| Val::Bool(t.late))
    }),
    f("forward", T::Object, |e, _| fwd(e).map(|_| Val::Object)),
    f("forward.id", T::Int, |e, _| fwd(e).map(|x| int(x.id))),
    f("forward.kind", T::Text, |e, _| {
        fwd(e).map(|x| text(x.kind_name()))
    }),
    f("forward.state", T::Text, |e, _| {
        fwd(e).map(|x| text(x.state_name()))
    }),
    f("forward.socket", T::Text, |e, _| {
        fwd(e).map(|x| text(x.socket_name()))
    }),
    f("forward.pid", T::Int, |e, _| fwd(e).map(|x| int(x.pid))),
    f("forward.listener", T::Int, |e, _| fwd(e)?.listener.map(int)),
    fwd_ep!("forward.local", local, object),
    fwd_ep!("forward.local.ip", local, ip),
    fwd_ep!("forward.local.port", local, port),
    fwd_ep!("forward.target", target, object),
    fwd_ep!("forward.target.ip", target, ip),
    fwd_ep!("forward.target.port", target, port),
    fwd_ep!("forward.listen", listen, object),
    fwd_ep!("forward.listen.ip", listen, ip),
    fwd_ep!("forward.listen.port", listen, port),
    fwd_ep!("forward.peer", peer, object),
    fwd_ep!("forward.peer.ip", peer, ip),
    fwd_ep!("forward.peer.port", peer, port),
    f("forward.path", T::Text, |e, _| {
        fwd(e)?.path.as_deref().map(text)
    }),
    f("forward.error", T::Int, |e, _| fwd(e)?.error.map(int)),
    f("forward.bytes_in", T::Int, |e, _| fwd(e)?.bytes_in.map(int)),
    f("forward.bytes_out", T::Int, |e, _| {
        fwd(e)?.bytes_out.map(int)
    }),
    f("forward.duration_ms", T::Int, |e, _| {
        fwd(e)?.duration_ms.map(int)
    }),
    f("agent", T::Object, |e, _| agent(e).map(|_| Val::Object)),
    f("agent.version", T::Text, |e, _| {
        agent(e).map(|a| text(&a.version))
    }),
    f("agent.pid", T::Int, |e, _| agent(e).map(|a| int(a.pid))),
    f("agent.kernel", T::Text, |e, _| {
        agent(e).map(|a| text(&a.kernel))
    }),
    f("agent.ring_buffer_bytes", T::Int, |e, _| {
        agent(e).map(|a| int(a.ring_buffer_bytes))
    }),
    f("agent.server_binaries", T::TextList, |e, _| {
        agent(e).map(|a| Val::TextList(TextList::Strings(&a.server_binaries)))
    }),
    f("agent.previous", T::Object, |e, _| {
        agent(e)?.previous.as_ref().map(|_| Val::Object)
    }),
    f("agent.previous.last_alive", T::Text, |e, _| {
        agent(e)?.previous.as_ref().map(|p| text(&p.last_alive))
    }),
    f("agent.previous.clean", T::Bool, |e, _| {
        agent(e)?.previous.as_ref().map(|p| Val::Bool(p.clean))
    }),
    f("agent.previous.programs_kept", T::Bool, |e, _| {
        agent(e)?
            .previous
            .as_ref()
            .map(|p| Val::Bool(p.programs_kept))
    }),
    f("agent.previous.lost_in_flight", T::Int, |e, _| {
        agent(e)?.previous.as_ref().map(|p| int(p.lost_in_flight))
    }),
    f("loss", T::Object, |e, _| loss(e).map(|_| Val::Object)),
    f("loss.kernel_ringbuf", T::Int, |e, _| {
        loss(e).map(|l| int(l.loss.counts.kernel_ringbuf))
    }),
    f("loss.kernel_tracked_full", T::Int, |e, _| {
        loss(e).map(|l| int(l.loss.counts.kernel_tracked_full))
    }),
    f("loss.kernel_socks_full", T::Int, |e, _| {
        loss(e).map(|l| int(l.loss.counts.kernel_socks_full))
    }),
    f("loss.queue", T::Int, |e, _| {
        loss(e).map(|l| int(l.loss.counts.queue))
    }),
    f("loss.decode", T::Int, |e, _| {
        loss(e).map(|l| int(l.loss.counts.decode))
    }),
    f("loss.kernel_milestones", T::Int, |e, _| {
        loss(e)
            .map(|l| &l.loss.counts)
            .map(|l| int(l.kernel_milestones))
    }),
    f("loss.kernel_listeners_full", T::Int, |e, _| {
        loss(e)
            .map(|l| &l.loss.counts)
            .map(|l| int(l.kernel_listeners_full))
    }),
    f("loss.kernel_rate_limited", T::Int, |e, _| {
        loss(e)
            .map(|l| &l.loss.counts)
            .map(|l| int(l.kernel_rate_limited))
    }),
    f("loss.agent_restart", T::Int, |e, _| {
        loss(e)
            .map(|l| &l.loss.counts)
            .map(|l| int(l.agent_restart))
    }),
    f("loss.sinks", T::Object, |e, _| sinks(&loss(e)?.loss.counts)),
    f("loss.outputs", T::Object, |e, _| {
        outputs(&loss(e)?.loss.counts)
    }),
    f("loss.sessions", T::Object, |e, _| {
        let l = &loss(e)?.loss;
        (!l.sessions.is_empty()).then_some(Val::Object)
    }),
    f("loss.more_sessions", T::Int, |e, _| {
        let l = &loss(e)?.loss;
        (l.more_sessions > 0).then(|| int(l.more_sessions))
    }),
    f("loss.tty_bytes", T::Int, |e, _| {
        tty_bytes(&loss(e)?.loss.counts)
    }),
    f("loss.auth_unwatched", T::Int, |e, _| {
        auth_unwatched(&loss(e)?.loss.counts)
    }),
    f("total", T::Object, |e, _| loss(e).map(|_| Val::Object)),
    f("total.kernel_ringbuf", T::Int, |e, _| {
        loss(e).map(|l| int(l.total.kernel_ringbuf))
    }),
    f("total.kernel_tracked_full", T::Int, |e, _| {
        loss(e).map(|l| int(l.total.kernel_tracked_full))
    }),
    f("total.kernel_socks_full", T::Int, |e, _| {
        loss(e).map(|l| int(l.total.kernel_socks_full))
    }),
    f("total.queue", T::Int, |e, _| {
        loss(e).map(|l| int(l.total.queue))
    }),
    f("total.decode", T::Int, |e, _| {
        loss(e).map(|l| int(l.total.decode))
    }),
    f("total.kernel_milestones", T::Int, |e, _| {
        loss(e).map(|l| &l.total).map(|l| int(l.kernel_milestones))
    }),
    f("total.kernel_listeners_full", T::Int, |e, _| {
        loss(e)
            .map(|l| &l.total)
            .map(|l| int(l.kernel_listeners_full))
    }),
    f("total.kernel_rate_limited", T::Int, |e, _| {
        loss(e)
            .map(|l| &l.total)
            .map(|l| int(l.kernel_rate_limited))
    }),
    f("total.agent_restart", T::Int, |e, _| {
        loss(e).map(|l| &l.total).map(|l| int(l.agent_restart))
    }),
    f("total.sinks", T::Object, |e, _| sinks(&loss(e)?.total)),
    f("total.tty_bytes", T::Int, |e, _| tty_bytes(&loss(e)?.total)),
    f("total.auth_unwatched", T::Int, |e, _| {
        auth_unwatched(&loss(e)?.total)
    }),
    f("total.outputs", T::Object, |e, _| outputs(&loss(e)?.total)),
    f("totals", T::Object, |e, _| totals(e).map(|_| Val::Object)),
    f("totals.events", T::Int, |e, _| {
        totals(e).map(|t| int(t.events))
    }),
    f("totals.lost", T::Object, |e, _| {
        totals(e).map(|_| Val::Object)
    }),
    f("totals.lost.kernel_ringbuf", T::Int, |e, _| {
        totals(e).map(|t| int(t.lost.kernel_ringbuf))
    }),
    f("totals.lost.kernel_tracked_full", T::Int, |e, _| {
        totals(e).map(|t| int(t.lost.kernel_tracked_full))
    }),
    f("totals.lost.kernel_socks_full", T::Int, |e, _| {
        totals(e).map(|t| int(t.lost.kernel_socks_full))
    }),
    f("totals.lost.queue", T::Int, |e, _| {
        totals(e).map(|t| int(t.lost.queue))
    }),
    f("totals.lost.decode", T::Int, |e, _| {
        totals(e).map(|t| int(t.lost.decode))
    }),
    f("totals.lost.kernel_milestones", T::Int, |e, _| {
        totals(e).map(|t| &t.lost).map(|l| int(l.kernel_milestones))
    }),
    f("totals.lost.kernel_listeners_full", T::Int, |e, _| {
        totals(e)
            .map(|t| &t.lost)
            .map(|l| int(l.kernel_listeners_full))
    }),
    f("totals.lost.kernel_rate_limited", T::Int, |e, _| {
        totals(e)
            .map(|t| &t.lost)
            .map(|l| int(l.kernel_rate_limited))
    }),
    f("totals.lost.agent_restart", T::Int, |e, _| {
        totals(e).map(|t| &t.lost).map(|l| int(l.agent_restart))
    }),
    f("totals.lost.sinks", T::Object, |e, _| {
        sinks(&totals(e)?.lost)
    }),
    f("totals.lost.tty_bytes", T::Int, |e, _| {
        tty_bytes(&totals(e)?.lost)
    }),
    f("totals.lost.auth_unwatched", T::Int, |e, _| {
        auth_unwatched(&totals(e)?.lost)
    }),
    f("tty", T::Object, |e, _| tty(e).map(|_| Val::Object)),
    f("tty.type", T::Text, |e, _| {
        tty(e).map(|t| text(crate::format::ecs::tty_kind_name(t.kind)))
    }),
    f("tty.rows", T::Int, |e, _| tty(e).map(|t| int(t.rows))),
    f("tty.cols", T::Int, |e, _| tty(e).map(|t| int(t.cols))),
    f("tty.bytes", T::Int, |e, _| tty(e).map(|t| int(t.bytes))),
    // Compared as text where the bytes are UTF-8.
    f("tty.data", T::Text, |e, _| {
        let d = tty(e)?.data.as_ref()?;
        std::str::from_utf8(&d.0).ok().map(text)
    }),
    f("totals.lost.outputs", T::Object, |e, _| {
        outputs(&totals(e)?.lost)
    }),
    f("heartbeat", T::Object, |e, _| {
        heartbeat(e).map(|_| Val::Object)
    }),
    f("heartbeat.interval_s", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.interval_s))
    }),
    f("heartbeat.uptime_s", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.uptime_s))
    }),
    f("heartbeat.events", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.events))
    }),
    f("heartbeat.records", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.records))
    }),
    f("heartbeat.lost", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.lost))
    }),
    f("heartbeat.sessions_open", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.sessions_open))
    }),
    f("heartbeat.sessions_logged_in", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.sessions_logged_in))
    }),
    f("heartbeat.processes", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.processes))
    }),
    f("heartbeat.queue_batches", T::Int, |e, _| {
        heartbeat(e).map(|h| int(h.queue_batches))
    }),
    f("heartbeat.sinks", T::Object, |e, _| {
        let h = heartbeat(e)?;
        (!h.sinks.is_empty()).then_some(Val::Object)
    }),
    f("alert", T::Object, |e, _| {
        e.body.alert().map(|_| Val::Object)
    }),
    f("alert.rule", T::Text, |e, _| {
        e.body.alert().map(|a| text(&a.rule))
    }),
    f("alert.severity", T::Text, |e, _| {
        e.body.alert().map(|a| text(a.severity.name()))
    }),
    f("alert.evidence", T::Object, |e, _| {
        evidence(e).map(|_| Val::Object)
    }),
    f("alert.evidence.user", T::Text, |e, _| {
        evidence(e)?.user.as_deref().map(text)
    }),
    f("alert.evidence.source_ip", T::Ip, |e, _| {
        evidence(e)?.source_ip.map(Val::Ip)
    }),
    f("alert.evidence.count", T::Int, |e, _| {
        evidence(e)?.count.map(int)
    }),
    f("alert.evidence.limit", T::Int, |e, _| {
        evidence(e)?.limit.map(int)
    }),
    f("alert.evidence.window_s", T::Int, |e, _| {
        evidence(e)?.window_s.map(int)
    }),
    f("alert.evidence.idle_s", T::Int, |e, _| {
        evidence(e)?.idle_s.map(int)
    }),
    f("alert.evidence.pid", T::Int, |e, _| {
        evidence(e)?.pid.map(int)
    }),
    f("alert.evidence.syscall", T::Text, |e, _| {
        evidence(e)?.syscall.as_deref().map(text)
    }),
    f("alert.evidence.executable", T::Text, |e, _| {
        evidence(e)?.executable.as_deref().map(text)
    }),
    f("alert.evidence.path", T::Text, |e, _| {
        evidence(e)?.path.as_deref().map(text)
    }),
    f("alert.evidence.action", T::Text, |e, _| {
        evidence(e)?.action.as_deref().map(text)
    }),
    f("alert.evidence.error", T::Text, |e, _| {
        evidence(e)?.error.as_deref().map(text)
    }),
    f("alert.evidence.target_ip", T::Ip, |e, _| {
        evidence(e)?.target_ip.map(Val::Ip)
    }),
    f("alert.evidence.target_port", T::Int, |e, _| {
        evidence(e)?.target_port.map(int)
    }),
    f("alert.evidence.users", T::TextList, |e, _| {
        let users = evidence(e)?.users.as_deref()?;
        Some(Val::TextList(TextList::Strings(users)))
    }),
    f("alert.evidence.source_ips", T::TextList, |e, _| {
        let ips = evidence(e)?.source_ips.as_deref()?;
        Some(Val::TextList(TextList::Strings(ips)))
    }),
];

/// Short names for the session fields most filters use. `session` (the
/// object in the schema) means its id: a session is named by its id.
pub const ALIASES: &[(&str, &str)] = &[
    ("user", "session.user"),
    ("uid", "session.uid"),
    ("source.ip", "session.source.ip"),
    ("source.port", "session.source.port"),
    ("destination.ip", "session.destination.ip"),
    ("destination.port", "session.destination.port"),
    ("session", "session.id"),
];

pub fn lookup(name: &str) -> Option<Field> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, full)| full);
    FIELDS.iter().find(|d| d.name == name)
}

/// Every name `lookup` accepts, aliases first.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    ALIASES
        .iter()
        .map(|(a, _)| *a)
        .chain(FIELDS.iter().map(|d| d.name))
}
