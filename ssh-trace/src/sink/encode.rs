//! How each sink wraps a formatted line: plain lines, RFC 5424 syslog
//! messages (octet-counted), Splunk HEC events, Elasticsearch bulk actions.
use std::io::Write as _;

use super::queue::Encode;
use crate::{event::Event, format::Formatter, host::Rfc3339};

/// One formatted line per event, newline-terminated.
pub struct Lines(pub Formatter);

impl Encode for Lines {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        self.0.write(ev, host, out);
    }
}

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

/// Splunk HTTP Event Collector: `{"time","host","source","sourcetype","event"}`
/// per event; a JSON line goes in as an object, any other line as a string.
pub struct SplunkHec {
    pub formatter: Formatter,
    pub sourcetype: String,
    pub index: Option<String>,
    line: Vec<u8>,
}

impl SplunkHec {
    pub fn new(formatter: Formatter, sourcetype: &str, index: Option<String>) -> Self {
        Self {
            formatter,
            sourcetype: sourcetype.to_owned(),
            index,
            line: Vec::new(),
        }
    }
}

impl Encode for SplunkHec {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        self.line.clear();
        self.formatter.write(ev, host, &mut self.line);
        while self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        let secs = ev.time_ns / 1_000_000_000;
        let millis = ev.time_ns % 1_000_000_000 / 1_000_000;
        let _ = write!(
            out,
            "{{\"time\":{secs}.{millis:03},\"host\":{},\"source\":\"ssh-trace\",\"sourcetype\":{},",
            serde_json::Value::from(host),
            serde_json::Value::from(self.sourcetype.as_str())
        );
        if let Some(i) = &self.index {
            let _ = write!(out, "\"index\":{},", serde_json::Value::from(i.as_str()));
        }
        out.extend_from_slice(b"\"event\":");
        if self.line.first() == Some(&b'{') {
            out.extend_from_slice(&self.line);
        } else {
            let text = String::from_utf8_lossy(&self.line);
            let _ = serde_json::to_writer(&mut *out, &text);
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Elasticsearch `_bulk`: an action line, then the document line.
pub struct ElasticBulk {
    pub formatter: Formatter,
    /// `{"create":{"_index":…}}` or `{"create":{}}` when the URL names the index.
    action: Vec<u8>,
}

impl ElasticBulk {
    pub fn new(formatter: Formatter, index: Option<&str>) -> Self {
        let action = match index {
            Some(i) => format!(
                "{{\"create\":{{\"_index\":{}}}}}\n",
                serde_json::Value::from(i)
            ),
            None => "{\"create\":{}}\n".to_owned(),
        };
        Self {
            formatter,
            action: action.into_bytes(),
        }
    }
}

impl Encode for ElasticBulk {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.action);
        self.formatter.write(ev, host, out);
    }
}
