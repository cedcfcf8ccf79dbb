//! Reading capture files for `replay` and `report`: merged in time order,
//! cut to a time window, filtered; warnings about damage go to stderr.
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};

use crate::{
    capture::merge::Merged,
    event::{
        resolve::{Resolver, Unresolved},
        Event,
    },
    filter::Filter,
    format::Formatter,
    pipeline::{selected, Lines},
    report::Report,
};

pub struct Selection {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub filter: Option<Filter>,
}

/// Calls `f(event, host)` for every selected event until it returns false.
pub fn for_each(
    paths: &[PathBuf],
    sel: &Selection,
    mut f: impl FnMut(&Event, &str) -> bool,
) -> Result<()> {
    let resolved = resolve_ids(paths, sel.filter.as_ref())?;
    let filter = resolved.as_ref().or(sel.filter.as_ref());
    let mut files = Merged::open(paths)?;
    let hosts: Vec<String> = files
        .readers()
        .iter()
        .map(|r| r.header().host.clone())
        .collect();
    let mut read = 0u64;
    while let Some((ev, file)) = files.next_event() {
        read += 1;
        let host = &hosts[file];
        if sel.since.is_some_and(|s| ev.time_ns < s) || sel.until.is_some_and(|u| ev.time_ns >= u) {
            continue;
        }
        if selected(filter, &ev, host) && !f(&ev, host) {
            break;
        }
    }
    let warnings = files.take_warnings();
    for w in &warnings {
        eprintln!("ssh-trace: warning: {w}");
    }
    if read == 0 && !warnings.is_empty() {
        bail!("no event could be read");
    }
    Ok(())
}

/// The filter with its session ids written in part (short forms) made
/// whole, resolved against the sessions of the files (one pass to find
/// them); None when it has none.
fn resolve_ids(paths: &[PathBuf], filter: Option<&Filter>) -> Result<Option<Filter>> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    let partial = filter.partial_ids();
    if partial.is_empty() {
        return Ok(None);
    }
    let mut resolvers: Vec<Resolver> = partial.iter().map(|q| Resolver::new(q)).collect();
    let mut files = Merged::open(paths)?;
    while let Some((ev, _)) = files.next_event() {
        let Some(s) = &ev.session else { continue };
        for r in &mut resolvers {
            r.offer(s.id);
            if let Some(p) = s.parent {
                r.offer(p);
            }
        }
    }
    let mut answers = resolvers.iter().map(Resolver::resolved);
    // The ids come back in the order partial_ids gave them.
    let mut filter = filter.clone();
    filter
        .resolve_ids(&mut |_| answers.next().unwrap_or(Err(Unresolved::NoQuery)))
        .map_err(|e| anyhow!("--filter: {e}"))?;
    Ok(Some(filter))
}

/// `replay`: the lines `tail` would have printed.
pub fn run(paths: &[PathBuf], formatter: Formatter, sel: &Selection) -> Result<()> {
    let mut out = Lines::stdout(formatter, "");
    for_each(paths, sel, |ev, host| {
        out.line(ev, host);
        !out.is_closed()
    })?;
    out.write_out();
    Ok(())
}

/// `report`: one report over the selected events.
pub fn report(paths: &[PathBuf], mut report: Report, sel: &Selection, json: bool) -> Result<()> {
    for_each(paths, sel, |ev, _| {
        report.add(ev);
        true
    })?;
    if let Some(e) = report.error() {
        bail!("{e}");
    }
    let mut out = std::io::stdout().lock();
    let written = if json {
        report.write_json(&mut out)
    } else {
        report.write_text(&mut out)
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
