//! The `sources` report: per client IP, aggregated from the per-session
//! summaries when written (so a session's bytes count once, at their latest
//! value). Who is knocking — authentication attempts, failures, the user
//! names tried and the invalid ones — is shown when the events hold the
//! servers' decisions (captures made before session.auth have none, and
//! their report is as it was).
use std::collections::{BTreeSet, HashMap};
use std::io;

use serde::Serialize;

use super::json_to;
use super::sessions::{AuthSeen, Sessions};
use super::table::{Align, Table};
use crate::text::printable;

#[derive(Default)]
struct Source {
    connections: u64,
    failed: u64,
    users: BTreeSet<String>,
    bytes_in: u64,
    bytes_out: u64,
    auth: AuthSeen,
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
        if let Some(a) = &s.auth {
            src.auth.attempts += a.attempts;
            src.auth.failures += a.failures;
            src.auth.tried.extend(a.tried.iter().cloned());
            src.auth.invalid.extend(a.invalid.iter().cloned());
        }
    }
    let mut v: Vec<_> = by_ip.into_iter().collect();
    v.sort_by(|a, b| {
        b.1.connections
            .cmp(&a.1.connections)
            .then_with(|| (a.0.is_none(), &a.0).cmp(&(b.0.is_none(), &b.0)))
    });
    v
}

/// Whether any session says how it authenticated.
fn any_auth(sessions: &Sessions) -> bool {
    sessions.summaries().any(|s| s.auth.is_some())
}

fn names(set: &BTreeSet<String>) -> String {
    let v: Vec<String> = set.iter().map(|u| printable(u).into_owned()).collect();
    v.join(",")
}

const COLUMNS: [(&str, Align); 6] = [
    ("SOURCE", Align::Left),
    ("CONNECTIONS", Align::Right),
    ("FAILED", Align::Right),
    ("USERS", Align::Right),
    ("BYTES IN", Align::Right),
    ("BYTES OUT", Align::Right),
];

/// After the byte columns when the events hold decisions.
const AUTH_COLUMNS: [(&str, Align); 4] = [
    ("ATTEMPTS", Align::Right),
    ("AUTH FAILED", Align::Right),
    ("TRIED", Align::Right),
    ("INVALID", Align::Right),
];

pub fn write_text(sessions: &Sessions, out: &mut dyn io::Write) -> io::Result<()> {
    let auth = any_auth(sessions);
    let mut heads = COLUMNS.to_vec();
    if auth {
        heads.extend(AUTH_COLUMNS);
    }
    heads.push(("USER NAMES", Align::Left));
    if auth {
        heads.push(("NAMES TRIED (INVALID)", Align::Left));
    }
    let mut t = Table::new(&heads);
    for (ip, s) in aggregate(sessions) {
        let mut row = vec![
            ip.unwrap_or_else(|| "?".into()),
            s.connections.to_string(),
            s.failed.to_string(),
            s.users.len().to_string(),
            s.bytes_in.to_string(),
            s.bytes_out.to_string(),
        ];
        let a = &s.auth;
        if auth {
            row.extend(
                [
                    a.attempts,
                    a.failures,
                    a.tried.len() as u64,
                    a.invalid.len() as u64,
                ]
                .map(|n| n.to_string()),
            );
        }
        row.push(names(&s.users));
        if auth {
            row.push(format!("{} ({})", names(&a.tried), names(&a.invalid)));
        }
        t.row(row);
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
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    auth: Option<AuthRow>,
}

/// Who knocked, when the events hold the servers' decisions.
#[derive(Serialize)]
struct AuthRow {
    attempts: u64,
    auth_failures: u64,
    users_tried: Vec<String>,
    invalid_users: Vec<String>,
}

pub fn write_json(sessions: &Sessions, lost: u64, out: &mut dyn io::Write) -> io::Result<()> {
    let auth = any_auth(sessions);
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
                auth: auth.then(|| AuthRow {
                    attempts: s.auth.attempts,
                    auth_failures: s.auth.failures,
                    users_tried: s.auth.tried.into_iter().collect(),
                    invalid_users: s.auth.invalid.into_iter().collect(),
                }),
            })
            .collect(),
    };
    json_to(out, &doc)
}
