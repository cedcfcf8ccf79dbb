//! Every loss, counted where it happens, summed here: the kernel's
//! counters, the reader's, the agent's own (discovery, the stop) and the
//! agent-mode sinks'. Reported as `agent.loss` within a second of growing.
use std::sync::{atomic::Ordering, Arc};

use ssh_trace_common::maps::{LOST_RINGBUF, LOST_SOCKS_FULL, LOST_TRACKED_FULL};

use super::discovery::Missed;
use crate::{
    event::{AgentLoss, Body, Event, LossCounts, SinkLoss},
    probes::Maps,
    reader::Reader,
    sinks::queue::Stats,
};

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

    pub fn now(&self, maps: &Maps, reader: &Reader) -> LossCounts {
        let k = maps.lost_totals();
        LossCounts {
            kernel_ringbuf: k[LOST_RINGBUF as usize],
            kernel_tracked_full: k[LOST_TRACKED_FULL as usize] + self.discovery.processes,
            kernel_socks_full: k[LOST_SOCKS_FULL as usize],
            queue: reader.stats.queue_lost.load(Ordering::Relaxed) + self.dropped_at_stop,
            decode: reader.stats.decode_errors.load(Ordering::Relaxed),
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
    pub fn report(&mut self, maps: &Maps, reader: &Reader, now_ns: u64) -> Option<Event> {
        let now = self.now(maps, reader);
        if now.total() <= self.reported.total() {
            return None;
        }
        let loss = now.since(&self.reported);
        self.reported = now.clone();
        let body = Body::AgentLoss(Box::new(AgentLoss { loss, total: now }));
        Some(Event::new(now_ns, None, body))
    }
}
