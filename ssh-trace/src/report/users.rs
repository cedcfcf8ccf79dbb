//! The `users` report: sessions and bytes per user, and bytes per user per
//! minute or hour. Each session's cumulative counters (session.bytes,
//! session.end) are turned into increments, and each increment lands in
//! the bucket of the event that reported it. Increments seen before the
//! session's login are held on the session until its user is known, so
//! the key exchange counts for the user who then logged in; sessions that
//! never log in go to user "-".
use std::collections::{BTreeMap, HashMap};
use std::io;

use serde::Serialize;

use super::table::{Align, Table};
use super::{json_to, Bucket};
use crate::event::{Body, Event, SessionId};
use crate::text::printable;

/// Who a session's bytes belong to. Ordered: names, then bare uids, then "-".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum UserKey {
    Name(String),
    Uid(u32),
    NotLoggedIn,
}

impl UserKey {
    fn label(&self) -> String {
        match self {
            Self::Name(n) => n.clone(),
            Self::Uid(u) => format!("#{u}"),
            Self::NotLoggedIn => "-".into(),
        }
    }
}

type Buckets = BTreeMap<u64, (u64, u64)>;

fn add_to(b: &mut Buckets, start: u64, inc: (u64, u64)) {
    let e = b.entry(start).or_default();
    e.0 = e.0.saturating_add(inc.0);
    e.1 = e.1.saturating_add(inc.1);
}

#[derive(Clone, Default)]
struct UserTotals {
    uid: Option<u32>,
    sessions: u64,
    bytes_in: u64,
    bytes_out: u64,
    buckets: Buckets,
}

impl UserTotals {
    fn add(&mut self, start: u64, inc: (u64, u64)) {
        self.bytes_in = self.bytes_in.saturating_add(inc.0);
        self.bytes_out = self.bytes_out.saturating_add(inc.1);
        add_to(&mut self.buckets, start, inc);
    }

    fn take_session(&mut self, pending: Buckets) {
        self.sessions += 1;
        for (start, inc) in pending {
            self.add(start, inc);
        }
    }
}

#[derive(Default)]
struct SessionAcct {
    /// Last cumulative counters seen.
    last: (u64, u64),
    /// Set once the session is attributed (login, or end without login).
    user: Option<UserKey>,
    /// Increments before attribution.
    pending: Buckets,
}

pub struct Users {
    by: Bucket,
    users: BTreeMap<UserKey, UserTotals>,
    sessions: HashMap<SessionId, SessionAcct>,
}

impl Users {
    pub fn new(by: Bucket) -> Self {
        Self {
            by,
            users: BTreeMap::new(),
            sessions: HashMap::new(),
        }
    }

    pub fn add(&mut self, ev: &Event) {
        let Some(info) = &ev.session else { return };
        let s = self.sessions.entry(info.id).or_default();
        if s.user.is_none() {
            let key = match (&info.user, info.uid) {
                (Some(n), _) => Some(UserKey::Name(n.clone())),
                (None, Some(u)) => Some(UserKey::Uid(u)),
                // The session object only has a user after login.
                (None, None) if matches!(ev.body, Body::SessionEnd(_)) => {
                    Some(UserKey::NotLoggedIn)
                }
                (None, None) => None,
            };
            if let Some(key) = key {
                let totals = self.users.entry(key.clone()).or_default();
                totals.uid = totals.uid.or(info.uid);
                totals.take_session(std::mem::take(&mut s.pending));
                s.user = Some(key);
            }
        }
        let Some(t) = ev.body.traffic() else { return };
        // Counters only grow; a smaller one (never expected) adds nothing
        // and becomes the new base.
        let inc = (
            t.bytes_in.saturating_sub(s.last.0),
            t.bytes_out.saturating_sub(s.last.1),
        );
        s.last = (t.bytes_in, t.bytes_out);
        if inc == (0, 0) {
            return;
        }
        let start = self.by.start(ev.time_ns);
        match &s.user {
            Some(key) => self.users.entry(key.clone()).or_default().add(start, inc),
            None => add_to(&mut s.pending, start, inc),
        }
    }

    /// Totals per user, with sessions still waiting for a login at the end
    /// of the stream counted under "-".
    fn totals(&self) -> BTreeMap<UserKey, UserTotals> {
        let mut users = self.users.clone();
        for s in self.sessions.values().filter(|s| s.user.is_none()) {
            users
                .entry(UserKey::NotLoggedIn)
                .or_default()
                .take_session(s.pending.clone());
        }
        users
    }

    /// `2023-11-14 22:13` or `2023-11-14 22:00`.
    fn bucket_text(start_ns: u64) -> String {
        let t = super::text_time(start_ns);
        t.get(..16).map(str::to_string).unwrap_or(t)
    }

    pub fn write_text(&self, out: &mut dyn io::Write) -> io::Result<()> {
        let users = self.totals();
        let mut t = Table::new(&[
            ("USER", Align::Left),
            ("SESSIONS", Align::Right),
            ("BYTES IN", Align::Right),
            ("BYTES OUT", Align::Right),
        ]);
        for (key, u) in &users {
            t.row(vec![
                printable(&key.label()).into_owned(),
                u.sessions.to_string(),
                u.bytes_in.to_string(),
                u.bytes_out.to_string(),
            ]);
        }
        t.write(out)?;
        writeln!(out)?;
        let head = match self.by {
            Bucket::Minute => "MINUTE (UTC)",
            Bucket::Hour => "HOUR (UTC)",
        };
        let mut t = Table::new(&[
            (head, Align::Left),
            ("USER", Align::Left),
            ("BYTES IN", Align::Right),
            ("BYTES OUT", Align::Right),
        ]);
        // By bucket, then user: how a per-interval accounting log reads.
        let mut rows: Vec<(u64, &UserKey, (u64, u64))> = users
            .iter()
            .flat_map(|(k, u)| u.buckets.iter().map(move |(s, b)| (*s, k, *b)))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (start, key, (i, o)) in rows {
            t.row(vec![
                Self::bucket_text(start),
                printable(&key.label()).into_owned(),
                i.to_string(),
                o.to_string(),
            ]);
        }
        t.write(out)
    }

    pub fn write_json(&self, lost: u64, out: &mut dyn io::Write) -> io::Result<()> {
        let doc = Doc {
            report: "users",
            by: self.by.name(),
            lost_records: lost,
            users: self
                .totals()
                .into_iter()
                .map(|(key, u)| Row {
                    user: match &key {
                        UserKey::Name(n) => Some(n.clone()),
                        _ => None,
                    },
                    uid: u.uid,
                    sessions: u.sessions,
                    bytes_in: u.bytes_in,
                    bytes_out: u.bytes_out,
                    buckets: u
                        .buckets
                        .iter()
                        .map(|(start, (i, o))| BucketRow {
                            start: crate::host::rfc3339(*start),
                            bytes_in: *i,
                            bytes_out: *o,
                        })
                        .collect(),
                })
                .collect(),
        };
        json_to(out, &doc)
    }
}

#[derive(Serialize)]
struct Doc {
    report: &'static str,
    by: &'static str,
    lost_records: u64,
    users: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    user: Option<String>,
    uid: Option<u32>,
    sessions: u64,
    bytes_in: u64,
    bytes_out: u64,
    buckets: Vec<BucketRow>,
}

#[derive(Serialize)]
struct BucketRow {
    start: String,
    bytes_in: u64,
    bytes_out: u64,
}
