//! Loading and attaching the kernel programs, and the agent's view of the
//! kernel maps.
pub mod auth_hook;
pub mod btf;
pub mod hooks;
mod klog;
mod kmaps;
pub mod offsets;
pub mod pin;
mod servers;
mod transfers;
pub mod tty;

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};
use aya::{
    maps::{Array, HashMap as BpfHashMap, Map, MapData, RingBuf},
    programs::{
        links::FdLink,
        raw_trace_point::{RawTracePointLink, RawTracePointLinkId},
        trace_point::TracePointLink,
        RawTracePoint, TracePoint,
    },
    Ebpf, EbpfLoader,
};
use ssh_trace_common::{
    maps::{AgentState, ServerDevs, XferBinary, XferProc, MILESTONE_RING_BYTES, PROC_BITS_WORDS},
    offsets::KernelOffsets,
};

pub use kmaps::Maps;
pub use pin::PinDir;
pub use servers::{binary_id, ServerBinaries, DEFAULT_SERVER_BINARIES};
pub use transfers::{TransferBinaries, DEFAULT_SCP_BINARIES, DEFAULT_SFTP_SERVERS};

static PROBES: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ssh-trace-probes"));

/// Where a program attaches.
#[derive(Clone, Copy)]
enum Hook {
    /// Raw tracepoint: arguments as the kernel passes them, no record built.
    Raw(&'static str),
    /// Tracepoint (category, name): the record of its format file.
    Tp(&'static str, &'static str),
}

/// Every program, by name (at most 15 characters: the kernel keeps 16
/// with the NUL, and bpf_stats tell programs apart by it), and its hook. Process life cycle on raw
/// tracepoints (cheapest for the many processes that are not ours).
const PROGRAMS: &[(&str, Hook)] = &[
    ("proc_fork", Hook::Raw("sched_process_fork")),
    ("proc_exec", Hook::Raw("sched_process_exec")),
    ("proc_exit", Hook::Raw("sched_process_exit")),
    ("accept_exit", Hook::Tp("syscalls", "sys_exit_accept")),
    ("accept4_exit", Hook::Tp("syscalls", "sys_exit_accept4")),
    ("setuid_enter", Hook::Tp("syscalls", "sys_enter_setuid")),
    ("setuid_exit", Hook::Tp("syscalls", "sys_exit_setuid")),
    ("setreuid_enter", Hook::Tp("syscalls", "sys_enter_setreuid")),
    ("setreuid_exit", Hook::Tp("syscalls", "sys_exit_setreuid")),
    (
        "setresuid_enter",
        Hook::Tp("syscalls", "sys_enter_setresuid"),
    ),
    ("setresuid_exit", Hook::Tp("syscalls", "sys_exit_setresuid")),
    ("setgid_enter", Hook::Tp("syscalls", "sys_enter_setgid")),
    ("setgid_exit", Hook::Tp("syscalls", "sys_exit_setgid")),
    ("setregid_enter", Hook::Tp("syscalls", "sys_enter_setregid")),
    ("setregid_exit", Hook::Tp("syscalls", "sys_exit_setregid")),
    (
        "setresgid_enter",
        Hook::Tp("syscalls", "sys_enter_setresgid"),
    ),
    ("setresgid_exit", Hook::Tp("syscalls", "sys_exit_setresgid")),
    ("tcp_set_state", Hook::Tp("sock", "inet_sock_set_state")),
    // Forwards over unix sockets (TCP forwards need no hook of their own).
    ("fwd_conn_enter", Hook::Tp("syscalls", "sys_enter_connect")),
    ("fwd_conn_exit", Hook::Tp("syscalls", "sys_exit_connect")),
    ("fwd_lstn_enter", Hook::Tp("syscalls", "sys_enter_listen")),
    ("fwd_lstn_exit", Hook::Tp("syscalls", "sys_exit_listen")),
    // internal-sftp starting (xfer/prctl.rs): wakes the transfer hooks.
    ("xfer_prctl", Hook::Tp("syscalls", "sys_enter_prctl")),
    // The servers' log output (auth.rs): raw, because a per-syscall
    // tracepoint on write(2) builds a record for every write on the
    // machine (docs/benchmarks.md has both costs). Attached on demand
    // (auth_hook.rs), except when pinned.
    (AUTH_PROGRAM, Hook::Raw("sys_enter")),
];

/// Programs attached only while a file transfer may be going on (see
/// hooks.rs): raw sys_enter and sys_exit, which every syscall on the
/// machine pays for while they are attached.
pub const XFER_PROGRAMS: &[(&str, &str)] =
    &[("xfer_enter", "sys_enter"), ("xfer_exit", "sys_exit")];

/// Attached only while some session authenticates (by auth_hook's helper).
const AUTH_PROGRAM: &str = "auth_sys_enter";

pub struct Options<'a> {
    pub ring_bytes: u32,
    pub servers: &'a ServerBinaries,
    pub transfers: &'a TransferBinaries,
    /// Pin programs and maps here, and reuse what an earlier agent pinned.
    pub persist: Option<PinDir>,
    /// Size of the process table (tests make it small to fill it).
    pub procs_max: u32,
    /// The programs log their decisions about SSH servers (stderr).
    pub debug_kernel: bool,
}

