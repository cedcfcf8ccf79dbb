//! The agent: loads the probes, discovers open sessions, then turns kernel
//! records into events until stopped, reporting every loss.
use std::{collections::HashSet, path::PathBuf, sync::atomic::Ordering, time::Duration};

use anyhow::{bail, Context, Result};
use ssh_trace_common::maps::{
    LOST_MILESTONES, LOST_RINGBUF, LOST_SOCKS_FULL, LOST_TRACKED_FULL, LOST_USER_LISTENERS,
};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    capture::writer::{Origin, Rotation, Writer},
    event::*,
    filter::Filter,
    format::Formatter,
    host,
    operators::{self, Operators},
    probes::{self, Maps, Probes, ServerBinaries},
    reader::Reader,
    session::{discover, users, SessionTable},
    sink::{stdout::Stdout, Queued, Sinks},
    sockdiag,
};

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
    pub privsep_users: Vec<String>,
    /// Lines on standard output, if any.
    pub formatter: Option<Formatter>,
    /// Capture file and its rotation, if any.
    pub capture: Option<(PathBuf, Rotation)>,
    /// Only events that match go to the outputs (agent events always do).
    pub filter: Option<Filter>,
    /// Agent-mode sinks (`ssh-trace agent --config`), already started.
    pub queued: Queued,
    /// Session socket, metrics, alerts.
    pub operators: operators::Options,
}

fn losses(maps: &Maps, reader: &Reader, queued: &Queued) -> LossCounts {
    let k = maps.lost_totals();
    LossCounts {
        kernel_ringbuf: k[LOST_RINGBUF as usize] + k[LOST_MILESTONES as usize],
        kernel_tracked_full: k[LOST_TRACKED_FULL as usize] + k[LOST_USER_LISTENERS as usize],
        kernel_socks_full: k[LOST_SOCKS_FULL as usize],
        queue: reader.stats.queue_lost.load(Ordering::Relaxed),
        decode: reader.stats.decode_errors.load(Ordering::Relaxed),
        sinks: queued.losses(),
    }
}

pub async fn run(opts: Options) -> Result<()> {
    probes::check_ring_bytes(opts.ring_bytes)?;
    let servers = ServerBinaries::resolve(&opts.server_binaries);
    if servers.ids().next().is_none() {
        bail!(
            "none of the SSH server binaries exists: {} (install openssh-server or pass --server-binary PATH)",
            opts.server_binaries.join(", ")
        );
    }
    probes::check_environment()?;
    let host_name = host::hostname();
    let boot_id = host::boot_id();
    let agent = AgentInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        kernel: host::kernel_release(),
        ring_buffer_bytes: opts.ring_bytes,
        server_binaries: servers.paths().map(str::to_owned).collect(),
    };
    // The capture file is created before loading: a bad path fails fast.
    let capture = match opts.capture {
        Some((path, rotation)) => {
            let origin = Origin {
                host: host_name.clone(),
                kernel: agent.kernel.clone(),
                boot_id,
                agent_version: agent.version.clone(),
            };
            Some(Writer::create(&path, origin, rotation)?)
        }
        None => None,
    };
    let mut sinks = Sinks {
        host: host_name,
        filter: opts.filter,
        stdout: opts.formatter.map(Stdout::new),
        capture,
        queued: opts.queued,
        events: 0,
    };
    // Sockets are bound and alert files read while privileges last.
    let mut ops = Operators::prepare(opts.operators, &sinks.host)?;

    let persist = opts
        .persist
        .as_deref()
        .map(probes::PinDir::new)
        .transpose()?;
    let mut probes = Probes::load(&probes::Options {
        ring_bytes: opts.ring_bytes,
        servers: &servers,
        persist,
        procs_max: opts.procs_max,
        debug_kernel: opts.debug_kernel,
    })?;
    if let Some(p) = &probes.previous {
        eprintln!("ssh-trace: continuing after the previous agent: {p:?}");
    }
    let (ring, mut maps) = probes.take_maps()?;
    let (mut reader, mut rx) = Reader::spawn(ring).context("starting the ring buffer reader")?;

    let privsep: HashSet<u32> = opts
        .privsep_users
        .iter()
        .filter_map(|u| users::uid_of(u))
        .collect();
    let mut table = SessionTable::new(boot_id, host::Clock::now(), privsep.clone(), users::name_of);

    // Programs are attached: whatever starts from now on is seen. What was
    // already running is found in /proc and put into the kernel maps.
    let mut events = Vec::new();
    let mut bytes = sockdiag::Poller::default();
    discover_into(
        &mut maps,
        &servers,
        &privsep,
        &mut table,
        &mut bytes,
        &mut events,
    );
    crate::privileges::drop_all().context("dropping privileges after loading")?;
    ops.start()?;
    let start = Event::new(
        host::now_unix_ns(),
        Kind::AgentStart,
        None,
        Body::AgentStart {
            agent: agent.clone(),
        },
    );
    ops.observe_one(&start);
    sinks.push(&start)?;
    ops.observe(&mut events, &sinks);
    for e in &events {
        sinks.push(e)?;
    }
    sinks.flush();

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut reported = LossCounts::default();
    // Records whose events are written out (with the reader's count of
    // records taken, kept for a successor of persistent programs).
    let mut done = 0u64;
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                events.clear();
                done += batch.len() as u64;
                for ev in &batch {
                    bytes.observe(ev);
                    table.handle(ev, &mut events);
                }
                while let Ok(more) = rx.try_recv() {
                    done += more.len() as u64;
                    for ev in &more {
                        bytes.observe(ev);
                        table.handle(ev, &mut events);
                    }
                }
                ops.observe(&mut events, &sinks);
                for e in &events {
                    sinks.push(e)?;
                }
                sinks.flush();
                if probes.persistent() {
                    let consumed = reader.stats.consumed.load(Ordering::Relaxed);
                    maps.note_progress(host::now_unix_ns(), consumed, done, false);
                }
                if sinks.closed() {
                    break;
                }
            }
            _ = tick.tick() => {
                if probes.persistent() {
                    let consumed = reader.stats.consumed.load(Ordering::Relaxed);
                    maps.note_progress(host::now_unix_ns(), consumed, done, false);
                }
                report_loss(&maps, &reader, &mut reported, &mut sinks, &mut ops)?;
                events.clear();
                for ev in bytes.poll(host::monotonic_ns()) {
                    table.handle(&ev, &mut events);
                }
                ops.observe(&mut events, &sinks);
                ops.tick(&mut events);
                for e in &events {
                    sinks.push(e)?;
                }
                sinks.flush();
                sinks.tick()?;
            }
            (req, stream) = ops.request() => ops.answer(req, stream, &table),
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    // Stop: read what the kernel already produced, then account for it all.
    reader.stop();
    events.clear();
    while let Ok(batch) = rx.try_recv() {
        for ev in &batch {
            table.handle(ev, &mut events);
        }
    }
    drop(bytes);
    ops.observe(&mut events, &sinks);
    for e in &events {
        sinks.push(e)?;
    }
    report_loss(&maps, &reader, &mut reported, &mut sinks, &mut ops)?;
    events.clear();
    let alert_summary = ops.finish(&mut events);
    for e in &events {
        sinks.push(e)?;
    }
    let totals = AgentTotals {
        events: sinks.events,
        lost: reported.clone(),
    };
    sinks.push(&Event::new(
        host::now_unix_ns(),
        Kind::AgentStop,
        None,
        Body::AgentStop {
            agent,
            totals: totals.clone(),
        },
    ))?;
    sinks.finish()?;
    if probes.persistent() {
        let consumed = reader.stats.consumed.load(Ordering::Relaxed);
        maps.note_progress(host::now_unix_ns(), consumed, consumed, true);
    }
    eprintln!(
        "ssh-trace: {} events; lost {} (kernel ring buffer {}, tracked map full {}, socket map full {}, queue {}, undecodable {})",
        totals.events,
        reported.total(),
        reported.kernel_ringbuf,
        reported.kernel_tracked_full,
        reported.kernel_socks_full,
        reported.queue,
        reported.decode
    );
    if let Some(line) = alert_summary {
        eprintln!("{line}");
    }
    drop(probes);
    Ok(())
}

