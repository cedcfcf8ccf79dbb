//! Every loss, counted where it happens, summed here: the kernel's
//! counters, the reader's, the agent's own (discovery, the stop, a
//! predecessor's death), the agent-mode sinks', and the outputs' failed
//! writes (capture file, sinks). Reported as `agent.loss` within a second
//! of growing, naming the sessions whose records were lost.
use std::{
    collections::BTreeMap,
    sync::{atomic::Ordering, Arc},
};

use ssh_trace_common::maps::{
    LOST_AUTH_FULL, LOST_CRED_RATE, LOST_FWD_FULL, LOST_MILESTONES, LOST_RINGBUF, LOST_SOCKS_FULL,
    LOST_TRACKED_FULL, LOST_USER_LISTENERS, LOST_XFER,
};

use super::discovery::Missed;
use crate::session::auth::Watch;
use crate::{
    event::{
        AgentLoss, Body, Event, LossCounts, LossReport, SessionId, SessionLoss, SinkBacklog,
        SinkLoss,
    },
    pipeline::Failures,
    probes::{auth_hook::AuthHook, tty::TtyKernel, Maps},
    reader::Reader,
    sinks::queue::Stats,
};

/// What the kernel side and the reader counted lost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLosses {
    pub ringbuf: u64,
    pub milestones: u64,
    pub tracked_full: u64,
    pub listeners_full: u64,
    pub socks_full: u64,
    pub rate_limited: u64,
    pub queue: u64,
    pub decode: u64,
}

/// A session's share of the losses since the last call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shares {
    pub records: u64,
    pub untracked: u64,
    /// Terminal bytes (marked in its recording since the last report).
    pub tty_bytes: u64,
}

/// What the kernel side counted lost so far, and how to stop reading it.
pub trait Kernel {
    fn counters(&self) -> KernelLosses;
    /// Per session key, what was lost since the last call.
    fn take_session_losses(&mut self) -> BTreeMap<u64, Shares>;
    /// Stops the reader once it has read what the kernel already wrote.
    fn stop(&mut self);
    /// Notes for a successor (persistent programs) how far this agent got:
    /// `done` records had their events written out; `stopped`: cleanly.
    fn note_progress(&mut self, done: u64, stopped: bool);
    /// Terminal bytes lost (in the kernel and in the reader's queue).
    fn tty_lost(&self) -> u64 {
        0
    }
    /// Terminal recording's kernel side, when recording is on.
    fn tty(&mut self) -> Option<&mut TtyKernel> {
        None
    }
    /// Terminal bytes of session `key` the reader's queue dropped so far.
    fn tty_queue_lost(&self, _key: u64) -> u64 {
        0
    }
    /// Session `key` ended: its terminal's state goes.
    fn tty_forget(&mut self, _key: u64) {}
    /// These sessions logged in: the kernel stops reading their server's
    /// log output.
    fn auth_done(&mut self, _sessions: &[u64]) {}
    /// Whether the servers' log output is read at all: some session is
    /// between its connect and its login or end.
    fn auth_wanted(&mut self, _wanted: bool) {}
    /// Whether the servers' log output is being read, since when (ktime ns).
    fn auth_watch(&mut self) -> Watch {
        Watch::Since(0)
    }
}

/// The loaded programs' maps and the ring-buffer reader.
pub struct Attached {
    pub maps: Maps,
    pub reader: Reader,
    /// Terminal recording (it owns the programs then: tty.rs).
    pub tty: Option<TtyKernel>,
    /// The programs are pinned: progress is noted for the next agent.
    pub persistent: bool,
    /// Attaches the servers' log capture on demand (None: pinned, always).
    pub auth_hook: Option<AuthHook>,
}

impl Kernel for Attached {
    fn counters(&self) -> KernelLosses {
        let k = self.maps.lost_totals();
        let st = &self.reader.stats;
        KernelLosses {
            ringbuf: k[LOST_RINGBUF as usize],
            milestones: k[LOST_MILESTONES as usize],
            // A transfer process or file its tables could not hold is a
            // process (part) not tracked, like a full process table.
            tracked_full: k[LOST_TRACKED_FULL as usize] + k[LOST_XFER as usize],
            listeners_full: k[LOST_USER_LISTENERS as usize],
            // AUTH_SESSIONS is keyed by connection and sized like
            // SESSION_SOCKS: a full one is a connection not followed; so is
            // a forward not followed.
            socks_full: k[LOST_SOCKS_FULL as usize]
                + k[LOST_AUTH_FULL as usize]
                + k[LOST_FWD_FULL as usize],
            rate_limited: k[LOST_CRED_RATE as usize],
            queue: st.queue_lost.load(Ordering::Relaxed),
            decode: st.decode_errors.load(Ordering::Relaxed),
        }
    }

