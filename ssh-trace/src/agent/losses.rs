//! Every loss, counted where it happens, summed here: the kernel's
//! counters, the reader's, the agent's own (discovery, the stop) and the
//! agent-mode sinks'. Reported as `agent.loss` within a second of growing.
use std::sync::{atomic::Ordering, Arc};

use ssh_trace_common::maps::{
    LOST_FWD_FULL, LOST_MILESTONES, LOST_RINGBUF, LOST_SOCKS_FULL, LOST_TRACKED_FULL,
    LOST_USER_LISTENERS,
};

use super::discovery::Missed;
use crate::{
    event::{AgentLoss, Body, Event, LossCounts, SinkLoss},
    probes::Maps,
    reader::Reader,
    sinks::queue::Stats,
};

/// What the kernel side counted lost so far, and how to stop reading it.
pub trait Kernel {
    /// (ring buffer full, TRACKED full, SESSION_SOCKS full, reader queue
    /// full, undecodable).
    fn counters(&self) -> [u64; 5];
    /// Stops the reader once it has read what the kernel already wrote.
    fn stop(&mut self);
    /// Notes for a successor (persistent programs) how far this agent got:
    /// `done` records had their events written out; `stopped`: cleanly.
    fn note_progress(&mut self, done: u64, stopped: bool);
}

/// The loaded programs' maps and the ring-buffer reader.
pub struct Attached {
    pub maps: Maps,
    pub reader: Reader,
    /// The programs are pinned: progress is noted for the next agent.
    pub persistent: bool,
}

impl Kernel for Attached {
    fn counters(&self) -> [u64; 5] {
        let k = self.maps.lost_totals();
        let st = &self.reader.stats;
        [
            k[LOST_RINGBUF as usize] + k[LOST_MILESTONES as usize],
            k[LOST_TRACKED_FULL as usize] + k[LOST_USER_LISTENERS as usize],
            // A forward not followed is a connection not counted too.
            k[LOST_SOCKS_FULL as usize] + k[LOST_FWD_FULL as usize],
            st.queue_lost.load(Ordering::Relaxed),
            st.decode_errors.load(Ordering::Relaxed),
        ]
    }

    fn stop(&mut self) {
        self.reader.stop();
    }

    fn note_progress(&mut self, done: u64, stopped: bool) {
        if !self.persistent {
            return;
        }
        let consumed = self.reader.stats.consumed.load(Ordering::Relaxed);
        // A clean stop read everything it took.
        let done = if stopped { consumed } else { done };
        self.maps
            .note_progress(crate::host::now_unix_ns(), consumed, done, stopped);
    }
}

pub struct Losses {
    sinks: Vec<(String, Arc<Stats>)>,
    discovery: Missed,
    /// Records still queued when the stop's time ran out.
    pub dropped_at_stop: u64,
    /// What `agent.loss` events reported so far.
    pub reported: LossCounts,
}

impl Losses {
    pub fn new(sinks: Vec<(String, Arc<Stats>)>, discovery: Missed) -> Self {
        Self {
            sinks,
            discovery,
            dropped_at_stop: 0,
            reported: LossCounts::default(),
        }
    }

    pub fn now(&self, kernel: &dyn Kernel) -> LossCounts {
        let [ringbuf, tracked, socks, queue, decode] = kernel.counters();
        LossCounts {
            kernel_ringbuf: ringbuf,
            kernel_tracked_full: tracked + self.discovery.processes,
            kernel_socks_full: socks,
            queue: queue + self.dropped_at_stop,
            decode,
            sinks: self
                .sinks
                .iter()
                .map(|(name, s)| SinkLoss {
                    sink: name.clone(),
                    dropped: s.dropped.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }

    /// An `agent.loss` event when something more was lost since the last.
    pub fn report(&mut self, kernel: &dyn Kernel, now_ns: u64) -> Option<Event> {
        let now = self.now(kernel);
        if now.total() <= self.reported.total() {
            return None;
        }
        let loss = now.since(&self.reported);
        self.reported = now.clone();
        let body = Body::AgentLoss(Box::new(AgentLoss { loss, total: now }));
        Some(Event::new(now_ns, None, body))
    }
}
