//! Native JSON lines (docs/schema.md): `{"time","event","host","session"?,
//! ...body}`; the byte counters of session.bytes and session.end sit inside
//! `session`. The hot event types are written directly (static keys, no
//! serializer state): replay and tail write millions of them. Rare bodies
//! (agent events, alerts) go through serde. The key order and escaping are
//! serde_json's; tests compare both ways of writing on every event type.
use std::{cell::Cell, fmt::Write as _, io::Write as _, net::IpAddr};

use serde::{Serialize, Serializer};

use crate::event::{Body, Endpoint, Event, Ids, ProcessExec, ProcessExit, SessionInfo, UserChange};

pub struct Json;

impl Json {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        line(ev, Some(host), out);
        out.push(b'\n');
    }
}

/// The event without `host` (report documents embed it).
pub struct Hostless<'a>(pub &'a Event);

impl Serialize for Hostless<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = Vec::with_capacity(256);
        line(self.0, None, &mut out);
        let text = String::from_utf8(out).map_err(serde::ser::Error::custom)?;
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// One event as a JSON object (no newline); `host` None leaves it out.
pub fn line(ev: &Event, host: Option<&str>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"time\":\"");
    time(ev.time_ns, out);
    out.extend_from_slice(b"\",\"event\":\"");
    out.extend_from_slice(ev.kind().name().as_bytes());
    out.push(b'"');
    if let Some(h) = host {
        out.extend_from_slice(b",\"host\":");
        string(h, out);
    }
    if let Some(s) = &ev.session {
        out.extend_from_slice(b",\"session\":");
        session(s, &ev.body, out);
    }
    body(&ev.body, out);
    out.push(b'}');
}

fn body(body: &Body, out: &mut Vec<u8>) {
    match body {
        Body::SessionConnect | Body::SessionBytes(_) => {}
        Body::SessionAuth(a) => {
            out.extend_from_slice(b",\"process\":{\"pid\":");
            int(a.pid, out);
            out.push(b'}');
            serde_entry("auth", &a.auth, out);
        }
        Body::SessionLogin(l) => {
            if let Some(a) = &l.auth {
                serde_entry("auth", a, out);
            }
        }
        Body::SessionEnd(c) => {
            if let Some(a) = &c.attempts {
                serde_entry("auth", a, out);
            }
        }
        Body::ProcessExec(p) => exec(p, out),
        Body::ProcessExit(p) => exit(p, out),
        Body::UserChange(c) => {
            out.extend_from_slice(b",\"process\":{\"pid\":");
            int(c.process.pid, out);
            out.extend_from_slice(b"},\"change\":");
            change(&c.change, out);
        }
        Body::FileTransfer(t) => {
            out.extend_from_slice(b",\"process\":{\"pid\":");
            int(t.process.pid, out);
            out.push(b'}');
            serde_entry("transfer", &t.transfer, out);
        }
        Body::SessionForward(f) => serde_entry("forward", f, out),
        Body::AgentStart(a) => serde_entry("agent", a, out),
        Body::AgentLoss(l) => {
            serde_entry("loss", &l.loss, out);
            serde_entry("total", &l.total, out);
        }
        Body::AgentStop(st) => {
            serde_entry("agent", &st.agent, out);
            serde_entry("totals", &st.totals, out);
        }
        Body::AgentHeartbeat(h) => serde_entry("heartbeat", h, out),
        Body::Alert(_, a) => serde_entry("alert", a, out),
        Body::SessionTty(t) => serde_entry("tty", t, out),
    }
}

/// `,"key":value` through serde (rare bodies).
fn serde_entry(key: &str, v: &impl Serialize, out: &mut Vec<u8>) {
    let _ = write!(out, ",\"{key}\":");
    // Serialising these plain types to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn session(i: &SessionInfo, body: &Body, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(i.id.text().as_str().as_bytes());
    out.extend_from_slice(b"\",\"user\":");
    opt_string(i.user.as_deref(), out);
    out.extend_from_slice(b",\"uid\":");
    opt_int(i.uid, out);
    out.extend_from_slice(b",\"source\":");
    endpoint(i.source.as_ref(), out);
    out.extend_from_slice(b",\"destination\":");
    endpoint(i.destination.as_ref(), out);
    if i.discovered {
        out.extend_from_slice(b",\"discovered\":true");
    }
    if let Some(sv) = &i.server {
        out.extend_from_slice(b",\"server\":{\"uid\":");
        int(sv.uid, out);
        out.extend_from_slice(b",\"mode\":");
        string(sv.mode.name(), out);
        out.push(b'}');
    }
    if let Some(p) = &i.parent {
        out.extend_from_slice(b",\"parent\":\"");
        out.extend_from_slice(p.text().as_str().as_bytes());
        out.push(b'"');
    }
    if let Some(t) = body.traffic() {
        out.extend_from_slice(b",\"bytes_in\":");
        int(t.bytes_in, out);
        out.extend_from_slice(b",\"bytes_out\":");
        int(t.bytes_out, out);
    }
    if let Body::SessionEnd(c) = body {
        out.extend_from_slice(b",\"duration_ms\":");
        int(c.end.duration_ms, out);
        out.extend_from_slice(b",\"logged_in\":");
        boolean(c.end.logged_in, out);
    }
    out.push(b'}');
}