/// What the previous agent of a persistent instance left.
#[derive(Clone, Copy, Debug)]
pub struct Previous {
    pub state: AgentState,
    /// Its programs kept running (nothing was missed but what that agent
    /// had read and not yet written); false: they were replaced (another
    /// build or settings), so the time since `state.alive_ns` is a gap.
    pub reused: bool,
}

/// Loaded and attached programs. Dropping it detaches them, unless they
/// are pinned (then they run on until `ssh-trace unload`).
/// The programs, shared by the threads that attach some of them on demand
/// (terminal recording's switch, the transfer hooks); the last one to let
/// go drops them, detaching everything.
pub type SharedProbes = std::sync::Arc<std::sync::Mutex<Probes>>;

/// A lock on the shared programs (a thread that panicked holding it left
/// them as they were: go on).
pub fn lock(p: &SharedProbes) -> std::sync::MutexGuard<'_, Probes> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Probes {
    ebpf: Option<Ebpf>,
    pins: Option<PinDir>,
    pub previous: Option<Previous>,
    /// The transfer hooks loaded from pins (reused pinned programs).
    pinned_hooks: Vec<RawTracePoint>,
    /// Their links while attached.
    hook_links: Vec<(usize, RawTracePointLinkId)>,
    /// This kernel's BTF has what the transfer programs read (x86_64).
    pub transfers_supported: bool,
    /// Links of programs that are not pinned, detached when dropped.
    links: Vec<Link>,
}

/// An attachment this agent owns (not pinned).
enum Link {
    Raw(RawTracePointLink),
    Tp(TracePointLink),
}

impl Drop for Probes {
    /// Detaches every link at once: each tracepoint's detach waits for
    /// RCU grace periods, one after the other they took seconds under load
    /// (and so did a SIGTERM); side by side the waits overlap.
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.links);
        std::thread::scope(|s| {
            for link in links {
                let _ = std::thread::Builder::new().spawn_scoped(s, move || match link {
                    Link::Raw(l) => drop(l),
                    Link::Tp(l) => drop(l),
                });
            }
        });
    }
}

/// The maps the transfer hook thread reads.
pub struct XferMaps {
    pub wake: RingBuf<MapData>,
    pub procs: BpfHashMap<MapData, u32, XferProc>,
    /// XFER_CTL: attached flag and heartbeat (hooks.rs).
    pub ctl: aya::maps::Array<MapData, u64>,
}

/// The ring buffers the reader drains.
pub struct Rings {
    pub events: RingBuf<MapData>,
    pub milestones: RingBuf<MapData>,
    /// Terminal recordings (empty while recording is off).
    pub tty: RingBuf<MapData>,
    pub transfers: RingBuf<MapData>,
}

pub fn check_ring_bytes(n: u32) -> Result<()> {
    let page = page_size();
    if !n.is_power_of_two() || n < page {
        bail!(
            "ring buffer size {n} must be a power of two and at least the page size ({page} bytes)"
        );
    }
    Ok(())
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u32
    } else {
        4096
    }
}

