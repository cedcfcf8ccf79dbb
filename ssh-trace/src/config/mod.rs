//! The agent's TOML configuration (`ssh-trace agent --config FILE`): agent
//! settings and one `[[sink]]` table per output. Every error names the file,
//! the line and the key (docs/agent.md describes each key).
use std::{
    ops::Range,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;

use crate::{
    filter::Filter,
    format::FormatKind,
    sink::{file::FileRotation, queue::Limits, syslog::Address},
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    agent: RawAgent,
    #[serde(default)]
    sink: Vec<Spanned<RawSink>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    ring_buffer_size: Option<u32>,
    server_binaries: Option<Vec<String>>,
    privsep_users: Option<Vec<String>>,
    spool_dir: Option<PathBuf>,
    drain_timeout: Option<Spanned<String>>,
    /// Operators' view (docs/operators.md), as the tail flags of the same names.
    sessions_socket: Option<PathBuf>,
    metrics_listen: Option<String>,
    metrics_source_ip: Option<bool>,
    metrics_source_ip_limit: Option<usize>,
    alerts: Option<PathBuf>,
}

type Opt<T> = Option<Spanned<T>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    format: Opt<String>,
    filter: Opt<String>,
    queue_size: Opt<String>,
    spool_size: Opt<String>,
    retry_max: Opt<String>,
    timeout: Opt<String>,
    path: Opt<PathBuf>,
    rotate_size: Opt<String>,
    rotate_time: Opt<String>,
    rotate_count: Opt<u64>,
    compress: Opt<bool>,
    address: Opt<String>,
    facility: Opt<String>,
    app_name: Opt<String>,
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

#[derive(Debug)]
pub enum SinkKind {
    Stdout,
    File {
        path: PathBuf,
        rotation: FileRotation,
    },
    Syslog {
        address: Address,
        facility: u8,
        app_name: String,
        timeout: Duration,
    },
    Http {
        url: String,
        preset: Preset,
        auth: Option<String>,
        ca_file: Option<PathBuf>,
        index: Option<String>,
        sourcetype: String,
        gzip: bool,
        timeout: Duration,
    },
}

#[derive(Debug)]
pub struct SinkSpec {
    pub name: String,
    pub format: FormatKind,
    pub filter: Option<Filter>,
    pub limits: Limits,
    pub kind: SinkKind,
}

#[derive(Debug)]
pub struct Config {
    pub ring_buffer_size: Option<u32>,
    pub server_binaries: Option<Vec<String>>,
    pub privsep_users: Option<Vec<String>>,
    /// How long a stopping agent keeps trying to deliver.
    pub drain_timeout: Duration,
    pub sinks: Vec<SinkSpec>,
    /// Session socket, metrics, alerts.
    pub operators: crate::operators::Options,
}

pub const DEFAULT_SPOOL_DIR: &str = "/var/lib/ssh-trace/spool";

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Keys each sink type accepts besides name, type, format, filter,
/// queue_size and spool_size.
fn own_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "file" => &[
            "path",
            "rotate_size",
            "rotate_time",
            "rotate_count",
            "compress",
        ],
        "syslog" => &["address", "facility", "app_name", "timeout", "retry_max"],
        "http" => &[
            "url",
            "preset",
            "auth",
            "ca_file",
            "index",
            "sourcetype",
            "gzip",
            "timeout",
            "batch_size",
            "batch_wait",
            "retry_max",
        ],
        _ => &[],
    }
}

/// A problem at a place in the file.
struct At {
    span: Range<usize>,
    key: String,
    msg: String,
}

fn at<T>(s: &Spanned<T>, key: &str, msg: impl Into<String>) -> At {
    At {
        span: s.span(),
        key: key.to_owned(),
        msg: msg.into(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key written on the line holding `offset`, if the line is `key = …`.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
}

/// Parses a configuration; errors read `LINE: KEY: problem`.
pub fn parse(text: &str) -> Result<Config, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let line = line_of(text, offset);
        match key_on_line(text, offset) {
            Some(k) if !e.message().contains(&format!("`{k}`")) => {
                format!("{line}: {k}: {}", e.message().trim())
            }
            _ => format!("{line}: {}", e.message().trim()),
        }
    })?;
    build(raw).map_err(|a| format!("{}: {}: {}", line_of(text, a.span.start), a.key, a.msg))
}

fn duration(s: &Spanned<String>, key: &str) -> Result<Duration, At> {
    humantime::parse_duration(s.get_ref())
        .map_err(|e| at(s, key, format!("{e} (e.g. \"30s\", \"5m\", \"1h\")")))
}

fn size(s: &Spanned<String>, key: &str) -> Result<u64, At> {
    s.get_ref()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| {
            at(
                s,
                key,
                format!("{:?} is not a size (e.g. \"64MiB\", \"1GB\")", s.get_ref()),
            )
        })
}

