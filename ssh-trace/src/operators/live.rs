//! The live session table for operators: open sessions with their traffic,
//! last activity, last command and recent events, fed by the selected
//! events. Process facts (tty, foreground command, tree) are read from /proc
//! for the processes the session model tracks, when someone asks.
use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::{
    event::{Accepted, Body, Endpoint, Key, SessionId},
    format::{human::Human, quiet::Quiet},
    host::rfc3339,
    pipeline::Shared,
    session::procfs,
};

/// Recent events kept per session (for `top`'s detail view).
pub const RECENT: usize = 8;

pub struct LiveSession {
    pub id: SessionId,
    pub user: Option<String>,
    pub source: Option<Endpoint>,
    pub start_ns: u64,
    /// Last byte moved or command run.
    pub last_activity_ns: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Last exec'd process: pid and command line (made when asked).
    pub last_exec: Option<(u32, Shared)>,
    /// Its last events, formatted only when someone asks.
    pub recent: VecDeque<Shared>,
    pub discovered: bool,
    /// How it logged in, when the server logged it.
    pub auth: Option<Box<Accepted>>,
}

/// One row of `ssh-trace sessions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub user: Option<String>,
    /// "ip:port" of the client.
    pub source: Option<String>,
    pub start: String,
    pub start_ns: u64,
    /// Seconds since the last byte or exec (absent in a /proc snapshot).
    pub idle_s: Option<u64>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// What the session runs now (the foreground process of its terminal,
    /// else its last command still running).
    pub command: Option<String>,
    /// Its terminal, e.g. "pts/3"; none for sessions without one.
    pub tty: Option<String>,
    pub processes: usize,
    /// The accepted authentication method (`publickey`, `password`, …),
    /// when the server logged it.
    #[serde(default)]
    pub method: Option<String>,
    /// The key it logged in with: type and fingerprint.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcRow {
    pub pid: u32,
    pub ppid: u32,
    pub command: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    pub session: Row,
    /// Processes of the session, parents before children.
    pub tree: Vec<ProcRow>,
    /// Its last events as `tail` prints them.
    pub recent: Vec<String>,
}

/// The answer to `list`: where it comes from and the open sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// "agent", or "proc_snapshot" (no agent: read from /proc once, without
    /// traffic or idle time).
    pub origin: String,
    pub time: String,
    pub sessions: Vec<Row>,
}

#[derive(Default)]
pub struct Live {
    sessions: HashMap<SessionId, LiveSession>,
    /// Recent events are those the quiet human view shows (format/quiet.rs).
    quiet: Quiet,
}

impl Live {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, id: SessionId) -> Option<&LiveSession> {
        self.sessions.get(&id)
    }

    pub fn observe(&mut self, ev: &Shared) {
        let Some(s) = &ev.session else { return };
        // Terminal data has the screens of its own (terminal/screen.rs).
        if ev.spec().bulk {
            return;
        }
        let shown = self.quiet.shows(ev);
        if let Body::SessionEnd(_) = ev.body {
            self.sessions.remove(&s.id);
            return;
        }
        // Only these open an entry: process exits and execs may come after
        // the session ended (nohup), and must not bring it back.
        let opens = matches!(
            ev.body,
            Body::SessionConnect | Body::SessionLogin(_) | Body::SessionBytes(_)
        );
        if !opens && !self.sessions.contains_key(&s.id) {
            return;
        }
        let l = self.sessions.entry(s.id).or_insert_with(|| LiveSession {
            id: s.id,
            user: None,
            source: None,
            start_ns: ev.time_ns,
            last_activity_ns: ev.time_ns,
            bytes_in: 0,
            bytes_out: 0,
            last_exec: None,
            recent: VecDeque::new(),
            discovered: s.discovered,
            auth: None,
        });
        if let Body::SessionConnect = ev.body {
            l.start_ns = ev.time_ns;
        }
        if let Body::SessionLogin(login) = &ev.body {
            l.auth.clone_from(&login.auth);
        }
        l.user.clone_from(&s.user);
        l.source = s.source;
        update(l, ev, shown);
    }

    /// Rows of all open sessions; `pids` gives each session's processes as
    /// the session model knows them (None: unknown).
    pub fn rows(&self, now_ns: u64, pids: &dyn Fn(SessionId) -> Option<Vec<u32>>) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .sessions
            .values()
            .map(|l| self.row(l, now_ns, pids(l.id).as_deref()))
            .collect();
        rows.sort_by(|a, b| a.start_ns.cmp(&b.start_ns).then(a.id.cmp(&b.id)));
        rows
    }

    fn row(&self, l: &LiveSession, now_ns: u64, pids: Option<&[u32]>) -> Row {
        let pids = pids.unwrap_or(&[]);
        let last = l.last_exec.as_ref().map(|(pid, ev)| (*pid, command_of(ev)));
        let (tty, command) = terminal(pids, last.as_ref());
        Row {
            id: l.id.to_string(),
            user: l.user.clone(),
            source: l.source.map(|e| format!("{}:{}", e.ip, e.port)),
            start: rfc3339(l.start_ns),
            start_ns: l.start_ns,
            idle_s: Some(now_ns.saturating_sub(l.last_activity_ns) / 1_000_000_000),
            bytes_in: Some(l.bytes_in),
            bytes_out: Some(l.bytes_out),
            command,
            tty,
            processes: pids.len(),
            method: l.auth.as_ref().map(|a| a.method.name().to_owned()),
            key: l.auth.as_ref().and_then(|a| a.key.as_ref()).map(key_text),
        }
    }

    /// The open sessions' ids.
    pub fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().copied()
    }

    pub fn detail(&self, id: SessionId, now_ns: u64, pids: Option<Vec<u32>>) -> Option<Detail> {
        let l = self.sessions.get(&id)?;
        let pids = pids.unwrap_or_default();
        let human = Human::new(false);
        let recent = l
            .recent
            .iter()
            .map(|ev| {
                let mut line = Vec::new();
                human.write(ev, &mut line);
                String::from_utf8_lossy(&line).trim_end().to_owned()
            })
            .collect();
        Some(Detail {
            session: self.row(l, now_ns, Some(&pids)),
            tree: tree(&pids),
            recent,
        })
    }
}

