//! A JSON-lines (or any format) file, rotated logrotate-style by size
//! and/or age: FILE is current, FILE.1 the previous one, … FILE.N the
//! oldest kept; rotated files are gzip'd (FILE.1.gz) when asked.
use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};

use super::queue::Transport;

#[derive(Clone, Debug, Default)]
pub struct FileRotation {
    pub size: Option<u64>,
    pub age: Option<Duration>,
    /// Files kept, the current one included.
    pub count: usize,
    pub compress: bool,
}

pub struct RotatingFile {
    path: PathBuf,
    rotation: FileRotation,
    out: BufWriter<File>,
    written: u64,
    opened: Instant,
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// FILE.n, or FILE.n.gz when compressed.
fn rotated(base: &Path, n: usize, gz: bool) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(s)
}

impl RotatingFile {
    pub fn open(path: &Path, rotation: FileRotation) -> Result<Self> {
        let file = open(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            rotation,
            out: BufWriter::with_capacity(1 << 20, file),
            written,
            opened: Instant::now(),
        })
    }

    fn due(&self, incoming: usize) -> bool {
        let r = &self.rotation;
        self.written > 0
            && (r.size.is_some_and(|s| self.written + incoming as u64 > s)
                || r.age.is_some_and(|a| self.opened.elapsed() >= a))
    }

    fn rotate(&mut self) -> Result<()> {
        self.out.flush()?;
        let (gz, keep) = (self.rotation.compress, self.rotation.count.max(1));
        let _ = std::fs::remove_file(rotated(&self.path, keep - 1, gz));
        for n in (1..keep.saturating_sub(1)).rev() {
            let from = rotated(&self.path, n, gz);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1, gz))?;
            }
        }
        if keep > 1 {
            let first = rotated(&self.path, 1, false);
            std::fs::rename(&self.path, &first)?;
            if gz {
                compress(&first, &rotated(&self.path, 1, true))?;
            }
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.out = BufWriter::with_capacity(1 << 20, open(&self.path)?);
        self.written = 0;
        self.opened = Instant::now();
        Ok(())
    }
}

fn compress(from: &Path, to: &Path) -> Result<()> {
    let mut input = File::open(from)?;
    let mut gz = GzEncoder::new(
        BufWriter::new(File::create(to).with_context(|| format!("creating {}", to.display()))?),
        Compression::default(),
    );
    std::io::copy(&mut input, &mut gz)?;
    gz.finish()?.flush()?;
    std::fs::remove_file(from)?;
    Ok(())
}

impl Transport for RotatingFile {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        if self.due(data.len()) {
            self.rotate()
                .with_context(|| format!("rotating {}", self.path.display()))?;
        }
        self.out.write_all(data)?;
        self.out.flush()?;
        self.written += data.len() as u64;
        Ok(())
    }
}
