//! Per-session summaries (one small record per session, updated in place)
//! and the `sessions` report, one row per session like `last`.
use std::collections::{BTreeSet, HashMap};
use std::io;

use serde::Serialize;

use super::table::{Align, Table};
use super::{endpoint_text, json_to, text_time};
use crate::event::{Attempts, Auth, Body, Endpoint, Event, Outcome, SessionId};
use crate::text::printable;

#[derive(Clone, Debug)]
pub struct Summary {
    pub id: SessionId,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub source: Option<Endpoint>,
    pub destination: Option<Endpoint>,
    pub discovered: bool,
    /// session.connect's time, else the first event seen (capture began
    /// after the connect, or the connect record was lost).
    pub start_ns: u64,
    pub connect_seen: bool,
    pub end_ns: Option<u64>,
    pub duration_ms: Option<u64>,
    pub logged_in: bool,
    /// Failed: session.end said it never logged in.
    pub failed: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub commands: u64,
    pub transfers: TransferCounts,
    pub forwards: super::forwards::Totals,
    /// What the server decided about its authentication (None: nothing
    /// known, as in captures made before session.auth existed).
    pub auth: Option<Box<AuthSeen>>,
}

/// A session's authentication as the events tell it.
#[derive(Clone, Debug, Default)]
pub struct AuthSeen {
    /// Decisions (session.auth events; for a connection that never logged
    /// in, at least what its session.end counted).
    pub attempts: u64,
    pub failures: u64,
    /// Distinct user names tried, and those the server found invalid.
    pub tried: BTreeSet<String>,
    pub invalid: BTreeSet<String>,
}

impl AuthSeen {
    fn decision(&mut self, a: &Auth) {
        self.attempts += 1;
        self.failures += u64::from(a.outcome == Outcome::Failed);
        if let Some(u) = &a.user {
            self.tried.insert(u.to_string());
            if a.invalid {
                self.invalid.insert(u.to_string());
            }
        }
    }

    /// session.end's count: the decisions may have been filtered out.
    fn attempts(&mut self, a: &Attempts) {
        self.attempts = self.attempts.max(a.attempts.into());
        self.failures = self.failures.max(a.failures.into());
        self.tried.extend(a.users.iter().map(|u| u.to_string()));
    }
}

/// The file transfers of a session: files each way and their bytes, and
/// the directory operations.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct TransferCounts {
    pub uploads: u64,
    pub downloads: u64,
    pub bytes_uploaded: u64,
    pub bytes_downloaded: u64,
    pub operations: u64,
}

impl TransferCounts {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn add(&mut self, t: &crate::event::Transfer) {
        use crate::event::TransferAction as A;
        match t.action {
            A::Upload => {
                self.uploads += 1;
                self.bytes_uploaded += t.bytes;
            }
            A::Download => {
                self.downloads += 1;
                self.bytes_downloaded += t.bytes;
            }
            A::Rename | A::Remove | A::Mkdir | A::Rmdir | A::Link => self.operations += 1,
        }
    }

    /// `2 up 1 down 3 ops`, for a table cell.
    pub fn text(&self) -> String {
        let mut s = format!("{} up {} down", self.uploads, self.downloads);
        if self.operations > 0 {
            s.push_str(&format!(" {} ops", self.operations));
        }
        s
    }
}

impl Summary {
    fn new(id: SessionId, time_ns: u64) -> Self {
        Self {
            id,
            user: None,
            uid: None,
            source: None,
            destination: None,
            discovered: false,
            start_ns: time_ns,
            connect_seen: false,
            end_ns: None,
            duration_ms: None,
            logged_in: false,
            failed: false,
            bytes_in: 0,
            bytes_out: 0,
            commands: 0,
            transfers: TransferCounts::default(),
            forwards: Default::default(),
            auth: None,
        }
    }

    /// `alice`, `#1001` when only the uid is known, `-` before login.
    pub fn user_label(&self) -> String {
        user_label(self.user.as_deref(), self.uid)
    }
}

pub fn user_label(user: Option<&str>, uid: Option<u32>) -> String {
    match (user, uid) {
        (Some(u), _) => u.to_string(),
        (None, Some(uid)) => format!("#{uid}"),
        (None, None) => "-".into(),
    }
}

#[derive(Default)]
pub struct Sessions {
    by_id: HashMap<SessionId, Summary>,
}

impl Sessions {
    pub fn add(&mut self, ev: &Event) {
        let Some(info) = &ev.session else { return };
        let s = self
            .by_id
            .entry(info.id)
            .or_insert_with(|| Summary::new(info.id, ev.time_ns));
        // Every event carries the session as known then: keep what is known.
        if info.user.is_some() {
            s.user.clone_from(&info.user);
        }
        if info.uid.is_some() {
            s.uid = info.uid;
        }
        if info.source.is_some() {
            s.source.clone_from(&info.source);
        }
        if info.destination.is_some() {
            s.destination.clone_from(&info.destination);
        }
        s.discovered |= info.discovered;
        // The model sets the user at login, so a user on the event means
        // the session had logged in when it happened.
        let after_login = s.logged_in || info.uid.is_some() || info.user.is_some();
        if let Some(t) = ev.body.traffic() {
            s.bytes_in = t.bytes_in;
            s.bytes_out = t.bytes_out;
        }
        match &ev.body {
            Body::SessionConnect if !s.connect_seen => {
                s.connect_seen = true;
                s.start_ns = ev.time_ns;
            }
            Body::SessionLogin(_) => s.logged_in = true,
            Body::SessionForward(f) => s.forwards.add(f),
            Body::ProcessExec(_) if after_login => s.commands += 1,
            Body::FileTransfer(t) => s.transfers.add(&t.transfer),
            Body::SessionEnd(c) => {
                s.end_ns = Some(ev.time_ns);
                s.duration_ms = Some(c.end.duration_ms);
                s.logged_in |= c.end.logged_in;
                s.failed = !c.end.logged_in && !s.logged_in;
                if let Some(a) = &c.attempts {
                    s.auth.get_or_insert_default().attempts(a);
                }
            }
            Body::SessionAuth(d) => s.auth.get_or_insert_default().decision(&d.auth),
            // What else happens in a session does not change its summary.
            Body::SessionConnect
            | Body::ProcessExec(_)
            | Body::ProcessExit(_)
            | Body::UserChange(_)
            | Body::SessionBytes(_)
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_)
            | Body::Alert(..)
            | Body::SessionTty(_) => {}
        }
        s.logged_in |= after_login;
    }

    /// Sessions in start order (then id, for a stable order).
    /// The summaries in no particular order.
    pub fn summaries(&self) -> impl Iterator<Item = &Summary> {
        self.by_id.values()
    }

    pub fn sorted(&self) -> Vec<&Summary> {
        let mut v: Vec<&Summary> = self.by_id.values().collect();
        v.sort_by(|a, b| (a.start_ns, &a.id).cmp(&(b.start_ns, &b.id)));
        v
    }
}