fn build(raw: RawFile) -> Result<Config, At> {
    let drain_timeout = match &raw.agent.drain_timeout {
        Some(d) => duration(d, "drain_timeout")?,
        None => Duration::from_secs(5),
    };
    let spool_dir = raw
        .agent
        .spool_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR));
    let mut sinks: Vec<SinkSpec> = Vec::new();
    for table in &raw.sink {
        let spec = sink(table, &spool_dir)?;
        if sinks.iter().any(|s| s.name == spec.name) {
            return Err(at(
                &table.get_ref().name,
                "name",
                format!("sink name {:?} is used twice", spec.name),
            ));
        }
        sinks.push(spec);
    }
    if sinks.is_empty() {
        return Err(At {
            span: 0..0,
            key: "sink".into(),
            msg: "no [[sink]] configured".into(),
        });
    }
    Ok(Config {
        ring_buffer_size: raw.agent.ring_buffer_size,
        server_binaries: raw.agent.server_binaries,
        privsep_users: raw.agent.privsep_users,
        drain_timeout,
        sinks,
        operators: crate::operators::Options {
            sessions_socket_given: raw.agent.sessions_socket.is_some(),
            sessions_socket: Some(
                raw.agent
                    .sessions_socket
                    .unwrap_or_else(|| crate::operators::socket::DEFAULT_PATH.into()),
            ),
            metrics_listen: raw.agent.metrics_listen,
            metrics_source_ip: Some(crate::operators::metrics::SourceIpLabel {
                enabled: raw.agent.metrics_source_ip.unwrap_or(false),
                limit: raw.agent.metrics_source_ip_limit.unwrap_or(100),
            }),
            alerts: raw.agent.alerts,
        },
    })
}

fn format_names() -> Vec<String> {
    FormatKind::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|p| p.get_name().to_owned())
        .collect()
}

