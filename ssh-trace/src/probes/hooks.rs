//! The transfer hooks' thread: attaches the raw sys_enter/sys_exit
//! programs when the kernel says a file transfer may be starting (a wake-up
//! on XFER_WAKE: a transfer process, a shell the server started for sftp
//! or scp, internal-sftp at its prctl), and detaches them once no transfer
//! process is left and GRACE has passed since the last wake-up.
//! Every other thread of the agent holds no capability; this one keeps
//! CAP_BPF, which attaching needs, and CAP_KILL, to continue held servers
//! that run as their users.
use std::{
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use ssh_trace_common::maps::{XferProc, XFER_ACTIVE, XFER_CTL_ALIVE, XFER_CTL_ATTACHED};

use super::{lock, SharedProbes, XferMaps};

/// The hooks stay attached this long after the last wake-up: a shell the
/// server started for sftp-server execs it within milliseconds, a loaded
/// machine may take longer (then its exec attaches them again, before the
/// client's first request). Short, because while attached every syscall
/// on the machine pays for them (docs/design.md, "File transfers").
pub const GRACE: Duration = Duration::from_millis(500);
/// bpf(2)'s update flag: only an existing element.
const BPF_EXIST: u64 = 2;
/// How often an attached thread looks whether it may detach.
const CHECK: Duration = Duration::from_millis(100);

/// What the thread did, for the agent's summary and the benchmark.
#[derive(Default, Debug)]
pub struct HookStats {
    pub attaches: AtomicU64,
    /// Microseconds from a wake-up to the hooks attached, the last time.
    pub last_attach_us: AtomicU64,
    /// Nanoseconds the hooks were attached, in all (updated at detach).
    pub attached_ns: AtomicU64,
    /// Transfer servers held until the hooks were attached, then continued.
    pub held: AtomicU64,
    pub errors: AtomicU64,
}

pub struct HookThread {
    stop: Arc<AtomicBool>,
    pub stats: Arc<HookStats>,
    thread: Option<JoinHandle<()>>,
}

impl HookThread {
    /// Shares the probes (the last holder drops them, detaching
    /// everything). Call before the agent drops its capabilities.
    pub fn spawn(probes: SharedProbes, maps: XferMaps) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(HookStats::default());
        let (st, sp) = (stats.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("xfer-hooks".into())
            .spawn(move || run(probes, maps, st, sp))
            .context("starting the transfer hook thread")?;
        Ok(Self {
            stop,
            stats,
            thread: Some(thread),
        })
    }

    /// Stops the thread (the hooks detached).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct State {
    probes: SharedProbes,
    maps: XferMaps,
    stats: Arc<HookStats>,
    since: Option<Instant>,
    last_wake: Option<Instant>,
}

fn run(probes: SharedProbes, maps: XferMaps, stats: Arc<HookStats>, stop: Arc<AtomicBool>) {
    realtime();
    let keep = [caps::Capability::CAP_BPF, caps::Capability::CAP_KILL];
    if let Err(e) = crate::privileges::keep_only(&keep) {
        eprintln!("ssh-trace: transfer hooks: {e:#}");
    }
    let supported = lock(&probes).transfers_supported;
    let mut s = State {
        probes,
        maps,
        stats,
        since: None,
        last_wake: None,
    };
    // Servers an earlier agent held (pinned maps), and servers found
    // running at the start (or kept by pinned programs).
    s.continue_held();
    if supported && s.transfers_running() {
        s.woken();
    }
    while !stop.load(Ordering::Relaxed) {
        if supported {
            s.beat();
        }
        wait(s.maps.wake.as_raw_fd(), CHECK);
        let mut woke = false;
        while s.maps.wake.next().is_some() {
            woke = true;
        }
        if woke && supported {
            s.woken();
        }
        if woke {
            s.continue_held();
        }
        s.detach_if_idle();
    }
    // No server is held from here on; then none is left stopped.
    s.set(XFER_CTL_ALIVE, 0);
    s.detach();
    s.continue_held();
}

impl State {
    fn woken(&mut self) {
        let now = Instant::now();
        self.last_wake = Some(now);
        if self.since.is_some() {
            return;
        }
        let attached = lock(&self.probes).attach_transfer_hooks();
        match attached {
            Ok(()) => {
                self.set(XFER_CTL_ATTACHED, 1);
                self.since = Some(Instant::now());
                self.stats.attaches.fetch_add(1, Ordering::Relaxed);
                let us = now.elapsed().as_micros() as u64;
                self.stats.last_attach_us.store(us, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("ssh-trace: attaching the transfer hooks: {e:#}");
                let _ = lock(&self.probes).detach_transfer_hooks();
            }
        }
    }

    /// No transfer process left, and no wake-up for GRACE.
    fn idle(&self) -> bool {
        let quiet = self.last_wake.is_none_or(|t| t.elapsed() >= GRACE);
        quiet && !self.transfers_running()
    }

    /// A transfer server (an internal-sftp candidate is not one yet: it
    /// wakes the thread at its prctl, xfer/prctl.rs).
    fn transfers_running(&self) -> bool {
        self.maps
            .procs
            .iter()
            .filter_map(Result::ok)
            .any(|(_, x)| x.state == XFER_ACTIVE)
    }

    /// Detaches once idle. The flag goes first: a transfer server that
    /// starts after it is held by the kernel, one that started before is
    /// seen running here and keeps the hooks.
    fn detach_if_idle(&mut self) {
        if self.since.is_none() || !self.idle() {
            return;
        }
        self.set(XFER_CTL_ATTACHED, 0);
        if self.transfers_running() {
            self.set(XFER_CTL_ATTACHED, 1);
        } else {
            self.detach();
        }
    }

    fn detach(&mut self) {
        let Some(since) = self.since.take() else {
            return;
        };
        self.set(XFER_CTL_ATTACHED, 0);
        let detached = lock(&self.probes).detach_transfer_hooks();
        if let Err(e) = detached {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("ssh-trace: detaching the transfer hooks: {e:#}");
        }
        let ns = since.elapsed().as_nanos() as u64;
        self.stats.attached_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn set(&mut self, slot: u32, value: u64) {
        if let Err(e) = self.maps.ctl.set(slot, value, 0) {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("ssh-trace: transfer hooks: writing XFER_CTL: {e}");
        }
    }

    /// Tells the kernel the thread is alive to attach the hooks.
    fn beat(&mut self) {
        self.set(XFER_CTL_ALIVE, crate::host::monotonic_ns());
    }

    /// Continues every transfer server the kernel held (SIGCONT), after
    /// the hooks were attached (or could not be, or the agent stops).
    fn continue_held(&mut self) {
        let held: Vec<(u32, XferProc)> = self
            .maps
            .procs
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, x)| x.held != 0)
            .collect();
        for (tgid, x) in held {
            let x = XferProc { held: 0, ..x };
            // Only an entry still there (BPF_EXIST): a server that exited
            // meanwhile is neither put back nor signalled.
            if self.maps.procs.insert(tgid, x, BPF_EXIST).is_err() {
                continue;
            }
            // SAFETY: kill with a pid and a signal number.
            if unsafe { libc::kill(tgid as i32, libc::SIGCONT) } == 0 {
                self.stats.held.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The lowest real-time priority: a wake-up is answered within
/// microseconds on a loaded machine, where a normal thread may wait for
/// milliseconds while the transfer's first file is opened. The thread
/// sleeps in poll otherwise; failing (no CAP_SYS_NICE) it runs as before.
fn realtime() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: the calling thread (0), a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        eprintln!(
            "ssh-trace: transfer hooks: no real-time priority ({}); attaching may lag on a loaded machine",
            std::io::Error::last_os_error()
        );
    }
}

fn wait(fd: i32, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
}
