//! Rotated output files, for the capture writer and the agent-mode file
//! sink alike: the one place that creates, opens, renames and removes them
//! (so how files are opened safely is decided here once). Callers decide
//! *when* to rotate (by size or age, per their format); this module knows
//! how, in one of two namings:
//!
//! - `Numbered` (tcpdump/sysdig, capture files): FILE, FILE.1, FILE.2, … a
//!   new file gets the next number; beyond `count` files the oldest goes.
//! - `Shifted` (logrotate, file sink): FILE is current, FILE.1 the previous
//!   one … FILE.N the oldest kept; rotated files are gzip'd when asked.
use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};

/// When files rotate and how many are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub size: Option<u64>,
    pub age: Option<Duration>,
    /// Files kept at most, the current one included (None: all).
    pub count: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Numbered,
    Shifted { compress: bool },
}

/// How a file is opened: a fresh capture truncates (and is made private
/// even if it existed); a log appends to what is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    Truncate,
    Append,
}

/// A file and its rotation set.
pub struct Rotating {
    base: PathBuf,
    /// What the files are, for error messages.
    label: &'static str,
    naming: Naming,
    open: Open,
    pub policy: Policy,
    pub file: File,
    /// Number of the current file (Numbered; 0 = FILE).
    index: usize,
    opened: Instant,
}

/// FILE.n (FILE for n = 0), with `.gz` when compressed.
pub fn nth_path(base: &Path, n: usize, gz: bool) -> PathBuf {
    if n == 0 && !gz {
        return base.to_path_buf();
    }
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(s)
}

/// Creates or opens `path` as `open` says, mode 0600; errors name it as
/// `label` (e.g. "capture file").
pub fn open_file(path: &Path, open: Open, label: &str) -> Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).mode(0o600);
    match open {
        Open::Truncate => o.write(true).truncate(true),
        Open::Append => o.append(true),
    };
    let f = o.open(path).with_context(|| match open {
        Open::Truncate => format!("creating {label} {}", path.display()),
        Open::Append => format!("opening {}", path.display()),
    })?;
    if open == Open::Truncate {
        // An existing file keeps its mode on open: make it private too.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", path.display()))?;
    }
    Ok(f)
}

impl Rotating {
    pub fn create(
        base: &Path,
        label: &'static str,
        (naming, open): (Naming, Open),
        policy: Policy,
    ) -> Result<Self> {
        Ok(Self {
            base: base.to_path_buf(),
            label,
            naming,
            open,
            policy,
            file: open_file(base, open, label)?,
            index: 0,
            opened: Instant::now(),
        })
    }

    pub fn path(&self) -> PathBuf {
        nth_path(&self.base, self.index, false)
    }

    /// The current file is older than the policy's age.
    pub fn aged(&self) -> bool {
        self.policy.age.is_some_and(|a| self.opened.elapsed() >= a)
    }

    /// Starts the next file of the set; the caller writes its header, if any.
    pub fn rotate(&mut self) -> Result<()> {
        self.file.flush().ok();
        match self.naming {
            Naming::Numbered => self.next_numbered()?,
            Naming::Shifted { compress } => self.shift(compress)?,
        }
        self.opened = Instant::now();
        Ok(())
    }

    fn next_numbered(&mut self) -> Result<()> {
        self.file.sync_data().ok();
        self.index += 1;
        self.file = open_file(&self.path(), self.open, self.label)?;
        if let Some(count) = self.policy.count {
            if self.index >= count {
                let old = nth_path(&self.base, self.index - count, false);
                std::fs::remove_file(&old)
                    .with_context(|| format!("removing old {} {}", self.label, old.display()))?;
            }
        }
        Ok(())
    }

    fn shift(&mut self, gz: bool) -> Result<()> {
        let keep = self.policy.count.unwrap_or(1).max(1);
        let _ = std::fs::remove_file(nth_path(&self.base, keep - 1, gz));
        for n in (1..keep.saturating_sub(1)).rev() {
            let from = nth_path(&self.base, n, gz);
            if from.exists() {
                std::fs::rename(&from, nth_path(&self.base, n + 1, gz))?;
            }
        }
        if keep > 1 {
            let first = nth_path(&self.base, 1, false);
            std::fs::rename(&self.base, &first)?;
            if gz {
                compress(&first, &nth_path(&self.base, 1, true))?;
            }
        } else {
            std::fs::remove_file(&self.base)?;
        }
        self.file = open_file(&self.base, self.open, self.label)?;
        Ok(())
    }
}

fn compress(from: &Path, to: &Path) -> Result<()> {
    let mut input = File::open(from)?;
    let out = open_file(to, Open::Truncate, "file")?;
    let mut gz = GzEncoder::new(BufWriter::new(out), Compression::default());
    std::io::copy(&mut input, &mut gz)?;
    gz.finish()?.flush()?;
    std::fs::remove_file(from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("ssh-trace-rotate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn numbered_keeps_the_newest_count_files() {
        let d = dir("numbered");
        let policy = Policy {
            count: Some(2),
            ..Default::default()
        };
        let how = (Naming::Numbered, Open::Truncate);
        let mut r = Rotating::create(&d.join("c"), "capture file", how, policy).unwrap();
        for i in 0..3 {
            writeln!(r.file, "{i}").unwrap();
            r.rotate().unwrap();
        }
        assert_eq!(names(&d), ["c.2", "c.3"]);
        assert_eq!(r.path(), d.join("c.3"));
        let mode = std::fs::metadata(d.join("c.3"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shifted_renames_and_compresses() {
        let d = dir("shifted");
        let policy = Policy {
            count: Some(3),
            ..Default::default()
        };
        let naming = Naming::Shifted { compress: true };
        let mut r = Rotating::create(&d.join("f"), "file", (naming, Open::Append), policy).unwrap();
        for i in 0..4 {
            writeln!(r.file, "{i}").unwrap();
            r.rotate().unwrap();
        }
        assert_eq!(names(&d), ["f", "f.1.gz", "f.2.gz"]);
        let mut text = String::new();
        let gz = File::open(d.join("f.1.gz")).unwrap();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).unwrap();
        assert_eq!(text, "3\n", "the newest rotated file is .1");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