pub fn check_environment() -> Result<()> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("ssh-trace must run as root (it loads eBPF programs into the kernel)");
    }
    ensure_tracefs()
}

/// Tracepoints are attached through tracefs, which a fresh machine may not mount.
fn ensure_tracefs() -> Result<()> {
    let dir = std::path::Path::new("/sys/kernel/tracing");
    if dir.join("events").exists()
        || std::path::Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return Ok(());
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        .status()
        .context("running mount -t tracefs")?;
    if !status.success() || !dir.join("events").exists() {
        bail!("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: this kernel may lack CONFIG_TRACING");
    }
    Ok(())
}

impl Probes {
    pub fn load(opts: &Options) -> Result<Self> {
        let offsets = offsets::from_kernel()?;
        let build = build_hash(&offsets, opts.ring_bytes, opts.procs_max);
        let fresh = |ebpf, links, pins: Option<&PinDir>, previous| Self {
            ebpf: Some(ebpf),
            pins: pins.cloned(),
            previous,
            pinned_hooks: Vec::new(),
            hook_links: Vec::new(),
            transfers_supported: offsets.regs_di != 0,
            links,
        };
        let Some(pins) = &opts.persist else {
            let (ebpf, links) = load_fresh(opts, &offsets, None)?;
            return Ok(fresh(ebpf, links, None, None));
        };
        let names = PROGRAMS.iter().map(|(n, _)| *n);
        let hooks = XFER_PROGRAMS.iter().map(|(n, _)| *n);
        let old = pins
            .complete(names, hooks)
            .then(|| pinned_state(pins))
            .flatten();
        if let Some(state) = old.filter(|s| s.build == build) {
            refill_pinned_inodes(pins, opts)?;
            let pinned_hooks = XFER_PROGRAMS
                .iter()
                .map(|(n, _)| RawTracePoint::from_pin(pins.prog(n)))
                .collect::<Result<_, _>>()
                .context("opening the pinned transfer hooks")?;
            return Ok(Self {
                pinned_hooks,
                ebpf: None,
                previous: Some(Previous {
                    state,
                    reused: true,
                }),
                pins: Some(pins.clone()),
                hook_links: Vec::new(),
                transfers_supported: offsets.regs_di != 0,
                links: Vec::new(),
            });
        }
        pins.clear()?;
        pins.create()?;
        let (ebpf, links) = load_fresh(opts, &offsets, Some(pins))?;
        let previous = old.map(|state| Previous {
            state,
            reused: false,
        });
        let mut probes = fresh(ebpf, links, Some(pins), previous);
        probes.write_build(build)?;
        Ok(probes)
    }

    fn write_build(&mut self, build: u64) -> Result<()> {
        let map = self.take_map("AGENT_STATE")?;
        let mut state: Array<MapData, AgentState> = Array::try_from(map)?;
        let s = AgentState {
            build,
            ..Default::default()
        };
        state.set(0, s, 0).context("writing AGENT_STATE")?;
        // Taken maps are dropped; the pin keeps it for take_maps.
        Ok(())
    }

    fn take_map(&mut self, name: &str) -> Result<Map> {
        if let (Some(pins), Some(_)) = (&self.pins, &self.ebpf) {
            // Pinned and freshly loaded: open the pin, so that the map can
            // be taken more than once (AGENT_STATE at load and by the agent).
            return pinned_map(pins, name);
        }
        match (&mut self.ebpf, &self.pins) {
            (Some(ebpf), _) => ebpf
                .take_map(name)
                .with_context(|| format!("map {name} missing from the object")),
            (None, Some(pins)) => pinned_map(pins, name),
            (None, None) => anyhow::bail!("no programs loaded"),
        }
    }

    /// The ring buffers (for the reader) and the maps the agent keeps.
    pub fn take_maps(&mut self) -> Result<(Rings, Maps)> {
        let rings = Rings {
            events: RingBuf::try_from(self.take_map("EVENTS")?)?,
            milestones: RingBuf::try_from(self.take_map("MILESTONES")?)?,
            tty: RingBuf::try_from(self.take_map("TTY_RING")?)?,
            transfers: RingBuf::try_from(self.take_map("XFER_RECORDS")?)?,
        };
        let maps = Maps::take(&mut |name| self.take_map(name))?;
        Ok((rings, maps))
    }

