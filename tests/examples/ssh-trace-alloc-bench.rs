//! Benchmark helper (used by `cargo xtask bench alloc`; an example of the
//! tests crate, not part of the product): heap allocations per exec event on
//! the `tail --json` path — ring-buffer record → decode → session model →
//! pipeline (operators' live table, filter-free selection) → JSON line —
//! counted by a global allocator, plus that path's events/s on one thread.
//! Prints one JSON line. Usage: ssh-trace-alloc-bench [EVENTS]
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    alloc::{GlobalAlloc, Layout, System},
    collections::HashSet,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Instant,
};

use ssh_trace::{
    decode::decode,
    format::{FormatKind, Formatter},
    host::Clock,
    operators::{Operators, Options},
    pipeline::{Consumer, Lines, Pipeline},
    session::SessionTable,
};
use ssh_trace_common::event::*;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const KEY: u64 = 0x0100_0000_0000_1234;

fn bytes_of<T>(v: &T) -> Vec<u8> {
    // SAFETY: the records are plain integers without padding.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
        .to_vec()
}

fn hdr(kind: EventKind, tgid: u32, t: u64) -> EventHeader {
    EventHeader {
        kind: kind as u32,
        tgid,
        ktime_ns: t,
        session: KEY,
    }
}

fn connect() -> Vec<u8> {
    let mut local = [0u8; 16];
    local[..4].copy_from_slice(&[127, 0, 0, 1]);
    bytes_of(&ConnectEvent {
        hdr: hdr(EventKind::Connect, 500, 1),
        listener_tgid: 500,
        family: 2,
        local_port: 22,
        remote_port: 40000,
        local_addr: local,
        remote_addr: local,
        ..Default::default()
    })
}

/// An exec record as the kernel writes it: `git log --oneline -n 20`.
fn exec(t: u64) -> Vec<u8> {
    let file = b"/usr/bin/git\0";
    let args = b"git\0log\0--oneline\0-n\x0020\0";
    let creds = Creds {
        uid: 1001,
        euid: 1001,
        suid: 1001,
        gid: 1001,
        egid: 1001,
        sgid: 1001,
    };
    let head = ExecHead {
        hdr: hdr(EventKind::Exec, 4242, t),
        ppid: 4241,
        flags: 0,
        creds,
        filename_len: file.len() as u32,
        args_len: args.len() as u32,
        ..Default::default()
    };
    let mut buf = bytes_of(&head);
    let mut name = file.to_vec();
    name.resize(EXEC_FILENAME_MAX, 0);
    buf.extend(name);
    buf.extend(args);
    buf
}

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let mut table = SessionTable::new([7; 16], Clock::now(), HashSet::new(), |_| {
        Some("alice".into())
    });
    let ops = Operators::prepare(Options::default(), "bench")?;
    let lines = Lines::to(
        Formatter::new(FormatKind::Json, false),
        "bench",
        Box::new(std::io::sink()),
    );
    let outputs: Vec<Box<dyn Consumer>> = vec![Box::new(lines)];
    let mut p = Pipeline::new("bench", None, ops, outputs);
    let mut events = Vec::new();
    let records: Vec<Vec<u8>> = (0..n).map(|i| exec(10 + i)).collect();
    let mut feed =
        |raw: &[u8], table: &mut SessionTable, p: &mut Pipeline<Operators>| -> anyhow::Result<()> {
            table.handle(decode(raw)?, &mut events);
            for ev in events.drain(..) {
                p.push(ev)?;
            }
            Ok(())
        };
    feed(&connect(), &mut table, &mut p)?;
    // Warm up: buffers, maps and caches reach their working size.
    for r in records.iter().take(1000) {
        feed(r, &mut table, &mut p)?;
    }
    p.flush()?;
    let before = ALLOCS.load(Relaxed);
    let t0 = Instant::now();
    for (i, r) in records.iter().enumerate() {
        feed(r, &mut table, &mut p)?;
        if i % 1024 == 1023 {
            p.flush()?; // one pass of the agent's loop
        }
    }
    p.flush()?;
    let secs = t0.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Relaxed) - before;
    let stages = stages(&records[..1000], &mut table, &mut p)?;
    println!(
        "{{\"events\":{n},\"allocations\":{allocs},\"allocations_per_exec\":{:.2},\"events_per_sec\":{:.0},\"per_stage\":{{\"decode\":{:.2},\"session_model\":{:.2},\"pipeline_and_json\":{:.2}}}}}",
        allocs as f64 / n as f64,
        n as f64 / secs,
        stages[0],
        stages[1],
        stages[2]
    );
    Ok(())
}

/// Allocations per record in each step: decode, session model, pipeline.
fn stages(
    records: &[Vec<u8>],
    table: &mut SessionTable,
    p: &mut Pipeline<Operators>,
) -> anyhow::Result<[f64; 3]> {
    let mut counts = [0u64; 3];
    let mut events = Vec::with_capacity(4);
    for raw in records {
        let a = ALLOCS.load(Relaxed);
        let rec = decode(raw)?;
        let b = ALLOCS.load(Relaxed);
        table.handle(rec, &mut events);
        let c = ALLOCS.load(Relaxed);
        for ev in events.drain(..) {
            p.push(ev)?;
        }
        let d = ALLOCS.load(Relaxed);
        counts[0] += b - a;
        counts[1] += c - b;
        counts[2] += d - c;
    }
    p.flush()?;
    Ok(counts.map(|c| c as f64 / records.len() as f64))
}
