//! Output formats: events → lines of text.
mod alert_text;
pub mod human;
pub mod json;

use crate::event::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatKind {
    /// One aligned line per event, for a person.
    Human,
    /// One JSON object per line (docs/schema.md).
    Json,
}

pub enum Formatter {
    Human(human::Human),
    Json(json::Json),
}

impl Formatter {
    pub fn new(kind: FormatKind, color: bool) -> Self {
        match kind {
            FormatKind::Human => Self::Human(human::Human { color }),
            FormatKind::Json => Self::Json(json::Json),
        }
    }

    /// Appends one line (with its newline) to `out`; `host` is the machine
    /// the event happened on.
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        match self {
            Self::Human(h) => h.write(ev, out),
            Self::Json(j) => j.write(ev, host, out),
        }
    }
}
