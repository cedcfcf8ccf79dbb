//! One event → one `JSONEachRow` row of the shipped events table
//! (dist/clickhouse/schema.sql): the typed columns an event type fills
//! (an exhaustive match: a new type does not compile until it is mapped),
//! the deterministic `event_id`, and `data`, the whole event as the sink's
//! format writes it. Columns that do not apply are left out: ClickHouse
//! fills them with their defaults.
use std::{io::Write as _, net::IpAddr};

use super::id::event_id;
use crate::{
    event::{Body, Endpoint, Event, Outcome, ProcessExec, SessionInfo, TransferOutcome},
    format::{json, Formatter},
    sinks::queue::Encode,
};

/// The events table's columns (name, ClickHouse type), in the schema's
/// order; the sink checks that the table has every one before it inserts.
pub const COLUMNS: [(&str, &str); 41] = [
    ("time", "DateTime"),
    ("time_ns", "UInt64"),
    ("host", "String"),
    ("event", "String"),
    ("event_id", "UInt64"),
    ("session_id", "UUID"),
    ("user", "String"),
    ("uid", "Nullable(UInt32)"),
    ("source_ip", "String"),
    ("source_port", "UInt16"),
    ("destination_ip", "String"),
    ("destination_port", "UInt16"),
    ("discovered", "UInt8"),
    ("server_uid", "Nullable(UInt32)"),
    ("server_mode", "String"),
    ("parent_session_id", "UUID"),
    ("pid", "UInt32"),
    ("ppid", "UInt32"),
    ("process_uid", "Nullable(UInt32)"),
    ("process_euid", "Nullable(UInt32)"),
    ("process_gid", "Nullable(UInt32)"),
    ("process_egid", "Nullable(UInt32)"),
    ("executable", "String"),
    ("args", "Array(String)"),
    ("process_role", "String"),
    ("fileless", "UInt8"),
    ("exit_code", "Nullable(UInt8)"),
    ("signal", "Nullable(UInt8)"),
    ("syscall", "String"),
    ("success", "Nullable(UInt8)"),
    ("auth_user", "String"),
    ("auth_method", "String"),
    ("bytes_in", "UInt64"),
    ("bytes_out", "UInt64"),
    ("duration_ms", "UInt64"),
    ("logged_in", "UInt8"),
    ("alert_rule", "String"),
    ("severity", "String"),
    ("lost", "UInt64"),
    ("lost_sessions", "Array(UUID)"),
    ("data", "String"),
];

/// A row being written: `{"key":value,…}`.
struct Row<'a> {
    out: &'a mut Vec<u8>,
    started: bool,
}

impl Row<'_> {
    fn key(&mut self, k: &str) {
        self.out.push(if self.started { b',' } else { b'{' });
        self.started = true;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn uint(&mut self, k: &str, v: impl itoa::Integer) {
        self.key(k);
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn flag(&mut self, k: &str, v: bool) {
        self.uint(k, u8::from(v));
    }

    fn text(&mut self, k: &str, v: &str) {
        self.key(k);
        json::string(v, self.out);
    }

    fn texts(&mut self, k: &str, items: impl Iterator<Item = impl AsRef<str>>) {
        self.key(k);
        self.out.push(b'[');
        for (n, v) in items.enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            json::string(v.as_ref(), self.out);
        }
        self.out.push(b']');
    }

    fn ip(&mut self, k: &str, ip: IpAddr) {
        self.key(k);
        // As Display writes it: an address holds nothing to escape.
        let _ = write!(self.out, "\"{ip}\"");
    }

    fn end(self) {
        self.out.extend_from_slice(b"}\n");
    }
}

fn endpoint(row: &mut Row, (ip, port): (&str, &str), e: Option<&Endpoint>) {
    if let Some(e) = e {
        row.ip(ip, e.ip);
        row.uint(port, e.port);
    }
}

fn session(row: &mut Row, s: &SessionInfo) {
    row.text("session_id", s.id.text().as_str());
    if let Some(u) = &s.user {
        row.text("user", u);
    }
    if let Some(uid) = s.uid {
        row.uint("uid", uid);
    }
    endpoint(row, ("source_ip", "source_port"), s.source.as_ref());
    endpoint(
        row,
        ("destination_ip", "destination_port"),
        s.destination.as_ref(),
    );
    if s.discovered {
        row.flag("discovered", true);
    }
    if let Some(server) = s.server {
        row.uint("server_uid", server.uid);
        row.text("server_mode", server.mode.name());
    }
    if let Some(parent) = s.parent {
        row.text("parent_session_id", parent.text().as_str());
    }
}

/// The process's ids after the event: exec's, or those a change set.
fn ids(row: &mut Row, uid: u32, euid: u32, gid: u32, egid: u32) {
    row.uint("process_uid", uid);
    row.uint("process_euid", euid);
    row.uint("process_gid", gid);
    row.uint("process_egid", egid);
}

