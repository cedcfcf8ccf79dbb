//! Writes events to a capture file: blocks of at most `BLOCK_TARGET` bytes,
//! flushed at least every second (`tick`), so after a crash everything but
//! the last second is readable. Files are created 0600 (rotate.rs).
//! Rotation by size and/or time keeps at most `count` files (oldest
//! deleted); every new file carries the sessions open at that moment in its
//! header. Terminal recordings (bulk events) collect in a block of their
//! own, written right after the events' block of the same interval.
//!
//! A write that fails (disk full, I/O error) never stops the agent: the
//! file is cut back to its last whole block, the block's events are counted
//! lost (`Failures`, reported in `agent.loss` as output `capture`) and the
//! next block is tried again, so a disk that frees up is used again.
use std::{
    collections::HashMap,
    io::{Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{codec::Encoder, file};
use crate::event::{Body, Event, SessionId, SessionInfo};
use crate::pipeline::Failures;
use crate::rotate::{Naming, Open, Rotating};

/// Capture files rotate by size and/or age, numbered (rotate.rs).
pub type Rotation = crate::rotate::Policy;

/// Facts for each file's header.
#[derive(Clone, Debug)]
pub struct Origin {
    pub host: String,
    pub kernel: String,
    pub boot_id: [u8; 16],
    pub agent_version: String,
}

/// Events waiting to be written as one block.
#[derive(Default)]
struct Pending {
    raw: Vec<u8>,
    events: u32,
    enc: Encoder,
}

impl Pending {
    fn add(&mut self, ev: &Event, scratch: &mut Vec<u8>) {
        scratch.clear();
        self.enc.encode(ev, scratch);
        super::codec::put_varint(&mut self.raw, scratch.len() as u64);
        self.raw.extend_from_slice(scratch);
        self.events += 1;
    }

    /// The framed block, if any events wait, appended to `out`.
    fn block_into(&self, magic: &[u8; 4], out: &mut Vec<u8>) -> Result<()> {
        if self.events > 0 {
            out.extend(file::encode_block(&self.raw, self.events, magic)?);
        }
        Ok(())
    }

    /// Empty again (a block decodes on its own: the encoder starts afresh).
    fn clear(&mut self) {
        self.raw.clear();
        self.events = 0;
        self.enc = Encoder::default();
    }
}

pub struct Writer {
    origin: Origin,
    files: Rotating,
    /// Bytes of the current file holding its header and whole blocks (0:
    /// the header is still to be written).
    written: u64,
    header_len: u64,
    events: Pending,
    tty: Pending,
    scratch: Vec<u8>,
    /// Sessions open now (connect seen, end not yet), for the next header.
    open: HashMap<SessionId, (Arc<SessionInfo>, u64)>,
    last_flush: Instant,
    failures: Arc<Failures>,
    /// The last write failed (said once on stderr, and when it recovers).
    failing: bool,
}

/// Path of the n-th file of a rotation set.
pub fn nth_path(base: &Path, n: usize) -> PathBuf {
    crate::rotate::nth_path(base, n, false)
}

impl Writer {
    /// Creates the first file; a path that cannot be used safely is an
    /// error here (the agent does not start), a failing write later is not.
    pub fn create(base: &Path, origin: Origin, rotation: Rotation) -> Result<Self> {
        let how = (Naming::Numbered, Open::Truncate);
        let files = Rotating::create(base, "capture file", how, rotation)?;
        let mut w = Self {
            origin,
            files,
            written: 0,
            header_len: 0,
            events: Pending::default(),
            tty: Pending::default(),
            scratch: Vec::with_capacity(512),
            open: HashMap::new(),
            last_flush: Instant::now(),
            failures: Failures::new("capture"),
            failing: false,
        };
        if let Err(e) = w.write_header() {
            // Written again before the first block.
            w.failed(&e, 0);
        }
        Ok(w)
    }

    /// Where the loss report reads this file's failed writes.
    pub fn failures(&self) -> Arc<Failures> {
        self.failures.clone()
    }

    fn write_header(&mut self) -> Result<()> {
        let mut open: Vec<(SessionInfo, u64)> = self
            .open
            .values()
            .map(|(s, t)| (SessionInfo::clone(s), *t))
            .collect();
        open.sort_by_key(|(_, start)| *start);
        let h = file::Header {
            host: self.origin.host.clone(),
            kernel: self.origin.kernel.clone(),
            boot_id: self.origin.boot_id,
            agent_version: self.origin.agent_version.clone(),
            start_ns: crate::host::now_unix_ns(),
            open_sessions: open,
        };
        self.put(&h.encode())?;
        self.header_len = self.written;
        Ok(())
    }

    /// Appends whole to the file, or cuts the file back to what it held.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let f = &mut self.files.file;
        if let Err(e) = f.write_all(bytes) {
            let back = f.set_len(self.written);
            let at = f.seek(SeekFrom::Start(self.written));
            let e = anyhow::Error::from(e).context(format!(
                "writing capture file {}",
                self.files.path().display()
            ));
            return match back.and(at) {
                Ok(_) => Err(e),
                Err(b) => Err(e.context(format!("and cutting it back: {b}"))),
            };
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn failed(&mut self, e: &anyhow::Error, events: u64) {
        if !self.failing {
            eprintln!("ssh-trace: {e:#}; trying again with the next block");
            self.failing = true;
        }
        self.failures.failed(e, events);
    }

    pub fn write(&mut self, ev: &Event) {
        if let Some(s) = &ev.session {
            if let Body::SessionEnd(_) = ev.body {
                self.open.remove(&s.id);
            } else {
                let entry = self.open.entry(s.id).or_insert((s.clone(), ev.time_ns));
                if !Arc::ptr_eq(&entry.0, s) {
                    entry.0 = s.clone();
                }
            }
        }
        let pending = if ev.spec().bulk {
            &mut self.tty
        } else {
            &mut self.events
        };
        pending.add(ev, &mut self.scratch);
        if pending.raw.len() >= file::BLOCK_TARGET {
            self.flush();
        }
    }

    /// Called about once a second: writes the pending block, rotates if due.
    pub fn tick(&mut self) {
        if self.last_flush.elapsed() >= Duration::from_millis(900) {
            self.flush();
        }
    }

    /// Writes the pending events as one block, then the pending terminal
    /// records as another (one write: both or neither). A due rotation
    /// happens first, so a new file is only started when there is something
    /// to put in it. Returns whether the blocks were written; if not, their
    /// events are counted lost.
    pub fn flush(&mut self) -> bool {
        self.last_flush = Instant::now();
        let events = self.events.events + self.tty.events;
        if events == 0 {
            return true;
        }
        let written = self.write_block();
        match &written {
            Err(e) => self.failed(e, events as u64),
            Ok(()) if self.failing => {
                eprintln!(
                    "ssh-trace: capture file {}: writing again",
                    self.files.path().display()
                );
                self.failing = false;
            }
            Ok(()) => {}
        }
        self.events.clear();
        self.tty.clear();
        written.is_ok()
    }

    fn write_block(&mut self) -> Result<()> {
        self.rotate_if_due();
        if self.written == 0 {
            self.write_header()?;
        }
        let mut blocks = Vec::new();
        self.events.block_into(file::BLOCK_MAGIC, &mut blocks)?;
        self.tty.block_into(file::TTY_BLOCK_MAGIC, &mut blocks)?;
        self.put(&blocks)
    }

    /// A rotation that fails is reported; writing goes on in this file.
    fn rotate_if_due(&mut self) {
        let has_blocks = self.written > self.header_len;
        let due_size = self.files.policy.size.is_some_and(|s| self.written >= s);
        if !(has_blocks && (due_size || self.files.aged())) {
            return;
        }
        match self.files.rotate() {
            Ok(()) => self.written = 0,
            Err(e) => self.failed(&e.context("rotating"), 0),
        }
    }

    /// The last block and the file's sync; an error names what was lost
    /// (too late for an `agent.loss`).
    pub fn finish(mut self) -> Result<()> {
        let events = self.events.events + self.tty.events;
        if !self.flush() {
            anyhow::bail!(
                "capture file {}: the last {events} events could not be written",
                self.files.path().display()
            );
        }
        self.files.file.sync_all().context("syncing capture file")
    }
}

/// Never an error while running: failed writes are counted (`failures`).
impl crate::pipeline::Consumer for Writer {
    fn take(&mut self, ev: &crate::pipeline::Shared, _: &mut Vec<Event>) -> Result<()> {
        self.write(ev);
        Ok(())
    }

    /// About once a second the pending block is written.
    fn tick(&mut self, _now_ns: u64, _: &mut Vec<Event>) -> Result<()> {
        Writer::tick(self);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Writer::finish(*self)
    }
}