fn report_loss(
    maps: &Maps,
    reader: &Reader,
    reported: &mut LossCounts,
    sinks: &mut Sinks,
    ops: &mut Operators,
) -> Result<()> {
    let now = losses(maps, reader, &sinks.queued);
    if now.total() > reported.total() {
        let loss = now.since(reported);
        let body = Body::AgentLoss {
            loss,
            total: now.clone(),
        };
        let ev = Event::new(host::now_unix_ns(), Kind::AgentLoss, None, body);
        ops.observe_one(&ev);
        sinks.push(&ev)?;
        sinks.flush();
        *reported = now;
    }
    Ok(())
}

/// Puts listeners and open sessions found in /proc into the kernel maps and
/// the session table. Run twice: a process forked between the programs
/// attaching and the first scan has an untracked parent in the kernel.
fn discover_into(
    maps: &mut Maps,
    servers: &ServerBinaries,
    privsep: &HashSet<u32>,
    table: &mut SessionTable,
    bytes: &mut sockdiag::Poller,
    events: &mut Vec<Event>,
) {
    let boot = discover::boot_wall_ns();
    let mut seen: HashSet<u64> = HashSet::new();
    for _ in 0..2 {
        let procs = discover::all_procs(servers);
        let snap = discover::snapshot(&procs, privsep, |k| table.session_id(k), boot);
        for l in snap.listeners {
            if let Err(e) = maps.add_listener(l) {
                eprintln!("ssh-trace: warning: {e:#}");
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
                found.session.key = k;
                found.session.id = table.session_id(k);
            }
            let key = found.session.key;
            for &(pid, _) in &found.procs {
                let server = procs.get(&pid).is_some_and(|p| p.server);
                if let Err(e) = maps.add_member(pid, key, server) {
                    eprintln!("ssh-trace: warning: {e:#}");
                }
            }
            if let Some(conn) = found.conn {
                // A session the kernel knows has its connection in SESSION_SOCKS.
                if known.is_none() {
                    if let Err(e) = maps.add_discovered_sock(conn, key) {
                        eprintln!("ssh-trace: warning: {e:#}");
                    }
                }
                bytes.add(key, conn, 0);
            }
            if seen.insert(key) {
                table.add_discovered(found.session, &found.procs, events);
            }
        }
    }
}
