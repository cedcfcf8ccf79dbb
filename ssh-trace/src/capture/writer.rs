//! Writes events to a capture file: blocks of at most `BLOCK_TARGET` bytes,
//! flushed at least every second (`tick`), so after a crash everything but
//! the last second is readable. Files are created 0600. Rotation by size
//! and/or time keeps at most `count` files (oldest deleted); every new file
//! carries the sessions open at that moment in its header.
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

pub struct Writer {
    origin: Origin,
    files: Rotating,
    written: u64,
    header_len: u64,
    raw: Vec<u8>,
    events: u32,
    enc: Encoder,
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
            raw: Vec::with_capacity(file::BLOCK_TARGET + 4096),
            events: 0,
            enc: Encoder::default(),
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
        self.scratch.clear();
        self.enc.encode(ev, &mut self.scratch);
        super::codec::put_varint(&mut self.raw, self.scratch.len() as u64);
        self.raw.extend_from_slice(&self.scratch);
        self.events += 1;
        if self.raw.len() >= file::BLOCK_TARGET {
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

    /// Writes the pending events as one block (a block decodes on its own,
    /// so the encoder starts afresh). A due rotation happens first, so a new
    /// file is only started when there is something to put in it.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.events == 0 {
            return Ok(());
        }
        let has_blocks = self.written > self.header_len;
        let due_size = self.files.policy.size.is_some_and(|s| self.written >= s);
        if has_blocks && (due_size || self.files.aged()) {
            self.files.rotate()?;
            self.write_header()?;
        }
        let block = file::encode_block(&self.raw, self.events)?;
        self.files
            .file
            .write_all(&block)
            .context("writing capture block")?;
        self.written += block.len() as u64;
        self.raw.clear();
        self.events = 0;
        self.enc = Encoder::default();
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
