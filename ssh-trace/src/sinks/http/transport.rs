//! Batched HTTP POST of encoded events (JSON lines, Splunk HEC events or
//! Elasticsearch bulk actions), optionally gzip'd, over HTTP or HTTPS
//! (rustls). Anything but a 2xx answer is a failure, retried by the queue;
//! so is an Elasticsearch `_bulk` reply with `"errors": true`.
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::client::Client;
use crate::sinks::queue::Transport;

pub struct HttpOptions {
    pub url: String,
    pub content_type: &'static str,
    /// Value of the Authorization header.
    pub auth: Option<String>,
    pub gzip: bool,
    pub timeout: Duration,
    /// PEM file of CAs to trust instead of the bundled Mozilla roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Elasticsearch `_bulk`: a 2xx reply must also say `"errors": false`.
    pub bulk_reply: bool,
}

pub struct HttpTransport {
    client: Client,
    opts: HttpOptions,
}

impl HttpTransport {
    pub fn new(opts: HttpOptions) -> Result<Self> {
        let client = Client::new(opts.timeout, opts.ca_file.as_deref(), opts.gzip)?;
        Ok(Self { client, opts })
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        let mut headers = vec![("Content-Type", self.opts.content_type)];
        if let Some(a) = &self.opts.auth {
            headers.push(("Authorization", a));
        }
        let resp = self.client.post(&self.opts.url, &headers, data)?;
        let status = resp.status();
        if !status.is_success() {
            bail!("POST {}: {status}", self.opts.url);
        }
        if self.opts.bulk_reply {
            let reply = resp
                .into_body()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .with_context(|| format!("POST {}: reading the _bulk reply", self.opts.url))?;
            if let Some(why) = bulk_failure(&reply) {
                bail!("POST {}: {status} but {why}", self.opts.url);
            }
        }
        Ok(())
    }
}

/// Why an HTTP 2xx `_bulk` reply still failed, if it did: `"errors": true`
/// means some actions were rejected (the whole batch is then sent again).
/// A reply without that field (a bulk-compatible collector) is trusted.
fn bulk_failure(reply: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(reply).ok()?;
    if v.get("errors").and_then(|e| e.as_bool()) != Some(true) {
        return None;
    }
    let items = v["items"].as_array().map_or(&[][..], |a| &a[..]);
    let failed: Vec<&serde_json::Value> = items
        .iter()
        .filter_map(|i| i.as_object()?.values().next())
        .filter(|r| r.get("error").is_some())
        .collect();
    let first = failed.first().map_or(String::new(), |r| {
        format!(
            ", first: {} {}",
            r["status"],
            r["error"]["reason"].as_str().unwrap_or("")
        )
    });
    Some(format!(
        "the _bulk reply has \"errors\": true ({} of {} actions rejected{first})",
        failed.len(),
        items.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::bulk_failure;

    #[test]
    fn bulk_reply_with_errors_is_a_failure() {
        assert_eq!(
            bulk_failure(br#"{"took":3,"errors":false,"items":[{"create":{"status":201}}]}"#),
            None
        );
        assert_eq!(
            bulk_failure(
                br#"{"took":3,"errors":true,"items":[{"create":{"status":201}},
                {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}]}"#
            )
            .unwrap(),
            "the _bulk reply has \"errors\": true (1 of 2 actions rejected, first: 429 queue full)"
        );
        assert_eq!(bulk_failure(b"{\"ok\":true}"), None);
        assert_eq!(bulk_failure(b"<html>"), None);
    }
}
