//! The sink queue and its spool, with in-process transports: delivery in
//! order, the sink's own filter, retries, drops counted (never blocking),
//! the spool's restart and torn-write behaviour.
use std::{
    path::PathBuf,
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use super::{spool::Spool, Chunk, Encode, Limits, Transport, Worker};
use crate::{
    event::{Body, Event},
    filter::Filter,
    pipeline::Shared,
};

/// Writes each event's time and type as a line.
struct Names;

impl Encode for Names {
    fn encode(&mut self, ev: &Event, host: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{host} {} {}\n", ev.time_ns, ev.kind().name()).as_bytes());
    }
}

/// Records what it is sent; fails while `down` is set.
#[derive(Clone, Default)]
struct Peer {
    got: Arc<Mutex<Vec<u8>>>,
    down: Arc<Mutex<bool>>,
    sends: Arc<Mutex<u64>>,
}

impl Transport for Peer {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        *self.sends.lock().unwrap() += 1;
        if *self.down.lock().unwrap() {
            bail!("peer down");
        }
        self.got.lock().unwrap().extend_from_slice(data);
        Ok(())
    }
}

fn batch(from: u64, n: u64) -> Arc<Vec<Shared>> {
    Arc::new(
        (from..from + n)
            .map(|t| Arc::new(Event::new(t, None, Body::SessionConnect)))
            .collect(),
    )
}

fn fast() -> Limits {
    Limits {
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..Limits::default()
    }
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn start(peer: &Peer, filter: Option<&str>, limits: Limits) -> Worker {
    let filter = filter.map(|f| Filter::parse(f).unwrap());
    Worker::start(
        "t",
        "h".into(),
        filter,
        Box::new(Names),
        Box::new(peer.clone()),
        limits,
    )
    .unwrap()
}

#[test]
fn delivers_every_event_in_order() {
    let peer = Peer::default();
    let w = start(&peer, None, fast());
    for i in 0..50 {
        w.send(&batch(i * 10, 10));
    }
    let s = w.finish(Duration::from_secs(10));
    assert_eq!((s.delivered, s.dropped, s.spooled), (500, 0, 0));
    let got = String::from_utf8(peer.got.lock().unwrap().clone()).unwrap();
    let times: Vec<u64> = got
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(times, (0..500).collect::<Vec<_>>());
    assert!(got.starts_with("h 0 session.connect\n"));
}

#[test]
fn the_sinks_filter_applies_but_agent_events_pass() {
    let peer = Peer::default();
    let w = start(&peer, Some("event = process.exec"), fast());
    w.send(&batch(0, 5));
    let agent = crate::format::samples::event(crate::event::Kind::AgentLoss);
    w.send(&Arc::new(vec![Arc::new(agent)]));
    let s = w.finish(Duration::from_secs(10));
    assert_eq!(s.delivered, 1, "only the agent.loss");
    assert!(String::from_utf8(peer.got.lock().unwrap().clone())
        .unwrap()
        .contains("agent.loss"));
}

#[test]
fn a_failing_peer_is_retried_until_it_takes_the_data() {
    let peer = Peer::default();
    *peer.down.lock().unwrap() = true;
    let w = start(&peer, None, fast());
    w.send(&batch(0, 3));
    // The worker counts a failure after the transport returns, so wait for
    // the count itself, not for the peer's side of the send.
    wait_for("three failed sends counted", || w.stats.writes.count() >= 3);
    assert!(*peer.sends.lock().unwrap() >= 3);
    assert_eq!(w.stats.delivered.load(Ordering::Relaxed), 0);
    *peer.down.lock().unwrap() = false;
    wait_for("delivery", || {
        w.stats.delivered.load(Ordering::Relaxed) == 3
    });
    let s = w.finish(Duration::from_secs(5));
    assert_eq!((s.delivered, s.dropped), (3, 0));
}

#[test]
fn a_stalled_peer_makes_drops_counted_never_a_block() {
    let peer = Peer::default();
    *peer.down.lock().unwrap() = true;
    let limits = Limits {
        memory_bytes: 1 << 10,
        channel_batches: 2,
        handoff_bytes: 1 << 12,
        ..fast()
    };
    let w = start(&peer, None, limits);
    let t0 = Instant::now();
    for i in 0..200 {
        w.send(&batch(i * 10, 10));
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "send never waits");
    let s = w.finish(Duration::from_millis(100));
    assert_eq!(s.delivered, 0);
    assert_eq!(s.dropped, 2000, "every event accounted as dropped");
}

fn spool_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ssh-trace-spool-{name}-{}", std::process::id()))
}

fn chunk(text: &str, events: u64) -> Chunk {
    Chunk {
        bytes: text.as_bytes().to_vec(),
        events,
        spooled: 0,
    }
}

#[test]
fn spool_keeps_what_was_not_delivered_across_a_restart() {
    let p = spool_path("restart");
    let _ = std::fs::remove_file(&p);
    let mut s = Spool::open(&p, 1 << 20).unwrap();
    s.append(&chunk("one\n", 1)).unwrap();
    s.append(&chunk("two\nthree\n", 2)).unwrap();
    let first = s.peek(4).unwrap().unwrap();
    assert_eq!(
        (first.bytes.as_slice(), first.events),
        (&b"one\n"[..], 1),
        "at least one chunk, up to max"
    );
    s.consume(&first).unwrap();
    drop(s);
    let mut s = Spool::open(&p, 1 << 20).unwrap();
    assert_eq!(s.events, 2, "the delivered chunk is not sent again");
    let rest = s.peek(1 << 20).unwrap().unwrap();
    assert_eq!(rest.bytes, b"two\nthree\n");
    s.consume(&rest).unwrap();
    assert!(s.is_empty());
    assert_eq!(
        std::fs::metadata(&p).unwrap().len(),
        8,
        "emptied: only the header left"
    );
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn spool_cuts_a_torn_last_chunk_and_holds_its_limit() {
    let p = spool_path("torn");
    let _ = std::fs::remove_file(&p);
    let mut s = Spool::open(&p, 64).unwrap();
    s.append(&chunk("kept\n", 1)).unwrap();
    s.append(&chunk("torn by a crash\n", 1)).unwrap();
    drop(s);
    let len = std::fs::metadata(&p).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(len - 3).unwrap();
    let mut s = Spool::open(&p, 64).unwrap();
    assert_eq!(s.events, 1);
    assert_eq!(s.peek(1 << 20).unwrap().unwrap().bytes, b"kept\n");
    // 13 bytes pending (record header 8 + 5): a new record of 8 + len fits
    // while the sum stays within 64.
    assert!(s.fits(43));
    assert!(!s.fits(44));
    std::fs::remove_file(&p).unwrap();
}
