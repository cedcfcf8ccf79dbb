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
    event::Event,
    pipeline::{Consumer, Shared},
};

/// Agent-mode sinks: the events of a pass are shared with every sink's queue.
#[derive(Default)]
pub struct Queued {
    pub workers: Vec<queue::Worker>,
    pending: Vec<Shared>,
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

    /// Each sink's name and counters, in configuration order.
    pub fn stats(&self) -> Vec<(String, Arc<queue::Stats>)> {
        self.workers
            .iter()
            .map(|w| (w.name.clone(), w.stats.clone()))
            .collect()
    }
}

impl Consumer for Queued {
    fn take(&mut self, ev: &Shared, _: &mut Vec<Event>) -> Result<()> {
        if !self.workers.is_empty() {
            self.pending.push(ev.clone());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = Arc::new(std::mem::take(&mut self.pending));
        for w in &self.workers {
            w.send(&batch);
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush()?;
        for w in std::mem::take(&mut self.workers) {
            let name = w.name.clone();
            let s = w.finish(self.drain);
            eprintln!(
                "ssh-trace: sink {name}: {} events delivered, {} dropped, {} left in the spool",
                s.delivered, s.dropped, s.spooled
            );
        }
        Ok(())
    }
}
