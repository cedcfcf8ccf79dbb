//! The agent: loads the probes, discovers open sessions, then turns kernel
//! records into events until stopped, reporting every loss. The loop itself
//! is in run_loop.rs; what was already running is found by discovery.rs.
mod banner;
mod discovery;
mod losses;
pub mod run_loop;
#[cfg(test)]
mod tests;
mod transfers;
pub mod tty;

use std::{
    collections::HashSet,
    io::IsTerminal,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use anyhow::{bail, Context, Result};

use crate::{
    capture::writer::{Origin, Rotation, Writer},
    event::{AgentInfo, Body, Event, PreviousAgent},
    filter::Filter,
    format::Formatter,
    host, listendiag,
    operators::{self, Operators},
    pipeline::{Consumer, Failures, Lines, Pipeline},
    probes::{
        self, hooks::HookThread, tty::TtyKernel, Probes, ServerBinaries, SharedProbes,
        TransferBinaries,
    },
    reader::Reader,
    session::{users, SessionTable},
    sinks::Queued,
    sockdiag,
};
use losses::{Attached, Losses};

pub struct Options {
    pub ring_bytes: u32,
    /// Pin the programs under this instance name (they outlive the agent;
    /// a restart continues where the last agent stopped).
    pub persist: Option<String>,
    /// Entries of the kernel's process table.
    pub procs_max: u32,
    /// The kernel programs explain their SSH-server decisions on stderr.
    pub debug_kernel: bool,
    pub server_binaries: Vec<String>,
    /// sftp-server and scp executables (file transfers).
    pub sftp_servers: Vec<String>,
    pub scp_binaries: Vec<String>,
    pub privsep_users: Vec<String>,
    /// Lines on standard output, if any.
    pub formatter: Option<Formatter>,
    /// Capture file and its rotation, if any.
    pub capture: Option<(PathBuf, Rotation)>,
    /// Only events that match go to the outputs (agent events always do).
    pub filter: Option<Filter>,
    /// Agent-mode sinks (`ssh-trace agent --config`), already started.
    pub queued: Queued,
    /// Record terminals (None: off).
    pub tty: Option<tty::Options>,
    /// Session socket, metrics, alerts.
    pub operators: operators::Options,
    /// agent.heartbeat every so often (agent mode: every minute by default).
    pub heartbeat: Option<std::time::Duration>,
    /// The agent's nice value (set before its first thread starts).
    pub nice: i32,
}

pub type AgentPipeline = Pipeline<Operators>;

/// `ssh-trace agent --config FILE`: the agent's options with every sink
/// started (a bad config or an unusable sink fails here, before loading).
pub fn options_from_config(path: &std::path::Path) -> Result<Options> {
    let cfg = crate::config::load(path)?;
    // Before the sinks' threads start: they inherit it.
    let nice = cfg.nice.unwrap_or(host::DEFAULT_NICE);
    host::set_nice(nice);
    let host = host::hostname();
    let workers = cfg
        .sinks
        .into_iter()
        .map(|s| crate::sinks::start(s, &host))
        .collect::<Result<Vec<_>>>()?;
    let default_list = |d: &[&str]| d.iter().map(|s| s.to_string()).collect();
    Ok(Options {
        ring_bytes: cfg
            .ring_buffer_size
            .unwrap_or(ssh_trace_common::maps::DEFAULT_RING_BYTES),
        persist: cfg.persist,
        procs_max: ssh_trace_common::maps::PROCS_MAX,
        debug_kernel: false,
        server_binaries: cfg
            .server_binaries
            .unwrap_or_else(|| default_list(probes::DEFAULT_SERVER_BINARIES)),
        sftp_servers: cfg
            .sftp_servers
            .unwrap_or_else(|| default_list(probes::DEFAULT_SFTP_SERVERS)),
        scp_binaries: cfg
            .scp_binaries
            .unwrap_or_else(|| default_list(probes::DEFAULT_SCP_BINARIES)),
        privsep_users: cfg
            .privsep_users
            .unwrap_or_else(|| default_list(&["sshd", "_sshd"])),
        formatter: None,
        capture: cfg.capture,
        filter: None,
        queued: Queued::new(workers, cfg.drain_timeout),
        tty: cfg.tty,
        operators: cfg.operators,
        heartbeat: cfg.heartbeat,
        nice,
    })
}

fn agent_info(opts: &Options, servers: &ServerBinaries) -> AgentInfo {
    AgentInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        kernel: host::kernel_release(),
        ring_buffer_bytes: opts.ring_bytes,
        server_binaries: servers.paths().map(str::to_owned).collect(),
        previous: None,
    }
}

