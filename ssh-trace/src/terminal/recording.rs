//! One session's terminal recording from capture files: their terminal
//! blocks only (the event blocks are skipped unopened), merged in time
//! order; the session named by its id or a unique prefix of it (event/resolve.rs).
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::{
    capture::merge::Merged,
    event::{Body, Event, SessionInfo, Terminal},
    report::select::Selected,
};

pub struct Recording {
    pub session: SessionInfo,
    /// (Unix ns, what happened), in time order.
    pub events: Vec<(u64, Terminal)>,
}

impl Recording {
    /// The window size the recording starts with (its first resize), if any.
    pub fn first_size(&self) -> Option<(u16, u16)> {
        self.events
            .iter()
            .find_map(|(_, t)| (t.rows != 0 || t.cols != 0).then_some((t.rows, t.cols)))
    }
}

/// Reads `session`'s recording from `paths`; warnings go to stderr.
pub fn read(paths: &[PathBuf], session: &str) -> Result<Recording> {
    let mut files = Merged::open_terminals(paths)?;
    let mut pick = Selected::new(session);
    let mut read = 0u64;
    while let Some((ev, _)) = files.next_event() {
        read += 1;
        pick.add(&ev);
    }
    let warnings = files.take_warnings();
    for w in &warnings {
        eprintln!("ssh-trace: warning: {w}");
    }
    if read == 0 {
        bail!(
            "no terminal recording in {}: record with --tty",
            names(paths)
        );
    }
    let (_, events) = pick.chosen()?;
    // The last snapshot knows most (a login after the pty, as dropbear's).
    let session = events
        .last()
        .and_then(|e| e.session.as_deref().cloned())
        .unwrap_or_else(|| SessionInfo::new(crate::event::SessionId(0)));
    Ok(Recording {
        session,
        events: events.iter().filter_map(terminal).collect(),
    })
}

fn terminal(ev: &Event) -> Option<(u64, Terminal)> {
    match &ev.body {
        Body::SessionTty(t) => Some((ev.time_ns, t.clone())),
        _ => None,
    }
}

fn names(paths: &[PathBuf]) -> String {
    let v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.join(", ")
}
