//! Capture file layout (docs/capture.md):
//!
//! ```text
//! header: "SSHTRACE" | version u16 LE | flags u16 LE | body_len u32 LE | body | crc32 u32 LE
//! block:  "STBK" | raw_len u32 | zstd_len u32 | events u32 | crc32 u32 | zstd(payload)
//! ```
//! Terminal recordings (`session.tty`) go in blocks of their own, framed
//! alike with the magic "STTY": readers of events skip them unopened.
//! The header crc covers everything before it; a block's crc covers its
//! four length/count fields and the compressed payload. The payload is the
//! events, each a varint length followed by its encoding (codec.rs).
use anyhow::{bail, Context, Result};

use super::codec::{self, Cursor};
use crate::event::SessionInfo;

pub const MAGIC: &[u8; 8] = b"SSHTRACE";
pub const BLOCK_MAGIC: &[u8; 4] = b"STBK";
pub const TTY_BLOCK_MAGIC: &[u8; 4] = b"STTY";
pub const VERSION: u16 = 1;
pub const BLOCK_HEADER_LEN: usize = 4 + 4 * 4;
/// A block is written once its events reach this size (or every second).
pub const BLOCK_TARGET: usize = 256 << 10;
/// Readers refuse larger blocks: memory stays bounded whatever the file says.
pub const MAX_BLOCK: usize = 8 << 20;
pub const MAX_HEADER: usize = 16 << 20;

/// What the file header records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub host: String,
    pub kernel: String,
    pub boot_id: [u8; 16],
    pub agent_version: String,
    pub start_ns: u64,
    /// Sessions open when this file was started (after a rotation), with
    /// their start times: each file stands on its own.
    pub open_sessions: Vec<(SessionInfo, u64)>,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        codec::put_str(&mut body, &self.host);
        codec::put_str(&mut body, &self.kernel);
        body.extend_from_slice(&self.boot_id);
        codec::put_str(&mut body, &self.agent_version);
        codec::put_varint(&mut body, self.start_ns);
        codec::put_varint(&mut body, self.open_sessions.len() as u64);
        for (s, start) in &self.open_sessions {
            codec::put_session(&mut body, s);
            codec::put_varint(&mut body, *start);
        }
        let mut out = Vec::with_capacity(body.len() + 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a header from the start of `data`; returns it and its length.
    pub fn decode(data: &[u8]) -> Result<(Self, usize)> {
        if data.is_empty() {
            bail!("empty file");
        }
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            bail!("not an ssh-trace capture (bad magic)");
        }
        if data.len() < 16 {
            bail!("truncated header");
        }
        let version = u16::from_le_bytes([data[8], data[9]]);
        if version > VERSION {
            bail!("capture format version {version} is newer than this ssh-trace reads ({VERSION}): upgrade ssh-trace");
        }
        if version == 0 {
            bail!("capture format version 0 is not valid");
        }
        let body_len = u32::from_le_bytes([data[12], data[13], data[14], data[15]]) as usize;
        if body_len > MAX_HEADER {
            bail!("header length {body_len} is absurd (limit {MAX_HEADER})");
        }
        let end = 16 + body_len;
        if data.len() < end + 4 {
            bail!("truncated header");
        }
        let crc = u32::from_le_bytes([data[end], data[end + 1], data[end + 2], data[end + 3]]);
        // Under the fuzzer checksums are not enforced, so that mutations
        // reach the decoders behind them.
        if crc32fast::hash(&data[..end]) != crc && !cfg!(fuzzing) {
            bail!("header checksum mismatch: the file is corrupt");
        }
        let mut c = Cursor::new(&data[16..end]);
        let host = c.string()?;
        let kernel = c.string()?;
        let boot_id: [u8; 16] = c.bytes(16)?.try_into().context("boot id")?;
        let agent_version = c.string()?;
        let start_ns = c.varint()?;
        let n = c.varint()? as usize;
        if n > 1 << 20 {
            bail!("header lists {n} open sessions: corrupt");
        }
        let mut open_sessions = Vec::new();
        for _ in 0..n {
            let s = codec::get_session(&mut c)?;
            open_sessions.push((s, c.varint()?));
        }
        Ok((
            Self {
                host,
                kernel,
                boot_id,
                agent_version,
                start_ns,
                open_sessions,
            },
            end + 4,
        ))
    }
}

/// Frames compressed events as a block (`magic`: an event or terminal block).
pub fn encode_block(raw: &[u8], events: u32, magic: &[u8; 4]) -> Result<Vec<u8>> {
    let z = zstd::bulk::compress(raw, 3).context("zstd compression")?;
    let mut fields = Vec::with_capacity(12 + z.len());
    fields.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    fields.extend_from_slice(&(z.len() as u32).to_le_bytes());
    fields.extend_from_slice(&events.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&fields);
    crc.update(&z);
    let mut out = Vec::with_capacity(BLOCK_HEADER_LEN + z.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&fields);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&z);
    Ok(out)
}

/// A block header read from the file (lengths not yet trusted).
#[derive(Clone, Copy, Debug)]
pub struct BlockHeader {
    pub raw_len: usize,
    pub zstd_len: usize,
    pub events: u32,
    pub crc: u32,
    /// A block of terminal recordings.
    pub tty: bool,
}

pub fn parse_block_header(h: &[u8; BLOCK_HEADER_LEN]) -> Result<BlockHeader> {
    let tty = &h[..4] == TTY_BLOCK_MAGIC;
    if &h[..4] != BLOCK_MAGIC && !tty {
        bail!("bad block magic");
    }
    let u = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let b = BlockHeader {
        raw_len: u(4) as usize,
        zstd_len: u(8) as usize,
        events: u(12),
        crc: u(16),
        tty,
    };
    if b.raw_len > MAX_BLOCK || b.zstd_len > MAX_BLOCK {
        bail!(
            "block lengths {}/{} are absurd (limit {MAX_BLOCK})",
            b.raw_len,
            b.zstd_len
        );
    }
    Ok(b)
}

/// Checks and decompresses a block's payload.
pub fn open_block(h: &[u8; BLOCK_HEADER_LEN], b: &BlockHeader, z: &[u8]) -> Result<Vec<u8>> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&h[4..16]);
    crc.update(z);
    if crc.finalize() != b.crc && !cfg!(fuzzing) {
        bail!("block checksum mismatch");
    }
    let raw = zstd::bulk::decompress(z, b.raw_len).context("zstd data corrupt")?;
    if raw.len() != b.raw_len {
        bail!(
            "block decompressed to {} bytes, header says {}",
            raw.len(),
            b.raw_len
        );
    }
    Ok(raw)
}