/// Consumers after the operators' view, and where they count failed writes.
type Outputs = (Vec<Box<dyn Consumer>>, Vec<Arc<Failures>>);

/// The outputs after the operators' view (lines, capture file, sinks) and
/// where their write failures are counted. The capture file is created
/// here, before loading: a bad path fails fast.
fn outputs(
    opts: &mut Options,
    host_name: &str,
    agent: &AgentInfo,
    boot_id: [u8; 16],
) -> Result<Outputs> {
    let mut out: Vec<Box<dyn Consumer>> = Vec::new();
    let mut failures = Vec::new();
    if let Some(f) = opts.formatter.take() {
        let lines = Lines::stdout(f, host_name).counting_failures();
        failures.extend(lines.failures());
        out.push(Box::new(lines));
    }
    if let Some((path, rotation)) = opts.capture.take() {
        let origin = Origin {
            host: host_name.to_owned(),
            kernel: agent.kernel.clone(),
            boot_id,
            agent_version: agent.version.clone(),
        };
        let writer = Writer::create(&path, origin, rotation)?;
        failures.push(writer.failures());
        out.push(Box::new(writer));
    }
    failures.extend(opts.queued.failures());
    out.push(Box::new(std::mem::take(&mut opts.queued)));
    Ok((out, failures))
}

pub async fn run(mut opts: Options) -> Result<()> {
    probes::check_ring_bytes(opts.ring_bytes)?;
    if opts.tty.is_some() && opts.persist.is_some() {
        bail!("--tty cannot be combined with --persist: terminal programs are attached by the running agent only");
    }
    let servers = ServerBinaries::resolve(&opts.server_binaries);
    if servers.ids().next().is_none() {
        bail!(
            "none of the SSH server binaries exists: {} (install openssh-server or pass --server-binary PATH)",
            opts.server_binaries.join(", ")
        );
    }
    let transfers = TransferBinaries::resolve(&opts.sftp_servers, &opts.scp_binaries);
    probes::check_environment()?;
    let host_name = host::hostname();
    let boot_id = host::boot_id();
    let mut agent = agent_info(&opts, &servers);
    let sink_stats = opts.queued.stats();
    // `tail` on a terminal says first what it watches.
    let banner = opts.formatter.is_some() && std::io::stdout().is_terminal();
    let (outputs, failures) = outputs(&mut opts, &host_name, &agent, boot_id)?;
    // Sockets are bound and alert files read while privileges last.
    let ops = Operators::prepare(std::mem::take(&mut opts.operators), &host_name)?;
    let tty_filter = opts.filter.clone();
    let mut pipeline = Pipeline::new(&host_name, opts.filter.take(), ops, outputs);

    let mut probes = load(&opts, &servers, &transfers)?;
    agent.previous = probes.previous.map(previous_agent);
    let (rings, mut maps) = probes.take_maps()?;
    let mut xfer_maps = probes.take_xfer_maps()?;
    let persistent = probes.persistent();
    // The helpers are made while the agent is still privileged: the auth
    // hook's process, then the threads that attach on demand (terminal
    // recording's switch, the transfer hooks), which share the programs.
    let auth_hook = probes.auth_hook()?;
    let probes: SharedProbes = Arc::new(Mutex::new(probes));
    let tty_kernel = terminals(&opts, &probes)?;
    let (reader, rx) = Reader::spawn(rings).context("starting the ring buffer reader")?;
    let privsep: HashSet<u32> = opts
        .privsep_users
        .iter()
        .filter_map(|u| users::uid_of(u))
        .collect();
    let mut table = SessionTable::new(boot_id, host::Clock::now(), privsep.clone(), users::name_of);
    if let Some(t) = &opts.tty {
        table.record_terminals(t.selection.clone());
    }

    // Programs are attached: whatever starts from now on is seen. What was
    // already running is found in /proc and put into the kernel maps.
    let mut events = Vec::new();
    let mut bytes = sockdiag::Poller::default();
    let mut listeners = listendiag::Poller::default();
    let found = discovery::Found {
        table: &mut table,
        bytes: &mut bytes,
        listeners: &mut listeners,
        events: &mut events,
    };
    let xfer = discovery::Xfer {
        binaries: &transfers,
        procs: &mut xfer_maps.procs,
    };
    let missed = discovery::run(&mut maps, &servers, &privsep, found, xfer);
    // The hook thread keeps what attaching needs; every other thread nothing.
    let hooks = HookThread::spawn(probes.clone(), xfer_maps)?;
    crate::privileges::drop_all().context("dropping privileges after loading")?;
    if banner {
        eprintln!("{}", banner::line(&servers, &events, opts.ring_bytes));
    }
    pipeline.ops.start()?;
    let start = Body::AgentStart(Box::new(agent.clone()));
    pipeline.push(Event::new(host::now_unix_ns(), None, start))?;
    for e in events {
        pipeline.push(e)?;
    }
    pipeline.flush()?;

    let mut losses = Losses::new(sink_stats, failures, missed);
    losses.restart = agent.previous.as_ref().map_or(0, |p| p.lost_in_flight);
    let tty = opts
        .tty
        .as_ref()
        .map(|t| tty::TtyControl::new(t, boot_id, &table, tty_filter, &host_name));
    let run = run_loop::Run {
        pipeline,
        table,
        losses,
        kernel: Attached {
            maps,
            reader,
            persistent,
            tty: tty_kernel,
            auth_hook,
        },
        rx,
        bytes,
        unix: Default::default(),
        listeners,
        logs: Default::default(),
        held: Default::default(),
        done: 0,
        tty,
        heartbeat: opts.heartbeat.map(run_loop::Beat::new),
    };
    let kernel = run.until_stopped(agent, signals()?).await?;
    host::close_stdout();
    // The programs go (detached side by side) once stdout is closed and
    // the last of their holders lets them go: terminal recording's switch
    // thread, the transfer hook thread, then this one.
    drop(kernel);
    let st = hooks.stats.clone();
    hooks.stop();
    report_hooks(&st);
    drop(probes);
    Ok(())
}