/// `1:02:03` (hours unbounded); sub-second sessions show `0:00:00`.
pub fn duration_text(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// The columns of file transfers, shown when any session has one (the
/// table is unchanged for captures without).
const TRANSFER_COLUMNS: [(&str, Align); 3] = [
    ("FILES", Align::Left),
    ("UPLOADED", Align::Right),
    ("DOWNLOADED", Align::Right),
];

pub fn write_text(sessions: &Sessions, out: &mut dyn io::Write) -> io::Result<()> {
    let mut columns = vec![
        ("SESSION", Align::Left),
        ("USER", Align::Left),
        ("SOURCE", Align::Left),
        ("START (UTC)", Align::Left),
        ("END (UTC)", Align::Left),
        ("DURATION", Align::Right),
        ("LOGIN", Align::Left),
        ("BYTES IN", Align::Right),
        ("BYTES OUT", Align::Right),
        ("COMMANDS", Align::Right),
    ];
    let sorted = sessions.sorted();
    if sorted.iter().any(|s| !s.transfers.is_empty()) {
        columns.extend(TRANSFER_COLUMNS);
    }
    let mut t = Table::new(&columns);
    for s in sorted {
        let x = &s.transfers;
        t.row(vec![
            s.id.to_string(),
            printable(&s.user_label()).into_owned(),
            endpoint_text(s.source.as_ref()),
            text_time(s.start_ns),
            s.end_ns.map(text_time).unwrap_or_else(|| "open".into()),
            s.duration_ms
                .map(duration_text)
                .unwrap_or_else(|| "-".into()),
            yes_no(s.logged_in),
            s.bytes_in.to_string(),
            s.bytes_out.to_string(),
            s.commands.to_string(),
            x.text(),
            x.bytes_uploaded.to_string(),
            x.bytes_downloaded.to_string(),
        ]);
    }
    t.write(out)?;
    write_forward_totals(sessions, out)
}

/// Sessions with forwards, after the sessions (nothing when none has any).
fn write_forward_totals(sessions: &Sessions, out: &mut dyn io::Write) -> io::Result<()> {
    let with: Vec<&Summary> = sessions
        .sorted()
        .into_iter()
        .filter(|s| !s.forwards.is_empty())
        .collect();
    if with.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nforwards:")?;
    let mut t = Table::new(&[
        ("SESSION", Align::Left),
        ("LISTENERS", Align::Right),
        ("CONNECTIONS", Align::Right),
        ("FAILED", Align::Right),
        ("BYTES IN", Align::Right),
        ("BYTES OUT", Align::Right),
    ]);
    for s in with {
        let f = &s.forwards;
        t.row(vec![
            s.id.to_string(),
            f.listeners.to_string(),
            f.connections.to_string(),
            f.failed.to_string(),
            f.bytes_in.to_string(),
            f.bytes_out.to_string(),
        ]);
    }
    t.write(out)
}

#[derive(Serialize)]
struct Doc<'a> {
    report: &'static str,
    lost_records: u64,
    sessions: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    id: SessionId,
    user: Option<&'a str>,
    uid: Option<u32>,
    source: Option<&'a Endpoint>,
    destination: Option<&'a Endpoint>,
    discovered: bool,
    start: String,
    connect_seen: bool,
    end: Option<String>,
    duration_ms: Option<u64>,
    logged_in: bool,
    bytes_in: u64,
    bytes_out: u64,
    commands: u64,
    #[serde(skip_serializing_if = "TransferCounts::is_empty")]
    transfers: TransferCounts,
    #[serde(skip_serializing_if = "super::forwards::Totals::is_empty")]
    forwards: &'a super::forwards::Totals,
}

pub fn write_json(sessions: &Sessions, lost: u64, out: &mut dyn io::Write) -> io::Result<()> {
    let rfc3339 = crate::host::rfc3339;
    let doc = Doc {
        report: "sessions",
        lost_records: lost,
        sessions: sessions
            .sorted()
            .into_iter()
            .map(|s| Row {
                id: s.id,
                user: s.user.as_deref(),
                uid: s.uid,
                source: s.source.as_ref(),
                destination: s.destination.as_ref(),
                discovered: s.discovered,
                start: rfc3339(s.start_ns),
                connect_seen: s.connect_seen,
                end: s.end_ns.map(rfc3339),
                duration_ms: s.duration_ms,
                logged_in: s.logged_in,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                commands: s.commands,
                transfers: s.transfers,
                forwards: &s.forwards,
            })
            .collect(),
    };
    json_to(out, &doc)
}
