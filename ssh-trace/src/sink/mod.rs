//! Where events go: the terminal or a pipe (formatted lines), a capture
//! file, and agent-mode sinks each behind its own queue, after the filter.
pub mod build;
pub mod encode;
pub mod file;
pub mod http;
pub mod queue;
pub mod spool;
pub mod stdout;
pub mod syslog;

use std::{sync::Arc, time::Duration};

use anyhow::Result;

use crate::{
    capture::writer::Writer,
    event::{Event, SinkLoss},
    filter::Filter,
};

/// Agent-mode sinks: events of a batch are shared with every sink's queue.
#[derive(Default)]
pub struct Queued {
    pub workers: Vec<queue::Worker>,
    pending: Vec<Event>,
    /// How long `finish` keeps trying to deliver.
    pub drain: Duration,
}

impl Queued {
    pub fn new(workers: Vec<queue::Worker>, drain: Duration) -> Self {
        Self {
            workers,
            pending: Vec::new(),
            drain,
        }
    }

    fn push(&mut self, ev: &Event) {
        if !self.workers.is_empty() {
            self.pending.push(ev.clone());
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = Arc::new(std::mem::take(&mut self.pending));
        for w in &self.workers {
            w.send(&batch);
        }
    }

    /// Events each sink dropped so far, in configuration order.
    pub fn losses(&self) -> Vec<SinkLoss> {
        self.workers
            .iter()
            .map(|w| SinkLoss {
                sink: w.name.clone(),
                dropped: w.stats.dropped.load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect()
    }

    fn finish(mut self) {
        self.flush();
        for w in self.workers {
            let name = w.name.clone();
            let s = w.finish(self.drain);
            eprintln!(
                "ssh-trace: sink {name}: {} events delivered, {} dropped, {} left in the spool",
                s.delivered, s.dropped, s.spooled
            );
        }
    }
}

/// Whether `ev` passes `filter`. The agent's own events always pass: a
/// filter never hides a loss report. Alerts do too: they are made from
/// selected events only.
pub fn selected(filter: Option<&Filter>, ev: &Event, host: &str) -> bool {
    ev.kind.is_agent() || ev.kind.is_alert() || filter.is_none_or(|f| f.matches(ev, host))
}

pub struct Sinks {
    pub host: String,
    pub filter: Option<Filter>,
    pub stdout: Option<stdout::Stdout>,
    pub capture: Option<Writer>,
    pub queued: Queued,
    /// Events passed to the sinks.
    pub events: u64,
}

impl Sinks {
    pub fn push(&mut self, ev: &Event) -> Result<()> {
        if !selected(self.filter.as_ref(), ev, &self.host) {
            return Ok(());
        }
        self.events += 1;
        if let Some(s) = &mut self.stdout {
            s.push(ev, &self.host);
        }
        if let Some(c) = &mut self.capture {
            c.write(ev)?;
        }
        self.queued.push(ev);
        Ok(())
    }

    /// Writes out what the terminal sink buffered.
    pub fn flush(&mut self) {
        if let Some(s) = &mut self.stdout {
            s.flush();
        }
        self.queued.flush();
    }

    /// About once a second: the capture writes its pending block.
    pub fn tick(&mut self) -> Result<()> {
        match &mut self.capture {
            Some(c) => c.tick(),
            None => Ok(()),
        }
    }

    /// The reader of our standard output went away (`| head`).
    pub fn closed(&self) -> bool {
        self.stdout.as_ref().is_some_and(|s| s.closed)
    }

    pub fn finish(mut self) -> Result<()> {
        self.flush();
        std::mem::take(&mut self.queued).finish();
        match self.capture.take() {
            Some(c) => c.finish(),
            None => Ok(()),
        }
    }
}