fn exec(p: &ProcessExec, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"process\":{\"pid\":");
    int(p.pid, out);
    for (key, v) in [
        (&b",\"ppid\":"[..], p.ppid),
        (b",\"uid\":", p.uid),
        (b",\"euid\":", p.euid),
        (b",\"gid\":", p.gid),
        (b",\"egid\":", p.egid),
    ] {
        out.extend_from_slice(key);
        int(v, out);
    }
    out.extend_from_slice(b",\"executable\":");
    string(&p.executable, out);
    out.extend_from_slice(b",\"executable_truncated\":");
    boolean(p.executable_truncated, out);
    out.extend_from_slice(b",\"args\":[");
    for (n, a) in p.args.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        string(a, out);
    }
    out.extend_from_slice(b"],\"args_truncated\":");
    boolean(p.args_truncated, out);
    if let Some(r) = p.role {
        out.extend_from_slice(b",\"role\":");
        string(r.name(), out);
    }
    out.extend_from_slice(b",\"fileless\":");
    boolean(p.fileless, out);
    out.push(b'}');
}

fn exit(p: &ProcessExit, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"process\":{\"pid\":");
    int(p.pid, out);
    out.extend_from_slice(b",\"exit_code\":");
    opt_int(p.exit_code, out);
    out.extend_from_slice(b",\"signal\":");
    opt_int(p.signal, out);
    out.push(b'}');
}

fn change(c: &UserChange, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"syscall\":");
    string(c.syscall, out);
    out.extend_from_slice(b",\"args\":[");
    for (n, a) in c.args.as_slice().iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        int(*a, out);
    }
    out.extend_from_slice(b"],\"success\":");
    boolean(c.success, out);
    out.extend_from_slice(b",\"errno\":");
    opt_int(c.errno, out);
    out.extend_from_slice(b",\"old\":");
    ids(&c.old, out);
    out.extend_from_slice(b",\"new\":");
    ids(&c.new, out);
    out.extend_from_slice(b",\"user\":");
    opt_string(c.user.as_deref(), out);
    out.extend_from_slice(b",\"effective_user\":");
    opt_string(c.effective_user.as_deref(), out);
    out.push(b'}');
}

fn ids(i: &Ids, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"uid\":");
    int(i.uid, out);
    for (key, v) in [
        (&b",\"euid\":"[..], i.euid),
        (b",\"suid\":", i.suid),
        (b",\"gid\":", i.gid),
        (b",\"egid\":", i.egid),
        (b",\"sgid\":", i.sgid),
    ] {
        out.extend_from_slice(key);
        int(v, out);
    }
    out.push(b'}');
}

fn endpoint(e: Option<&Endpoint>, out: &mut Vec<u8>) {
    let Some(e) = e else {
        out.extend_from_slice(b"null");
        return;
    };
    out.extend_from_slice(b"{\"ip\":\"");
    ip(e.ip, out);
    out.extend_from_slice(b"\",\"port\":");
    int(e.port, out);
    out.push(b'}');
}

/// An address as Display writes it (never anything to escape).
fn ip(a: IpAddr, out: &mut Vec<u8>) {
    let _ = write!(out, "{a}");
}

fn int(v: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn opt_int(v: Option<impl itoa::Integer>, out: &mut Vec<u8>) {
    match v {
        Some(v) => int(v, out),
        None => out.extend_from_slice(b"null"),
    }
}

fn boolean(b: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn opt_string(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => string(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string, escaped as serde_json does: `"` `\` and control
/// characters (the short forms where JSON has them, else `\u00XX`).
pub fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

thread_local! {
    /// The last second formatted and its "YYYY-MM-DDTHH:MM:SS." text:
    /// events come in time order, so most share it.
    static SECOND: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0; 20])) };
}

/// RFC 3339 with nanoseconds, as host::rfc3339 writes it.
fn time(ns: u64, out: &mut Vec<u8>) {
    let secs = ns / 1_000_000_000;
    let (cached, mut head) = SECOND.get();
    if cached != secs {
        let mut text = String::with_capacity(30);
        let _ = write!(text, "{}", crate::host::Rfc3339(secs * 1_000_000_000));
        head.copy_from_slice(&text.as_bytes()[..20]);
        SECOND.set((secs, head));
    }
    out.extend_from_slice(&head);
    let mut frac = *b"000000000Z";
    let mut n = ns % 1_000_000_000;
    for d in frac[..9].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&frac);
}
