//! Rotated output files, for the capture writer and the agent-mode file
//! sink alike: the one place that creates, opens, renames and removes them,
//! so how files are opened safely is decided here once (dir.rs: a checked
//! directory held open, files made without following links, 0600). Callers
//! decide *when* to rotate (by size or age, per their format); this module
//! knows how, in one of two namings:
//!
//! - `Numbered` (tcpdump/sysdig, capture files): FILE, FILE.1, FILE.2, … a
//!   new file gets the next number; beyond `count` files the oldest goes.
//! - `Shifted` (logrotate, file sink): FILE is current, FILE.1 the previous
//!   one … FILE.N the oldest kept; rotated files are gzip'd when asked.
//!
//! A rotation that fails leaves the current file in use (the caller reports
//! it and writes on); nothing already written is renamed over.
mod dir;
#[cfg(test)]
mod tests;

use std::{
    ffi::{OsStr, OsString},
    fs::File,
    io::{BufWriter, Seek, SeekFrom, Write},
    os::unix::fs::FileTypeExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};

pub use dir::{Dir, Use};

/// When files rotate and how many are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub size: Option<u64>,
    pub age: Option<Duration>,
    /// Files kept at most, the current one included (None: all).
    pub count: Option<usize>,
}

impl Policy {
    /// Whether files rotate at all (else `count` does not matter).
    pub fn rotates(&self) -> bool {
        self.size.is_some() || self.age.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Numbered,
    Shifted { compress: bool },
}

/// How a file is opened: a capture starts empty; a log appends to what is
/// there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    Truncate,
    Append,
}

/// A file and its rotation set.
pub struct Rotating {
    dir: Dir,
    /// The current file's name in `dir` (FILE).
    name: OsString,
    /// What the files are, for error messages.
    label: &'static str,
    naming: Naming,
    open: Open,
    pub policy: Policy,
    pub file: File,
    /// The file before the last rotation, until it is compressed.
    previous: Option<File>,
    /// Number of the current file (Numbered; 0 = FILE).
    index: usize,
    opened: Instant,
}

/// FILE.n (FILE for n = 0), with `.gz` when compressed.
pub fn nth_path(base: &Path, n: usize, gz: bool) -> PathBuf {
    PathBuf::from(nth_name(base.as_os_str(), n, gz))
}

fn nth_name(base: &OsStr, n: usize, gz: bool) -> OsString {
    let mut s = base.to_owned();
    if n > 0 || gz {
        s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
    }
    s
}

impl Rotating {
    /// Checks the directory of `base` and creates (or safely reopens) it;
    /// errors name the file as `label` (e.g. "capture file").
    pub fn create(
        base: &Path,
        label: &'static str,
        (naming, open): (Naming, Open),
        policy: Policy,
    ) -> Result<Self> {
        let what = || format!("{label} {}", base.display());
        let name = base
            .file_name()
            .with_context(|| format!("{}: not a file name", what()))?;
        let parent = base.parent().filter(|p| !p.as_os_str().is_empty());
        let usage = if policy.rotates() {
            Use::Rotation
        } else {
            Use::OneFile
        };
        let dir = Dir::open(parent.unwrap_or(Path::new(".")), usage).with_context(what)?;
        let file = dir.file(name, open).with_context(what)?;
        if policy.rotates() && file.metadata()?.file_type().is_char_device() {
            anyhow::bail!("{}: a device does not rotate", what());
        }
        Ok(Self {
            dir,
            name: name.to_owned(),
            label,
            naming,
            open,
            policy,
            file,
            previous: None,
            index: 0,
            opened: Instant::now(),
        })
    }

    /// The current file.
    pub fn path(&self) -> PathBuf {
        self.path_of(&nth_name(&self.name, self.index, false))
    }

    fn path_of(&self, name: &OsStr) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The current file is older than the policy's age.
    pub fn aged(&self) -> bool {
        self.policy.age.is_some_and(|a| self.opened.elapsed() >= a)
    }

    /// Starts the next file of the set; the caller writes its header, if any.
    /// On error nothing was switched: the current file is still in use.
    pub fn rotate(&mut self) -> Result<()> {
        match self.naming {
            Naming::Numbered => self.next_numbered()?,
            Naming::Shifted { .. } => self.shift()?,
        }
        self.opened = Instant::now();
        Ok(())
    }

    /// The new file first: if it cannot be made, nothing changes.
    fn fresh(&self, name: &OsStr) -> Result<File> {
        let what = || format!("{} {}", self.label, self.path_of(name).display());
        self.dir.file(name, self.open).with_context(what)
    }

    fn next_numbered(&mut self) -> Result<()> {
        let file = self.fresh(&nth_name(&self.name, self.index + 1, false))?;
        self.file.sync_data().ok();
        self.file = file;
        self.index += 1;
        if let Some(count) = self.policy.count.filter(|&c| self.index >= c) {
            let old = nth_name(&self.name, self.index - count, false);
            self.dir
                .remove(&old)
                .with_context(|| format!("old {}", self.label))?;
        }
        Ok(())
    }

    /// FILE.n → FILE.n+1 (compressed or not: a file whose compression
    /// failed moves along too), FILE → FILE.1, a fresh FILE.
    fn shift(&mut self) -> Result<()> {
        let keep = self.policy.count.unwrap_or(1).max(1);
        // Made under a name of its own, put in place by a rename last. A
        // leftover of a crash is ours: the directory is root's alone.
        let mut staged = OsString::from(".");
        staged.push(&self.name);
        staged.push(".new");
        self.dir.remove(&staged)?;
        let file = self.fresh(&staged)?;
        for gz in [false, true] {
            self.dir.remove(&nth_name(&self.name, keep - 1, gz))?;
            for n in (1..keep.saturating_sub(1)).rev() {
                let (from, to) = (nth_name(&self.name, n, gz), nth_name(&self.name, n + 1, gz));
                self.dir.rename_if_there(&from, &to)?;
            }
        }
        if keep > 1 {
            self.dir
                .rename(&self.name, &nth_name(&self.name, 1, false))?;
        } else {
            self.dir.remove(&self.name)?;
        }
        self.dir.rename(&staged, &self.name)?;
        self.previous = Some(std::mem::replace(&mut self.file, file));
        Ok(())
    }

    /// After a rotation with `Shifted { compress: true }`: FILE.1 becomes
    /// FILE.1.gz (read from the descriptor still open, not by name). On
    /// error FILE.1 stays as it is.
    pub fn compress_previous(&mut self) -> Result<()> {
        let Some(mut old) = self.previous.take() else {
            return Ok(());
        };
        if self.naming != (Naming::Shifted { compress: true }) || self.policy.count == Some(1) {
            return Ok(());
        }
        let (plain, gz) = (
            nth_name(&self.name, 1, false),
            nth_name(&self.name, 1, true),
        );
        let what = || format!("compressing {}", self.path_of(&plain).display());
        let done = (|| -> Result<()> {
            old.seek(SeekFrom::Start(0))?;
            let out = self.dir.file(&gz, Open::Truncate)?;
            let mut z = GzEncoder::new(BufWriter::new(out), Compression::default());
            std::io::copy(&mut old, &mut z)?;
            z.finish()?.flush()?;
            Ok(())
        })();
        match done {
            Ok(()) => self.dir.remove(&plain).with_context(what),
            Err(e) => {
                let _ = self.dir.remove(&gz);
                Err(e).with_context(what)
            }
        }
    }
}
