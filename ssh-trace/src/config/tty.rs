//! `[tty]` (terminal recording, docs/tty.md) and `[capture]` (a capture
//! file the agent writes, with the recordings) of the agent configuration.
use std::path::PathBuf;

use serde::Deserialize;

use crate::{
    agent::tty::Options,
    capture::writer::Rotation,
    probes::tty::Limits,
    session::tty::Selection,
    spanned::{at, rotate_count, rotation, size, At, Opt},
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTty {
    /// Record what is typed too.
    input: Option<bool>,
    /// Only these users' and these groups' members' terminals.
    users: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    rate: Opt<String>,
    burst: Opt<String>,
    cap: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapture {
    path: toml::Spanned<PathBuf>,
    rotate_size: Opt<String>,
    rotate_time: Opt<String>,
    rotate_count: Opt<u64>,
}

fn size_or(v: &Opt<String>, key: &str, default: u64) -> Result<u64, At> {
    v.as_ref().map_or(Ok(default), |s| size(s, key))
}

impl RawTty {
    pub fn options(self) -> Result<Options, At> {
        let d = Limits::default();
        let limits = Limits {
            rate: size_or(&self.rate, "rate", d.rate)?,
            burst: size_or(&self.burst, "burst", d.burst)?,
            cap: size_or(&self.cap, "cap", d.cap)?,
        };
        if let Some(r) = &self.rate {
            if limits.rate == 0 || limits.rate > crate::probes::tty::MAX_RATE {
                return Err(at(r, "rate", "between 1 byte and 16GiB per second"));
            }
        }
        Ok(Options {
            selection: Selection {
                users: self.users.unwrap_or_default().into_iter().collect(),
                groups: self.groups.unwrap_or_default().into_iter().collect(),
            },
            input: self.input.unwrap_or(false),
            limits,
            detach_after: crate::agent::tty::DETACH_AFTER,
        })
    }
}

impl RawCapture {
    pub fn file(self) -> Result<(PathBuf, Rotation), At> {
        let count = rotate_count(&self.rotate_count)?;
        let rotation = rotation(&self.rotate_size, &self.rotate_time, count)?;
        Ok((self.path.into_inner(), rotation))
    }
}
