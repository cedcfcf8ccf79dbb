//! Loading and attaching the kernel programs, and the agent's view of the
//! kernel maps.
pub mod btf;
mod kmaps;
pub mod offsets;
mod servers;

use anyhow::{bail, Context, Result};
use aya::{
    maps::{HashMap as BpfHashMap, MapData, RingBuf},
    programs::{RawTracePoint, TracePoint},
    Ebpf, EbpfLoader,
};
use ssh_trace_common::maps::{ServerDevs, MILESTONE_RING_BYTES, PROC_BITS_WORDS};

pub use kmaps::Maps;
pub use servers::{binary_id, ServerBinaries, DEFAULT_SERVER_BINARIES};

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
];

pub struct Options<'a> {
    pub ring_bytes: u32,
    pub servers: &'a ServerBinaries,
}

/// Loaded and attached programs; dropping it detaches them.
pub struct Probes {
    pub ebpf: Ebpf,
}

/// The two ring buffers the reader drains.
pub struct Rings {
    pub events: RingBuf<MapData>,
    pub milestones: RingBuf<MapData>,
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
        let words = proc_bit_words();
        let mut ebpf = EbpfLoader::new()
            .override_global("OFFSETS", &offsets, true)
            .map_max_entries("EVENTS", opts.ring_bytes)
            .map_max_entries("MILESTONES", MILESTONE_RING_BYTES)
            .map_max_entries("PROC_BITS", words)
            .map_max_entries("DISCOVERED_BITS", words)
            .load(PROBES)
            .context("loading the eBPF programs (is BPF enabled in this kernel?)")?;
        fill_server_inodes(&mut ebpf, opts.servers)?;
        for &(name, hook) in PROGRAMS {
            attach(&mut ebpf, name, hook)?;
        }
        Ok(Self { ebpf })
    }

    /// The ring buffers (for the reader) and the maps the agent keeps.
    pub fn take_maps(&mut self) -> Result<(Rings, Maps)> {
        let mut take = |name: &str| {
            self.ebpf
                .take_map(name)
                .with_context(|| format!("map {name} missing from the object"))
        };
        let rings = Rings {
            events: RingBuf::try_from(take("EVENTS")?)?,
            milestones: RingBuf::try_from(take("MILESTONES")?)?,
        };
        let maps = Maps::take(&mut take)?;
        Ok((rings, maps))
    }
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

fn attach(ebpf: &mut Ebpf, name: &str, hook: Hook) -> Result<()> {
    let prog = ebpf
        .program_mut(name)
        .with_context(|| format!("program {name} missing from the object"))?;
    match hook {
        Hook::Raw(tp) => {
            let p: &mut RawTracePoint = prog.try_into()?;
            p.load()
                .with_context(|| format!("verifying program for raw tracepoint {tp}"))?;
            p.attach(tp)
                .with_context(|| format!("attaching raw tracepoint {tp}: kernel lacks it?"))?;
        }
        Hook::Tp(category, tp) => {
            let p: &mut TracePoint = prog.try_into()?;
            p.load()
                .with_context(|| format!("verifying program for {category}:{tp}"))?;
            p.attach(category, tp).with_context(|| {
                format!("attaching tracepoint {category}:{tp}: kernel lacks it?")
            })?;
        }
    }
    Ok(())
}
