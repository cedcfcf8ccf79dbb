//! Sessions already open when the agent starts: found in /proc, put into
//! the kernel maps (so what they do next is attributed) and into the session
//! table. A map that refuses an entry is counted, never ignored.
use std::collections::HashSet;

use crate::{
    event::Event,
    listendiag,
    probes::{Maps, ServerBinaries},
    session::{discover, Discovered, SessionTable},
    sockdiag,
};

/// Entries the kernel maps refused during discovery.
#[derive(Clone, Copy, Debug, Default)]
pub struct Missed {
    /// Processes of open sessions left untracked (counted as
    /// `kernel_tracked_full`: the same loss as a full map in the kernel).
    pub processes: u64,
    pub listeners: u64,
}

/// Where what discovery finds goes: the session table (and its events),
/// the live byte counts of the sessions' connections, and the check of
/// their servers' listeners (their end).
pub struct Found<'a> {
    pub table: &'a mut SessionTable,
    pub bytes: &'a mut sockdiag::Poller,
    pub listeners: &'a mut listendiag::Poller,
    pub events: &'a mut Vec<Event>,
}

/// The transfer servers' side of discovery (agent/transfers.rs).
pub struct Xfer<'a> {
    pub binaries: &'a crate::probes::TransferBinaries,
    pub procs:
        &'a mut aya::maps::HashMap<aya::maps::MapData, u32, ssh_trace_common::maps::XferProc>,
}

/// Puts listeners and open sessions found in /proc into the kernel maps and
/// the session table. Run twice: a process forked between the programs
/// attaching and the first scan has an untracked parent in the kernel.
pub fn run(
    maps: &mut Maps,
    servers: &ServerBinaries,
    privsep: &HashSet<u32>,
    to: Found,
    mut xfer: Xfer,
) -> Missed {
    let boot = discover::boot_wall_ns();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut missed = Missed::default();
    for _ in 0..2 {
        let procs = discover::all_procs(servers);
        let snap = discover::snapshot(&procs, privsep, |k| to.table.session_id(k), boot);
        for l in snap.listeners {
            match maps.add_listener(l) {
                Ok(added) => forget_if_gone(maps, added, procs.get(&l)),
                Err(e) => {
                    eprintln!("ssh-trace: warning: {e:#}");
                    missed.listeners += 1;
                }
            }
        }
        for mut found in snap.sessions {
            let Some(&(root, _)) = found.procs.first() else {
                continue;
            };
            // The kernel may know the session already: accepted after the
            // listeners went into the map, or from a previous agent whose
            // programs persist. Its key (and so its id) is the kernel's.
            let known = maps.session_of(root).filter(|&k| k != 0);
            if let Some(k) = known {
                found.session.rekey(k, to.table.session_id(k));
            }
            missed.processes += track(maps, &found, &procs);
            transfers(maps, &found, &procs, &mut xfer);
            let key = found.session.key;
            if let Some(conn) = found.conn {
                // A session the kernel knows has its connection in SESSION_SOCKS.
                if known.is_none() {
                    if let Err(e) = maps.add_discovered_sock(conn, key) {
                        eprintln!("ssh-trace: warning: {e:#}");
                    }
                }
                to.bytes.add(key, conn, 0);
            }
            if seen.insert(key) {
                // The listeners the table reports now.
                to.listeners.add(key, &found.listening);
                let d = Discovered {
                    session: found.session,
                    procs: &found.procs,
                    listening: &found.listening,
                };
                to.table
                    .add_discovered(d, crate::host::now_unix_ns(), to.events);
            }
        }
    }
    if missed.listeners > 0 {
        eprintln!(
            "ssh-trace: warning: {} SSH server listeners could not be put into the kernel's process table (full?): their new sessions are not seen",
            missed.listeners
        );
    }
    missed
}

/// Marks the session's transfer servers (sftp-server, scp -t/-f,
/// internal-sftp) that the kernel does not know yet.
fn transfers(
    maps: &mut Maps,
    found: &discover::Found,
    procs: &std::collections::HashMap<u32, discover::ProcInfo>,
    xfer: &mut Xfer,
) {
    for &(pid, _) in &found.procs {
        if xfer.procs.get(&pid, 0).is_ok() {
            continue;
        }
        let server = procs.get(&pid).is_some_and(|p| p.server);
        let Some(kind) = super::transfers::server_of(pid, server, xfer.binaries) else {
            continue;
        };
        if let Err(e) = super::transfers::mark(maps, xfer.procs, pid, kind) {
            eprintln!("ssh-trace: warning: transfer server {pid} not followed: {e:#}");
        }
        super::transfers::continue_if_stopped(pid);
    }
}

/// Puts a session's processes into PROCS; returns how many it refused.
fn track(
    maps: &mut Maps,
    found: &discover::Found,
    procs: &std::collections::HashMap<u32, discover::ProcInfo>,
) -> u64 {
    let mut refused = 0;
    for &(pid, _) in &found.procs {
        let server = procs.get(&pid).is_some_and(|p| p.server);
        match maps.add_member(pid, found.session.key, server) {
            Ok(added) => forget_if_gone(maps, added, procs.get(&pid)),
            Err(e) => {
                eprintln!("ssh-trace: warning: {e:#}");
                refused += 1;
            }
        }
    }
    refused
}

/// An entry added for a process that exited between the /proc scan and
/// the insert would stay (its exit was before the entry) and pass on to
/// whatever process gets its pid next, with every child: taken back.
/// One that exits after the insert is the kernel's to remove.
fn forget_if_gone(maps: &mut Maps, added: bool, found: Option<&discover::ProcInfo>) {
    if let Some(p) = found.filter(|p| added && !discover::still_running(p)) {
        maps.forget(p.pid);
    }
}
