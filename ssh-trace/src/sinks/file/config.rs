//! `type = "file"`: path and rotation.
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::{
    rotate::Policy,
    spanned::{at, rotate_count, rotation, At, Opt},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    path: Opt<PathBuf>,
    rotate_size: Opt<String>,
    rotate_time: Opt<String>,
    rotate_count: Opt<u64>,
    compress: Opt<bool>,
}

/// A file sink, checked.
#[derive(Clone, Debug)]
pub struct Spec {
    pub path: PathBuf,
    /// Logrotate-style: FILE.1 is the newest rotated file (count default 10).
    pub rotation: Policy,
    /// Rotated files are gzip'd.
    pub compress: bool,
}

impl Config {
    /// `kind` is the `type` value: missing keys are reported there.
    pub fn spec(self, kind: &Spanned<String>) -> Result<Spec, At> {
        let path = self
            .path
            .ok_or_else(|| at(kind, "path", "a file sink needs path"))?;
        let count = rotate_count(&self.rotate_count)?.unwrap_or(10);
        let rotation = rotation(&self.rotate_size, &self.rotate_time, Some(count))?;
        Ok(Spec {
            path: path.into_inner(),
            rotation,
            compress: self.compress.is_some_and(|c| *c.get_ref()),
        })
    }
}
