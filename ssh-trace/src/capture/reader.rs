//! Reads a capture file block by block, decoding one event at a time from
//! the block in hand: memory is bounded by one block (at most `MAX_BLOCK`
//! bytes, plus its session dictionary) whatever the file or its bytes say,
//! and never by how many events a block claims or how often they repeat a
//! large session snapshot. A corrupt block is skipped with a warning naming
//! its offset and reading resumes at the next block; a file cut short (the
//! recorder was killed) yields every complete block and a warning. A reader
//! reads either the events or the terminal recordings: blocks of the other
//! kind are skipped without being opened.
use std::{
    fs::File,
    io::{BufReader, ErrorKind, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::{
    codec::{Cursor, Decoder},
    file::{self, Header, BLOCK_HEADER_LEN, BLOCK_MAGIC, TTY_BLOCK_MAGIC},
};
use crate::event::Event;

/// Any seekable byte source: a file, or bytes in memory (fuzzing, tests).
pub trait Source: Read + Seek {}
impl<T: Read + Seek> Source for T {}

/// Warnings kept per file; beyond, they are counted (a file of garbage
/// would otherwise hold a warning for every few bytes).
const MAX_WARNINGS: usize = 100;

pub struct Reader {
    path: PathBuf,
    inner: BufReader<Box<dyn Source>>,
    pos: u64,
    header: Header,
    block: Option<Block>,
    warnings: Vec<String>,
    /// Warnings beyond MAX_WARNINGS.
    unshown: u64,
    eof: bool,
    /// Read the terminal blocks instead of the event blocks.
    tty: bool,
}

/// The block being read: its decompressed events, decoded one by one.
struct Block {
    /// File offset, for warnings.
    start: u64,
    raw: Vec<u8>,
    pos: usize,
    next: u32,
    events: u32,
    dec: Decoder,
}

/// Reads until `buf` is full or EOF; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Reader {
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display();
        let meta = std::fs::metadata(path).with_context(|| format!("{name}: cannot read"))?;
        if meta.is_dir() {
            bail!("{name}: is a directory, not a capture file");
        }
        let f = File::open(path).with_context(|| format!("{name}: cannot open"))?;
        Self::from_source(path, Box::new(f))
    }

    /// Reads a capture held in memory; `name` is used in messages.
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::from_source(name, Box::new(std::io::Cursor::new(bytes)))
    }

    fn from_source(path: &Path, src: Box<dyn Source>) -> Result<Self> {
        let name = path.display();
        let mut inner = BufReader::with_capacity(1 << 16, src);
        let mut head = [0u8; 16];
        let n = read_full(&mut inner, &mut head).with_context(|| format!("{name}: read error"))?;
        let mut data = head[..n].to_vec();
        if n == 16 {
            let body_len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
            if body_len <= file::MAX_HEADER && &head[..8] == file::MAGIC {
                // As much as the file holds, not as much as it claims.
                (&mut inner)
                    .take(body_len as u64 + 4)
                    .read_to_end(&mut data)
                    .with_context(|| format!("{name}: read error"))?;
            }
        }
        let (header, len) = Header::decode(&data).with_context(|| name.to_string())?;
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            pos: len as u64,
            header,
            block: None,
            warnings: Vec::new(),
            unshown: 0,
            eof: false,
            tty: false,
        })
    }

    /// Reads the terminal recordings (`session.tty`) instead of the events.
    pub fn terminals(mut self) -> Self {
        self.tty = true;
        self
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut w = std::mem::take(&mut self.warnings);
        if self.unshown > 0 {
            w.push(format!(
                "{}: {} more warnings about damage not shown",
                self.path.display(),
                std::mem::take(&mut self.unshown)
            ));
        }
        w
    }

    fn warn(&mut self, offset: u64, what: impl std::fmt::Display) {
        if self.warnings.len() >= MAX_WARNINGS {
            self.unshown += 1;
            return;
        }
        self.warnings
            .push(format!("{}: offset {offset}: {what}", self.path.display()));
    }

    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.next_in_block() {
                return Some(ev);
            }
            if self.eof {
                return None;
            }
            self.load_block();
        }
    }

    /// The next event of the block in hand; a bad one ends the block.
    fn next_in_block(&mut self) -> Option<Event> {
        let b = self.block.as_mut()?;
        if b.next >= b.events {
            self.block = None;
            return None;
        }
        let mut c = Cursor::new(&b.raw);
        c.pos = b.pos;
        let one = c
            .varint()
            .and_then(|len| c.bytes(len as usize))
            .and_then(|rec| b.dec.decode(&mut Cursor::new(rec)));
        b.pos = c.pos;
        match one {
            Ok(ev) => {
                b.next += 1;
                Some(ev)
            }
            Err(e) => {
                let (start, i) = (b.start, b.next);
                self.block = None;
                self.warn(
                    start,
                    format!(
                        "event {i} of the block does not decode ({e}); rest of the block skipped"
                    ),
                );
                None
            }
        }
    }

    /// Fills `buf` as far as the file goes; a read error ends the file.
    fn read_block_part(&mut self, start: u64, buf: &mut [u8]) -> Option<usize> {
        match read_full(&mut self.inner, buf) {
            Ok(n) => {
                self.pos += n as u64;
                Some(n)
            }
            Err(e) => {
                self.give_up(start, format!("read error: {e}"));
                None
            }
        }
    }

    /// Warns and reads no further.
    fn give_up(&mut self, offset: u64, what: impl std::fmt::Display) {
        self.warn(offset, what);
        self.eof = true;
    }

    /// Reads the next block into `block`; on damage, warns and resyncs.
    fn load_block(&mut self) {
        let start = self.pos;
        let mut h = [0u8; BLOCK_HEADER_LEN];
        let Some(n) = self.read_block_part(start, &mut h) else {
            return;
        };
        if n == 0 {
            self.eof = true;
            return;
        }
        if n < BLOCK_HEADER_LEN {
            self.give_up(start, "truncated block header at the end of the file (the recorder stopped mid-write); ignored");
            return;
        }
        let b = match file::parse_block_header(&h) {
            Ok(b) => b,
            Err(e) => {
                self.warn(
                    start,
                    format!("corrupt block ({e}); skipping to the next block"),
                );
                self.resync(start + 1);
                return;
            }
        };
        if b.tty != self.tty {
            self.skip(start, b.zstd_len);
            return;
        }
        // As much as the file holds, not as much as the header claims.
        let mut z = Vec::new();
        let read = (&mut self.inner)
            .take(b.zstd_len as u64)
            .read_to_end(&mut z);
        let k = match read {
            Ok(k) => k,
            Err(e) => return self.give_up(start, format!("read error: {e}")),
        };
        self.pos += k as u64;
        if k < b.zstd_len {
            self.give_up(start, format!(
                "truncated block at the end of the file ({k} of {} bytes; the recorder stopped mid-write); ignored",
                b.zstd_len
            ));
            return;
        }
        let raw = match file::open_block(&h, &b, &z) {
            Ok(raw) => raw,
            Err(e) => {
                self.warn(
                    start,
                    format!("corrupt block ({e}); skipping to the next block"),
                );
                // The length fields may be the damaged part: search from just
                // after this block's magic rather than trusting them.
                self.resync(start + 1);
                return;
            }
        };
        self.block = Some(Block {
            start,
            raw,
            pos: 0,
            next: 0,
            events: b.events,
            dec: Decoder::default(),
        });
    }

    /// Steps over a block of the other kind; past the end is a cut file.
    fn skip(&mut self, start: u64, len: usize) {
        match self.inner.seek_relative(len as i64) {
            Ok(()) => self.pos += len as u64,
            Err(e) => return self.give_up(start, format!("read error: {e}")),
        }
        let Ok(size) = self.inner.get_mut().seek(SeekFrom::End(0)) else {
            return self.give_up(start, "cannot seek");
        };
        if self.pos > size {
            self.give_up(start, format!(
                "truncated block at the end of the file ({} of {len} bytes; the recorder stopped mid-write); ignored",
                len as u64 - (self.pos - size)
            ));
            return;
        }
        // Back to where the buffered reader thinks it is.
        if self.inner.seek(SeekFrom::Start(self.pos)).is_err() {
            self.eof = true;
        }
    }

    /// Scans forward from `from` for the next block magic and continues
    /// there; bytes in between are skipped (their offsets were warned of).
    fn resync(&mut self, from: u64) {
        if self.inner.seek(SeekFrom::Start(from)).is_err() {
            self.eof = true;
            return;
        }
        let mut base = from;
        let mut window = Vec::with_capacity(1 << 15);
        let mut chunk = [0u8; 1 << 14];
        loop {
            let k = match read_full(&mut self.inner, &mut chunk) {
                Ok(0) | Err(_) => {
                    self.eof = true;
                    return;
                }
                Ok(k) => k,
            };
            window.extend_from_slice(&chunk[..k]);
            let magic = |w: &[u8]| w == BLOCK_MAGIC || w == TTY_BLOCK_MAGIC;
            if let Some(i) = window.windows(4).position(magic) {
                let at = base + i as u64;
                self.pos = at;
                if self.inner.seek(SeekFrom::Start(at)).is_err() {
                    self.eof = true;
                }
                return;
            }
            // Keep three bytes: a magic may straddle two chunks.
            let keep = window.len().saturating_sub(3);
            base += keep as u64;
            window.drain(..keep);
        }
    }
}
