//! Offline reports over a stream of events (docs/reports.md): fed one event
//! at a time in time order, then written once as aligned text or one JSON
//! document. State grows with sessions, users and buckets, never with the
//! number of events (tree and timeline keep the one chosen session's events).
mod detail;
mod forwards;
pub mod select;
mod sessions;
mod sources;
mod table;
mod timeline;
mod transfers;
mod tree;
mod users;

#[cfg(test)]
mod tests;

use std::io;

use crate::event::{Body, Event};

/// Width of the time buckets of the users report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bucket {
    /// Bytes per user per minute.
    Minute,
    /// Bytes per user per hour.
    Hour,
}

impl Bucket {
    fn width_ns(self) -> u64 {
        match self {
            Self::Minute => 60 * 1_000_000_000,
            Self::Hour => 3600 * 1_000_000_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
        }
    }

    /// Start of the bucket holding `time_ns`.
    fn start(self, time_ns: u64) -> u64 {
        time_ns - time_ns % self.width_ns()
    }
}

pub enum ReportKind {
    /// One row per session, like `last`.
    Sessions,
    /// Sessions and bytes per user, and bytes per user per bucket.
    Users { by: Bucket },
    /// Connections, failures, users reached and bytes per source IP.
    Sources,
    /// Process tree of one session (full id, unique prefix or unique suffix).
    Tree { session: String },
    /// Every event of one session (full id, unique prefix or unique suffix).
    Timeline { session: String },
    /// Every file transfer: who, which file, which way, bytes, outcome.
    Transfers,
    /// One row per forward (listeners and connections) of every session.
    Forwards,
}

enum State {
    Sessions(sessions::Sessions),
    Users(users::Users),
    Sources(sessions::Sessions),
    Tree(select::Selected),
    Timeline(select::Selected),
    Transfers(transfers::Transfers),
    Forwards(forwards::Forwards),
}

pub struct Report {
    state: State,
    /// Records the agent reported lost (sum of agent.loss): figures may miss them.
    lost: u64,
}

impl Report {
    pub fn new(kind: ReportKind) -> Report {
        let state = match kind {
            ReportKind::Sessions => State::Sessions(sessions::Sessions::default()),
            ReportKind::Users { by } => State::Users(users::Users::new(by)),
            ReportKind::Sources => State::Sources(sessions::Sessions::default()),
            ReportKind::Tree { session } => State::Tree(select::Selected::new(&session)),
            ReportKind::Timeline { session } => State::Timeline(select::Selected::new(&session)),
            ReportKind::Transfers => State::Transfers(transfers::Transfers::default()),
            ReportKind::Forwards => State::Forwards(forwards::Forwards::default()),
        };
        Report { state, lost: 0 }
    }

    /// Feeds one event; events must come in time order.
    pub fn add(&mut self, ev: &Event) {
        if let Body::AgentLoss(l) = &ev.body {
            self.lost = self.lost.saturating_add(l.loss.counts.total());
        }
        match &mut self.state {
            State::Sessions(s) | State::Sources(s) => s.add(ev),
            State::Users(u) => u.add(ev),
            State::Tree(s) | State::Timeline(s) => s.add(ev),
            State::Transfers(t) => t.add(ev),
            State::Forwards(f) => f.add(ev),
        }
    }

    /// Why this report cannot be written (tree and timeline only: the session
    /// id matched no session or several). Final once every event was added.
    pub fn error(&self) -> Option<String> {
        match &self.state {
            State::Tree(s) | State::Timeline(s) => s.chosen().err().map(|e| e.to_string()),
            _ => None,
        }
    }

    /// Aligned tables for a person. Fails with `InvalidInput` when `error()`
    /// is set.
    pub fn write_text(&self, out: &mut dyn io::Write) -> io::Result<()> {
        match &self.state {
            State::Sessions(s) => sessions::write_text(s, out)?,
            State::Users(u) => u.write_text(out)?,
            State::Sources(s) => sources::write_text(s, out)?,
            State::Forwards(f) => forwards::write_text(f, out)?,
            State::Tree(s) => {
                let (id, events) = s.chosen().map_err(invalid)?;
                tree::write_text(id, events, out)?
            }
            State::Timeline(s) => {
                let (id, events) = s.chosen().map_err(invalid)?;
                timeline::write_text(id, events, out)?
            }
            State::Transfers(t) => t.write_text(out)?,
        }
        if self.lost > 0 {
            writeln!(
                out,
                "\nnote: the agent lost {} records during the capture; figures may be incomplete",
                self.lost
            )?;
        }
        Ok(())
    }

    /// One JSON document `{"report": <kind>, "lost_records": n, ...}` with
    /// the keys of docs/reports.md, followed by a newline. Fails with
    /// `InvalidInput` when `error()` is set.
    pub fn write_json(&self, out: &mut dyn io::Write) -> io::Result<()> {
        match &self.state {
            State::Sessions(s) => sessions::write_json(s, self.lost, out)?,
            State::Users(u) => u.write_json(self.lost, out)?,
            State::Sources(s) => sources::write_json(s, self.lost, out)?,
            State::Forwards(f) => forwards::write_json(f, self.lost, out)?,
            State::Tree(s) => {
                let (id, events) = s.chosen().map_err(invalid)?;
                tree::write_json(id, events, self.lost, out)?
            }
            State::Timeline(s) => {
                let (id, events) = s.chosen().map_err(invalid)?;
                timeline::write_json(id, events, self.lost, out)?
            }
            State::Transfers(t) => t.write_json(self.lost, out)?,
        }
        out.write_all(b"\n")
    }
}

fn invalid(e: select::NotChosen) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Writes `value` as JSON to `out`.
fn json_to(out: &mut dyn io::Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(out, value).map_err(io::Error::other)
}

/// `2023-11-14 22:13:20` (UTC) for text tables.
fn text_time(ns: u64) -> String {
    let t = crate::host::rfc3339(ns);
    match (t.get(..10), t.get(11..19)) {
        (Some(d), Some(h)) => format!("{d} {h}"),
        _ => t,
    }
}

/// `2023-11-14 22:13:20.123` (UTC): event times, where order within a second matters.
fn text_time_ms(ns: u64) -> String {
    let t = crate::host::rfc3339(ns);
    match (t.get(..10), t.get(11..23)) {
        (Some(d), Some(h)) => format!("{d} {h}"),
        _ => t,
    }
}

/// `ip:port`, `[ip]:port` for IPv6, `?` when unknown.
fn endpoint_text(e: Option<&crate::event::Endpoint>) -> String {
    match e {
        Some(e) if e.ip.is_ipv6() => format!("[{}]:{}", e.ip, e.port),
        Some(e) => format!("{}:{}", e.ip, e.port),
        None => "?".into(),
    }
}