/// What an event of an open session changes: activity, last command,
/// traffic, recent events.
fn update(l: &mut LiveSession, ev: &Shared, shown: bool) {
    if let Body::ProcessExec(process) = &ev.body {
        l.last_activity_ns = ev.time_ns;
        l.last_exec = Some((process.pid, ev.clone()));
    }
    if let Body::ProcessExit(process) = &ev.body {
        if l.last_exec.as_ref().is_some_and(|(p, _)| *p == process.pid) {
            l.last_exec = None;
        }
    }
    if let Some(t) = ev.body.traffic() {
        if t.bytes_in != l.bytes_in || t.bytes_out != l.bytes_out {
            l.last_activity_ns = ev.time_ns;
        }
        l.bytes_in = t.bytes_in;
        l.bytes_out = t.bytes_out;
    }
    // Byte updates come every second: only the rest is worth recalling.
    if shown && !matches!(ev.body, Body::SessionBytes(_)) {
        if l.recent.len() == RECENT {
            l.recent.pop_front();
        }
        l.recent.push_back(ev.clone());
    }
}

/// `ED25519 SHA256:…`.
fn key_text(k: &Key) -> String {
    format!("{} {}", k.key_type, k.fingerprint)
}

/// The command line of an exec event: argv, else the executable.
fn command_of(ev: &Shared) -> String {
    let Body::ProcessExec(p) = &ev.body else {
        return String::new();
    };
    if p.args.is_empty() {
        p.executable.clone()
    } else {
        p.args.join(" ")
    }
}

/// The session's terminal and what runs in its foreground: the process group
/// the terminal says is in front (as `w` does); without a terminal, the last
/// command if it still runs.
pub fn terminal(
    pids: &[u32],
    last_exec: Option<&(u32, String)>,
) -> (Option<String>, Option<String>) {
    let live: HashSet<u32> = pids.iter().copied().collect();
    let with_tty = pids
        .iter()
        .filter_map(|&p| procfs::stat(p))
        .find(|s| s.tty_nr != 0);
    let tty = with_tty.and_then(|s| procfs::tty_name(s.tty_nr));
    let fg = with_tty
        .filter(|s| s.tpgid > 0)
        .and_then(|s| procfs::command(s.tpgid as u32));
    let command = fg.or_else(|| {
        last_exec
            .filter(|(p, _)| live.contains(p))
            .map(|(_, c)| c.clone())
    });
    (tty, command)
}

/// Processes in tree order (depth first from the roots, by pid).
pub fn tree(pids: &[u32]) -> Vec<ProcRow> {
    let mut rows: Vec<ProcRow> = pids
        .iter()
        .filter_map(|&pid| {
            let st = procfs::stat(pid)?;
            Some(ProcRow {
                pid,
                ppid: st.ppid,
                command: procfs::command(pid).unwrap_or_default(),
            })
        })
        .collect();
    rows.sort_by_key(|r| r.pid);
    order_tree(rows)
}

pub fn order_tree(rows: Vec<ProcRow>) -> Vec<ProcRow> {
    let pids: HashSet<u32> = rows.iter().map(|r| r.pid).collect();
    let mut out = Vec::with_capacity(rows.len());
    let mut stack: Vec<&ProcRow> = rows
        .iter()
        .filter(|r| !pids.contains(&r.ppid))
        .rev()
        .collect();
    while let Some(r) = stack.pop() {
        out.push(r.clone());
        stack.extend(rows.iter().filter(|c| c.ppid == r.pid).rev());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        event::{Event, Kind, Role},
        format::samples::{self, event},
    };

    #[test]
    fn recent_events_are_those_of_the_quiet_view() {
        let mut live = Live::new();
        let login = event(Kind::SessionLogin);
        let id = login.session.as_ref().unwrap().id;
        let mut server = event(Kind::ProcessExec);
        if let Body::ProcessExec(p) = &mut server.body {
            p.role = Some(Role::Server);
        }
        let user = event(Kind::ProcessExec);
        let clean_exit = Event::new(
            samples::TIME_NS,
            Some(samples::session(true)),
            Body::ProcessExit(crate::event::ProcessExit {
                pid: 7,
                exit_code: Some(0),
                signal: None,
            }),
        );
        for ev in [login, server, user, clean_exit] {
            live.observe(&Arc::new(ev));
        }
        let kinds: Vec<Kind> = live
            .get(id)
            .unwrap()
            .recent
            .iter()
            .map(|e| e.kind())
            .collect();
        assert_eq!(kinds, [Kind::SessionLogin, Kind::ProcessExec]);
        let Body::ProcessExec(p) = &live.get(id).unwrap().recent[1].body else {
            panic!()
        };
        assert_eq!(p.role, Some(Role::User));
    }
}
