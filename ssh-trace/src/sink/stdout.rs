//! Formatted lines to standard output, written per batch.
use std::io::Write;

use crate::{event::Event, format::Formatter};

pub struct Stdout {
    formatter: Formatter,
    buf: Vec<u8>,
    pub closed: bool,
}

impl Stdout {
    pub fn new(formatter: Formatter) -> Self {
        Self {
            formatter,
            buf: Vec::with_capacity(1 << 16),
            closed: false,
        }
    }

    pub fn push(&mut self, ev: &Event, host: &str) {
        self.formatter.write(ev, host, &mut self.buf);
        if self.buf.len() >= 1 << 20 {
            self.flush();
        }
    }

    /// A closed stdout (`| head`) is remembered, not an error.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() && !self.closed {
            let mut out = std::io::stdout().lock();
            if out.write_all(&self.buf).and_then(|_| out.flush()).is_err() {
                self.closed = true;
            }
        }
        self.buf.clear();
    }
}

/// Standard output as an agent-mode sink transport.
pub struct StdoutTransport;

impl super::queue::Transport for StdoutTransport {
    fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        Ok(())
    }
}
