//! Benchmark helper (used by `cargo xtask bench sinks`; an example of the
//! tests crate, not part of the product): pushes N synthetic
//! events through one agent-mode sink, the whole process pinned to one CPU,
//! and prints one JSON line: events/s delivered, or for a stalled sink
//! (a TCP peer that never reads) the drops and the peak memory; with the
//! user and kernel CPU time of the run, since writing to a file is mostly
//! the kernel's page-cache work. `file-null` is the file sink writing to
//! /dev/null: the sink's own cost without the filesystem's. `clickhouse`
//! and `clickhouse-plain` (no gzip) insert into the ClickHouse server at
//! $SSH_TRACE_BENCH_CLICKHOUSE (the shipped schema; `cargo xtask bench
//! clickhouse` starts one).
//! Usage: ssh-trace-sinkbench file|file-null|syslog-tcp|stalled|clickhouse|clickhouse-plain FORMAT EVENTS DIR
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::Read,
    net::TcpListener,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use ssh_trace::{
    format::FormatKind,
    sinks::{
        self as build, file,
        queue::{Limits, Worker},
        syslog::Address,
        SinkKind, SinkSpec,
    },
};

#[path = "support/synth.rs"]
mod synth;
use synth::Gen;

fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t with one bit set, for this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

fn usage() -> libc::rusage {
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u
}

fn peak_rss_kib() -> u64 {
    usage().ru_maxrss as u64
}

/// CPU seconds (user, kernel) this process has used so far.
fn cpu_seconds() -> (f64, f64) {
    let u = usage();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_utime), secs(u.ru_stime))
}

/// A syslog peer on loopback: reads and discards, or never reads.
fn peer(read: bool) -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            if read {
                std::thread::spawn(move || {
                    let mut s = s;
                    let mut buf = vec![0u8; 1 << 20];
                    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
                });
            } else {
                held.push(s);
            }
        }
    });
    Ok(port)
}

/// The sink under test.
fn sink_kind(what: &str, dir: &str, usage: &str) -> Result<SinkKind> {
    Ok(match what {
        "file" => SinkKind::File(file::Spec {
            path: std::path::Path::new(dir).join("bench.json"),
            rotation: ssh_trace::rotate::Policy {
                size: Some(1 << 30),
                count: Some(2),
                ..Default::default()
            },
            compress: false,
        }),
        // No rotation: it would rename /dev/null.
        "file-null" => SinkKind::File(file::Spec {
            path: "/dev/null".into(),
            rotation: Default::default(),
            compress: false,
        }),
        "syslog-tcp" | "stalled" => SinkKind::Syslog(ssh_trace::sinks::syslog::Spec {
            address: Address::Tcp(format!("127.0.0.1:{}", peer(what == "syslog-tcp")?)),
            facility: 10,
            app_name: "ssh-trace".into(),
            timeout: Duration::from_secs(3600),
        }),
        "clickhouse" | "clickhouse-plain" => {
            SinkKind::ClickHouse(ssh_trace::sinks::clickhouse::Spec {
                url: std::env::var("SSH_TRACE_BENCH_CLICKHOUSE")
                    .context("SSH_TRACE_BENCH_CLICKHOUSE: the server's URL")?,
                database: "ssh_trace".into(),
                table: "events".into(),
                user: None,
                password: None,
                ca_file: None,
                gzip: what == "clickhouse",
                timeout: Duration::from_secs(60),
            })
        }
        _ => bail!("{usage}"),
    })
}

/// Batching as a configured sink has it (the ClickHouse sink's defaults:
/// 8 MiB or 5 s; never waiting here, where events come faster).
fn limits(what: &str) -> Limits {
    let mut l = Limits::default();
    if what.starts_with("clickhouse") {
        l.send_bytes = 8 << 20;
    }
    l
}

type Batch = Arc<Vec<Arc<ssh_trace::event::Event>>>;

/// Batches as the agent makes them: a few sessions' worth.
fn batches(total: u64) -> Vec<Batch> {
    let mut gen = Gen::default();
    let mut batches = Vec::new();
    let mut made = 0u64;
    while made < total.min(1_000_000) {
        let mut b = Vec::new();
        for _ in 0..8 {
            gen.session(&mut b);
        }
        made += b.len() as u64;
        batches.push(Arc::new(b.into_iter().map(Arc::new).collect::<Vec<_>>()));
    }
    batches
}

/// Pushes `total` events; a stalled sink's drops are counted, the others
/// are waited for (the sink is measured, not the drops).
fn push(worker: &Worker, batches: &[Batch], total: u64, stalled: bool) -> u64 {
    let mut sent = 0u64;
    loop {
        for b in batches {
            if sent >= total {
                return sent;
            }
            sent += b.len() as u64;
            if stalled {
                worker.send(b);
            } else {
                // Backing off to 1 ms: a pusher polling a slow sink every
                // 50 µs would cost more CPU than the sink it measures.
                let mut pause = Duration::from_micros(50);
                while worker.try_send(b).is_err() {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(1));
                }
            }
        }
    }
}

fn main() -> Result<()> {
    let usage = "usage: ssh-trace-sinkbench file|file-null|syslog-tcp|stalled|clickhouse|clickhouse-plain FORMAT EVENTS DIR";
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [what, format, events, dir] = &a[..] else {
        bail!(usage)
    };
    let format = FormatKind::from_str(format, false).map_err(|e| anyhow::anyhow!(e))?;
    let total: u64 = events.parse().context(usage)?;
    pin_to_cpu0();
    let kind = sink_kind(what, dir, usage)?;
    let spec = SinkSpec {
        name: "bench".into(),
        format,
        filter: None,
        limits: limits(what),
        kind,
        tty: false,
    };
    let worker = build::start(spec, "bench-host")?;
    let batches = batches(total);
    let base_rss = peak_rss_kib();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let sent = push(&worker, &batches, total, what == "stalled");
    let stats = worker.stats.clone();
    if what == "stalled" {
        let push_secs = t0.elapsed().as_secs_f64();
        let dropped = stats.dropped.load(Ordering::Relaxed);
        let rss = peak_rss_kib();
        println!(
            "{{\"events\":{sent},\"push_events_per_sec\":{:.0},\"dropped\":{dropped},\"peak_rss_kib\":{rss},\"source_rss_kib\":{base_rss}}}",
            sent as f64 / push_secs
        );
        std::process::exit(0); // the stalled peer would hold finish() forever
    }
    let s = worker.finish(Duration::from_secs(600));
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds();
    println!(
        "{{\"events\":{},\"dropped\":{},\"seconds\":{secs:.3},\"events_per_sec\":{:.0},\"user_seconds\":{:.3},\"system_seconds\":{:.3},\"peak_rss_kib\":{},\"source_rss_kib\":{base_rss}}}",
        s.delivered,
        s.dropped,
        s.delivered as f64 / secs,
        cpu.0 - cpu0.0,
        cpu.1 - cpu0.1,
        peak_rss_kib()
    );
    Ok(())
}
