//! The HTTP(S) client the HTTP and ClickHouse sinks share: a whole-request
//! timeout, TLS (rustls) with the bundled Mozilla roots or a PEM file of
//! CAs, request bodies gzip'd when asked. Any status is a reply here: what
//! counts as a failure is the caller's to say.
use std::{io::Write, path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use flate2::{write::GzEncoder, Compression};
use ureq::{
    http::Response,
    tls::{parse_pem, PemItem, RootCerts, TlsConfig},
    Body,
};

pub struct Client {
    agent: ureq::Agent,
    gzip: bool,
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

impl Client {
    /// `ca_file`: PEM CAs to trust instead of the bundled roots.
    pub fn new(timeout: Duration, ca_file: Option<&Path>, gzip: bool) -> Result<Self> {
        let mut tls = TlsConfig::builder();
        if let Some(ca) = ca_file {
            tls = tls.root_certs(roots(ca)?);
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into();
        Ok(Self { agent, gzip })
    }

    /// POSTs `body` (gzip'd if configured) with these headers.
    pub fn post(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Response<Body>> {
        let mut req = self.agent.post(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if self.gzip {
            let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            gz.write_all(body)?;
            let body = gz.finish()?;
            req.header("Content-Encoding", "gzip").send(&body[..])
        } else {
            req.send(body)
        }
        .with_context(|| format!("POST {url}"))
    }
}