fn exec(row: &mut Row, p: &ProcessExec) {
    row.uint("pid", p.pid);
    row.uint("ppid", p.ppid);
    ids(row, p.uid, p.euid, p.gid, p.egid);
    row.text("executable", &p.executable);
    row.texts("args", p.args.iter());
    if let Some(r) = p.role {
        row.text("process_role", r.name());
    }
    row.flag("fileless", p.fileless);
}

/// The typed columns of each event type (docs/fleet.md lists them).
///
/// Adding an event type: the compiler stops here until the type has an
/// arm. Map its fields onto existing columns where they mean the same
/// (session columns come from `ev.session` already). A field queries will
/// select on that no column holds gets a new column: in `COLUMNS` above,
/// at the same place in dist/clickhouse/schema.sql's events table (a unit
/// test keeps the two equal), and a line in docs/fleet.md's table.
/// Everything else is in `data`. The type's `event_id` discriminator is in
/// id.rs.
fn columns(row: &mut Row, body: &Body) {
    match body {
        // A heartbeat's counters are cumulative: queries read them from
        // `data`; `lost` holds only agent.loss's per-report figures.
        // Terminal data (sinks with `tty = true` only) is in `data`.
        Body::SessionConnect
        | Body::SessionLogin(_)
        | Body::SessionTty(_)
        | Body::AgentStart(_)
        | Body::AgentStop(_)
        | Body::AgentHeartbeat(_) => {}
        Body::AgentLoss(l) => {
            row.uint("lost", l.loss.counts.total());
            let ids = l.loss.sessions.iter().map(|s| s.id.text());
            row.texts("lost_sessions", ids.map(|id| id.as_str().to_owned()));
        }
        Body::ProcessExec(p) => exec(row, p),
        // The forward's kind, endpoints and bytes are in `data` (`bytes_in`
        // and `bytes_out` are the session's counters, not a forward's).
        Body::SessionForward(f) => row.uint("pid", f.pid),
        // `user` stays the session's: the name tried is `auth_user`; the
        // key is in `data`. A partial success (one of several methods) is NULL.
        Body::SessionAuth(a) => {
            row.uint("pid", a.pid);
            if let Some(u) = &a.auth.user {
                row.text("auth_user", u);
            }
            if let Some(m) = a.auth.method {
                row.text("auth_method", m.name());
            }
            match a.auth.outcome {
                Outcome::Accepted => row.flag("success", true),
                Outcome::Failed => row.flag("success", false),
                Outcome::Partial => {}
            }
        }
        // The file, its action and bytes are in `data`; `success` is NULL
        // for a partial transfer.
        Body::FileTransfer(t) => {
            row.uint("pid", t.process.pid);
            match t.transfer.outcome {
                TransferOutcome::Complete => row.flag("success", true),
                TransferOutcome::Error => row.flag("success", false),
                TransferOutcome::Partial => {}
            }
        }
        Body::ProcessExit(p) => {
            row.uint("pid", p.pid);
            if let Some(c) = p.exit_code {
                row.uint("exit_code", c);
            }
            if let Some(s) = p.signal {
                row.uint("signal", s);
            }
        }
        Body::UserChange(c) => {
            row.uint("pid", c.process.pid);
            let new = &c.change.new;
            ids(row, new.uid, new.euid, new.gid, new.egid);
            row.text("syscall", c.change.syscall);
            row.flag("success", c.change.success);
        }
        Body::SessionBytes(t) => {
            row.uint("bytes_in", t.bytes_in);
            row.uint("bytes_out", t.bytes_out);
        }
        Body::SessionEnd(c) => {
            row.uint("bytes_in", c.traffic.bytes_in);
            row.uint("bytes_out", c.traffic.bytes_out);
            row.uint("duration_ms", c.end.duration_ms);
            row.flag("logged_in", c.end.logged_in);
        }
        Body::Alert(_, a) => {
            row.text("alert_rule", &a.rule);
            row.text("severity", a.severity.name());
            if let Some(pid) = a.evidence.pid {
                row.uint("pid", pid);
            }
            if let Some(s) = &a.evidence.syscall {
                row.text("syscall", s);
            }
            if let Some(x) = &a.evidence.executable {
                row.text("executable", x);
            }
        }
    }
}

/// Rows of the events table, `data` in the sink's format (a JSON one).
pub struct Rows {
    formatter: Formatter,
    line: Vec<u8>,
}

impl Rows {
    pub fn new(formatter: Formatter) -> Self {
        Self {
            formatter,
            line: Vec::new(),
        }
    }
}

impl Encode for Rows {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        let mut row = Row {
            out,
            started: false,
        };
        row.uint("time", ev.time_ns / 1_000_000_000);
        row.uint("time_ns", ev.time_ns);
        row.text("host", host);
        row.text("event", ev.kind().name());
        row.uint("event_id", event_id(ev, host));
        if let Some(s) = &ev.session {
            session(&mut row, s);
        }
        columns(&mut row, &ev.body);
        self.line.clear();
        self.formatter.write(ev, host, &mut self.line);
        while self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        row.text("data", &String::from_utf8_lossy(&self.line));
        row.end();
    }
}
