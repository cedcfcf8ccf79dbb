//! The kernel maps the agent reads and writes after loading: loss
//! counters, the process table (for /proc discovery) and discovered
//! sessions' connections.
use std::collections::HashMap;

use anyhow::{Context, Result};
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData, PerCpuArray};
use ssh_trace_common::maps::{
    AgentState, Proc, SessionLoss, SockTuple, AGENT_STOPPED_CLEANLY, LOST_SLOTS, PROC_LISTENER,
    PROC_SERVER, PROC_XFER,
};

/// Reads (about seconds) a SESSION_LOSS entry stays after it last grew.
const SESSION_LOSS_IDLE_READS: u8 = 3;

pub struct Maps {
    lost: PerCpuArray<MapData, u64>,
    procs: BpfHashMap<MapData, u32, Proc>,
    discovered_socks: BpfHashMap<MapData, SockTuple, u64>,
    session_loss: BpfHashMap<MapData, u64, SessionLoss>,
    /// SESSION_LOSS as last read, and for how many reads it has not grown.
    session_loss_seen: HashMap<u64, (SessionLoss, u8)>,
    discovered_bits: Array<MapData, u64>,
    state: Array<MapData, AgentState>,
    auth_sessions: BpfHashMap<MapData, u64, u64>,
    auth_watch: Array<MapData, u64>,
}

impl Maps {
    pub(super) fn take(take: &mut impl FnMut(&str) -> Result<Map>) -> Result<Self> {
        Ok(Self {
            lost: PerCpuArray::try_from(take("LOST")?)?,
            procs: BpfHashMap::try_from(take("PROCS")?)?,
            discovered_socks: BpfHashMap::try_from(take("DISCOVERED_SOCKS")?)?,
            session_loss: BpfHashMap::try_from(take("SESSION_LOSS")?)?,
            session_loss_seen: HashMap::new(),
            discovered_bits: Array::try_from(take("DISCOVERED_BITS")?)?,
            state: Array::try_from(take("AGENT_STATE")?)?,
            auth_sessions: BpfHashMap::try_from(take("AUTH_SESSIONS")?)?,
            auth_watch: Array::try_from(take("AUTH_WATCH")?)?,
        })
    }

    /// Sessions that logged in: their server's log output is not read
    /// any more (an entry already gone is fine).
    pub fn auth_done(&mut self, sessions: &[u64]) {
        for s in sessions {
            let _ = self.auth_sessions.remove(s);
        }
    }

    /// Forgets since when the log hook ran: its next run sets it again
    /// (called before each attach request).
    pub fn auth_watch_clear(&mut self) {
        let _ = self.auth_watch.set(0, 0, 0);
    }

    /// Since when (ktime ns) the log hook has run, if it has since cleared.
    pub fn auth_watched_since(&self) -> Option<u64> {
        self.auth_watch.get(&0, 0).ok().filter(|&t| t != 0)
    }

    /// Records this agent's progress for a successor (persistent programs):
    /// when it was last alive, records taken from the rings, and records
    /// whose events are written out. `stopped`: a clean stop.
    pub fn note_progress(&mut self, alive_ns: u64, consumed: u64, done: u64, stopped: bool) {
        let Ok(mut s) = self.state.get(&0, 0) else {
            return;
        };
        s.alive_ns = alive_ns;
        s.consumed = consumed;
        s.done = done;
        s.flags = if stopped { AGENT_STOPPED_CLEANLY } else { 0 };
        // Best effort: the map is ours alone and cannot be full.
        let _ = self.state.set(0, s, 0);
    }

    /// Kernel-side loss counters summed over CPUs, by `LOST_*` slot.
    pub fn lost_totals(&self) -> [u64; LOST_SLOTS as usize] {
        let mut out = [0; LOST_SLOTS as usize];
        for (slot, total) in out.iter_mut().enumerate() {
            if let Ok(per_cpu) = self.lost.get(&(slot as u32), 0) {
                *total = per_cpu.iter().sum();
            }
        }
        out
    }

