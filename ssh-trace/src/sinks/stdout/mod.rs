//! The stdout sink: formatted lines to standard output (`type = "stdout"`
//! takes no keys of its own).
use std::io::Write;

use anyhow::Result;

use super::{lines::Lines, queue::Transport, Parts};
use crate::format::Formatter;

/// Standard output as an agent-mode sink transport.
pub struct StdoutTransport;

impl Transport for StdoutTransport {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        Ok(())
    }
}

pub fn build(formatter: Formatter) -> Result<Parts> {
    Ok((Box::new(Lines(formatter)), Box::new(StdoutTransport)))
}
