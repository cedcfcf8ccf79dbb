//! The file sink: formatted lines appended to FILE, rotated logrotate-style
//! by size and/or age (rotate.rs: FILE.1 the previous file … FILE.N the
//! oldest kept; gzip'd when asked).
mod config;
#[cfg(test)]
mod tests;

use std::io::Write;

use anyhow::{Context, Result};

pub use config::{Config, Spec};

use super::{lines::Lines, queue::Transport, Parts};
use crate::{
    format::Formatter,
    rotate::{Naming, Open, Rotating},
};

pub struct RotatingFile {
    files: Rotating,
    written: u64,
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
        Ok(Self { files, written })
    }

    fn due(&self, incoming: usize) -> bool {
        let over = self
            .files
            .policy
            .size
            .is_some_and(|s| self.written + incoming as u64 > s);
        self.written > 0 && (over || self.files.aged())
    }
}

impl Transport for RotatingFile {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        if self.due(data.len()) {
            let path = self.files.path();
            self.files
                .rotate()
                .with_context(|| format!("rotating {}", path.display()))?;
            self.written = 0;
        }
        self.files.file.write_all(data)?;
        self.files.file.flush()?;
        self.written += data.len() as u64;
        Ok(())
    }
}

/// The file's directory is made if missing.
pub fn build(spec: &Spec, formatter: Formatter) -> Result<Parts> {
    if let Some(dir) = spec.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok((
        Box::new(Lines(formatter)),
        Box::new(RotatingFile::open(spec)?),
    ))
}
