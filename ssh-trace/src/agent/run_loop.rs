//! The agent's loop, bounded per pass: each pass handles at most
//! `PASS_RECORDS` kernel records, then the select is `biased` so signals,
//! the one-second tick (loss reports, capture flush, idle alerts) and
//! session-socket requests run before the next pass. A flood therefore
//! neither stalls loss reporting nor delays SIGTERM by more than one pass.
use std::{
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
    event::{AgentInfo, AgentStop, AgentTotals, Body, Event},
    host,
    reader::Batch,
    session::SessionTable,
    sockdiag,
};

/// Kernel records handled per pass (a few milliseconds of work).
pub const PASS_RECORDS: usize = 1024;
/// At the stop, records still queued are read for at most this long; the
/// rest are counted lost (`queue`).
pub const STOP_DRAIN: Duration = Duration::from_millis(200);

pub struct Run<K: Kernel> {
    pub pipeline: AgentPipeline,
    pub table: SessionTable,
    pub losses: Losses,
    pub kernel: K,
    pub rx: mpsc::Receiver<Batch>,
    /// Live byte counts of open sessions (sock_diag, once a tick).
    pub bytes: sockdiag::Poller,
    /// Records whose events went through the pipeline and out.
    pub done: u64,
}

impl<K: Kernel> Run<K> {
    /// Runs until `stop` completes (SIGTERM, SIGINT) or the records end.
    pub async fn until_stopped(mut self, agent: AgentInfo, stop: impl Future) -> Result<()> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut events = Vec::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = tick.tick() => self.tick()?,
                (req, stream) = self.pipeline.ops.request() => {
                    self.pipeline.ops.answer(req, stream, &self.table)
                }
                batch = self.rx.recv() => {
                    let Some(batch) = batch else { break };
                    self.pass(batch, &mut events)?;
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

    /// One bounded pass: `first` and what else is queued, up to PASS_RECORDS.
    fn pass(&mut self, first: Batch, events: &mut Vec<Event>) -> Result<()> {
        let mut records = first.len() as u64;
        self.handle(first.into_records(), events)?;
        while records < PASS_RECORDS as u64 {
            let Ok(batch) = self.rx.try_recv() else { break };
            records += batch.len() as u64;
            self.handle(batch.into_records(), events)?;
        }
        self.pipeline.flush()?;
        self.done += records;
        self.kernel.note_progress(self.done, false);
        Ok(())
    }

    /// Each record through the session model, its events through the pipeline.
    fn handle(&mut self, records: Vec<KernelEvent>, events: &mut Vec<Event>) -> Result<()> {
        for rec in records {
            self.bytes.observe(&rec);
            self.table.handle(rec, events);
            for ev in events.drain(..) {
                self.pipeline.push(ev)?;
            }
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<()> {
        let now = host::now_unix_ns();
        self.kernel.note_progress(self.done, false);
        let table = &self.table;
        let id_of = |k: u64| table.session_id(k);
        if let Some(loss) = self.losses.report(&mut self.kernel, now, &id_of) {
            self.pipeline.push(loss)?;
        }
        // Live byte counts of open sessions, idle ones included.
        let counts = self.bytes.poll(host::monotonic_ns());
        let mut events = Vec::new();
        self.handle(counts, &mut events)?;
        self.pipeline.tick(now)
    }

    /// Reads what the kernel already produced (for a bounded time), accounts
    /// for it all, and writes agent.stop.
    fn stop(mut self, agent: AgentInfo, events: &mut Vec<Event>) -> Result<()> {
        self.kernel.stop();
        // Nothing more comes in: what is queued now is all there is to read.
        self.rx.close();
        let deadline = Instant::now() + STOP_DRAIN;
        while let Ok(batch) = self.rx.try_recv() {
            // Checked per record: a batch of long execs can take a while.
            for rec in batch.into_records() {
                if Instant::now() >= deadline {
                    self.losses.drop_at_stop(rec.header().session);
                    continue;
                }
                self.handle(vec![rec], events)?;
            }
        }
        let table = &self.table;
        let id_of = |k: u64| table.session_id(k);
        let now = host::now_unix_ns();
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
        self.pipeline.finish()?;
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
        Ok(())
    }
}
