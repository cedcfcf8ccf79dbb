//! The agent's loop, bounded per pass: each pass handles at most
//! `PASS_RECORDS` kernel records or `PASS_TIME` of work, whichever comes
//! first (the rest of a reader batch is held for the next pass), then the
//! select is `biased` so signals, the one-second tick (loss reports,
//! capture flush, idle alerts) and session-socket requests run before the
//! next pass. A flood therefore neither stalls loss reporting nor delays
//! SIGTERM by more than one pass, however slow its records are to handle
//! (long argv in a debug build on a busy machine: ≈ 1 ms each).
use std::{
    collections::VecDeque,
    future::Future,
    time::{Duration, Instant},
};

use anyhow::Result;
use tokio::{sync::mpsc, time::MissedTickBehavior};

use super::{
    losses::{Kernel, Losses},
    AgentPipeline,
};
use crate::{
    decode::KernelEvent,
    event::{AgentInfo, AgentStop, AgentTotals, Body, Event, Heartbeat},
    host, listendiag,
    logfile::LogFiles,
    reader::Batch,
    session::auth::Watch,
    session::SessionTable,
    sockdiag, unixdiag,
};

/// Kernel records handled per pass (a few milliseconds of work).
pub const PASS_RECORDS: usize = 1024;
/// A pass ends after this long even if fewer records were handled.
pub const PASS_TIME: Duration = Duration::from_millis(50);
/// At the stop, records still queued are read for at most this long; the
/// rest are counted lost (`queue`).
pub const STOP_DRAIN: Duration = Duration::from_millis(200);

pub struct Run<K: Kernel> {
    pub pipeline: AgentPipeline,
    pub table: SessionTable,
    pub losses: Losses,
    pub kernel: K,
    pub rx: mpsc::Receiver<Batch>,
    /// The rest of a reader batch a pass did not get to (in order, before
    /// the next batch).
    pub held: VecDeque<KernelEvent>,
    /// Live byte counts of open sessions (sock_diag, once a tick).
    pub bytes: sockdiag::Poller,
    /// Ends of unix-socket forwards (sock_diag, once a tick).
    pub unix: unixdiag::Poller,
    /// Ends of listeners found at start-up (sock_diag, once a tick).
    pub listeners: listendiag::Poller,
    /// Decisions of sessions whose server logs to a trusted file.
    pub logs: LogFiles,
    /// Records whose events went through the pipeline and out.
    pub done: u64,
    /// Terminal recording, when on.
    pub tty: Option<super::tty::TtyControl>,
    /// agent.heartbeat every so often, if at all.
    pub heartbeat: Option<Beat>,
}

/// When agent.heartbeat is due.
pub struct Beat {
    pub every: Duration,
    pub started: Instant,
    pub next: Instant,
}

/// The default interval of agent mode.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(60);

/// A heartbeat interval as given: whole seconds (the loop ticks every
/// second); 0 means none.
pub fn heartbeat_interval(d: Duration) -> Result<Option<Duration>, String> {
    if d.is_zero() {
        return Ok(None);
    }
    if d.subsec_nanos() != 0 {
        return Err(format!(
            "{} is not a whole number of seconds (e.g. \"30s\", \"5m\"; \"0s\" for none)",
            humantime::format_duration(d)
        ));
    }
    Ok(Some(d))
}

impl Beat {
    pub fn new(every: Duration) -> Self {
        let now = Instant::now();
        Self {
            every,
            started: now,
            next: now + every,
        }
    }

    /// Whether one is due now (and, if so, when the next one is).
    fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = (self.next + self.every).max(now);
        true
    }
}

