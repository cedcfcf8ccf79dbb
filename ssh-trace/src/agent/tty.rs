//! Terminal recording, agent side: the kernel programs are attached when a
//! session opens (about a millisecond: well before its pty exists) and
//! detached once no session has been open for `detach_after` (no session:
//! nothing runs on anyone's read() or write()); the wait keeps sessions
//! that come and go from paying a detach (which takes the kernel half a
//! second, done without the agent waiting) each. A session whose user is
//! not selected is switched off in the kernel at login.
//!
//! Losses are marked here, the one place that knows them all: the running
//! count each kernel record carries (rate limit, cap, full ring, plus what
//! the reader's queue dropped), checked before the record's own events; at
//! each tick for a session that went quiet; and at its end, before
//! `session.end`. Each mark's bytes are also the session's share in the
//! next `agent.loss` (`take_marked`).
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use super::losses::Kernel;
use crate::{
    decode::KernelEvent,
    event::{Body, Event, SessionId, SessionInfo, Terminal, TtyKind},
    filter::Filter,
    probes::tty::Limits,
    session::{tty::Selection, SessionTable},
};

/// What is recorded (docs/tty.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub selection: Selection,
    /// Input too (echo-off canonical input is never recorded).
    pub input: bool,
    pub limits: Limits,
    /// Detach the programs after this long without a session.
    pub detach_after: std::time::Duration,
}

/// How long the programs stay attached after the last session ended.
pub const DETACH_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// A recorded session's loss as marked so far, and what a mark needs.
struct Marked {
    key: u64,
    lost: u64,
    size: (u16, u16),
    info: Arc<SessionInfo>,
}

pub struct TtyControl {
    selection: Selection,
    boot_id: [u8; 16],
    /// Keys of the sessions open now (recorded ones have a `Marked`).
    open: HashMap<u64, Option<Marked>>,
    /// Attaching failed once: said, not retried on every session.
    failed: bool,
    detach_after: std::time::Duration,
    /// Since when no session is open.
    idle_since: Option<std::time::Instant>,
    /// The agent's filter: a session whose login it does not select is not
    /// recorded either (its records would be dropped; its losses counted).
    filter: Option<Filter>,
    host: String,
    /// Sessions found at start-up not to record (told to the kernel at the
    /// first sync).
    off_at_start: Vec<u64>,
    /// Bytes marked lost per session key since `take_marked`.
    marked: BTreeMap<u64, u64>,
}

impl TtyControl {
    /// `table`: the sessions open at start-up (found in /proc).
    pub fn new(
        opts: &Options,
        boot_id: [u8; 16],
        table: &SessionTable,
        filter: Option<Filter>,
        host: &str,
    ) -> Self {
        let mut me = Self {
            selection: opts.selection.clone(),
            boot_id,
            open: HashMap::new(),
            failed: false,
            detach_after: opts.detach_after,
            idle_since: None,
            filter,
            host: host.to_owned(),
            off_at_start: Vec::new(),
            marked: BTreeMap::new(),
        };
        for s in table.sessions().filter(|s| !s.ended) {
            let login = Event::new(s.start_ns, Some(s.info.clone()), login_body());
            if me.wanted(&login, &s.info) {
                me.open.insert(s.key, None);
            } else {
                me.off_at_start.push(s.key);
            }
        }
        me
    }

    /// Whether a connection may be recorded: the filter selects its
    /// connect, or tests more than a connect shows (its user, the event
    /// type…): then its login decides.
    fn may_want(&self, connect: &Event) -> bool {
        const KNOWN_AT_CONNECT: &[&str] = &["time", "host", "session.id"];
        let Some(f) = &self.filter else { return true };
        f.matches(connect, &self.host)
            || f.tests(&|name| {
                !(KNOWN_AT_CONNECT.contains(&name)
                    || name.starts_with("session.source")
                    || name.starts_with("session.destination"))
            })
    }

    /// Whether a session that logged in (`login`) is to be recorded.
    fn wanted(&self, login: &Event, info: &SessionInfo) -> bool {
        self.selection.selects(info)
            && crate::pipeline::selected(self.filter.as_ref(), login, &self.host)
    }

    /// The kernel key of a session id: ids are a hash of the boot id and
    /// the key, so it is the key of the record that made the event when
    /// that is its session, else one of the terminals followed.
    fn key(&self, id: SessionId, record_key: u64) -> Option<u64> {
        let of = |k: u64| SessionId::new(&self.boot_id, k) == id;
        if of(record_key) {
            return Some(record_key);
        }
        self.open.keys().copied().find(|&k| of(k))
    }

