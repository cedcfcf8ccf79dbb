//! The file sink: formatted lines appended to FILE, rotated logrotate-style
//! by size and/or age (rotate.rs: FILE.1 the previous file … FILE.N the
//! oldest kept; gzip'd when asked).
mod config;
#[cfg(test)]
mod tests;

use std::{io::Write, os::unix::fs::DirBuilderExt};

use anyhow::{Context, Result};

pub use config::{Config, Spec};

use super::{lines::Lines, queue::Transport, Parts};
use crate::{
    format::Formatter,
    rotate::{Naming, Open, Rotating},
};

pub struct RotatingFile {
    files: Rotating,
    /// Bytes of the current file that hold whole lines.
    written: u64,
    /// A rotation or compression that failed; the lines went on into the
    /// current file.
    problem: Option<anyhow::Error>,
}

impl RotatingFile {
    pub fn open(spec: &Spec) -> Result<Self> {
        let naming = Naming::Shifted {
            compress: spec.compress,
        };
        let files = Rotating::create(
            &spec.path,
            "file",
            (naming, Open::Append),
            spec.rotation.clone(),
        )?;
        let written = files.file.metadata()?.len();
        Ok(Self {
            files,
            written,
            problem: None,
        })
    }

    fn due(&self, incoming: usize) -> bool {
        let over = self
            .files
            .policy
            .size
            .is_some_and(|s| self.written + incoming as u64 > s);
        self.written > 0 && (over || self.files.aged())
    }

    fn rotate(&mut self) {
        let path = self.files.path();
        match self.files.rotate() {
            Ok(()) => {
                self.written = 0;
                self.problem = self.files.compress_previous().err();
            }
            Err(e) => {
                let e = e.context(format!("rotating {}; writing on in it", path.display()));
                self.problem = Some(e);
            }
        }
    }
}

impl Transport for RotatingFile {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        if self.due(data.len()) {
            self.rotate();
        }
        if let Err(e) = self.files.file.write_all(data) {
            // The retry writes `data` whole: what got in of it goes.
            let _ = self.files.file.set_len(self.written);
            let path = self.files.path();
            return Err(e).with_context(|| format!("writing {}", path.display()));
        }
        self.written += data.len() as u64;
        Ok(())
    }

    fn problem(&mut self) -> Option<anyhow::Error> {
        self.problem.take()
    }
}

/// The file's directory is made if missing (0700: root's alone, so its
/// files may rotate there).
pub fn build(spec: &Spec, formatter: Formatter) -> Result<Parts> {
    if let Some(dir) = spec.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok((
        Box::new(Lines(formatter)),
        Box::new(RotatingFile::open(spec)?),
    ))
}