    fn take_session_losses(&mut self) -> BTreeMap<u64, Shares> {
        let mut out: BTreeMap<u64, Shares> = BTreeMap::new();
        for (key, l) in self.maps.take_session_losses() {
            let e = out.entry(key).or_default();
            e.records += l.records;
            e.untracked += l.untracked;
        }
        for (key, n) in self.reader.stats.take_session_losses() {
            out.entry(key).or_default().records += n;
        }
        out
    }

    fn stop(&mut self) {
        self.reader.stop();
    }

    fn tty_lost(&self) -> u64 {
        self.maps.lost_totals()[ssh_trace_common::maps::LOST_TTY as usize]
            + self.reader.stats.tty_lost_bytes.load(Ordering::Relaxed)
    }

    fn tty(&mut self) -> Option<&mut TtyKernel> {
        self.tty.as_mut()
    }

    fn tty_queue_lost(&self, key: u64) -> u64 {
        self.reader.stats.tty_lost_of(key)
    }

    fn tty_forget(&mut self, key: u64) {
        if let Some(t) = &mut self.tty {
            t.forget(key);
        }
        self.reader.stats.forget_tty(key);
    }

    fn auth_wanted(&mut self, wanted: bool) {
        if let Some(h) = &mut self.auth_hook {
            if h.would_attach(wanted) {
                // Its next run notes the time again.
                self.maps.auth_watch_clear();
            }
            h.set(wanted);
        }
    }

    fn auth_watch(&mut self) -> Watch {
        // Pinned programs: attached since they were loaded.
        let Some(h) = &mut self.auth_hook else {
            return Watch::Since(0);
        };
        if !h.watching() {
            Watch::Gone
        } else if !h.attached() {
            // Detached: a time noted before is stale.
            Watch::Idle
        } else {
            self.maps
                .auth_watched_since()
                .map_or(Watch::Idle, Watch::Since)
        }
    }

    fn auth_done(&mut self, sessions: &[u64]) {
        self.maps.auth_done(sessions);
    }

    fn note_progress(&mut self, done: u64, stopped: bool) {
        if !self.persistent {
            return;
        }
        let consumed = self.reader.stats.consumed.load(Ordering::Relaxed);
        // A clean stop read everything it took.
        let done = if stopped { consumed } else { done };
        self.maps
            .note_progress(crate::host::now_unix_ns(), consumed, done, stopped);
    }
}

pub struct Losses {
    sinks: Vec<(String, Arc<Stats>)>,
    /// Write failures of the capture file and the sinks.
    outputs: Vec<Arc<Failures>>,
    discovery: Missed,
    /// Records the previous agent (persistent programs) took and never wrote.
    pub restart: u64,
    /// Records still queued when the stop's time ran out.
    dropped_at_stop: u64,
    /// The same, per session key (until the next report).
    dropped_at_stop_by_session: BTreeMap<u64, u64>,
    /// Terminal bytes marked lost per session key (until the next report).
    tty_marked: BTreeMap<u64, u64>,
    /// Server log records cut at the kernel's copy limit that made no
    /// event: a decision may have been lost (counted as undecodable).
    pub auth_cut: u64,
    /// Sessions whose authentication the servers' log hook did not watch
    /// whole (session/auth/window.rs), and per session key until the next
    /// report (charged as one record: the decision not read).
    auth_unwatched: u64,
    auth_unwatched_by_session: BTreeMap<u64, u64>,
    /// What `agent.loss` events reported so far.
    pub reported: LossCounts,
}

impl Losses {
    pub fn new(
        sinks: Vec<(String, Arc<Stats>)>,
        outputs: Vec<Arc<Failures>>,
        discovery: Missed,
    ) -> Self {
        Self {
            sinks,
            outputs,
            discovery,
            restart: 0,
            dropped_at_stop: 0,
            dropped_at_stop_by_session: BTreeMap::new(),
            tty_marked: BTreeMap::new(),
            auth_cut: 0,
            auth_unwatched: 0,
            auth_unwatched_by_session: BTreeMap::new(),
            reported: LossCounts::default(),
        }
    }

