//! `type = "http"`: the URL, a preset (JSON lines, Splunk HEC,
//! Elasticsearch bulk), authentication, TLS roots, batching; retry_max and
//! timeout are the delivery keys.
use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use toml::Spanned;

use crate::{
    format::FormatKind,
    sinks::queue::Limits,
    spanned::{at, duration, size, At, Opt},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    url: Opt<String>,
    preset: Opt<String>,
    auth: Opt<String>,
    ca_file: Opt<PathBuf>,
    index: Opt<String>,
    sourcetype: Opt<String>,
    gzip: Opt<bool>,
    batch_size: Opt<String>,
    batch_wait: Opt<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Newline-separated documents, `application/x-ndjson`.
    JsonLines,
    SplunkHec,
    ElasticsearchBulk,
}

/// An HTTP sink, checked.
#[derive(Clone, Debug)]
pub struct Spec {
    pub url: String,
    pub preset: Preset,
    pub auth: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub index: Option<String>,
    pub sourcetype: String,
    pub gzip: bool,
    pub timeout: Duration,
}

/// The required `url` of a sink of type `kind`: http:// or https://.
pub fn url(kind: &Spanned<String>, u: Option<Spanned<String>>) -> Result<String, At> {
    let msg = format!("a {} sink needs url", kind.get_ref());
    let u = u.ok_or_else(|| at(kind, "url", msg))?;
    let url = u.get_ref();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(at(
            &u,
            "url",
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    Ok(u.into_inner())
}

fn preset(p: &Opt<String>) -> Result<Preset, At> {
    Ok(match p.as_ref().map(|p| (p, p.get_ref().as_str())) {
        None | Some((_, "json_lines")) => Preset::JsonLines,
        Some((_, "splunk_hec")) => Preset::SplunkHec,
        Some((_, "elasticsearch_bulk")) => Preset::ElasticsearchBulk,
        Some((p, other)) => {
            let msg = format!(
                "unknown preset {other:?} (expected json_lines, splunk_hec or elasticsearch_bulk)"
            );
            return Err(at(p, "preset", msg));
        }
    })
}

/// `batch_size` (most bytes per request) and `batch_wait` (how long to
/// wait for a fuller batch, `default_wait` if not given) into `limits`.
pub fn batching(
    (batch_size, batch_wait): (&Opt<String>, &Opt<String>),
    default_wait: Duration,
    limits: &mut Limits,
) -> Result<(), At> {
    if let Some(b) = batch_size {
        limits.send_bytes = size(b, "batch_size")?.clamp(1, u32::MAX as u64) as usize;
    }
    limits.linger = match batch_wait {
        Some(w) => duration(w, "batch_wait")?,
        None => default_wait,
    };
    Ok(())
}

impl Config {
    /// `format` is the sink's format and where it was given (for the
    /// bulk-needs-JSON error); batching goes into `limits`.
    pub fn spec(
        self,
        kind: &Spanned<String>,
        (format, format_at): (FormatKind, std::ops::Range<usize>),
        timeout: Duration,
        limits: &mut Limits,
    ) -> Result<Spec, At> {
        let url = url(kind, self.url)?;
        let preset = preset(&self.preset)?;
        if preset == Preset::ElasticsearchBulk && format == FormatKind::Human {
            let msg = "elasticsearch_bulk needs a JSON format, not human";
            let span = Spanned::new(format_at, ());
            return Err(at(&span, "format", msg));
        }
        batching(
            (&self.batch_size, &self.batch_wait),
            Duration::from_secs(1),
            limits,
        )?;
        Ok(Spec {
            url,
            preset,
            auth: self.auth.map(Spanned::into_inner),
            ca_file: self.ca_file.map(Spanned::into_inner),
            index: self.index.map(Spanned::into_inner),
            sourcetype: self
                .sourcetype
                .map_or_else(|| "ssh-trace".to_owned(), Spanned::into_inner),
            gzip: self.gzip.is_some_and(|g| *g.get_ref()),
            timeout,
        })
    }
}
