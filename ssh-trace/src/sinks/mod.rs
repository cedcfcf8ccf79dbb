//! Agent-mode sinks (`ssh-trace agent --config`): each in its own folder
//! (its configuration, builder, encoder, transport, tests), all behind the
//! same queue (queue/: bounded memory, on-disk spool, retries). The
//! pipeline hands them the selected events, shared.
pub mod clickhouse;
pub mod config;
pub mod file;
pub mod http;
pub mod lines;
pub mod queue;
pub mod stdout;
pub mod syslog;

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};

use crate::{
    event::Event,
    filter::Filter,
    format::{FormatKind, Formatter},
    pipeline::{Consumer, Shared},
};
use queue::{Encode, Limits, Transport, Worker};

/// A configured sink, checked (sinks/config.rs), not yet started.
#[derive(Clone, Debug)]
pub struct SinkSpec {
    pub name: String,
    pub format: FormatKind,
    pub filter: Option<Filter>,
    pub limits: Limits,
    pub kind: SinkKind,
    /// It takes terminal recordings (bulk events) too.
    pub tty: bool,
}

/// Each sink type's own settings.
#[derive(Clone, Debug)]
pub enum SinkKind {
    Stdout,
    File(file::Spec),
    Syslog(syslog::Spec),
    Http(http::Spec),
    ClickHouse(clickhouse::Spec),
}

/// What a sink type builds: how it encodes, where it sends.
pub type Parts = (Box<dyn Encode>, Box<dyn Transport>);

/// Starts one sink: its encoder and transport behind its own queue.
pub fn start(spec: SinkSpec, host: &str) -> Result<Worker> {
    let formatter = Formatter::new(spec.format, false);
    let name = spec.name;
    let (encode, transport) = match &spec.kind {
        SinkKind::Stdout => stdout::build(formatter),
        SinkKind::File(f) => file::build(f, formatter),
        SinkKind::Syslog(s) => syslog::build(s, formatter),
        SinkKind::Http(h) => http::build(h, formatter),
        SinkKind::ClickHouse(c) => clickhouse::build(c, formatter),
    }
    .with_context(|| format!("sink {name}"))?;
    if let Some((spool, _)) = &spec.limits.spool {
        if let Some(dir) = spool.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("sink {name}: creating {}", dir.display()))?;
        }
    }
    let host = host.to_owned();
    let mut w = Worker::start(&name, host, spec.filter, encode, transport, spec.limits)
        .with_context(|| format!("sink {name}"))?;
    w.tty = spec.tty;
    Ok(w)
}

/// What a sink did, on standard error when it stops.
pub fn report(name: &str, s: &queue::Summary) {
    eprintln!(
        "ssh-trace: sink {name}: {} events delivered, {} dropped, {} left in the spool",
        s.delivered, s.dropped, s.spooled
    );
}

/// Agent-mode sinks: the events of a pass are shared with every sink's
/// queue; terminal recordings (bulk) only with the sinks that asked.
#[derive(Default)]
pub struct Queued {
    pub workers: Vec<queue::Worker>,
    pending: Vec<Shared>,
    /// How long `finish` keeps trying to deliver.
    pub drain: Duration,
}

impl Queued {
    pub fn new(workers: Vec<queue::Worker>, drain: Duration) -> Self {
        Self {
            workers,
            pending: Vec::new(),
            drain,
        }
    }

    /// Each sink's write failures, in configuration order.
    pub fn failures(&self) -> Vec<Arc<crate::pipeline::Failures>> {
        self.workers
            .iter()
            .map(|w| w.stats.writes.clone())
            .collect()
    }

    /// Each sink's name and counters, in configuration order.
    pub fn stats(&self) -> Vec<(String, Arc<queue::Stats>)> {
        self.workers
            .iter()
            .map(|w| (w.name.clone(), w.stats.clone()))
            .collect()
    }
}

impl Consumer for Queued {
    fn take(&mut self, ev: &Shared, _: &mut Vec<Event>) -> Result<()> {
        if !self.workers.is_empty() {
            self.pending.push(ev.clone());
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let all = Arc::new(std::mem::take(&mut self.pending));
        let bulk = all.iter().any(|e| e.spec().bulk);
        let plain = match bulk && self.workers.iter().any(|w| !w.tty) {
            true => Arc::new(all.iter().filter(|e| !e.spec().bulk).cloned().collect()),
            false => all.clone(),
        };
        for w in &self.workers {
            let batch = if w.tty { &all } else { &plain };
            if !batch.is_empty() {
                w.send(batch);
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.flush()?;
        for w in std::mem::take(&mut self.workers) {
            let name = w.name.clone();
            report(&name, &w.finish(self.drain));
        }
        Ok(())
    }
}
