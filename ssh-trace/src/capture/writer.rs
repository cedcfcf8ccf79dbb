//! Writes events to a capture file: blocks of at most `BLOCK_TARGET` bytes,
//! flushed at least every second (`tick`), so after a crash everything but
//! the last second is readable. Files are created 0600. Rotation by size
//! and/or time keeps at most `count` files (oldest deleted); every new file
//! carries the sessions open at that moment in its header. Terminal
//! recordings (bulk events) collect in a block of their own, written right
//! after the events' block of the same interval.
use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{codec::Encoder, file};
use crate::event::{Body, Event, SessionId, SessionInfo};
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

    /// The framed block, and the pending state reset (a block decodes on
    /// its own, so the encoder starts afresh).
    fn take_block(&mut self, magic: &[u8; 4]) -> Result<Option<Vec<u8>>> {
        if self.events == 0 {
            return Ok(None);
        }
        let block = file::encode_block(&self.raw, self.events, magic)?;
        self.raw.clear();
        self.events = 0;
        self.enc = Encoder::default();
        Ok(Some(block))
    }
}

pub struct Writer {
    origin: Origin,
    files: Rotating,
    written: u64,
    header_len: u64,
    events: Pending,
    tty: Pending,
    scratch: Vec<u8>,
    /// Sessions open now (connect seen, end not yet), for the next header.
    open: HashMap<SessionId, (Arc<SessionInfo>, u64)>,
    last_flush: Instant,
}

/// Path of the n-th file of a rotation set.
pub fn nth_path(base: &Path, n: usize) -> PathBuf {
    crate::rotate::nth_path(base, n, false)
}

impl Writer {
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
        };
        w.write_header()?;
        Ok(w)
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
        let bytes = h.encode();
        self.files
            .file
            .write_all(&bytes)
            .context("writing capture header")?;
        self.written = bytes.len() as u64;
        self.header_len = self.written;
        Ok(())
    }

    pub fn write(&mut self, ev: &Event) -> Result<()> {
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
            self.flush()?;
        }
        Ok(())
    }

    /// Called about once a second: writes the pending block, rotates if due.
    pub fn tick(&mut self) -> Result<()> {
        if self.last_flush.elapsed() >= Duration::from_millis(900) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending events as one block, then the pending terminal
    /// records as another. A due rotation happens first, so a new file is
    /// only started when there is something to put in it.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.events.events == 0 && self.tty.events == 0 {
            return Ok(());
        }
        let has_blocks = self.written > self.header_len;
        let due_size = self.files.policy.size.is_some_and(|s| self.written >= s);
        if has_blocks && (due_size || self.files.aged()) {
            self.files.rotate()?;
            self.write_header()?;
        }
        let events = self.events.take_block(file::BLOCK_MAGIC)?;
        let tty = self.tty.take_block(file::TTY_BLOCK_MAGIC)?;
        for block in [events, tty].into_iter().flatten() {
            self.files
                .file
                .write_all(&block)
                .context("writing capture block")?;
            self.written += block.len() as u64;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.files.file.sync_all().context("syncing capture file")
    }
}

impl crate::pipeline::Consumer for Writer {
    fn take(&mut self, ev: &crate::pipeline::Shared, _: &mut Vec<Event>) -> Result<()> {
        self.write(ev)
    }

    /// About once a second the pending block is written.
    fn tick(&mut self, _now_ns: u64, _: &mut Vec<Event>) -> Result<()> {
        Writer::tick(self)
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Writer::finish(*self)
    }
}
