//! The HTTP sink: batched POSTs of JSON lines, Splunk HEC events or
//! Elasticsearch bulk actions, optionally gzip'd, over HTTP or HTTPS.
mod client;
mod config;
mod encoder;
#[cfg(test)]
mod tests;
mod transport;

use anyhow::Result;

pub use client::Client;
pub use config::{batching, url, Config, Preset, Spec};
pub use encoder::{ElasticBulk, SplunkHec};
pub use transport::{HttpOptions, HttpTransport};

use super::{lines::Lines, queue::Encode, Parts};
use crate::format::Formatter;

pub fn build(spec: &Spec, formatter: Formatter) -> Result<Parts> {
    let (encode, content_type): (Box<dyn Encode>, _) = match spec.preset {
        Preset::JsonLines => (Box::new(Lines(formatter)), "application/x-ndjson"),
        Preset::SplunkHec => (
            Box::new(SplunkHec::new(
                formatter,
                &spec.sourcetype,
                spec.index.clone(),
            )),
            "application/json",
        ),
        Preset::ElasticsearchBulk => (
            Box::new(ElasticBulk::new(formatter, spec.index.as_deref())),
            "application/x-ndjson",
        ),
    };
    let transport = HttpTransport::new(HttpOptions {
        url: spec.url.clone(),
        content_type,
        auth: spec.auth.clone(),
        gzip: spec.gzip,
        timeout: spec.timeout,
        ca_file: spec.ca_file.clone(),
        bulk_reply: spec.preset == Preset::ElasticsearchBulk,
    })?;
    Ok((encode, Box::new(transport)))
}
