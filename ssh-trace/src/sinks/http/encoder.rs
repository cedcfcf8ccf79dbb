//! How the HTTP presets wrap a formatted line: Splunk HEC events,
//! Elasticsearch bulk actions (JSON lines use `Lines`).
use std::io::Write as _;

use super::super::queue::Encode;
use crate::{event::Event, format::Formatter};

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
