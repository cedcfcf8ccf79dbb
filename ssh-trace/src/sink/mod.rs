//! Where events go: the terminal or a pipe (formatted lines) and a capture
//! file, after the filter.
pub mod stdout;

use anyhow::Result;

use crate::{capture::writer::Writer, event::Event, filter::Filter};

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
        Ok(())
    }

    /// Writes out what the terminal sink buffered.
    pub fn flush(&mut self) {
        if let Some(s) = &mut self.stdout {
            s.flush();
        }
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
        match self.capture.take() {
            Some(c) => c.finish(),
            None => Ok(()),
        }
    }
}
