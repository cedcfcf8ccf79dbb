//! The `transfers` report: every file.transfer in time order (who, from
//! where, which file, which way, how many bytes, how it ended), and the
//! totals. One small row per transfer is kept.
use std::io;

use serde::Serialize;

use super::sessions::{user_label, TransferCounts};
use super::table::{Align, Table};
use super::{endpoint_text, json_to, text_time_ms};
use crate::event::{Endpoint, Event, SessionId, Transfer};
use crate::text::printable;

struct Row {
    time_ns: u64,
    session: Option<SessionId>,
    user: Option<String>,
    uid: Option<u32>,
    source: Option<Endpoint>,
    pid: u32,
    transfer: Transfer,
}

#[derive(Default)]
pub struct Transfers {
    rows: Vec<Row>,
    totals: TransferCounts,
}

impl Transfers {
    pub fn add(&mut self, ev: &Event) {
        let Some(t) = ev.body.transfer() else { return };
        let s = ev.session.as_deref();
        self.totals.add(&t.transfer);
        self.rows.push(Row {
            time_ns: ev.time_ns,
            session: s.map(|s| s.id),
            user: s.and_then(|s| s.user.clone()),
            uid: s.and_then(|s| s.uid),
            source: s.and_then(|s| s.source),
            pid: t.process.pid,
            transfer: t.transfer.clone(),
        });
    }

    pub fn write_text(&self, out: &mut dyn io::Write) -> io::Result<()> {
        let mut t = Table::new(&[
            ("TIME (UTC)", Align::Left),
            ("SESSION", Align::Left),
            ("USER", Align::Left),
            ("SOURCE", Align::Left),
            ("SERVER", Align::Left),
            ("ACTION", Align::Left),
            ("BYTES", Align::Right),
            ("OUTCOME", Align::Left),
            ("PATH", Align::Left),
        ]);
        for r in &self.rows {
            let x = &r.transfer;
            let mut path = printable(&x.host_path()).into_owned();
            if let Some(target) = x.host_target() {
                path.push_str(&format!(" -> {}", printable(&target)));
            }
            t.row(vec![
                text_time_ms(r.time_ns),
                r.session
                    .map(|id| id.to_string()[..8].to_owned())
                    .unwrap_or_default(),
                printable(&user_label(r.user.as_deref(), r.uid)).into_owned(),
                endpoint_text(r.source.as_ref()),
                x.server.name().into(),
                x.action.name().into(),
                x.bytes.to_string(),
                x.outcome.name().into(),
                path,
            ]);
        }
        t.write(out)?;
        let c = &self.totals;
        writeln!(
            out,
            "\n{} uploads ({} bytes), {} downloads ({} bytes), {} other operations",
            c.uploads, c.bytes_uploaded, c.downloads, c.bytes_downloaded, c.operations
        )
    }

    pub fn write_json(&self, lost: u64, out: &mut dyn io::Write) -> io::Result<()> {
        let doc = Doc {
            report: "transfers",
            lost_records: lost,
            totals: self.totals,
            transfers: self
                .rows
                .iter()
                .map(|r| JsonRow {
                    time: crate::host::rfc3339(r.time_ns),
                    session: r.session,
                    user: r.user.as_deref(),
                    uid: r.uid,
                    source: r.source.as_ref(),
                    pid: r.pid,
                    host_path: r.transfer.host_path(),
                    transfer: &r.transfer,
                })
                .collect(),
        };
        json_to(out, &doc)
    }
}

#[derive(Serialize)]
struct Doc<'a> {
    report: &'static str,
    lost_records: u64,
    totals: TransferCounts,
    transfers: Vec<JsonRow<'a>>,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    time: String,
    session: Option<SessionId>,
    user: Option<&'a str>,
    uid: Option<u32>,
    source: Option<&'a Endpoint>,
    pid: u32,
    /// The file on the host (`chroot` + `path`).
    host_path: String,
    transfer: &'a Transfer,
}
