//! One configured sink behind its own queue: the agent hands it shared
//! batches without ever blocking; an intake thread filters and encodes them
//! into a bounded memory backlog that overflows to an on-disk spool; a
//! delivery thread sends the backlog in order, retrying with backoff while
//! the peer is down. Whatever does not fit is dropped and counted.
use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::{sync_channel, Receiver, SyncSender},
        Arc, Condvar, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

mod chunk;
pub mod spool;
#[cfg(test)]
mod tests;

use crate::{
    event::Event,
    filter::Filter,
    pipeline::{self, selected, Failures},
};
pub use chunk::Chunk;
use spool::Spool;

/// Turns one event into the sink's wire bytes (format plus framing).
pub trait Encode: Send {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>);
}

/// Sends encoded bytes (one or more whole encoded events) to the peer.
pub trait Transport: Send {
    /// An error means nothing of `data` counts as sent: it is sent again.
    fn send(&mut self, data: &[u8]) -> Result<()>;

    /// A failure the last successful send got past (the file sink could not
    /// rotate and wrote on in the current file): reported, not retried.
    fn problem(&mut self) -> Option<anyhow::Error> {
        None
    }
}

/// How much a sink may hold and how it retries.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Encoded bytes held in memory before spilling to the spool.
    pub memory_bytes: u64,
    /// On-disk spool file and its size limit.
    pub spool: Option<(PathBuf, u64)>,
    /// Batches waiting for the intake thread.
    pub channel_batches: usize,
    /// Bytes of events (argv included) waiting for the intake thread: with
    /// the memory backlog, what bounds a sink's memory under a flood.
    pub handoff_bytes: u64,
    /// Most bytes per `Transport::send`.
    pub send_bytes: usize,
    /// Wait this long for more data before a send smaller than `send_bytes`.
    pub linger: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            spool: None,
            channel_batches: 1024,
            handoff_bytes: 16 << 20,
            send_bytes: 1 << 20,
            linger: Duration::ZERO,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
pub struct Stats {
    pub delivered: AtomicU64,
    /// Events dropped: queue full, spool full, or undeliverable at exit.
    pub dropped: AtomicU64,
    /// Failed sends (each retried) and the last error, for `agent.loss`.
    pub writes: Arc<Failures>,
    /// Events taken and neither delivered nor dropped yet (memory and
    /// spool): the backlog agent.heartbeat reports.
    pub held: AtomicU64,
}

impl Stats {
    /// `n` held events left (delivered or dropped); never below zero.
    fn release(&self, n: u64) {
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }
}

struct Backlog {
    mem: VecDeque<Chunk>,
    mem_bytes: u64,
    spool: Option<Spool>,
    /// No more input will come.
    closed: bool,
    /// Past this instant, a failing send gives up (set at stop).
    deadline: Option<Instant>,
}

struct Inner {
    name: String,
    backlog: Mutex<Backlog>,
    ready: Condvar,
    stats: Arc<Stats>,
    limits: Limits,
    /// Bytes of the batches handed over and not yet encoded.
    handoff: AtomicU64,
}

/// What a batch of events holds in memory, roughly.
fn batch_bytes(batch: &[pipeline::Shared]) -> u64 {
    batch
        .iter()
        .map(|e| (std::mem::size_of::<crate::event::Event>() + e.heap_bytes()) as u64)
        .sum()
}

