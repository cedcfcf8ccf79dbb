//! One pass per event: the filter selects once, then the selected event is
//! handed, shared (`Arc`), to every consumer in turn through one trait —
//! the operators' view first (it may fire alerts, which follow their
//! trigger through the same consumers), then the outputs: standard output,
//! the capture file, the agent-mode sinks' queues.
mod failures;
mod lines;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::Result;

pub use failures::Failures;
pub use lines::Lines;

use crate::{event::Event, filter::Filter};

/// An event as consumers get it: shared, never copied.
pub type Shared = Arc<Event>;

/// Something selected events go to.
pub trait Consumer {
    /// Takes one selected event; events it makes because of it (alerts) go
    /// to `more` and through the pipeline right after.
    fn take(&mut self, ev: &Shared, more: &mut Vec<Event>) -> Result<()>;

    /// End of a pass: write out what was buffered.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// About once a second; events it makes (idle alerts) go to `more`.
    fn tick(&mut self, _now_ns: u64, _more: &mut Vec<Event>) -> Result<()> {
        Ok(())
    }

    /// It can take nothing more (the reader of standard output went away).
    fn closed(&self) -> bool {
        false
    }

    /// At the end, after the last event.
    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// Whether `ev` passes `filter`. The agent's own events always pass: a
/// filter never hides a loss report. Alerts do too: they are made from
/// selected events only.
pub fn selected(filter: Option<&Filter>, ev: &Event, host: &str) -> bool {
    ev.spec().always_selected || filter.is_none_or(|f| f.matches(ev, host))
}

pub struct Pipeline<Ops> {
    host: String,
    filter: Option<Filter>,
    /// The operators' view: first, and kept typed for the session socket.
    pub ops: Ops,
    outputs: Vec<Box<dyn Consumer>>,
    /// Events selected so far.
    pub selected: u64,
    more: Vec<Event>,
}

impl<Ops: Consumer> Pipeline<Ops> {
    pub fn new(
        host: &str,
        filter: Option<Filter>,
        ops: Ops,
        outputs: Vec<Box<dyn Consumer>>,
    ) -> Self {
        Self {
            host: host.to_owned(),
            filter,
            ops,
            outputs,
            selected: 0,
            more: Vec::new(),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Selects `ev` (once) and hands it to every consumer.
    pub fn push(&mut self, ev: Event) -> Result<()> {
        if !selected(self.filter.as_ref(), &ev, &self.host) {
            return Ok(());
        }
        self.deliver(Arc::new(ev))?;
        self.follow()
    }

    fn deliver(&mut self, ev: Shared) -> Result<()> {
        self.selected += 1;
        self.ops.take(&ev, &mut self.more)?;
        for c in &mut self.outputs {
            c.take(&ev, &mut self.more)?;
        }
        Ok(())
    }

    /// Events consumers made (alerts): always selected, delivered in order
    /// (and what those make, after them).
    fn follow(&mut self) -> Result<()> {
        while !self.more.is_empty() {
            for ev in std::mem::take(&mut self.more) {
                self.deliver(Arc::new(ev))?;
            }
        }
        Ok(())
    }

    /// End of a pass.
    pub fn flush(&mut self) -> Result<()> {
        self.ops.flush()?;
        self.outputs.iter_mut().try_for_each(|c| c.flush())
    }

    pub fn tick(&mut self, now_ns: u64) -> Result<()> {
        self.ops.tick(now_ns, &mut self.more)?;
        for c in &mut self.outputs {
            c.tick(now_ns, &mut self.more)?;
        }
        self.follow()?;
        self.flush()
    }

    pub fn closed(&self) -> bool {
        self.ops.closed() || self.outputs.iter().any(|c| c.closed())
    }

    /// Flushes and finishes every output, even after one failed (the
    /// first error is returned); returns the operators' view.
    pub fn finish(mut self) -> Result<Ops> {
        let mut result = self.flush();
        for c in self.outputs {
            let finished = c.finish();
            result = result.and(finished);
        }
        result.map(|()| self.ops)
    }
}

/// No operators' view (replay, tests).
pub struct NoOps;

impl Consumer for NoOps {
    fn take(&mut self, _: &Shared, _: &mut Vec<Event>) -> Result<()> {
        Ok(())
    }
}
