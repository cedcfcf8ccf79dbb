//! Write failures of one output (the capture file, an agent-mode sink):
//! counted where the output runs, read by the loss report each second
//! (agent/losses.rs), so a full disk or an I/O error shows in `agent.loss`
//! with the output's name and the error instead of stopping the agent.
use std::sync::{Arc, Mutex};

use crate::event::OutputLoss;

#[derive(Debug)]
pub struct Failures {
    output: String,
    so_far: Mutex<OutputLoss>,
}

impl Failures {
    /// `output` names it in `agent.loss`: `capture`, `sink NAME`.
    pub fn new(output: impl Into<String>) -> Arc<Self> {
        let output = output.into();
        Arc::new(Self {
            so_far: Mutex::new(OutputLoss {
                output: output.clone(),
                ..OutputLoss::default()
            }),
            output,
        })
    }

    pub fn output(&self) -> &str {
        &self.output
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputLoss> {
        self.so_far.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A write failed with `error`; `events` were lost by it for good (0
    /// when they wait to be written again).
    pub fn failed(&self, error: &anyhow::Error, events: u64) {
        let mut s = self.lock();
        s.error = format!("{error:#}");
        s.failures += 1;
        s.events += events;
    }

    /// Failed writes so far.
    pub fn count(&self) -> u64 {
        self.lock().failures
    }

    /// Everything so far, if anything failed.
    pub fn so_far(&self) -> Option<OutputLoss> {
        let s = self.lock();
        (s.failures > 0).then(|| s.clone())
    }
}