impl<K: Kernel> Run<K> {
    /// Runs until `stop` completes (SIGTERM, SIGINT) or the records end.
    /// Gives the kernel side back: the caller closes stdout first, then
    /// drops it (detaching programs takes a while).
    pub async fn until_stopped(mut self, agent: AgentInfo, stop: impl Future) -> Result<K> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut events = Vec::new();
        // Sessions found open at start-up: the terminal hooks are due now.
        if let Some(t) = &mut self.tty {
            t.sync(&mut self.kernel);
        }
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = tick.tick() => self.tick()?,
                (req, stream) = self.pipeline.ops.request() => {
                    self.pipeline.ops.answer(req, stream, &self.table)
                }
                batch = self.rx.recv(), if self.held.is_empty() => {
                    let Some(batch) = batch else { break };
                    self.held.extend(batch.into_records());
                    self.pass(&mut events)?;
                    if self.pipeline.closed() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                _ = std::future::ready(()), if !self.held.is_empty() => {
                    self.pass(&mut events)?;
                    if self.pipeline.closed() {
                        break;
                    }
                    // Lets the runtime poll its drivers (timers, signals,
                    // sockets) before the next pass: with the queue always
                    // ready, they would otherwise wait for its own schedule.
                    tokio::task::yield_now().await;
                }
            }
        }
        self.stop(agent, &mut events)
    }

    /// One bounded pass: what is held and what else is queued, up to
    /// PASS_RECORDS or PASS_TIME.
    pub(super) fn pass(&mut self, events: &mut Vec<Event>) -> Result<()> {
        let records = self.handle_held(events)?;
        // Before an attach request can reset the hook's watch time.
        self.count_unwatched_auth();
        self.pipeline.flush()?;
        // After the output: the helper's attach (patching the syscall
        // tracepoint on every CPU) takes milliseconds on a busy machine, and
        // it may run on this CPU first; the first decisions follow the
        // connect by tens of milliseconds (the key exchange).
        if self.table.take_connected() && self.hook_wanted() {
            self.kernel.auth_wanted(true);
        }
        self.done += records;
        self.kernel.note_progress(self.done, false);
        let logged_in = self.table.take_logged_in();
        if !logged_in.is_empty() {
            self.kernel.auth_done(&logged_in);
        }
        Ok(())
    }

    /// Authentications that ended, and whose decisions the servers' log
    /// hook may not have read (it ran late, or its helper is gone).
    fn count_unwatched_auth(&mut self) {
        let windows = self.table.take_auth_windows();
        if windows.is_empty() {
            return;
        }
        let hook = match self.kernel.auth_watch() {
            Watch::Since(k) if k > 0 => Watch::Since(self.table.wall_ns(k)),
            w => w,
        };
        for w in windows {
            let watch = self.logs.finish(w.key).unwrap_or(hook);
            if w.missed(watch) {
                self.losses.auth_unwatched(w.key);
            }
        }
    }

    /// Whether the kernel's log hook is needed: some session authenticates
    /// whose decisions no trusted log file gives.
    fn hook_wanted(&self) -> bool {
        self.table
            .authenticating_keys()
            .any(|k| !self.logs.covers(k))
    }

    /// Held and queued records, in order, until the pass's bound.
    fn handle_held(&mut self, events: &mut Vec<Event>) -> Result<u64> {
        let started = Instant::now();
        let mut records = 0u64;
        while records < PASS_RECORDS as u64 && started.elapsed() < PASS_TIME {
            let Some(rec) = self.held.pop_front() else {
                match self.rx.try_recv() {
                    Ok(batch) => {
                        self.held.extend(batch.into_records());
                        continue;
                    }
                    Err(_) => break,
                }
            };
            self.handle(std::iter::once(rec), events)?;
            records += 1;
        }
        Ok(records)
    }

    /// Each record through the session model, its events through the pipeline.
    fn handle(
        &mut self,
        records: impl IntoIterator<Item = KernelEvent>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let mut logged = Vec::new();
        for rec in records {
            // A decision is in the file before the login it allows.
            let replaced = self.logs.before_record(&rec, &mut logged);
            self.model_all(logged.drain(..).map(KernelEvent::Auth), events)?;
            if replaced {
                continue;
            }
            if let KernelEvent::Connect(c) = &rec {
                if self.logs.connected(c) {
                    // The kernel hook need not copy its writes.
                    self.kernel.auth_done(&[c.hdr.session]);
                }
            }
            self.bytes.observe(&rec);
            self.unix.observe(&rec);
            self.listeners.observe(&rec);
            self.model_one(rec, events)?;
        }
        Ok(())
    }

    fn model_all(
        &mut self,
        records: impl IntoIterator<Item = KernelEvent>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        for rec in records {
            self.model_one(rec, events)?;
        }
        Ok(())
    }

    /// One record through the session model, its events through the
    /// pipeline (the terminal recorder sees both).
    fn model_one(&mut self, rec: KernelEvent, events: &mut Vec<Event>) -> Result<()> {
        if let Some(t) = &mut self.tty {
            t.before_record(&rec, &mut self.table, events);
        }
        let record_key = rec.header().session;
        self.table.handle(rec, events);
        for ev in events.drain(..) {
            let last = self
                .tty
                .as_mut()
                .and_then(|t| t.observe(&ev, record_key, &mut self.kernel));
            if let Some(mark) = last {
                self.pipeline.push(mark)?;
            }
            self.pipeline.push(ev)?;
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<()> {
        let now = host::now_unix_ns();
        self.kernel.note_progress(self.done, false);
        // Lines written since the last record of their sessions.
        let mut logged = Vec::new();
        self.logs.read_all(&mut logged);
        let mut events = Vec::new();
        self.model_all(logged.into_iter().map(KernelEvent::Auth), &mut events)?;
        let table = &self.table;
        self.logs.retain(|k| table.get(k).is_some());
        // Detached once no session authenticates that needs it (a connect
        // attaches it).
        self.kernel.auth_wanted(self.hook_wanted());
        self.losses.auth_cut = self.table.auth_cut + self.logs.cut();
        // Terminal losses are marked before the totals are read: every
        // session share is in the report whose totals have its bytes.
        let mut marks = Vec::new();
        if let Some(t) = &mut self.tty {
            t.tick(&mut self.kernel, now, &mut marks);
            self.losses.tty_marked(t.take_marked());
        }
        let table = &self.table;
        let id_of = |k: u64| table.session_id(k);
        if let Some(loss) = self.losses.report(&mut self.kernel, now, &id_of) {
            self.pipeline.push(loss)?;
        }
        if let Some(h) = self.heartbeat_due() {
            let body = Body::AgentHeartbeat(Box::new(h));
            self.pipeline.push(Event::new(now, None, body))?;
        }
        // Live byte counts of open sessions, idle ones included.
        let mut counts = self.bytes.poll(host::monotonic_ns());
        counts.extend(self.unix.poll(host::monotonic_ns()));
        counts.extend(self.listeners.poll(host::monotonic_ns()));
        self.handle(counts, &mut events)?;
        for ev in marks {
            self.pipeline.push(ev)?;
        }
        self.pipeline.tick(now)
    }

    /// How the agent is doing, when a heartbeat is due.
    fn heartbeat_due(&mut self) -> Option<Heartbeat> {
        let beat = self.heartbeat.as_mut()?;
        let now = Instant::now();
        if !beat.due(now) {
            return None;
        }
        let (mut open, mut logged_in, mut processes) = (0, 0, 0);
        for s in self.table.sessions() {
            open += 1;
            logged_in += u64::from(s.info.uid.is_some());
            processes += s.processes.len() as u64;
        }
        Some(Heartbeat {
            interval_s: beat.every.as_secs(),
            uptime_s: (now - beat.started).as_secs(),
            events: self.pipeline.selected,
            records: self.done,
            lost: self.losses.now(&self.kernel).total(),
            sessions_open: open,
            sessions_logged_in: logged_in,
            processes,
            queue_batches: self.rx.len() as u64,
            sinks: self.losses.sink_backlogs(),
        })
    }

    /// Reads what the kernel already produced (for a bounded time), accounts
    /// for it all, and writes agent.stop.
    fn stop(mut self, agent: AgentInfo, events: &mut Vec<Event>) -> Result<K> {
        self.kernel.stop();
        // Nothing more comes in: what is queued now is all there is to read.
        self.rx.close();
        let deadline = Instant::now() + STOP_DRAIN;
        let mut held = std::mem::take(&mut self.held);
        while let Ok(batch) = self.rx.try_recv() {
            held.extend(batch.into_records());
        }
        // Checked per record: a batch of long execs can take a while.
        for rec in held {
            if Instant::now() >= deadline {
                self.losses.drop_at_stop(rec.header().session);
                continue;
            }
            self.handle(std::iter::once(rec), events)?;
        }
        self.count_unwatched_auth();
        self.losses.auth_cut = self.table.auth_cut + self.logs.cut();
        let now = host::now_unix_ns();
        // Losses of terminals still open are marked before the last report.
        if let Some(t) = &mut self.tty {
            let mut marks = Vec::new();
            t.mark_open(&mut self.kernel, now, &mut marks);
            self.losses.tty_marked(t.take_marked());
            for ev in marks {
                self.pipeline.push(ev)?;
            }
        }
        let table = &self.table;
        let id_of = |k: u64| table.session_id(k);
        if let Some(loss) = self.losses.report(&mut self.kernel, now, &id_of) {
            self.pipeline.push(loss)?;
        }
        let mut more = Vec::new();
        let alert_summary = self.pipeline.ops.stop(&mut more);
        for ev in more {
            self.pipeline.push(ev)?;
        }
        let reported = self.losses.reported.clone();
        let totals = AgentTotals {
            events: self.pipeline.selected,
            lost: reported.clone(),
        };
        let body = Body::AgentStop(Box::new(AgentStop {
            agent,
            totals: totals.clone(),
        }));
        self.pipeline
            .push(Event::new(host::now_unix_ns(), None, body))?;
        // Every output finishes; one that could not write its last events
        // makes the exit status, after the summary.
        let finished = self.pipeline.finish();
        self.kernel.note_progress(self.done, true);
        eprintln!(
            "ssh-trace: {} events; lost {} (kernel ring buffer {}, tracked map full {}, socket map full {}, queue {}, undecodable {})",
            totals.events,
            reported.total(),
            reported.kernel_ringbuf,
            reported.kernel_tracked_full,
            reported.kernel_socks_full,
            reported.queue,
            reported.decode
        );
        if let Some(line) = alert_summary {
            eprintln!("{line}");
        }
        finished.map(|_| self.kernel)
    }
}
