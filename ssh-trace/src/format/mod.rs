//! Output formats: events → lines of text.
mod alert_text;
pub mod auth_text;
mod doc;
pub mod ecs;
pub mod forward;
pub mod human;
pub mod json;
pub mod json_schema;
pub mod ocsf;
pub mod quiet;
#[doc(hidden)]
pub mod samples;
#[cfg(test)]
mod tests;

use crate::event::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatKind {
    /// One aligned line per event, for a person.
    Human,
    /// One JSON object per line (docs/schema.md, docs/schema.json).
    Json,
    /// Elastic Common Schema documents, one per line (docs/ecs.md).
    Ecs,
    /// OCSF 1.3 events, one per line (docs/ocsf.md).
    Ocsf,
}

pub enum Formatter {
    Human(human::Human),
    Json(json::Json),
    Ecs(ecs::Ecs),
    Ocsf(ocsf::Ocsf),
}

impl Formatter {
    pub fn new(kind: FormatKind, color: bool) -> Self {
        match kind {
            FormatKind::Human => Self::Human(human::Human::new(color)),
            FormatKind::Json => Self::Json(json::Json),
            FormatKind::Ecs => Self::Ecs(ecs::Ecs),
            FormatKind::Ocsf => Self::Ocsf(ocsf::Ocsf),
        }
    }

    /// A person's view: the human format folds the SSH server's own work
    /// away unless `verbose` (format/quiet.rs); other formats keep all.
    pub fn for_person(kind: FormatKind, color: bool, verbose: bool) -> Self {
        match kind {
            FormatKind::Human if !verbose => Self::Human(human::Human::quiet(color)),
            _ => Self::new(kind, color),
        }
    }

    /// Appends one line (none for an event the quiet view folds) (with its newline) to `out`; `host` is the machine
    /// the event happened on.
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        match self {
            Self::Human(h) => h.write(ev, out),
            Self::Json(j) => j.write(ev, host, out),
            Self::Ecs(e) => e.write(ev, host, out),
            Self::Ocsf(o) => o.write(ev, host, out),
        }
    }
}
