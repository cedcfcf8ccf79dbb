//! Loading and attaching the kernel programs.
pub mod btf;
pub mod offsets;
mod servers;

use anyhow::{bail, Context, Result};
use aya::{
    maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf},
    programs::{RawTracePoint, TracePoint},
    Ebpf, EbpfLoader,
};
use ssh_trace_common::maps::{BinaryId, Tracked, LOST_SLOTS};

pub use servers::{binary_id, ServerBinaries, DEFAULT_SERVER_BINARIES};

static PROBES: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/ssh-trace-probes"));

/// (program, tracepoint category, tracepoint name); category "raw" = raw tracepoint.
const PROGRAMS: &[(&str, &str, &str)] = &[
    ("sched_process_fork", "raw", "sched_process_fork"),
    ("sched_process_exec", "sched", "sched_process_exec"),
    ("sched_process_exit", "sched", "sched_process_exit"),
    ("sys_exit_accept", "syscalls", "sys_exit_accept"),
    ("sys_exit_accept4", "syscalls", "sys_exit_accept4"),
    ("sys_enter_setuid", "syscalls", "sys_enter_setuid"),
    ("sys_exit_setuid", "syscalls", "sys_exit_setuid"),
    ("sys_enter_setreuid", "syscalls", "sys_enter_setreuid"),
    ("sys_exit_setreuid", "syscalls", "sys_exit_setreuid"),
    ("sys_enter_setresuid", "syscalls", "sys_enter_setresuid"),
    ("sys_exit_setresuid", "syscalls", "sys_exit_setresuid"),
    ("sys_enter_setgid", "syscalls", "sys_enter_setgid"),
    ("sys_exit_setgid", "syscalls", "sys_exit_setgid"),
    ("sys_enter_setregid", "syscalls", "sys_enter_setregid"),
    ("sys_exit_setregid", "syscalls", "sys_exit_setregid"),
    ("sys_enter_setresgid", "syscalls", "sys_enter_setresgid"),
    ("sys_exit_setresgid", "syscalls", "sys_exit_setresgid"),
    ("sock_recv_length", "sock", "sock_recv_length"),
    ("sock_send_length", "sock", "sock_send_length"),
    ("inet_sock_set_state", "sock", "inet_sock_set_state"),
];

pub struct Options<'a> {
    pub ring_bytes: u32,
    pub servers: &'a ServerBinaries,
}

/// Loaded and attached programs; dropping it detaches them.
pub struct Probes {
    pub ebpf: Ebpf,
}

/// The maps the agent works with after loading.
pub struct Maps {
    pub lost: PerCpuArray<MapData, u64>,
    pub tracked: BpfHashMap<MapData, u32, Tracked>,
    pub listeners: BpfHashMap<MapData, u32, u64>,
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
        let mut ebpf = EbpfLoader::new()
            .override_global("OFFSETS", &offsets, true)
            .map_max_entries("EVENTS", opts.ring_bytes)
            .load(PROBES)
            .context("loading the eBPF programs (is BPF enabled in this kernel?)")?;
        {
            let mut bins: BpfHashMap<_, BinaryId, u8> = BpfHashMap::try_from(
                ebpf.map_mut("SERVER_BINARIES")
                    .context("SERVER_BINARIES map")?,
            )?;
            for id in opts.servers.ids() {
                bins.insert(id, 1, 0).context("filling SERVER_BINARIES")?;
            }
        }
        for &(name, category, tp) in PROGRAMS {
            let prog = ebpf
                .program_mut(name)
                .with_context(|| format!("program {name} missing from the object"))?;
            let what = format!("{category}:{tp}");
            if category == "raw" {
                let p: &mut RawTracePoint = prog.try_into()?;
                p.load()
                    .with_context(|| format!("verifying program for {what}"))?;
                p.attach(tp)
                    .with_context(|| format!("attaching raw tracepoint {tp}: kernel lacks it?"))?;
            } else {
                let p: &mut TracePoint = prog.try_into()?;
                p.load()
                    .with_context(|| format!("verifying program for {what}"))?;
                p.attach(category, tp)
                    .with_context(|| format!("attaching tracepoint {what}: kernel lacks it?"))?;
            }
        }
        Ok(Self { ebpf })
    }

    /// The event ring buffer (for the reader) and the maps the agent keeps.
    pub fn take_maps(&mut self) -> Result<(RingBuf<MapData>, Maps)> {
        let mut take = |name: &str| {
            self.ebpf
                .take_map(name)
                .with_context(|| format!("map {name} missing from the object"))
        };
        let events = RingBuf::try_from(take("EVENTS")?)?;
        Ok((
            events,
            Maps {
                lost: PerCpuArray::try_from(take("LOST")?)?,
                tracked: BpfHashMap::try_from(take("TRACKED")?)?,
                listeners: BpfHashMap::try_from(take("LISTENERS")?)?,
            },
        ))
    }
}

impl Maps {
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
}
