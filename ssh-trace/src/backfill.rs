//! `ssh-trace replay -r FILE… --to CONFIG`: the events of capture files go
//! to the sinks of an agent configuration (each sink's filter and format
//! apply), under the host name each file recorded, so captures made offline
//! reach the same tables as live events. Unlike the agent, a backfill waits
//! for a slow sink instead of dropping, and spools nothing (the capture is
//! the durable copy): what a sink could not deliver is reported and the
//! exit status says so. Run again, a ClickHouse sink stores nothing twice
//! (event_id, docs/fleet.md); other sinks get the events again.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use crate::{
    capture::reader::Reader,
    pipeline::Shared,
    replay::{for_each, Selection},
    sinks::{self, queue::Worker, SinkSpec},
};

/// Events handed to the sinks at a time.
const BATCH: usize = 1024;
/// How long the sinks may take, after the last event, to deliver the rest.
const MIN_DRAIN: Duration = Duration::from_secs(60);

/// The sinks named in `only` (all when empty), spools off.
fn chosen(specs: Vec<SinkSpec>, only: &[String]) -> Result<Vec<SinkSpec>> {
    if let Some(n) = only.iter().find(|n| !specs.iter().any(|s| &s.name == *n)) {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        bail!(
            "no sink named {n:?} (the configuration has {})",
            names.join(", ")
        );
    }
    Ok(specs
        .into_iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .map(|mut s| {
            s.limits.spool = None;
            s
        })
        .collect())
}

/// The files grouped by the host that recorded them, in first-seen order.
fn by_host(paths: &[PathBuf]) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for p in paths {
        let host = Reader::open(p)?.header().host.clone();
        match groups.iter_mut().find(|(h, _)| *h == host) {
            Some((_, files)) => files.push(p.clone()),
            None => groups.push((host, vec![p.clone()])),
        }
    }
    Ok(groups)
}

/// Hands `batch` to every sink, waiting while a sink's queue is full.
fn hand_over(workers: &[Worker], batch: &mut Vec<Shared>) {
    if batch.is_empty() {
        return;
    }
    let shared = Arc::new(std::mem::take(batch));
    for w in workers {
        while w.try_send(&shared).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One host's files through freshly started sinks; returns the events
/// read and those some sink did not deliver.
fn one_host(
    host: &str,
    files: &[PathBuf],
    specs: &[SinkSpec],
    (sel, drain): (&Selection, Duration),
) -> Result<(u64, u64)> {
    let workers = specs
        .iter()
        .map(|s| sinks::start(s.clone(), host))
        .collect::<Result<Vec<_>>>()?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut read = 0u64;
    for_each(files, sel, |ev, _| {
        read += 1;
        batch.push(Arc::new(ev.clone()));
        if batch.len() == BATCH {
            hand_over(&workers, &mut batch);
        }
        true
    })?;
    hand_over(&workers, &mut batch);
    eprintln!(
        "ssh-trace: replay: {read} events of host {host} from {} file(s)",
        files.len()
    );
    let mut lost = 0;
    for w in workers {
        let name = w.name.clone();
        let s = w.finish(drain);
        sinks::report(&name, &s);
        lost += s.dropped;
    }
    Ok((read, lost))
}

/// `replay --to CONFIG [--sink NAME]…`.
pub fn run(paths: &[PathBuf], config: &Path, only: &[String], sel: &Selection) -> Result<()> {
    let cfg = crate::config::load(config)?;
    let specs = chosen(cfg.sinks, only)?;
    let drain = cfg.drain_timeout.max(MIN_DRAIN);
    let mut lost = 0;
    for (host, files) in by_host(paths)? {
        let (_, l) = one_host(&host, &files, &specs, (sel, drain))
            .with_context(|| format!("replaying the events of host {host}"))?;
        lost += l;
    }
    if lost > 0 {
        bail!(
            "{lost} events were not delivered (see above); running the same command again \
             stores none twice in ClickHouse, other sinks get every event again"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/captures")
            .join(name)
    }

    #[test]
    fn files_are_grouped_by_the_host_that_recorded_them() {
        let files = [golden("login.cap"), golden("synth.cap"), golden("loss.cap")];
        let groups = by_host(&files).unwrap();
        assert_eq!(
            groups,
            [
                ("vm".to_owned(), vec![files[0].clone(), files[2].clone()]),
                ("bench".to_owned(), vec![files[1].clone()])
            ]
        );
    }

    #[test]
    fn only_the_named_sinks_are_used_and_none_spools() {
        let text = "[[sink]]\nname = \"a\"\ntype = \"stdout\"\nspool_size = \"1MiB\"\n\
                    [[sink]]\nname = \"b\"\ntype = \"stdout\"\nspool_size = \"1MiB\"\n";
        let specs = crate::config::parse(text).unwrap().sinks;
        let all = chosen(specs.clone(), &[]).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|s| s.limits.spool.is_none()));
        let b = chosen(specs.clone(), &["b".to_owned()]).unwrap();
        assert_eq!(b.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b"]);
        let e = chosen(specs, &["c".to_owned()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no sink named \"c\" (the configuration has a, b)"
        );
    }
}
