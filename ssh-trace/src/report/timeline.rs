//! The `timeline` report: every event of one session in order.
use std::io;

use serde::Serialize;

use super::table::{Align, Table};
use super::{detail, json_to, text_time_ms};
use crate::{
    event::{Endpoint, Event, SessionInfo},
    format::json::Hostless,
};

/// One line naming the session: id, user and source as last known.
pub fn header(id: &str, events: &[Event], out: &mut dyn io::Write) -> io::Result<()> {
    let info = latest(events);
    let user = info
        .map(|i| super::sessions::user_label(i.user.as_deref(), i.uid))
        .unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "session {id}  user {}  source {}",
        crate::text::printable(&user),
        super::endpoint_text(info.and_then(|i| i.source.as_ref()))
    )
}

/// The last session object with a user, else the last one: what is known
/// of the session at the end.
pub fn latest(events: &[Event]) -> Option<&SessionInfo> {
    let infos = || events.iter().rev().filter_map(|e| e.session.as_deref());
    infos()
        .find(|i| i.user.is_some() || i.uid.is_some())
        .or_else(|| infos().next())
}

pub fn write_text(id: &str, events: &[Event], out: &mut dyn io::Write) -> io::Result<()> {
    header(id, events, out)?;
    let mut t = Table::new(&[
        ("TIME (UTC)", Align::Left),
        ("EVENT", Align::Left),
        ("DETAILS", Align::Left),
    ]);
    for ev in events {
        t.row(vec![
            text_time_ms(ev.time_ns),
            ev.kind().name().into(),
            detail::event(ev),
        ]);
    }
    t.write(out)
}

/// The `session` object of tree and timeline documents.
#[derive(Serialize)]
pub struct Head<'a> {
    id: &'a str,
    user: Option<&'a str>,
    uid: Option<u32>,
    source: Option<&'a Endpoint>,
    destination: Option<&'a Endpoint>,
}

impl<'a> Head<'a> {
    pub fn new(id: &'a str, events: &'a [Event]) -> Self {
        let info = latest(events);
        Head {
            id,
            user: info.and_then(|i| i.user.as_deref()),
            uid: info.and_then(|i| i.uid),
            source: info.and_then(|i| i.source.as_ref()),
            destination: info.and_then(|i| i.destination.as_ref()),
        }
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    report: &'static str,
    lost_records: u64,
    session: Head<'a>,
    events: Vec<Hostless<'a>>,
}

pub fn write_json<'a>(
    id: &'a str,
    events: &'a [Event],
    lost: u64,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let doc = Doc {
        report: "timeline",
        lost_records: lost,
        session: Head::new(id, events),
        events: events.iter().map(Hostless).collect(),
    };
    json_to(out, &doc)
}