    /// Before the session model takes a terminal record: a loss mark when
    /// its running count grew.
    pub fn before_record(
        &mut self,
        rec: &KernelEvent,
        table: &mut SessionTable,
        out: &mut Vec<Event>,
    ) {
        let KernelEvent::Tty(t) = rec else { return };
        let (key, time) = (t.head.hdr.session, table.wall_ns(t.head.hdr.ktime_ns));
        if !table.tty_recorded(key, time) {
            return;
        }
        let Some(info) = table.get(key).map(|s| s.info.clone()) else {
            return;
        };
        // Records after the session's end mark nothing more.
        let Some(m) = self.open.get_mut(&key) else {
            return;
        };
        let m = m.get_or_insert(Marked {
            key,
            lost: 0,
            size: (0, 0),
            info,
        });
        if t.head.rows != 0 || t.head.cols != 0 {
            m.size = (t.head.rows, t.head.cols);
        }
        out.extend(mark(m, t.head.lost, time, &mut self.marked));
    }

    /// Follows the sessions: attach, decide, forget, detach. Returns the
    /// mark of a loss a session's end would otherwise leave unmarked (to go
    /// before its `session.end`).
    pub fn observe(
        &mut self,
        ev: &Event,
        record_key: u64,
        kernel: &mut dyn Kernel,
    ) -> Option<Event> {
        let s = ev.session.as_ref()?;
        // Only these events change what is followed (and the id hash is
        // not paid per event).
        if !matches!(
            ev.body,
            Body::SessionEnd(_) | Body::SessionLogin(_) | Body::SessionConnect
        ) {
            return None;
        }
        let key = self.key(s.id, record_key)?;
        let mut last = None;
        match &ev.body {
            Body::SessionEnd(_) => {
                if let Some(Some(mut m)) = self.open.remove(&key) {
                    last = mark(&mut m, lost_now(kernel, key), ev.time_ns, &mut self.marked);
                }
                kernel.tty_forget(key);
            }
            // Not recorded: the kernel is told, and it keeps nothing attached.
            Body::SessionLogin(_) if !self.wanted(ev, s) => {
                self.open.remove(&key);
                if let Some(t) = kernel.tty() {
                    t.decide(key, false);
                }
            }
            Body::SessionLogin(_) => {
                self.open.entry(key).or_default();
            }
            // A connection the filter may want (its login decides): the
            // programs are attached now, before its pty exists.
            Body::SessionConnect if self.may_want(ev) => {
                self.open.entry(key).or_default();
            }
            _ => {}
        }
        self.sync(kernel);
        last
    }

    /// Attached while a session is open, and `detach_after` beyond.
    pub fn sync(&mut self, kernel: &mut dyn Kernel) {
        let now = std::time::Instant::now();
        let idle = match self.open.is_empty() {
            true => *self.idle_since.get_or_insert(now),
            false => {
                self.idle_since = None;
                now
            }
        };
        let want = !self.open.is_empty() || now.duration_since(idle) < self.detach_after;
        let Some(t) = kernel.tty() else { return };
        for key in self.off_at_start.drain(..) {
            t.decide(key, false);
        }
        if want == t.attached() || self.failed {
            return;
        }
        if let Err(e) = t.set(want) {
            eprintln!("ssh-trace: terminal recording: {e:#}");
            self.failed = true;
        }
    }

    /// Bytes marked lost per session key since the last call.
    pub fn take_marked(&mut self) -> BTreeMap<u64, u64> {
        std::mem::take(&mut self.marked)
    }

    /// Marks losses no record followed (the session went quiet); detaches
    /// when the time has come.
    pub fn tick(&mut self, kernel: &mut dyn Kernel, now_ns: u64, out: &mut Vec<Event>) {
        self.sync(kernel);
        self.mark_open(kernel, now_ns, out);
    }

    /// Marks what open recorded sessions lost since their last mark.
    pub fn mark_open(&mut self, kernel: &mut dyn Kernel, now_ns: u64, out: &mut Vec<Event>) {
        for (&key, m) in &mut self.open {
            if let Some(m) = m {
                out.extend(mark(m, lost_now(kernel, key), now_ns, &mut self.marked));
            }
        }
    }
}

/// A login event's body, for asking the filter about a session found at
/// start-up.
fn login_body() -> Body {
    Body::SessionLogin(Default::default())
}

/// The session's terminal bytes lost so far: in the kernel and the queue.
fn lost_now(kernel: &mut dyn Kernel, key: u64) -> u64 {
    kernel.tty().map_or(0, |t| t.lost(key)) + kernel.tty_queue_lost(key)
}

/// A `lost` record for what the running count `lost` adds to the marked
/// (and the bytes added to the session's share in `marked`).
fn mark(m: &mut Marked, lost: u64, time: u64, marked: &mut BTreeMap<u64, u64>) -> Option<Event> {
    if lost <= m.lost {
        return None;
    }
    *marked.entry(m.key).or_default() += lost - m.lost;
    let t = Terminal::mark(TtyKind::Lost, m.size.0, m.size.1, lost - m.lost);
    m.lost = lost;
    Some(Event::new(time, Some(m.info.clone()), Body::SessionTty(t)))
}
