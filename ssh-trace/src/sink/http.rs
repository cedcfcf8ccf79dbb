//! Batched HTTP POST of encoded events (JSON lines, Splunk HEC events or
//! Elasticsearch bulk actions), optionally gzip'd, over HTTP or HTTPS
//! (rustls). Anything but a 2xx answer is a failure, retried by the queue.
use std::{io::Write, path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use flate2::{write::GzEncoder, Compression};
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

use super::queue::Transport;

pub struct HttpOptions {
    pub url: String,
    pub content_type: &'static str,
    /// Value of the Authorization header.
    pub auth: Option<String>,
    pub gzip: bool,
    pub timeout: Duration,
    /// PEM file of CAs to trust instead of the bundled Mozilla roots.
    pub ca_file: Option<std::path::PathBuf>,
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
        Ok(())
    }
}