    /// Each sink's backlog and counts so far, for agent.heartbeat.
    pub fn sink_backlogs(&self) -> Vec<SinkBacklog> {
        self.sinks
            .iter()
            .map(|(name, st)| SinkBacklog {
                sink: name.clone(),
                waiting: st.held.load(Ordering::Relaxed),
                delivered: st.delivered.load(Ordering::Relaxed),
                dropped: st.dropped.load(Ordering::Relaxed),
            })
            .collect()
    }

    pub fn now(&self, kernel: &dyn Kernel) -> LossCounts {
        let k = kernel.counters();
        LossCounts {
            kernel_ringbuf: k.ringbuf,
            kernel_milestones: k.milestones,
            kernel_tracked_full: k.tracked_full + self.discovery.processes,
            kernel_listeners_full: k.listeners_full + self.discovery.listeners,
            kernel_socks_full: k.socks_full,
            kernel_rate_limited: k.rate_limited,
            queue: k.queue + self.dropped_at_stop,
            decode: k.decode + self.auth_cut,
            agent_restart: self.restart,
            tty_bytes: kernel.tty_lost(),
            auth_unwatched: self.auth_unwatched,
            sinks: self
                .sinks
                .iter()
                .map(|(name, s)| SinkLoss {
                    sink: name.clone(),
                    dropped: s.dropped.load(Ordering::Relaxed),
                })
                .collect(),
            outputs: self.outputs.iter().filter_map(|o| o.so_far()).collect(),
        }
    }

    /// A record the stop had no time left to handle.
    pub fn drop_at_stop(&mut self, session_key: u64) {
        self.dropped_at_stop += 1;
        if session_key != 0 {
            *self
                .dropped_at_stop_by_session
                .entry(session_key)
                .or_default() += 1;
        }
    }

    /// A session whose authentication decisions may not have been read.
    pub fn auth_unwatched(&mut self, session_key: u64) {
        self.auth_unwatched += 1;
        *self
            .auth_unwatched_by_session
            .entry(session_key)
            .or_default() += 1;
    }

    /// Terminal bytes of a session marked lost in its recording (read
    /// before the totals that include them: agent/tty.rs).
    pub fn tty_marked(&mut self, marked: BTreeMap<u64, u64>) {
        for (key, n) in marked {
            *self.tty_marked.entry(key).or_default() += n;
        }
    }

    /// An `agent.loss` event when something more was lost, or an output
    /// failed again, since the last, naming (up to MAX_NAMED, the most hurt first) the sessions it hit.
    pub fn report(
        &mut self,
        kernel: &mut dyn Kernel,
        now_ns: u64,
        id_of: &dyn Fn(u64) -> SessionId,
    ) -> Option<Event> {
        // Shares first: every share is also in the totals read after it.
        let mut shares = kernel.take_session_losses();
        for (key, n) in std::mem::take(&mut self.dropped_at_stop_by_session) {
            shares.entry(key).or_default().records += n;
        }
        for (key, n) in std::mem::take(&mut self.auth_unwatched_by_session) {
            shares.entry(key).or_default().records += n;
        }
        for (key, n) in std::mem::take(&mut self.tty_marked) {
            shares.entry(key).or_default().tty_bytes += n;
        }
        let now = self.now(kernel);
        if now.total() <= self.reported.total()
            && now.failed_writes() <= self.reported.failed_writes()
        {
            return None;
        }
        let loss = named_sessions(now.since(&self.reported), shares, id_of);
        self.reported = now.clone();
        let body = Body::AgentLoss(Box::new(AgentLoss { loss, total: now }));
        Some(Event::new(now_ns, None, body))
    }
}

fn named_sessions(
    counts: LossCounts,
    shares: BTreeMap<u64, Shares>,
    id_of: &dyn Fn(u64) -> SessionId,
) -> LossReport {
    let mut v: Vec<(u64, Shares)> = shares.into_iter().collect();
    v.sort_by_key(|(_, s)| std::cmp::Reverse((s.records + s.untracked, s.tty_bytes)));
    let more_sessions = v.len().saturating_sub(LossReport::MAX_NAMED) as u64;
    let sessions = v
        .into_iter()
        .take(LossReport::MAX_NAMED)
        .map(|(key, s)| SessionLoss {
            id: id_of(key),
            records: s.records,
            untracked: s.untracked,
            tty_bytes: s.tty_bytes,
        })
        .collect();
    LossReport {
        counts,
        sessions,
        more_sessions,
    }
}
