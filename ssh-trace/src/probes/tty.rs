//! The kernel side of terminal recording (ssh-trace-ebpf/src/tty.rs): its
//! programs are verified at start-up, so a kernel that refuses them fails
//! at once, but attached only while a session is open (agent/tty.rs says
//! when): with recording off, or no session, nothing runs on anyone's
//! read() or write(). The input programs are attached only when input is
//! recorded.
//!
//! Attaching needs CAP_BPF and CAP_PERFMON, which the agent drops after
//! loading. One thread, started before, keeps those two (capabilities are
//! per thread) and nothing else: it owns the programs and does nothing but
//! attach and detach them when asked.
use std::{
    sync::mpsc::{channel, Receiver, Sender},
    thread::JoinHandle,
};

use anyhow::{anyhow, bail, Context, Result};
use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData},
    programs::{trace_point::TracePointLinkId, TracePoint},
};
use caps::{CapSet, Capability};
use ssh_trace_common::maps::{TtyConfig, TtyState, TTY_REC_INPUT, TTY_REC_OUTPUT};

use super::{Probes, SharedProbes};

/// (program, syscall tracepoint, records input).
const PROGRAMS: [(&str, &str, bool); 6] = [
    ("tty_read_enter", "sys_enter_read", false),
    ("tty_read_exit", "sys_exit_read", false),
    ("tty_write_enter", "sys_enter_write", true),
    ("tty_write_exit", "sys_exit_write", true),
    // dropbear writes input with writev.
    ("tty_writev_ent", "sys_enter_writev", true),
    ("tty_writev_exit", "sys_exit_writev", true),
];

/// The programs' names (for the benchmark's bpf_stats).
pub fn program_names() -> impl Iterator<Item = &'static str> {
    PROGRAMS.iter().map(|p| p.0)
}

/// Per-session bounds: more than the rate (after a burst) or the cap is
/// dropped, counted and marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per second.
    pub rate: u64,
    pub burst: u64,
    /// Bytes per session in all.
    pub cap: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate: 1 << 20,
            burst: 8 << 20,
            cap: 256 << 20,
        }
    }
}

/// Highest rate the programs' arithmetic takes (bytes per second).
pub const MAX_RATE: u64 = 1 << 34;

fn tracepoint<'a>(p: &'a mut Probes, name: &str) -> Result<&'a mut TracePoint> {
    let Some(ebpf) = p.ebpf.as_mut() else {
        bail!("terminal recording needs freshly loaded programs, not pinned ones (--persist)");
    };
    let prog = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?;
    Ok(prog.try_into()?)
}

fn wanted(input: bool) -> impl Iterator<Item = &'static (&'static str, &'static str, bool)> {
    PROGRAMS.iter().filter(move |p| input || !p.2)
}

/// Recording's kernel maps and the thread that switches the programs.
pub struct TtyKernel {
    input: bool,
    attached: bool,
    sessions: BpfHashMap<MapData, u64, TtyState>,
    switch: Option<(Sender<bool>, Receiver<Result<()>>)>,
    /// Commands sent whose answer was not awaited (detaches).
    unanswered: usize,
    thread: Option<JoinHandle<()>>,
}

impl TtyKernel {
    /// Verifies the programs, writes their settings and hands them to the
    /// switch thread (to be called while the agent is still privileged).
    pub fn start(shared: SharedProbes, input: bool, limits: Limits) -> Result<Self> {
        if limits.rate == 0 || limits.rate > MAX_RATE {
            bail!(
                "terminal rate limit {} B/s: between 1 and {MAX_RATE}",
                limits.rate
            );
        }
        let mut probes = super::lock(&shared);
        for (name, tp, _) in wanted(input) {
            tracepoint(&mut probes, name)?
                .load()
                .with_context(|| format!("verifying program for syscalls:{tp}"))?;
        }
        let cfg = TtyConfig {
            flags: TTY_REC_OUTPUT | if input { TTY_REC_INPUT } else { 0 },
            _pad: 0,
            rate: limits.rate,
            burst: limits.burst.max(1),
            cap: limits.cap,
        };
        let mut config: Array<MapData, TtyConfig> =
            Array::try_from(probes.take_map("TTY_CONFIG")?)?;
        config.set(0, cfg, 0).context("writing TTY_CONFIG")?;
        let sessions = BpfHashMap::try_from(probes.take_map("TTY_SESSIONS")?)?;
        drop(probes);
        let (to, commands) = channel::<bool>();
        let (answers, from) = channel();
        let thread = std::thread::Builder::new()
            .name("tty-switch".into())
            .spawn(move || switch(shared, input, commands, answers))
            .context("starting the terminal switch thread")?;
        Ok(Self {
            input,
            attached: false,
            sessions,
            switch: Some((to, from)),
            unanswered: 0,
            thread: Some(thread),
        })
    }