    /// Whether the programs outlive this agent (pinned).
    pub fn persistent(&self) -> bool {
        self.pins.is_some()
    }

    /// The maps the transfer hook thread needs.
    pub fn take_xfer_maps(&mut self) -> Result<XferMaps> {
        Ok(XferMaps {
            wake: RingBuf::try_from(self.take_map("XFER_WAKE")?)?,
            procs: BpfHashMap::try_from(self.take_map("XFER_PROCS")?)?,
            ctl: aya::maps::Array::try_from(self.take_map("XFER_CTL")?)?,
        })
    }

    fn hook(&mut self, i: usize) -> Result<&mut RawTracePoint> {
        let name = XFER_PROGRAMS[i].0;
        match &mut self.ebpf {
            Some(ebpf) => Ok(ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from the object"))?
                .try_into()?),
            None => self
                .pinned_hooks
                .get_mut(i)
                .with_context(|| format!("pinned program {name} not opened")),
        }
    }

    /// Attaches the transfer hooks (raw sys_enter and sys_exit).
    pub fn attach_transfer_hooks(&mut self) -> Result<()> {
        for (i, &(_, tp)) in XFER_PROGRAMS.iter().enumerate() {
            if self.hook_links.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let id = self
                .hook(i)?
                .attach(tp)
                .with_context(|| format!("attaching raw tracepoint {tp}"))?;
            self.hook_links.push((i, id));
        }
        Ok(())
    }

    /// Detaches them: syscalls on the machine cost nothing more again.
    pub fn detach_transfer_hooks(&mut self) -> Result<()> {
        while let Some((i, id)) = self.hook_links.pop() {
            self.hook(i)?
                .detach(id)
                .context("detaching a transfer hook")?;
        }
        Ok(())
    }

    pub fn transfer_hooks_attached(&self) -> bool {
        !self.hook_links.is_empty()
    }

    /// The helper that attaches the servers' log capture on demand (before
    /// the agent drops its capabilities). None when the programs are
    /// pinned: then it stays attached, for the next agent too.
    pub fn auth_hook(&mut self) -> Result<Option<auth_hook::AuthHook>> {
        let Some(ebpf) = self.ebpf.as_mut().filter(|_| self.pins.is_none()) else {
            return Ok(None);
        };
        let prog: &mut RawTracePoint = ebpf
            .program_mut(AUTH_PROGRAM)
            .context("program auth_sys_enter missing")?
            .try_into()?;
        let fd = prog.fd()?.as_fd().try_clone_to_owned()?;
        auth_hook::AuthHook::spawn(fd).map(Some)
    }
}

/// Verifies a program that is attached later (auth_hook).
fn load_only(ebpf: &mut Ebpf, name: &str) -> Result<()> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?
        .try_into()?;
    prog.load()
        .with_context(|| format!("verifying program {name}"))
}

fn load_fresh(
    opts: &Options,
    offsets: &KernelOffsets,
    pins: Option<&PinDir>,
) -> Result<(Ebpf, Vec<Link>)> {
    let words = proc_bit_words();
    let level = if opts.debug_kernel {
        klog::ALL
    } else {
        klog::OFF
    };
    let mut loader = EbpfLoader::new();
    loader
        .override_global("OFFSETS", offsets, true)
        .override_global("AYA_LOG_LEVEL", &level, true)
        .map_max_entries("EVENTS", opts.ring_bytes)
        .map_max_entries("MILESTONES", MILESTONE_RING_BYTES)
        .map_max_entries("PROCS", opts.procs_max)
        .map_max_entries("PROC_BITS", words)
        .map_max_entries("DISCOVERED_BITS", words);
    let paths: Vec<(&str, std::path::PathBuf)> = pins
        .map(|p| pin::MAP_NAMES.iter().map(|m| (*m, p.map(m))).collect())
        .unwrap_or_default();
    for (name, path) in &paths {
        loader.map_pin_path(name, path.as_path());
    }
    let mut ebpf = loader
        .load(PROBES)
        .context("loading the eBPF programs (is BPF enabled in this kernel?)")?;
    fill_server_inodes(&mut ebpf, opts.servers)?;
    fill_xfer_inodes(&mut ebpf, opts.transfers)?;
    if opts.debug_kernel {
        klog::start(&mut ebpf)?;
    }
    let mut links = Vec::new();
    for &(name, hook) in PROGRAMS {
        if name == AUTH_PROGRAM && pins.is_none() {
            load_only(&mut ebpf, name)?;
            continue;
        }
        links.extend(attach(&mut ebpf, name, hook, pins)?);
    }
    set_tail_calls(&mut ebpf)?;
    for &(name, tp) in XFER_PROGRAMS {
        let p: &mut RawTracePoint = ebpf
            .program_mut(name)
            .with_context(|| format!("program {name} missing from the object"))?
            .try_into()?;
        p.load()
            .with_context(|| format!("verifying program for raw tracepoint {tp}"))?;
        if let Some(pins) = pins {
            p.pin(pins.prog(name))
                .with_context(|| format!("pinning program {name}"))?;
        }
    }
    Ok((ebpf, links))
}