/// One line on stderr at the stop: how often and how long the transfer
/// hooks were attached (the cost every process paid meanwhile).
fn report_hooks(st: &probes::hooks::HookStats) {
    use std::sync::atomic::Ordering::Relaxed;
    let n = st.attaches.load(Relaxed);
    if n == 0 {
        return;
    }
    eprintln!(
        "ssh-trace: transfer hooks attached {n} times, {:.3} s in all (last attach {} µs after its wake-up; {} transfer servers held until then){}",
        st.attached_ns.load(Relaxed) as f64 / 1e9,
        st.last_attach_us.load(Relaxed),
        st.held.load(Relaxed),
        match st.errors.load(Relaxed) {
            0 => String::new(),
            e => format!(", {e} errors"),
        }
    );
}

/// Terminal recording's switch thread (probes/tty.rs), when asked for.
fn terminals(opts: &Options, probes: &SharedProbes) -> Result<Option<TtyKernel>> {
    opts.tty
        .as_ref()
        .map(|t| TtyKernel::start(probes.clone(), t.input, t.limits))
        .transpose()
}

/// Loads (or, with --persist, reuses) the kernel programs.
fn load(opts: &Options, servers: &ServerBinaries, transfers: &TransferBinaries) -> Result<Probes> {
    let persist = opts
        .persist
        .as_deref()
        .map(probes::PinDir::new)
        .transpose()?;
    Probes::load(&probes::Options {
        ring_bytes: opts.ring_bytes,
        servers,
        transfers,
        persist,
        procs_max: opts.procs_max,
        debug_kernel: opts.debug_kernel,
    })
}

/// What the previous agent of persistent programs left, for agent.start.
fn previous_agent(p: probes::Previous) -> PreviousAgent {
    let s = p.state;
    PreviousAgent {
        last_alive: host::rfc3339(s.alive_ns),
        clean: s.flags & ssh_trace_common::maps::AGENT_STOPPED_CLEANLY != 0,
        programs_kept: p.reused,
        // Only programs that ran on kept what that agent took from them.
        lost_in_flight: if p.reused {
            s.consumed.saturating_sub(s.done)
        } else {
            0
        },
    }
}

/// Completes at SIGTERM or SIGINT.
fn signals() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
