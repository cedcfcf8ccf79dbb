//! `replay`: capture files → the lines `tail` would have printed.
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::{capture::merge::Merged, format::Formatter, sink::stdout::Stdout};

pub fn run(
    paths: &[PathBuf],
    formatter: Formatter,
    since: Option<u64>,
    until: Option<u64>,
) -> Result<()> {
    let mut files = Merged::open(paths)?;
    let hosts: Vec<String> = files
        .readers()
        .iter()
        .map(|r| r.header().host.clone())
        .collect();
    let mut out = Stdout::new(formatter);
    let mut read = 0u64;
    while let Some((ev, file)) = files.next_event() {
        read += 1;
        if since.is_some_and(|s| ev.time_ns < s) || until.is_some_and(|u| ev.time_ns >= u) {
            continue;
        }
        out.push(&ev, &hosts[file]);
        if out.closed {
            break;
        }
    }
    out.flush();
    let warnings = files.take_warnings();
    for w in &warnings {
        eprintln!("ssh-trace: warning: {w}");
    }
    if read == 0 && !warnings.is_empty() {
        bail!("no event could be read");
    }
    Ok(())
}