fn sink(t: &Spanned<RawSink>, spool_dir: &Path) -> Result<SinkSpec, At> {
    let r = t.get_ref();
    let name = r.name.get_ref().clone();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(at(
            &r.name,
            "name",
            format!("{name:?}: use letters, digits, - and _"),
        ));
    }
    let kind = r.kind.get_ref().as_str();
    if !["stdout", "file", "syslog", "http"].contains(&kind) {
        return Err(at(
            &r.kind,
            "type",
            format!("unknown sink type {kind:?} (expected stdout, file, syslog or http)"),
        ));
    }
    check_keys(r, kind)?;
    let format = match &r.format {
        Some(f) => FormatKind::from_str(f.get_ref(), false).map_err(|_| {
            at(
                f,
                "format",
                format!(
                    "unknown format {:?} (expected {})",
                    f.get_ref(),
                    format_names().join(", ")
                ),
            )
        })?,
        None => FormatKind::Json,
    };
    let filter = match &r.filter {
        Some(f) => Some(Filter::parse(f.get_ref()).map_err(|e| at(f, "filter", e.to_string()))?),
        None => None,
    };
    let mut limits = Limits::default();
    if let Some(q) = &r.queue_size {
        limits.memory_bytes = size(q, "queue_size")?;
    }
    if let Some(s) = &r.spool_size {
        limits.spool = Some((
            spool_dir.join(format!("{name}.spool")),
            size(s, "spool_size")?,
        ));
    }
    if let Some(m) = &r.retry_max {
        limits.backoff_max = duration(m, "retry_max")?.max(limits.backoff_min);
    }
    let timeout = match &r.timeout {
        Some(t) => duration(t, "timeout")?,
        None => Duration::from_secs(10),
    };
    let required = |v: &Option<Spanned<String>>, key: &str| -> Result<Spanned<String>, At> {
        v.clone()
            .ok_or_else(|| at(&r.kind, key, format!("a {kind} sink needs {key}")))
    };
    let kind = match kind {
        "stdout" => SinkKind::Stdout,
        "file" => {
            let path = r
                .path
                .as_ref()
                .ok_or_else(|| at(&r.kind, "path", "a file sink needs path"))?;
            let rotation = FileRotation {
                size: r
                    .rotate_size
                    .as_ref()
                    .map(|s| size(s, "rotate_size"))
                    .transpose()?,
                age: r
                    .rotate_time
                    .as_ref()
                    .map(|s| duration(s, "rotate_time"))
                    .transpose()?,
                count: match &r.rotate_count {
                    Some(c) if *c.get_ref() == 0 => {
                        return Err(at(c, "rotate_count", "must be at least 1"))
                    }
                    Some(c) => *c.get_ref() as usize,
                    None => 10,
                },
                compress: r.compress.as_ref().is_some_and(|c| *c.get_ref()),
            };
            SinkKind::File {
                path: path.get_ref().clone(),
                rotation,
            }
        }
        "syslog" => {
            let a = required(&r.address, "address")?;
            let address = Address::parse(a.get_ref()).map_err(|e| at(&a, "address", e))?;
            let facility = match &r.facility {
                Some(f) => FACILITIES
                    .iter()
                    .find(|(n, _)| n == f.get_ref())
                    .map(|&(_, c)| c)
                    .ok_or_else(|| {
                        let names: Vec<&str> = FACILITIES.iter().map(|f| f.0).collect();
                        at(
                            f,
                            "facility",
                            format!(
                                "unknown facility {:?} (expected one of {})",
                                f.get_ref(),
                                names.join(", ")
                            ),
                        )
                    })?,
                None => 10,
            };
            SinkKind::Syslog {
                address,
                facility,
                app_name: r
                    .app_name
                    .as_ref()
                    .map_or_else(|| "ssh-trace".to_owned(), |a| a.get_ref().clone()),
                timeout,
            }
        }
        _ => {
            let u = required(&r.url, "url")?;
            let url = u.get_ref().clone();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(at(
                    &u,
                    "url",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            let preset = match r.preset.as_ref().map(|p| (p, p.get_ref().as_str())) {
                None | Some((_, "json_lines")) => Preset::JsonLines,
                Some((_, "splunk_hec")) => Preset::SplunkHec,
                Some((_, "elasticsearch_bulk")) => Preset::ElasticsearchBulk,
                Some((p, other)) => {
                    return Err(at(
                        p,
                        "preset",
                        format!("unknown preset {other:?} (expected json_lines, splunk_hec or elasticsearch_bulk)"),
                    ))
                }
            };
            if preset == Preset::ElasticsearchBulk && format == FormatKind::Human {
                let f = r.format.as_ref().unwrap_or(&r.kind);
                return Err(at(
                    f,
                    "format",
                    "elasticsearch_bulk needs a JSON format, not human",
                ));
            }
            if let Some(b) = &r.batch_size {
                limits.send_bytes = size(b, "batch_size")?.clamp(1, u32::MAX as u64) as usize;
            }
            limits.linger = match &r.batch_wait {
                Some(w) => duration(w, "batch_wait")?,
                None => Duration::from_secs(1),
            };
            SinkKind::Http {
                url,
                preset,
                auth: r.auth.as_ref().map(|a| a.get_ref().clone()),
                ca_file: r.ca_file.as_ref().map(|c| c.get_ref().clone()),
                index: r.index.as_ref().map(|i| i.get_ref().clone()),
                sourcetype: r
                    .sourcetype
                    .as_ref()
                    .map_or_else(|| "ssh-trace".to_owned(), |s| s.get_ref().clone()),
                gzip: r.gzip.as_ref().is_some_and(|g| *g.get_ref()),
                timeout,
            }
        }
    };
    Ok(SinkSpec {
        name,
        format,
        filter,
        limits,
        kind,
    })
}

/// A key that belongs to another sink type is an error, not ignored.
fn check_keys(r: &RawSink, kind: &str) -> Result<(), At> {
    let present: [(&str, Option<Range<usize>>); 21] = [
        ("timeout", r.timeout.as_ref().map(Spanned::span)),
        ("retry_max", r.retry_max.as_ref().map(Spanned::span)),
        ("path", r.path.as_ref().map(Spanned::span)),
        ("rotate_size", r.rotate_size.as_ref().map(Spanned::span)),
        ("rotate_time", r.rotate_time.as_ref().map(Spanned::span)),
        ("rotate_count", r.rotate_count.as_ref().map(Spanned::span)),
        ("compress", r.compress.as_ref().map(Spanned::span)),
        ("address", r.address.as_ref().map(Spanned::span)),
        ("facility", r.facility.as_ref().map(Spanned::span)),
        ("app_name", r.app_name.as_ref().map(Spanned::span)),
        ("url", r.url.as_ref().map(Spanned::span)),
        ("preset", r.preset.as_ref().map(Spanned::span)),
        ("auth", r.auth.as_ref().map(Spanned::span)),
        ("ca_file", r.ca_file.as_ref().map(Spanned::span)),
        ("index", r.index.as_ref().map(Spanned::span)),
        ("sourcetype", r.sourcetype.as_ref().map(Spanned::span)),
        ("gzip", r.gzip.as_ref().map(Spanned::span)),
        ("batch_size", r.batch_size.as_ref().map(Spanned::span)),
        ("batch_wait", r.batch_wait.as_ref().map(Spanned::span)),
        ("format", None),
        ("filter", None),
    ];
    for (key, span) in present {
        if let Some(span) = span {
            if !own_keys(kind).contains(&key) {
                return Err(At {
                    span,
                    key: key.to_owned(),
                    msg: format!("does not apply to a {kind} sink"),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
