//! Maps and the shared emit helpers.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::map,
    maps::{HashMap, PerCpuArray, RingBuf},
};
use ssh_trace_common::{
    event::{EventHeader, EventKind, ExecEvent},
    maps::*,
    offsets::KernelOffsets,
};

/// Field offsets, set by the agent at load time from BTF.
#[unsafe(no_mangle)]
pub static OFFSETS: KernelOffsets = KernelOffsets {
    task_pid: 0,
    task_tgid: 0,
    task_real_parent: 0,
    task_mm: 0,
    task_cred: 0,
    task_files: 0,
    task_exit_code: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    mm_exe_file: 0,
    file_inode: 0,
    file_private_data: 0,
    inode_ino: 0,
    inode_sb: 0,
    sb_dev: 0,
    cred_uid: 0,
    cred_gid: 0,
    cred_suid: 0,
    cred_sgid: 0,
    cred_euid: 0,
    cred_egid: 0,
    files_fdt: 0,
    fdt_max_fds: 0,
    fdt_fd: 0,
    socket_sk: 0,
    skc_family: 0,
    skc_num: 0,
    skc_dport: 0,
    skc_daddr: 0,
    skc_rcv_saddr: 0,
    skc_v6_daddr: 0,
    skc_v6_rcv_saddr: 0,
    tcp_snd_una: 0,
    tcp_bytes_acked: 0,
};

/// Reads one offset; volatile so the loader's value is used, not the zero above.
macro_rules! off {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::maps::OFFSETS.$field) as usize }
    };
}
pub(crate) use off;

/// Resized by the agent (`--ring-buffer-size`).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

#[map]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOST_SLOTS, 0);

#[map]
pub static TRACKED: HashMap<u32, Tracked> = HashMap::with_max_entries(TRACKED_MAX, 0);

#[map]
pub static LISTENERS: HashMap<u32, u64> = HashMap::with_max_entries(LISTENERS_MAX, 0);

#[map]
pub static SESSION_SOCKS: HashMap<u64, SockStats> = HashMap::with_max_entries(SESSION_SOCKS_MAX, 0);

#[map]
pub static CRED_ARGS: HashMap<u32, CredArgs> = HashMap::with_max_entries(CRED_ARGS_MAX, 0);

#[map]
pub static SERVER_BINARIES: HashMap<BinaryId, u8> =
    HashMap::with_max_entries(SERVER_BINARIES_MAX, 0);

/// Exec records are larger than the 512-byte stack: built here.
#[map]
pub static EXEC_SCRATCH: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);

pub fn count_lost(slot: u32) {
    if let Some(p) = LOST.get_ptr_mut(slot) {
        // Per-CPU slot: no other writer.
        unsafe { *p += 1 };
    }
}

pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

pub fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

pub fn header(kind: EventKind, tgid: u32, session: u64) -> EventHeader {
    EventHeader {
        kind: kind as u32,
        tgid,
        ktime_ns: unsafe { bpf_ktime_get_ns() },
        session,
    }
}

/// How the reader is woken. Process-tree records (fork, exec, exit, byte
/// flushes) are frequent and wait for the reader's next poll (at most
/// `READER_POLL_MS` later); session milestones wake it at once, and so does a
/// ring buffer filling up. Waking per exec costs the traced workload a
/// context switch per record.
#[derive(Clone, Copy)]
pub enum Wake {
    Lazy,
    Now,
}

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_RING_SIZE: u64 = 1;

fn wake_flags(wake: Wake) -> u64 {
    match wake {
        Wake::Now => BPF_RB_FORCE_WAKEUP,
        Wake::Lazy => {
            let avail = EVENTS.query(BPF_RB_AVAIL_DATA);
            let size = EVENTS.query(BPF_RB_RING_SIZE);
            if avail > size / 4 {
                BPF_RB_FORCE_WAKEUP
            } else {
                BPF_RB_NO_WAKEUP
            }
        }
    }
}

/// Writes a fixed-size record; a full ring buffer is counted, never silent.
pub fn emit<T: 'static>(record: &T, wake: Wake) {
    output(
        unsafe {
            core::slice::from_raw_parts(record as *const T as *const u8, core::mem::size_of::<T>())
        },
        wake,
    );
}

pub fn output(bytes: &[u8], wake: Wake) {
    if EVENTS.output::<[u8]>(bytes, wake_flags(wake)).is_err() {
        count_lost(LOST_RINGBUF);
    }
}

pub fn tracked(tgid: u32) -> Option<Tracked> {
    unsafe { TRACKED.get(&tgid).copied() }
}
