//! Batched HTTP POST of encoded events (JSON lines, Splunk HEC events or
//! Elasticsearch bulk actions), optionally gzip'd, over HTTP or HTTPS
//! (rustls). Anything but a 2xx answer is a failure, retried by the queue;
//! so is an Elasticsearch `_bulk` reply with `"errors": true`.
use std::{io::Write, path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use flate2::{write::GzEncoder, Compression};
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

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
    agent: ureq::Agent,
    opts: HttpOptions,
}

fn roots(ca_file: &Path) -> Result<RootCerts> {
    let pem = std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.with_context(|| format!("{}", ca_file.display()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        bail!("{} holds no certificate", ca_file.display());
    }
    Ok(RootCerts::new_with_certs(&certs))
}

impl HttpTransport {
    pub fn new(opts: HttpOptions) -> Result<Self> {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = &opts.ca_file {
            tls = tls.root_certs(roots(ca)?);
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Self { agent, opts })
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        let mut req = self
            .agent
            .post(&self.opts.url)
            .header("Content-Type", self.opts.content_type);
        if let Some(a) = &self.opts.auth {
            req = req.header("Authorization", a);
        }
        let resp = if self.opts.gzip {
            let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
            gz.write_all(data)?;
            let body = gz.finish()?;
            req.header("Content-Encoding", "gzip").send(&body[..])
        } else {
            req.send(data)
        }
        .with_context(|| format!("POST {}", self.opts.url))?;
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
