//! Formatted lines to standard output (or any writer), written per pass.
use std::io::Write;

use anyhow::Result;

use super::{Consumer, Shared};
use crate::{event::Event, format::Formatter};

/// Buffered lines; past this many bytes they are written out mid-pass.
const BUFFER: usize = 1 << 20;

pub struct Lines {
    formatter: Formatter,
    host: String,
    buf: Vec<u8>,
    out: Box<dyn Write>,
    closed: bool,
}

impl Lines {
    /// Lines to standard output.
    pub fn stdout(formatter: Formatter, host: &str) -> Self {
        Self::to(formatter, host, Box::new(std::io::stdout()))
    }

    pub fn to(formatter: Formatter, host: &str, out: Box<dyn Write>) -> Self {
        Self {
            formatter,
            host: host.to_owned(),
            buf: Vec::with_capacity(1 << 16),
            out,
            closed: false,
        }
    }

    /// One event seen on `host` (replay: each file has its own). Terminal
    /// data (bulk) is never printed: `replay --tty` plays it.
    pub fn line(&mut self, ev: &Event, host: &str) {
        if ev.spec().bulk {
            return;
        }
        self.formatter.write(ev, host, &mut self.buf);
        if self.buf.len() >= BUFFER {
            self.write_out();
        }
    }

    /// A closed output (`| head`) is remembered, not an error.
    pub fn write_out(&mut self) {
        if !self.buf.is_empty() && !self.closed {
            let out = &mut self.out;
            if out.write_all(&self.buf).and_then(|_| out.flush()).is_err() {
                self.closed = true;
            }
        }
        self.buf.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl Consumer for Lines {
    fn take(&mut self, ev: &Shared, _: &mut Vec<Event>) -> Result<()> {
        let host = std::mem::take(&mut self.host);
        self.line(ev, &host);
        self.host = host;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.write_out();
        Ok(())
    }

    fn closed(&self) -> bool {
        self.closed
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.write_out();
        Ok(())
    }
}
