//! On-disk overflow for a sink's backlog: chunks appended to one file and
//! read back in order. The first 8 bytes hold the read offset, so a restart
//! neither loses what was spooled nor sends the delivered part again.
use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom},
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::chunk::Chunk;

const HEADER: u64 = 8;

pub struct Spool {
    path: PathBuf,
    file: File,
    /// Offset of the next chunk to read.
    read: u64,
    /// End of the file (where the next chunk goes).
    end: u64,
    /// Events waiting in the file.
    pub events: u64,
    pub limit: u64,
}

impl Spool {
    /// Opens (or creates) the spool; chunks left by a previous run are kept.
    pub fn open(path: &Path, limit: u64) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("opening spool {}", path.display()))?;
        let end = file.metadata()?.len();
        let mut s = Self {
            path: path.to_owned(),
            file,
            read: HEADER,
            end,
            events: 0,
            limit,
        };
        if end < HEADER {
            s.reset()?;
            return Ok(s);
        }
        let mut head = [0u8; 8];
        s.file.read_exact_at(&mut head, 0)?;
        s.read = u64::from_le_bytes(head).clamp(HEADER, end);
        // Count what is left; a torn last chunk (crash mid-write) is cut off.
        let mut at = s.read;
        s.file.seek(SeekFrom::Start(at))?;
        loop {
            let mut h = [0u8; 8];
            if s.file.read_exact(&mut h).is_err() {
                break;
            }
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64;
            if at + 8 + len > end {
                break;
            }
            s.events += u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64;
            at += 8 + len;
            s.file.seek(SeekFrom::Start(at))?;
        }
        s.end = at;
        s.file.set_len(at)?;
        if s.is_empty() {
            s.reset()?;
        }
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        self.read >= self.end
    }

    /// Bytes on disk not yet delivered.
    pub fn pending_bytes(&self) -> u64 {
        self.end - self.read
    }

    /// Whether `len` more bytes fit under the limit.
    pub fn fits(&self, len: usize) -> bool {
        self.pending_bytes() + 8 + len as u64 <= self.limit
    }

    pub fn append(&mut self, c: &Chunk) -> Result<()> {
        let mut rec = Vec::with_capacity(8 + c.bytes.len());
        rec.extend_from_slice(&(c.bytes.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(c.events as u32).to_le_bytes());
        rec.extend_from_slice(&c.bytes);
        self.file
            .write_all_at(&rec, self.end)
            .with_context(|| format!("writing spool {}", self.path.display()))?;
        self.end += rec.len() as u64;
        self.events += c.events;
        Ok(())
    }

    /// The oldest chunks (at least one, up to `max` bytes), joined, left in
    /// place until `consume`.
    pub fn peek(&mut self, max: usize) -> Result<Option<Chunk>> {
        let mut out = Chunk::default();
        let mut at = self.read;
        while at < self.end {
            let mut h = [0u8; 8];
            self.file.read_exact_at(&mut h, at)?;
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let events = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64;
            if at + 8 + len as u64 > self.end {
                bail!("spool {} is corrupt", self.path.display());
            }
            if out.events > 0 && out.bytes.len() + len > max {
                break;
            }
            let start = out.bytes.len();
            out.bytes.resize(start + len, 0);
            self.file.read_exact_at(&mut out.bytes[start..], at + 8)?;
            out.events += events;
            out.spooled += 8 + len as u64;
            at += 8 + len as u64;
        }
        Ok((out.events > 0 || out.spooled > 0).then_some(out))
    }

    /// Marks the chunks `peek` returned as delivered.
    pub fn consume(&mut self, c: &Chunk) -> Result<()> {
        self.read += c.spooled;
        self.events -= c.events;
        if self.is_empty() {
            self.reset()
        } else {
            self.file.write_all_at(&self.read.to_le_bytes(), 0)?;
            Ok(())
        }
    }

    /// Empty: truncate so the file does not grow forever.
    fn reset(&mut self) -> Result<()> {
        self.file.set_len(0)?;
        self.file.write_all_at(&HEADER.to_le_bytes(), 0)?;
        self.read = HEADER;
        self.end = HEADER;
        self.events = 0;
        Ok(())
    }
}
