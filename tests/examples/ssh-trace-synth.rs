//! Benchmark helper (used by `cargo xtask bench capture`; built as an
//! example of the tests crate, not part of the product): writes a capture
//! of N synthetic events shaped like real sessions and prints, as one JSON
//! line, the record throughput, bytes per event on disk, and the size of the
//! same events as gzip'd JSON lines (measured on the first million).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{io::Write, path::PathBuf, time::Instant};

use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};
use ssh_trace::{
    capture::writer::{Origin, Rotation, Writer},
    format::json::Json,
};

#[path = "support/synth.rs"]
mod synth;
use synth::Gen;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().context("usage: ssh-trace-synth FILE EVENTS")?);
    let total: u64 = args
        .next()
        .context("usage: ssh-trace-synth FILE EVENTS")?
        .parse()?;
    let origin = Origin {
        host: "bench".into(),
        kernel: "6.18".into(),
        boot_id: [1; 16],
        agent_version: "bench".into(),
    };
    let mut w = Writer::create(&path, origin, Rotation::default())?;
    let mut gen = Gen::default();
    let mut batch = Vec::new();
    let (mut written, mut json_events) = (0u64, 0u64);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut line = Vec::new();
    let mut record_secs = 0.0;
    while written < total {
        batch.clear();
        // Sessions overlap in real life: interleave a few at a time.
        for _ in 0..8 {
            gen.session(&mut batch);
        }
        batch.sort_by_key(|e| e.time_ns);
        let take = batch.len().min((total - written) as usize);
        let t0 = Instant::now();
        for e in &batch[..take] {
            w.write(e);
        }
        record_secs += t0.elapsed().as_secs_f64();
        if json_events < 1_000_000 {
            for e in &batch[..take] {
                line.clear();
                Json.write(e, "bench", &mut line);
                gz.write_all(&line)?;
                json_events += 1;
            }
        }
        written += take as u64;
    }
    let t0 = Instant::now();
    w.finish()?;
    record_secs += t0.elapsed().as_secs_f64();
    let gz_bytes = gz.finish()?.len() as u64;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "{{\"events\":{written},\"bytes\":{size},\"bytes_per_event\":{:.2},\"gzip_json_bytes_per_event\":{:.2},\"record_events_per_sec\":{:.0}}}",
        size as f64 / written as f64,
        gz_bytes as f64 / json_events as f64,
        written as f64 / record_secs
    );
    Ok(())
}