    pub fn attached(&self) -> bool {
        self.attached
    }

    /// Attaches (`on`: waits until done, about a millisecond after any
    /// detach still running) or detaches the programs (the kernel takes
    /// half a second for it: not waited for; its result comes with the
    /// next call).
    pub fn set(&mut self, on: bool) -> Result<()> {
        if on == self.attached {
            return Ok(());
        }
        let (to, from) = self.switch.as_ref().context("switch thread gone")?;
        to.send(on).map_err(|_| anyhow!("switch thread gone"))?;
        self.attached = on;
        self.unanswered += 1;
        if !on {
            return Ok(());
        }
        let mut result = Ok(());
        while self.unanswered > 0 {
            let r = from.recv().map_err(|_| anyhow!("switch thread gone"))?;
            self.unanswered -= 1;
            result = result.and(r);
        }
        result
    }

    /// The agent's decision for a session: one not recorded costs its
    /// server's reads one map lookup and sends nothing.
    pub fn decide(&mut self, key: u64, recorded: bool) {
        let mut st = self.sessions.get(&key, 0).unwrap_or_default();
        st.flags = if recorded {
            TTY_REC_OUTPUT | if self.input { TTY_REC_INPUT } else { 0 }
        } else {
            0
        };
        // Best effort: the map is LRU and never full.
        let _ = self.sessions.insert(key, st, 0);
    }

    /// A session ended: its state goes.
    pub fn forget(&mut self, key: u64) {
        let _ = self.sessions.remove(&key);
    }

    /// Bytes of the session's terminal the kernel lost so far.
    pub fn lost(&self, key: u64) -> u64 {
        self.sessions.get(&key, 0).map_or(0, |s| s.lost)
    }
}

impl Drop for TtyKernel {
    /// The thread detaches and unloads the programs when told to end.
    fn drop(&mut self) {
        self.switch = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The switch thread: keeps CAP_BPF and CAP_PERFMON (attaching needs
/// them), nothing else; attaches or detaches on each command.
fn switch(
    shared: SharedProbes,
    input: bool,
    commands: Receiver<bool>,
    answers: Sender<Result<()>>,
) {
    let kept = keep_only(&[Capability::CAP_BPF, Capability::CAP_PERFMON]);
    let mut links: Vec<(&str, TracePointLinkId)> = Vec::new();
    while let Ok(on) = commands.recv() {
        let done = kept
            .as_ref()
            .map_err(|e| anyhow!("{e:#}"))
            .and_then(|_| toggle(&mut super::lock(&shared), input, on, &mut links));
        if answers.send(done).is_err() {
            break;
        }
    }
    // What is still attached is detached with the other programs' links,
    // side by side (probes/mod.rs), when the programs are dropped.
    let mut probes = super::lock(&shared);
    for (name, id) in links {
        if let Ok(link) = tracepoint(&mut probes, name).and_then(|p| Ok(p.take_link(id)?)) {
            probes.links.push(super::Link::Tp(link));
        }
    }
    drop(probes);
}

fn toggle(
    probes: &mut Probes,
    input: bool,
    on: bool,
    links: &mut Vec<(&'static str, TracePointLinkId)>,
) -> Result<()> {
    if on {
        for (name, tp, _) in wanted(input) {
            let id = tracepoint(probes, name)?
                .attach("syscalls", tp)
                .with_context(|| format!("attaching tracepoint syscalls:{tp}"))?;
            links.push((name, id));
        }
        return Ok(());
    }
    for (name, id) in links.drain(..) {
        tracepoint(probes, name)?
            .detach(id)
            .with_context(|| format!("detaching {name}"))?;
    }
    Ok(())
}

/// This thread's capabilities become `keep` alone (and stay so).
fn keep_only(keep: &[Capability]) -> Result<()> {
    let set: caps::CapsHashSet = keep.iter().copied().collect();
    for cap in caps::all().into_iter().filter(|c| !set.contains(c)) {
        let _ = caps::drop(None, CapSet::Bounding, cap);
    }
    caps::clear(None, CapSet::Inheritable).context("clearing inheritable capabilities")?;
    caps::set(None, CapSet::Effective, &set).context("setting effective capabilities")?;
    caps::set(None, CapSet::Permitted, &set).context("setting permitted capabilities")
}
