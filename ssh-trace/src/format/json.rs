//! Native JSON lines: `{"time","event","host","session"?, ...body}`; the
//! byte counters of session.bytes and session.end sit inside `session`.
use serde::{ser::SerializeMap, Serialize, Serializer};

use crate::{
    event::{Body, Event, SessionEnd, SessionInfo, Traffic},
    host::Rfc3339,
};

pub struct Json;

impl Json {
    pub fn write(&self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        // Serialising these plain types to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &Line { ev, host });
        out.push(b'\n');
    }
}

/// One event as docs/schema.md shows it; `host` None leaves it out.
pub struct Line<'a> {
    pub ev: &'a Event,
    pub host: &'a str,
}

/// The event without `host` (report documents).
pub struct Hostless<'a>(pub &'a Event);

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fields(self.ev, Some(self.host), s)
    }
}

impl Serialize for Hostless<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fields(self.0, None, s)
    }
}

fn fields<S: Serializer>(ev: &Event, host: Option<&str>, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("time", &Rfc3339(ev.time_ns))?;
    m.serialize_entry("event", ev.kind().name())?;
    if let Some(h) = host {
        m.serialize_entry("host", h)?;
    }
    if let Some(info) = &ev.session {
        m.serialize_entry("session", &session(info, &ev.body))?;
    }
    match &ev.body {
        Body::SessionConnect | Body::SessionLogin | Body::SessionBytes(_) | Body::SessionEnd(_) => {
        }
        Body::ProcessExec(p) => m.serialize_entry("process", p)?,
        Body::ProcessExit(p) => m.serialize_entry("process", p)?,
        Body::UserChange(c) => {
            m.serialize_entry("process", &c.process)?;
            m.serialize_entry("change", &c.change)?;
        }
        Body::AgentStart(a) => m.serialize_entry("agent", a)?,
        Body::AgentLoss(l) => {
            m.serialize_entry("loss", &l.loss)?;
            m.serialize_entry("total", &l.total)?;
        }
        Body::AgentStop(st) => {
            m.serialize_entry("agent", &st.agent)?;
            m.serialize_entry("totals", &st.totals)?;
        }
        Body::Alert(_, a) => m.serialize_entry("alert", a)?,
    }
    m.end()
}

/// The `session` object: the snapshot, plus the counters the body carries.
pub struct SessionOut<'a> {
    info: &'a SessionInfo,
    traffic: Option<&'a Traffic>,
    end: Option<&'a SessionEnd>,
}

pub fn session<'a>(info: &'a SessionInfo, body: &'a Body) -> SessionOut<'a> {
    let end = if let Body::SessionEnd(c) = body {
        Some(&c.end)
    } else {
        None
    };
    SessionOut {
        info,
        traffic: body.traffic(),
        end,
    }
}

impl Serialize for SessionOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.info;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &i.id)?;
        m.serialize_entry("user", &i.user)?;
        m.serialize_entry("uid", &i.uid)?;
        m.serialize_entry("source", &i.source)?;
        m.serialize_entry("destination", &i.destination)?;
        if i.discovered {
            m.serialize_entry("discovered", &true)?;
        }
        if let Some(t) = self.traffic {
            m.serialize_entry("bytes_in", &t.bytes_in)?;
            m.serialize_entry("bytes_out", &t.bytes_out)?;
        }
        if let Some(e) = self.end {
            m.serialize_entry("duration_ms", &e.duration_ms)?;
            m.serialize_entry("logged_in", &e.logged_in)?;
        }
        m.end()
    }
}