/// Identifies what this agent would load: the program object, the kernel's
/// offsets, the ring and table sizes (a pinned map cannot be resized).
fn build_hash(offsets: &KernelOffsets, ring_bytes: u32, procs_max: u32) -> u64 {
    let mut h = crc32fast::Hasher::new();
    // SAFETY: KernelOffsets is plain u32 fields without padding.
    let raw = unsafe {
        std::slice::from_raw_parts(
            offsets as *const KernelOffsets as *const u8,
            std::mem::size_of::<KernelOffsets>(),
        )
    };
    h.update(raw);
    h.update(&ring_bytes.to_le_bytes());
    h.update(&procs_max.to_le_bytes());
    ((crc32fast::hash(PROBES) as u64) << 32) | h.finalize() as u64
}

fn pinned_map(pins: &PinDir, name: &str) -> Result<Map> {
    let path = pins.map(name);
    let data = MapData::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
    Ok(match name {
        "EVENTS" | "MILESTONES" | "AYA_LOGS" | "XFER_WAKE" | "XFER_RECORDS" | "TTY_RING" => {
            Map::RingBuf(data)
        }
        "LOST" | "EXEC_SCRATCH" | "LAST_WAKE" | "XFER_SCRATCH" | "XFER_EXEC_WAS"
        | "AUTH_SCRATCH" | "FWD_SCRATCH" | "TTY_SCRATCH" => Map::PerCpuArray(data),
        "XFER_TAILS" => Map::ProgramArray(data),
        "PROC_BITS" | "DISCOVERED_BITS" | "COUNTS" | "AGENT_STATE" | "FWD_COUNT" | "TTY_CONFIG"
        | "AUTH_WATCH" | "XFER_CTL" => Map::Array(data),
        "TTY_SESSIONS" | "TTY_ARGS" => Map::LruHashMap(data),
        _ => Map::HashMap(data),
    })
}

fn pinned_state(pins: &PinDir) -> Option<AgentState> {
    let state: Array<MapData, AgentState> =
        Array::try_from(pinned_map(pins, "AGENT_STATE").ok()?).ok()?;
    state.get(&0, 0).ok()
}

/// The server and transfer lists may have changed since the programs were pinned.
fn refill_pinned_inodes(pins: &PinDir, opts: &Options) -> Result<()> {
    let mut inodes: BpfHashMap<MapData, u64, ServerDevs> =
        BpfHashMap::try_from(pinned_map(pins, "SERVER_INODES")?)?;
    let old: Vec<u64> = inodes.keys().filter_map(Result::ok).collect();
    for k in old {
        let _ = inodes.remove(&k);
    }
    for (ino, devs) in opts.servers.by_inode() {
        inodes
            .insert(ino, devs, 0)
            .context("filling SERVER_INODES")?;
    }
    let mut xfer: BpfHashMap<MapData, u64, XferBinary> =
        BpfHashMap::try_from(pinned_map(pins, "XFER_INODES")?)?;
    let old: Vec<u64> = xfer.keys().filter_map(Result::ok).collect();
    for k in old {
        let _ = xfer.remove(&k);
    }
    for (ino, bin) in opts.transfers.by_inode() {
        xfer.insert(ino, bin, 0).context("filling XFER_INODES")?;
    }
    Ok(())
}