/// The sink's queue cannot take the batch now.
#[derive(Debug)]
pub struct Full;

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, c: Chunk) {
        let mut b = self.lock();
        // Without a spool, wait for room: the agent's channel to this
        // thread fills instead, and drops are counted there.
        while b.spool.is_none()
            && !b.mem.is_empty()
            && b.mem_bytes + c.bytes.len() as u64 > self.limits.memory_bytes
            && b.deadline.is_none_or(|d| Instant::now() < d)
        {
            b = self
                .ready
                .wait_timeout(b, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let spool_busy = b.spool.as_ref().is_some_and(|s| !s.is_empty());
        let mem_full = b.mem_bytes + c.bytes.len() as u64 > self.limits.memory_bytes;
        if !spool_busy && (!mem_full || b.mem.is_empty()) {
            b.mem_bytes += c.bytes.len() as u64;
            b.mem.push_back(c);
        } else {
            self.spill(&mut b, c);
        }
        self.ready.notify_all();
    }

    /// To the spool if there is room, else dropped and counted.
    fn spill(&self, b: &mut Backlog, c: Chunk) {
        let spooled = match &mut b.spool {
            Some(s) if s.fits(c.bytes.len()) => match s.append(&c) {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("ssh-trace: sink {}: {e:#}", self.name);
                    false
                }
            },
            _ => false,
        };
        if !spooled {
            self.stats.dropped.fetch_add(c.events, Ordering::Relaxed);
            self.stats.release(c.events);
        }
    }

    /// The next data to send, oldest first; None once closed and empty.
    fn take(&self) -> Option<Chunk> {
        let mut b = self.lock();
        let mut lingered = false;
        loop {
            let spooled = b.spool.as_ref().is_some_and(|s| !s.is_empty());
            let have = b.mem_bytes > 0 || !b.mem.is_empty() || spooled;
            if have {
                let short = b.mem_bytes < self.limits.send_bytes as u64 && !spooled;
                if short && !lingered && !b.closed && !self.limits.linger.is_zero() {
                    lingered = true;
                    b = self
                        .ready
                        .wait_timeout(b, self.limits.linger)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    continue;
                }
                return self.take_now(&mut b);
            }
            if b.closed {
                return None;
            }
            b = self.ready.wait(b).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn take_now(&self, b: &mut Backlog) -> Option<Chunk> {
        if let Some(mut c) = b.mem.pop_front() {
            while let Some(next) = b.mem.front() {
                if c.bytes.len() + next.bytes.len() > self.limits.send_bytes {
                    break;
                }
                let next = b.mem.pop_front()?;
                c.bytes.extend_from_slice(&next.bytes);
                c.events += next.events;
            }
            b.mem_bytes -= c.bytes.len() as u64;
            self.ready.notify_all();
            return Some(c);
        }
        let spool = b.spool.as_mut()?;
        match spool.peek(self.limits.send_bytes) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ssh-trace: sink {}: {e:#}", self.name);
                None
            }
        }
    }

    fn delivered(&self, c: &Chunk) {
        self.stats.delivered.fetch_add(c.events, Ordering::Relaxed);
        self.stats.release(c.events);
        if c.spooled > 0 {
            let mut b = self.lock();
            if let Some(Err(e)) = b.spool.as_mut().map(|s| s.consume(c)) {
                eprintln!("ssh-trace: sink {}: {e:#}", self.name);
            }
        }
    }

    /// A chunk that could not be sent before the stop deadline.
    fn give_back(&self, c: Chunk) {
        if c.spooled > 0 {
            return; // still in the spool
        }
        let mut b = self.lock();
        self.spill(&mut b, c);
    }

    fn past_deadline(&self) -> bool {
        self.lock().deadline.is_some_and(|d| Instant::now() >= d)
    }
}

pub struct Worker {
    pub name: String,
    pub stats: Arc<Stats>,
    /// It takes terminal recordings (set by sinks::start).
    pub tty: bool,
    tx: Option<SyncSender<Arc<Vec<pipeline::Shared>>>>,
    shared: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

/// What a sink did over the run, for the exit summary.
#[derive(Debug)]
pub struct Summary {
    pub delivered: u64,
    pub dropped: u64,
    pub spooled: u64,
}

impl Worker {
    pub fn start(
        name: &str,
        host: String,
        filter: Option<Filter>,
        mut encode: Box<dyn Encode>,
        mut transport: Box<dyn Transport>,
        limits: Limits,
    ) -> Result<Self> {
        let spool = match &limits.spool {
            Some((path, limit)) => Some(Spool::open(path, *limit)?),
            None => None,
        };
        let stats = Arc::new(Stats {
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            writes: Failures::new(format!("sink {name}")),
            held: AtomicU64::new(0),
        });
        // What an earlier run left in the spool is held too.
        let left = spool.as_ref().map_or(0, |s| s.events);
        stats.held.store(left, Ordering::Relaxed);
        let shared = Arc::new(Inner {
            name: name.to_owned(),
            backlog: Mutex::new(Backlog {
                mem: VecDeque::new(),
                mem_bytes: 0,
                spool,
                closed: false,
                deadline: None,
            }),
            ready: Condvar::new(),
            stats: stats.clone(),
            limits: limits.clone(),
            handoff: AtomicU64::new(0),
        });
        let (tx, rx) = sync_channel(limits.channel_batches);
        let s1 = shared.clone();
        let intake = std::thread::Builder::new()
            .name(format!("sink-{name}-in"))
            .spawn(move || intake(&s1, rx, &host, filter.as_ref(), encode.as_mut()))
            .context("starting a sink thread")?;
        let s2 = shared.clone();
        let deliver = std::thread::Builder::new()
            .name(format!("sink-{name}-out"))
            .spawn(move || deliver(&s2, transport.as_mut()))
            .context("starting a sink thread")?;
        Ok(Self {
            name: name.to_owned(),
            stats,
            tty: false,
            tx: Some(tx),
            shared,
            threads: vec![intake, deliver],
        })
    }

    /// Never blocks: a full queue drops the batch and counts it.
    pub fn send(&self, batch: &Arc<Vec<pipeline::Shared>>) {
        if self.try_send(batch).is_err() {
            self.stats
                .dropped
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }

    /// Hands the batch over unless the queue is full (in batches or bytes).
    pub fn try_send(&self, batch: &Arc<Vec<pipeline::Shared>>) -> Result<(), Full> {
        let tx = self.tx.as_ref().ok_or(Full)?;
        let bytes = batch_bytes(batch);
        let held = self.shared.handoff.fetch_add(bytes, Ordering::Relaxed);
        // One batch always fits, however large: a sink is never starved.
        if held > 0 && held + bytes > self.shared.limits.handoff_bytes {
            self.shared.handoff.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Full);
        }
        tx.try_send(batch.clone()).map_err(|_| {
            self.shared.handoff.fetch_sub(bytes, Ordering::Relaxed);
            Full
        })
    }

    /// Stops taking input, delivers what it can within `drain`, keeps the
    /// rest in the spool (or counts it dropped).
    pub fn finish(mut self, drain: Duration) -> Summary {
        self.tx = None;
        {
            let mut b = self.shared.lock();
            b.deadline = Some(Instant::now() + drain);
        }
        let mut threads = std::mem::take(&mut self.threads).into_iter();
        if let Some(intake) = threads.next() {
            let _ = intake.join();
        }
        {
            let mut b = self.shared.lock();
            b.closed = true;
            self.shared.ready.notify_all();
        }
        for t in threads {
            let _ = t.join();
        }
        let mut b = self.shared.lock();
        while let Some(c) = b.mem.pop_front() {
            b.mem_bytes -= c.bytes.len() as u64;
            self.shared.spill(&mut b, c);
        }
        Summary {
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            spooled: b.spool.as_ref().map_or(0, |s| s.events),
        }
    }
}

fn intake(
    shared: &Inner,
    rx: Receiver<Arc<Vec<pipeline::Shared>>>,
    host: &str,
    filter: Option<&Filter>,
    encode: &mut dyn Encode,
) {
    while let Ok(batch) = rx.recv() {
        let mut c = Chunk::default();
        let mut add = |batch: &[pipeline::Shared], c: &mut Chunk| {
            for ev in batch {
                if selected(filter, ev, host) {
                    encode.encode(ev, host, &mut c.bytes);
                    c.events += 1;
                }
            }
        };
        add(&batch, &mut c);
        let mut taken = batch_bytes(&batch);
        // Coalesce what is already waiting into one chunk.
        while c.bytes.len() < shared.limits.send_bytes {
            match rx.try_recv() {
                Ok(more) => {
                    add(&more, &mut c);
                    taken += batch_bytes(&more);
                }
                Err(_) => break,
            }
        }
        shared.handoff.fetch_sub(taken, Ordering::Relaxed);
        if c.events > 0 {
            shared.stats.held.fetch_add(c.events, Ordering::Relaxed);
            shared.put(c);
        }
    }
}

fn deliver(shared: &Inner, transport: &mut dyn Transport) {
    let limits = &shared.limits;
    while let Some(c) = shared.take() {
        let mut backoff = limits.backoff_min;
        let mut failing = false;
        loop {
            match transport.send(&c.bytes) {
                Ok(()) => {
                    if failing {
                        eprintln!("ssh-trace: sink {}: delivering again", shared.name);
                    }
                    if let Some(e) = transport.problem() {
                        eprintln!("ssh-trace: sink {}: {e:#}", shared.name);
                        shared.stats.writes.failed(&e, 0);
                    }
                    shared.delivered(&c);
                    break;
                }
                Err(e) => {
                    shared.stats.writes.failed(&e, 0);
                    if !failing {
                        eprintln!("ssh-trace: sink {}: {e:#}; retrying", shared.name);
                        failing = true;
                    }
                    if shared.past_deadline() {
                        shared.give_back(c);
                        return;
                    }
                    sleep_unless_stopping(shared, backoff);
                    backoff = (backoff * 2).min(limits.backoff_max);
                }
            }
        }
    }
}

/// Sleeps for `d`, waking early once the stop deadline has passed.
fn sleep_unless_stopping(shared: &Inner, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if shared.past_deadline() {
            return;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
}
