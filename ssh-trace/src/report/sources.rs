//! The `sources` report: per client IP, aggregated from the per-session
//! summaries when written (so a session's bytes count once, at their latest
//! value).
use std::collections::{BTreeSet, HashMap};
use std::io;

use serde::Serialize;

use super::json_to;
use super::sessions::Sessions;
use super::table::{Align, Table};
use crate::text::printable;

#[derive(Default)]
struct Source {
    connections: u64,
    failed: u64,
    users: BTreeSet<String>,
    bytes_in: u64,
    bytes_out: u64,
}

/// Sources by connections (most first), then IP text; `None` ("source
/// unknown": the connect record was lost) last among equals.
fn aggregate(sessions: &Sessions) -> Vec<(Option<String>, Source)> {
    let mut by_ip: HashMap<Option<String>, Source> = HashMap::new();
    for s in sessions.sorted() {
        let src = by_ip
            .entry(s.source.as_ref().map(|e| e.ip.to_string()))
            .or_default();
        src.connections += 1;
        src.failed += u64::from(s.failed);
        if s.logged_in {
            src.users.insert(s.user_label());
        }
        src.bytes_in = src.bytes_in.saturating_add(s.bytes_in);
        src.bytes_out = src.bytes_out.saturating_add(s.bytes_out);
    }
    let mut v: Vec<_> = by_ip.into_iter().collect();
    v.sort_by(|a, b| {
        b.1.connections
            .cmp(&a.1.connections)
            .then_with(|| (a.0.is_none(), &a.0).cmp(&(b.0.is_none(), &b.0)))
    });
    v
}

pub fn write_text(sessions: &Sessions, out: &mut dyn io::Write) -> io::Result<()> {
    let mut t = Table::new(&[
        ("SOURCE", Align::Left),
        ("CONNECTIONS", Align::Right),
        ("FAILED", Align::Right),
        ("USERS", Align::Right),
        ("BYTES IN", Align::Right),
        ("BYTES OUT", Align::Right),
        ("USER NAMES", Align::Left),
    ]);
    for (ip, s) in aggregate(sessions) {
        let names: Vec<String> = s.users.iter().map(|u| printable(u).into_owned()).collect();
        t.row(vec![
            ip.unwrap_or_else(|| "?".into()),
            s.connections.to_string(),
            s.failed.to_string(),
            s.users.len().to_string(),
            s.bytes_in.to_string(),
            s.bytes_out.to_string(),
            names.join(","),
        ]);
    }
    t.write(out)
}

#[derive(Serialize)]
struct Doc {
    report: &'static str,
    lost_records: u64,
    sources: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    ip: Option<String>,
    connections: u64,
    failed: u64,
    distinct_users: usize,
    users: Vec<String>,
    bytes_in: u64,
    bytes_out: u64,
}

pub fn write_json(sessions: &Sessions, lost: u64, out: &mut dyn io::Write) -> io::Result<()> {
    let doc = Doc {
        report: "sources",
        lost_records: lost,
        sources: aggregate(sessions)
            .into_iter()
            .map(|(ip, s)| Row {
                ip,
                connections: s.connections,
                failed: s.failed,
                distinct_users: s.users.len(),
                users: s.users.into_iter().collect(),
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
            })
            .collect(),
    };
    json_to(out, &doc)
}