/// Words of the per-tgid bitmaps for this machine's kernel.pid_max (a pid
/// above it later, if pid_max is raised, just takes the slower path).
fn proc_bit_words() -> u32 {
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(PROC_BITS_WORDS * 64);
    pid_max.div_ceil(64).clamp(1, PROC_BITS_WORDS)
}

fn fill_server_inodes(ebpf: &mut Ebpf, servers: &ServerBinaries) -> Result<()> {
    let mut inodes: BpfHashMap<_, u64, ServerDevs> =
        BpfHashMap::try_from(ebpf.map_mut("SERVER_INODES").context("SERVER_INODES map")?)?;
    for (ino, devs) in servers.by_inode() {
        inodes
            .insert(ino, devs, 0)
            .context("filling SERVER_INODES")?;
    }
    Ok(())
}

/// Programs tail-called on sched_process_exec, by their XFER_TAILS index:
/// loaded, never attached.
const TAIL_PROGRAMS: &[&str] = &["xfer_exec", "xfer_scp"];

fn set_tail_calls(ebpf: &mut Ebpf) -> Result<()> {
    for (i, name) in TAIL_PROGRAMS.iter().enumerate() {
        let p: &mut RawTracePoint = ebpf
            .program_mut(name)
            .with_context(|| format!("program {name} missing from the object"))?
            .try_into()?;
        p.load()
            .with_context(|| format!("verifying program {name} (sched_process_exec, tail call)"))?;
        let fd = p.fd()?.try_clone()?;
        let mut tails = aya::maps::ProgramArray::try_from(
            ebpf.map_mut("XFER_TAILS").context("XFER_TAILS map")?,
        )?;
        tails.set(i as u32, &fd, 0).context("setting XFER_TAILS")?;
    }
    Ok(())
}

fn fill_xfer_inodes(ebpf: &mut Ebpf, transfers: &TransferBinaries) -> Result<()> {
    let mut inodes: BpfHashMap<_, u64, XferBinary> =
        BpfHashMap::try_from(ebpf.map_mut("XFER_INODES").context("XFER_INODES map")?)?;
    for (ino, bin) in transfers.by_inode() {
        inodes.insert(ino, bin, 0).context("filling XFER_INODES")?;
    }
    Ok(())
}

/// Loads and attaches one program; with `pins`, its link is pinned so that
/// it stays attached without us, else it is ours to detach.
fn attach(ebpf: &mut Ebpf, name: &str, hook: Hook, pins: Option<&PinDir>) -> Result<Option<Link>> {
    let prog = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?;
    let link: FdLink = match hook {
        Hook::Raw(tp) => {
            let p: &mut RawTracePoint = prog.try_into()?;
            p.load()
                .with_context(|| format!("verifying program for raw tracepoint {tp}"))?;
            let id = p
                .attach(tp)
                .with_context(|| format!("attaching raw tracepoint {tp}: kernel lacks it?"))?;
            if pins.is_none() {
                return Ok(Some(Link::Raw(p.take_link(id)?)));
            }
            p.take_link(id)?.into()
        }
        Hook::Tp(category, tp) => {
            let p: &mut TracePoint = prog.try_into()?;
            p.load()
                .with_context(|| format!("verifying program for {category}:{tp}"))?;
            let id = p.attach(category, tp).with_context(|| {
                format!("attaching tracepoint {category}:{tp}: kernel lacks it?")
            })?;
            if pins.is_none() {
                return Ok(Some(Link::Tp(p.take_link(id)?)));
            }
            FdLink::try_from(p.take_link(id)?).context(
                "this kernel cannot pin tracepoint links (BPF perf links need Linux 5.15)",
            )?
        }
    };
    if let Some(pins) = pins {
        let path = pins.link(name);
        // The pin holds the link; our handle may close.
        drop(
            link.pin(&path)
                .with_context(|| format!("pinning {}", path.display()))?,
        );
    }
    Ok(None)
}
