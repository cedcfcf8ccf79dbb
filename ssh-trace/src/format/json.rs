//! Native JSON lines: `{"time","event","host","session"?, ...body}`.
use serde::Serialize;

use crate::{
    event::{Body, Event, SessionInfo},
    host::rfc3339,
};

pub struct Json;

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    event: &'static str,
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a SessionInfo>,
    #[serde(flatten)]
    body: &'a Body,
}

impl Json {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        let line = Line {
            time: rfc3339(ev.time_ns),
            event: ev.kind.name(),
            host,
            session: ev.session.as_ref(),
            body: &ev.body,
        };
        // Serialising these plain types to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &line);
        out.push(b'\n');
    }
}