    /// The per-session loss counts the kernel gathered since the last
    /// call. Entries are read, not taken (the kernel adds to them without a
    /// lock); one that has not grown for SESSION_LOSS_IDLE_READS reads is
    /// deleted to make room.
    pub fn take_session_losses(&mut self) -> HashMap<u64, SessionLoss> {
        let keys: Vec<u64> = self.session_loss.keys().filter_map(Result::ok).collect();
        let mut out = HashMap::new();
        let mut seen = HashMap::with_capacity(keys.len());
        for k in keys {
            let Ok(now) = self.session_loss.get(&k, 0) else {
                continue;
            };
            let (before, idle) = self.session_loss_seen.get(&k).copied().unwrap_or_default();
            let grown = SessionLoss {
                records: now.records.saturating_sub(before.records),
                untracked: now.untracked.saturating_sub(before.untracked),
            };
            if grown != SessionLoss::default() {
                out.insert(k, grown);
                seen.insert(k, (now, 0));
            } else if idle + 1 >= SESSION_LOSS_IDLE_READS {
                let _ = self.session_loss.remove(&k);
            } else {
                seen.insert(k, (now, idle + 1));
            }
        }
        self.session_loss_seen = seen;
        out
    }

    /// The session the kernel has `pid` in (0 = a listener), if any.
    pub fn session_of(&self, pid: u32) -> Option<u64> {
        self.procs.get(&pid, 0).ok().map(|p| p.session)
    }

    /// A listener found in /proc: it may accept sessions from now on.
    /// False: the kernel had it already (nothing added).
    pub fn add_listener(&mut self, pid: u32) -> Result<bool> {
        if self.procs.get(&pid, 0).is_ok() {
            return Ok(false);
        }
        let entry = Proc {
            flags: PROC_LISTENER | PROC_SERVER,
            ..Default::default()
        };
        self.procs
            .insert(pid, entry, 0)
            .with_context(|| format!("adding listener {pid} to PROCS"))?;
        self.mark(pid).map(|()| true)
    }

    /// Takes back an entry discovery added for a process that was gone by
    /// then (its exit came before the entry, so nothing else removes it,
    /// and a new process given its pid would pass for it).
    pub fn forget(&mut self, pid: u32) {
        let _ = self.procs.remove(&pid);
    }

    /// Sets `pid`'s bit in DISCOVERED_BITS: the kernel's fast "not ours"
    /// test must not skip a process the agent added. Only the agent writes
    /// this bitmap, so read-modify-write is safe.
    fn mark(&mut self, pid: u32) -> Result<()> {
        let word = pid / 64;
        let Ok(v) = self.discovered_bits.get(&word, 0) else {
            // Beyond the bitmap: the kernel looks such pids up anyway.
            return Ok(());
        };
        self.discovered_bits
            .set(word, v | 1 << (pid % 64), 0)
            .with_context(|| format!("marking process {pid} in DISCOVERED_BITS"))
    }

    /// A process of a session found in /proc (unless the kernel already
    /// tracks it). `server`: it runs the server's own binary.
    pub fn add_member(&mut self, pid: u32, session: u64, server: bool) -> Result<bool> {
        if self.procs.get(&pid, 0).is_ok() {
            return Ok(false);
        }
        let entry = Proc {
            session,
            flags: if server { PROC_SERVER } else { 0 },
            ..Default::default()
        };
        self.procs
            .insert(pid, entry, 0)
            .with_context(|| format!("adding process {pid} to PROCS"))?;
        self.mark(pid).map(|()| true)
    }

    /// A file-transfer server found in /proc (its PROCS entry is made):
    /// the I/O hooks look it up in XFER_PROCS from now on.
    pub fn mark_transfer(&mut self, pid: u32) -> Result<()> {
        let mut entry = self
            .procs
            .get(&pid, 0)
            .with_context(|| format!("process {pid} is not in PROCS"))?;
        entry.flags |= PROC_XFER;
        self.procs
            .insert(pid, entry, 0)
            .with_context(|| format!("marking process {pid} as a transfer server"))
    }

    /// The connection of a session found in /proc: its end (and final byte
    /// counts) will be reported.
    pub fn add_discovered_sock(&mut self, tuple: SockTuple, session: u64) -> Result<()> {
        self.discovered_socks
            .insert(tuple, session, 0)
            .context("adding a discovered connection to DISCOVERED_SOCKS")
    }
}
