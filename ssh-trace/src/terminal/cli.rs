//! The command line of terminal recording: the agent flags that turn it on
//! (`--tty`, `--tty-input`, whose sessions, the bounds), `replay --tty` and
//! `export asciicast`.
use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use bytesize::ByteSize;
use clap::Args;

use super::{asciicast, play, recording};
use crate::{agent::tty::Options, probes::tty::Limits, session::tty::Selection};

#[derive(Args, Clone, Debug, Default)]
pub struct RecordArgs {
    /// Record what the terminals of pty sessions show (and their window
    /// sizes) into the capture file; `top` shows them live (docs/tty.md).
    #[arg(long)]
    tty: bool,
    /// Record what is typed too (input typed while the terminal does not
    /// echo, as at a password prompt, never is). Implies --tty.
    #[arg(long)]
    tty_input: bool,
    /// Only the terminals of this user's sessions (repeatable; with
    /// --tty-group, of either). Default: everyone's.
    #[arg(long = "tty-user", value_name = "NAME")]
    tty_users: Vec<String>,
    /// Only the terminals of members of this group (repeatable).
    #[arg(long = "tty-group", value_name = "NAME")]
    tty_groups: Vec<String>,
    /// Per-session rate limit, bytes per second (more is counted lost and
    /// marked in the recording).
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    tty_rate: ByteSize,
    /// Bytes a session may send at once above the rate.
    #[arg(long, value_name = "SIZE", default_value = "8MiB")]
    tty_burst: ByteSize,
    /// Bytes recorded per session at most.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    tty_cap: ByteSize,
    /// Detach the terminal programs after this long without a session.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = humantime::parse_duration, hide = true)]
    tty_detach_after: Duration,
}

impl RecordArgs {
    /// What to record, if anything.
    pub fn options(&self) -> Option<Options> {
        if !self.tty && !self.tty_input {
            return None;
        }
        Some(Options {
            selection: Selection {
                users: self.tty_users.iter().cloned().collect(),
                groups: self.tty_groups.iter().cloned().collect(),
            },
            input: self.tty_input,
            limits: Limits {
                rate: self.tty_rate.as_u64(),
                burst: self.tty_burst.as_u64(),
                cap: self.tty_cap.as_u64(),
            },
            detach_after: self.tty_detach_after,
        })
    }
}

#[derive(Args, Clone, Debug)]
pub struct PaceArgs {
    /// Play faster (2) or slower (0.5).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0,
          value_parser = positive)]
    pub speed: f64,
    /// Cut pauses longer than this (e.g. 2s).
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    pub idle_limit: Option<Duration>,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// `replay --tty SESSION`: plays the recording on standard output.
pub fn replay(paths: &[PathBuf], session: &str, pace: &PaceArgs) -> Result<()> {
    let rec = recording::read(paths, session)?;
    let pace = play::Pace {
        speed: pace.speed,
        idle_limit: pace.idle_limit,
    };
    let mut out = std::io::stdout().lock();
    match play::play(&rec, &pace, &mut out, &mut std::thread::sleep) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[derive(Args, Clone, Debug)]
pub struct ExportArgs {
    /// Capture files (several are merged in time order).
    #[arg(short = 'r', long = "read", value_name = "FILE", required = true, num_args = 1..)]
    read: Vec<PathBuf>,
    /// The session (its id, or a unique prefix of it).
    session: String,
    /// Write here (created 0600) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Include what was typed ("i" events).
    #[arg(long)]
    input: bool,
    /// idle_time_limit in the header: players cut longer pauses.
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    idle_limit: Option<Duration>,
}

/// `export asciicast`: the recording as asciicast v2.
pub fn export(a: &ExportArgs) -> Result<()> {
    let rec = recording::read(&a.read, &a.session)?;
    let opts = asciicast::Options {
        input: a.input,
        idle_limit: a.idle_limit.map(|d| d.as_secs_f64()),
    };
    let mut buf = Vec::new();
    asciicast::write(&rec, &opts, &mut buf)?;
    match &a.output {
        Some(path) => private_file(path)?
            .write_all(&buf)
            .with_context(|| format!("writing {}", path.display())),
        None => match std::io::stdout().lock().write_all(&buf) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        },
    }
}

/// A recording is as private as the capture: 0600, never through a symlink.
fn private_file(path: &Path) -> Result<std::fs::File> {
    if path.is_dir() {
        bail!("{}: is a directory", path.display());
    }
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("creating {} (a symlink is refused)", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 0600 {}", path.display()))?;
    Ok(f)
}
