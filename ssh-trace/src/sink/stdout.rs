//! Standard output as an agent-mode sink transport.
use std::io::Write;

pub struct StdoutTransport;

impl super::queue::Transport for StdoutTransport {
    fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        Ok(())
    }
}
