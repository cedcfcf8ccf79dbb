//! Terminal recording, agent side: the kernel programs are attached while
//! at least one session is open and detached when the last one ends (no
//! session: nothing runs on anyone's read() or write()); a session whose
//! user is not selected is switched off in the kernel at login; once a
//! second, a loss no later record of the session marked is marked now.
use std::collections::HashSet;

use ssh_trace_common::event::{EventHeader, EventKind, TtyEvent};

use super::losses::Kernel;
use crate::{
    decode::{KernelEvent, Tty},
    event::{Body, Event, SessionId},
    probes::tty::Limits,
    session::{tty::Selection, SessionTable},
};

/// What is recorded (docs/tty.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub selection: Selection,
    /// Input too (echo-off canonical input is never recorded).
    pub input: bool,
    pub limits: Limits,
}

pub struct TtyControl {
    selection: Selection,
    boot_id: u128,
    /// Keys of the sessions open now.
    open: HashSet<u64>,
    /// Attaching failed once: said, not retried on every session.
    failed: bool,
}

impl TtyControl {
    /// `table`: the sessions open at start-up (found in /proc).
    pub fn new(opts: &Options, boot_id: [u8; 16], table: &SessionTable) -> Self {
        let open = table
            .sessions()
            .filter(|s| !s.ended)
            .map(|s| s.key)
            .collect();
        Self {
            selection: opts.selection.clone(),
            boot_id: u128::from_be_bytes(boot_id),
            open,
            failed: false,
        }
    }

    /// The kernel key of a session id (SessionId::new's inverse).
    fn key(&self, id: SessionId) -> u64 {
        (id.0 ^ self.boot_id) as u64
    }

    /// Follows the sessions: attach, decide, forget, detach.
    pub fn observe(&mut self, ev: &Event, kernel: &mut dyn Kernel) {
        let Some(s) = &ev.session else { return };
        let key = self.key(s.id);
        match &ev.body {
            Body::SessionEnd(_) => {
                self.open.remove(&key);
                kernel.tty_forget(key);
            }
            Body::SessionLogin if !self.selection.selects(s) => {
                self.open.insert(key);
                if let Some(t) = kernel.tty() {
                    t.decide(key, false);
                }
            }
            _ => {
                self.open.insert(key);
            }
        }
        self.sync(kernel);
    }

    /// Attached exactly while a session is open.
    pub fn sync(&mut self, kernel: &mut dyn Kernel) {
        let want = !self.open.is_empty();
        let Some(t) = kernel.tty() else { return };
        if want == t.attached() || self.failed {
            return;
        }
        if let Err(e) = t.set(want) {
            eprintln!("ssh-trace: terminal recording: {e:#}");
            self.failed = true;
        }
    }

    /// Marks losses that no record followed (the session went quiet or
    /// ended right after them): a record with the count alone.
    pub fn tick(
        &mut self,
        kernel: &mut dyn Kernel,
        table: &mut SessionTable,
        out: &mut Vec<Event>,
    ) {
        let mut marks = Vec::new();
        for &key in &self.open {
            let Some(s) = table.get(key) else { continue };
            if s.tty.recorded != Some(true) {
                continue;
            }
            let lost = kernel.tty().map_or(0, |t| t.lost(key)) + kernel.tty_queue_lost(key);
            if lost > s.tty.lost_seen {
                marks.push((key, lost));
            }
        }
        for (key, lost) in marks {
            table.handle(loss_mark(key, lost), out);
        }
    }
}

/// A terminal record carrying only a session's loss count, as of now.
fn loss_mark(key: u64, lost: u64) -> KernelEvent {
    let hdr = EventHeader {
        kind: EventKind::Tty as u32,
        tgid: 0,
        ktime_ns: crate::host::monotonic_ns(),
        session: key,
    };
    KernelEvent::Tty(Tty {
        head: TtyEvent {
            hdr,
            lost,
            ..Default::default()
        },
        data: Vec::new(),
    })
}
