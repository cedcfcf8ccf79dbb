//! Agent-mode sinks from their configuration: encoder + transport + queue.
use anyhow::{Context, Result};

use super::{
    encode::{ElasticBulk, Lines, SplunkHec, Syslog},
    file::RotatingFile,
    http::{HttpOptions, HttpTransport},
    queue::{Encode, Transport, Worker},
    stdout::StdoutTransport,
    syslog::SyslogTransport,
};
use crate::{
    config::{Preset, SinkKind, SinkSpec},
    format::Formatter,
};

pub fn start(spec: SinkSpec, host: &str) -> Result<Worker> {
    let formatter = Formatter::new(spec.format, false);
    let (encode, transport): (Box<dyn Encode>, Box<dyn Transport>) = match spec.kind {
        SinkKind::Stdout => (Box::new(Lines(formatter)), Box::new(StdoutTransport)),
        SinkKind::File { path, rotation } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("sink {}: creating {}", spec.name, dir.display()))?;
            }
            let file = RotatingFile::open(&path, rotation)
                .with_context(|| format!("sink {}", spec.name))?;
            (Box::new(Lines(formatter)), Box::new(file))
        }
        SinkKind::Syslog {
            address,
            facility,
            app_name,
            timeout,
        } => (
            Box::new(Syslog::new(formatter, facility, &app_name)),
            Box::new(SyslogTransport::new(address, timeout)),
        ),
        SinkKind::Http {
            url,
            preset,
            auth,
            ca_file,
            index,
            sourcetype,
            gzip,
            timeout,
        } => {
            let bulk_reply = matches!(preset, Preset::ElasticsearchBulk);
            let (encode, content_type): (Box<dyn Encode>, _) = match preset {
                Preset::JsonLines => (Box::new(Lines(formatter)), "application/x-ndjson"),
                Preset::SplunkHec => (
                    Box::new(SplunkHec::new(formatter, &sourcetype, index)),
                    "application/json",
                ),
                Preset::ElasticsearchBulk => (
                    Box::new(ElasticBulk::new(formatter, index.as_deref())),
                    "application/x-ndjson",
                ),
            };
            let transport = HttpTransport::new(HttpOptions {
                url,
                content_type,
                auth,
                gzip,
                timeout,
                ca_file,
                bulk_reply,
            })
            .with_context(|| format!("sink {}", spec.name))?;
            (encode, Box::new(transport))
        }
    };
    if let Some((spool, _)) = &spec.limits.spool {
        if let Some(dir) = spool.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("sink {}: creating {}", spec.name, dir.display()))?;
        }
    }
    Worker::start(
        &spec.name,
        host.to_owned(),
        spec.filter,
        encode,
        transport,
        spec.limits,
    )
    .with_context(|| format!("sink {}", spec.name))
}

/// `ssh-trace agent --config FILE`: the agent's options with every sink
/// started (a bad config or an unusable sink fails here, before loading).
pub fn agent_options(path: &std::path::Path) -> Result<crate::agent::Options> {
    let cfg = crate::config::load(path)?;
    let host = crate::host::hostname();
    let workers = cfg
        .sinks
        .into_iter()
        .map(|s| start(s, &host))
        .collect::<Result<Vec<_>>>()?;
    let default_list = |d: &[&str]| d.iter().map(|s| s.to_string()).collect();
    Ok(crate::agent::Options {
        ring_bytes: cfg
            .ring_buffer_size
            .unwrap_or(ssh_trace_common::maps::DEFAULT_RING_BYTES),
        server_binaries: cfg
            .server_binaries
            .unwrap_or_else(|| default_list(crate::probes::DEFAULT_SERVER_BINARIES)),
        privsep_users: cfg
            .privsep_users
            .unwrap_or_else(|| default_list(&["sshd", "_sshd"])),
        persist: None,
        procs_max: ssh_trace_common::maps::PROCS_MAX,
        debug_kernel: false,
        formatter: None,
        capture: None,
        filter: None,
        queued: super::Queued::new(workers, cfg.drain_timeout),
        operators: cfg.operators,
    })
}
