//! Sessions already open when the agent starts: found in /proc, put into
//! the kernel maps (so what they do next is attributed) and into the session
//! table. A map that refuses an entry is counted, never ignored.
use std::collections::HashSet;

use ssh_trace_common::maps::{Tracked, TRACKED_ADOPT_SOCK};

use crate::{
    event::Event,
    probes::{Maps, ServerBinaries},
    session::{discover, SessionTable},
};

/// Entries the kernel maps refused during discovery.
#[derive(Clone, Copy, Debug, Default)]
pub struct Missed {
    /// Processes of open sessions left untracked (counted as
    /// `kernel_tracked_full`: the same loss as a full map in the kernel).
    pub processes: u64,
    pub listeners: u64,
}

/// Puts listeners and open sessions found in /proc into the kernel maps and
/// the session table. Run twice: a process forked between the programs
/// attaching and the first scan has an untracked parent in the kernel.
pub fn run(
    maps: &mut Maps,
    servers: &ServerBinaries,
    privsep: &HashSet<u32>,
    table: &mut SessionTable,
    events: &mut Vec<Event>,
) -> Missed {
    let boot = discover::boot_wall_ns();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut missed = Missed::default();
    for _ in 0..2 {
        let procs = discover::all_procs(servers);
        let snap = discover::snapshot(&procs, privsep, |k| table.session_id(k), boot);
        for l in snap.listeners {
            if maps.listeners.get(&l, 0).is_err() && maps.listeners.insert(l, 0, 0).is_err() {
                missed.listeners += 1;
            }
        }
        for found in snap.sessions {
            let key = found.session.key;
            // Accepted after the listeners went into the map: the kernel
            // already tracks it under its own key.
            let Some(&(root, _)) = found.procs.first() else {
                continue;
            };
            if maps.tracked.get(&root, 0).is_ok_and(|t| t.session != key) {
                continue;
            }
            missed.processes += track(maps, &found);
            if seen.insert(key) {
                table.add_discovered(found.session, &found.procs, events);
            }
        }
    }
    if missed.listeners > 0 {
        eprintln!(
            "ssh-trace: warning: {} SSH server listeners could not be put into the kernel's listener map (full?): their new sessions are not seen",
            missed.listeners
        );
    }
    missed
}

/// Puts a session's processes into TRACKED; returns how many it refused.
fn track(maps: &mut Maps, found: &discover::Found) -> u64 {
    let mut refused = 0;
    for &(pid, _) in &found.procs {
        if maps.tracked.get(&pid, 0).is_ok() {
            continue;
        }
        let flags = if Some(pid) == found.io_pid {
            TRACKED_ADOPT_SOCK
        } else {
            0
        };
        let t = Tracked {
            session: found.session.key,
            flags,
            _pad: 0,
        };
        if maps.tracked.insert(pid, t, 0).is_err() {
            refused += 1;
        }
    }
    refused
}
