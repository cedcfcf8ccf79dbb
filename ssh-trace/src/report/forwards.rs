//! The `forwards` report (one row per forward of every session: listeners
//! and the connections through forwards, from their session.forward
//! events), and the per-session forward totals of the `sessions` report.
use std::collections::{BTreeMap, HashSet};
use std::io;

use serde::Serialize;

use super::table::{Align, Table};
use super::{json_to, sessions::duration_text, text_time};
use crate::event::{Body, Endpoint, Event, Forward, ForwardState, SessionId};
use crate::text::printable;

/// A session's forwards in numbers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub listeners: u64,
    pub connections: u64,
    pub failed: u64,
    /// Bytes of its closed TCP connections: from their peers, and to them.
    pub bytes_in: u64,
    pub bytes_out: u64,
    #[serde(skip)]
    seen: HashSet<u32>,
}

impl Totals {
    pub fn add(&mut self, f: &Forward) {
        // A forward counts once, at whatever event of it comes first.
        if self.seen.insert(f.id) {
            match f.state {
                ForwardState::Listen => self.listeners += 1,
                ForwardState::Failed => self.failed += 1,
                ForwardState::Open => self.connections += 1,
                ForwardState::Close if f.listener.is_some() || f.target.is_some() => {
                    self.connections += 1
                }
                ForwardState::Close => {}
            }
        }
        self.bytes_in = self.bytes_in.saturating_add(f.bytes_in.unwrap_or(0));
        self.bytes_out = self.bytes_out.saturating_add(f.bytes_out.unwrap_or(0));
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// One forward as last seen.
#[derive(Clone, Debug, Serialize)]
struct Row {
    session: SessionId,
    user: Option<String>,
    source: Option<Endpoint>,
    start: String,
    #[serde(flatten)]
    forward: Forward,
}

#[derive(Default)]
pub struct Forwards {
    rows: BTreeMap<(u64, SessionId, u32), Row>,
    /// First time of each (session, forward id): rows sort by it.
    first: BTreeMap<(SessionId, u32), u64>,
}

impl Forwards {
    pub fn add(&mut self, ev: &Event) {
        let (Body::SessionForward(f), Some(s)) = (&ev.body, &ev.session) else {
            return;
        };
        let t = *self.first.entry((s.id, f.id)).or_insert(ev.time_ns);
        let row = Row {
            session: s.id,
            user: s.user.clone(),
            source: s.source,
            start: crate::host::rfc3339(t),
            forward: (**f).clone(),
        };
        self.rows.insert((t, s.id, f.id), row);
    }
}

fn place(f: &Forward) -> String {
    let e = f.target.or(f.listen);
    match (e, &f.path) {
        (Some(e), _) => super::endpoint_text(Some(&e)),
        (None, Some(p)) => printable(p).into_owned(),
        (None, None) => "?".into(),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

pub fn write_text(f: &Forwards, out: &mut dyn io::Write) -> io::Result<()> {
    let mut t = Table::new(&[
        ("START (UTC)", Align::Left),
        ("SESSION", Align::Left),
        ("USER", Align::Left),
        ("ID", Align::Right),
        ("KIND", Align::Left),
        ("STATE", Align::Left),
        ("TARGET/LISTEN", Align::Left),
        ("PEER", Align::Left),
        ("DURATION", Align::Right),
        ("BYTES IN", Align::Right),
        ("BYTES OUT", Align::Right),
    ]);
    for ((start, ..), r) in &f.rows {
        let fw = &r.forward;
        t.row(vec![
            text_time(*start),
            r.session.to_string(),
            printable(r.user.as_deref().unwrap_or("-")).into_owned(),
            fw.id.to_string(),
            fw.kind_name().into(),
            fw.state_name().into(),
            place(fw),
            fw.peer
                .map(|p| super::endpoint_text(Some(&p)))
                .unwrap_or_else(|| "-".into()),
            fw.duration_ms
                .map(duration_text)
                .unwrap_or_else(|| "-".into()),
            opt(fw.bytes_in),
            opt(fw.bytes_out),
        ]);
    }
    t.write(out)
}

#[derive(Serialize)]
struct Doc<'a> {
    report: &'static str,
    lost_records: u64,
    forwards: Vec<&'a Row>,
}

pub fn write_json(f: &Forwards, lost: u64, out: &mut dyn io::Write) -> io::Result<()> {
    let doc = Doc {
        report: "forwards",
        lost_records: lost,
        forwards: f.rows.values().collect(),
    };
    json_to(out, &doc)
}
