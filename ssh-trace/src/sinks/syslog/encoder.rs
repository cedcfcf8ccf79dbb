//! RFC 5424 syslog messages, octet-counted (RFC 6587) for TCP.
use std::io::Write as _;

use super::super::queue::Encode;
use crate::{event::Event, format::Formatter, host::Rfc3339};

/// RFC 5424 `<PRI>1 TIME HOST APP PROCID MSGID - MSG`, each message framed
/// as `LEN SP MSG` (RFC 6587 octet counting; UDP sends one per datagram).
pub struct Syslog {
    pub formatter: Formatter,
    /// Facility code (e.g. 10 for authpriv).
    pub facility: u8,
    pub app_name: String,
    pub procid: String,
    line: Vec<u8>,
    msg: Vec<u8>,
}

impl Syslog {
    pub fn new(formatter: Formatter, facility: u8, app_name: &str) -> Self {
        Self {
            formatter,
            facility,
            app_name: app_name.to_owned(),
            procid: std::process::id().to_string(),
            line: Vec::with_capacity(1024),
            msg: Vec::with_capacity(1200),
        }
    }
}

impl Encode for Syslog {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        self.line.clear();
        self.formatter.write(ev, host, &mut self.line);
        while self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        self.msg.clear();
        let pri = self.facility as u16 * 8 + ev.spec().syslog_severity as u16;
        let host = if host.is_empty() { "-" } else { host };
        let _ = write!(
            self.msg,
            "<{pri}>1 {} {host} {} {} {} - ",
            Rfc3339(ev.time_ns),
            self.app_name,
            self.procid,
            ev.kind().name()
        );
        self.msg.extend_from_slice(&self.line);
        let _ = write!(out, "{} ", self.msg.len());
        out.extend_from_slice(&self.msg);
    }
}
