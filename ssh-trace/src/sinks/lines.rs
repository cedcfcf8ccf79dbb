//! The plain encoder: one formatted line per event (stdout and file sinks,
//! the HTTP `json_lines` preset).
use super::queue::Encode;
use crate::{event::Event, format::Formatter};

/// One formatted line per event, newline-terminated.
pub struct Lines(pub Formatter);

impl Encode for Lines {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        self.0.write(ev, host, out);
    }
}
