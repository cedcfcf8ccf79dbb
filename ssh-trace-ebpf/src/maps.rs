//! Maps and the shared emit helpers.
use core::intrinsics::{atomic_xadd, AtomicOrdering};

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use ssh_trace_common::{
    event::{EventHeader, EventKind, ExecEvent, ForwardEvent},
    maps::*,
    offsets::KernelOffsets,
};

/// Field offsets (and a few kernel constants), set by the agent at load
/// time from BTF. Zero here; the loader overrides the whole struct.
#[unsafe(no_mangle)]
pub static OFFSETS: KernelOffsets = unsafe { core::mem::zeroed() };

/// Reads one offset; volatile so the loader's value is used, not the zero above.
macro_rules! off {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::maps::OFFSETS.$field) as usize }
    };
}
pub(crate) use off;

/// Process-tree records (fork, exec, exit). Resized by the agent
/// (`--ring-buffer-size`).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

/// Session milestones (connect, uid changes, connection end): kept apart so
/// that a process-tree flood never pushes them out.
#[map]
pub static MILESTONES: RingBuf = RingBuf::with_byte_size(MILESTONE_RING_BYTES, 0);

/// File transfers (xfer/): a ring of their own, for the same reason.
#[map]
pub static XFER_RECORDS: RingBuf = RingBuf::with_byte_size(XFER_RING_BYTES, 0);

#[map]
pub static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOST_SLOTS, 0);

/// Per session: records lost and processes left untracked (the agent reads
/// and deletes entries once a second, to name the sessions in agent.loss).
#[map]
pub static SESSION_LOSS: HashMap<u64, SessionLoss> = HashMap::with_max_entries(SESSION_LOSS_MAX, 0);

#[map]
pub static PROCS: HashMap<u32, Proc> = HashMap::with_max_entries(PROCS_MAX, 0);

/// One bit per tgid: set while the kernel's PROCS entry exists. A clear bit
/// (in both bitmaps) means "not ours" at the cost of an inlined array read,
/// so the many processes that are not ours never pay for a hash lookup.
#[map]
pub static PROC_BITS: Array<u64> = Array::with_max_entries(PROC_BITS_WORDS, 0);

/// Bits of the processes the agent put into PROCS from /proc (written by
/// the agent only; a stale bit costs a lookup, nothing else).
#[map]
pub static DISCOVERED_BITS: Array<u64> = Array::with_max_entries(PROC_BITS_WORDS, 0);

/// [0]: listener entries of non-root servers (PROC_USER_LISTENER).
#[map]
pub static COUNTS: Array<u64> = Array::with_max_entries(1, 0);

#[map]
pub static SESSION_SOCKS: HashMap<u64, u64> = HashMap::with_max_entries(SESSION_SOCKS_MAX, 0);

#[map]
pub static DISCOVERED_SOCKS: HashMap<SockTuple, u64> =
    HashMap::with_max_entries(DISCOVERED_SOCKS_MAX, 0);

#[map]
pub static CRED_ARGS: HashMap<u32, CredArgs> = HashMap::with_max_entries(CRED_ARGS_MAX, 0);

/// Per session: unchanged/failed uid calls this second (CRED_RATE_PER_SEC).
#[map]
pub static CRED_RATE: LruHashMap<u64, CredWindow> = LruHashMap::with_max_entries(CRED_RATE_MAX, 0);

/// Inode number → devices of SSH server executables.
#[map]
pub static SERVER_INODES: HashMap<u64, ServerDevs> =
    HashMap::with_max_entries(SERVER_INODES_MAX, 0);

/// Exec records are larger than the 512-byte stack: built here.
#[map]
pub static EXEC_SCRATCH: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);

/// The agent's own record of itself, kept with pinned programs across
/// restarts; the programs never read it.
#[map]
pub static AGENT_STATE: Array<AgentState> = Array::with_max_entries(1, 0);

/// Forward sockets of sessions (see common maps.rs FWD_SOCKS_MAX).
#[map]
pub static FWD_SOCKS: HashMap<u64, FwdSock> = HashMap::with_max_entries(FWD_SOCKS_MAX, 0);

/// [0]: entries in FWD_SOCKS, so that the many connections that are not
/// forwards skip its lookup while there are none.
#[map]
pub static FWD_COUNT: Array<u64> = Array::with_max_entries(1, 0);

/// connect()/listen() of server processes between enter and exit, by tid.
#[map]
pub static FWD_CALLS: HashMap<u32, FwdCall> = HashMap::with_max_entries(FWD_CALLS_MAX, 0);

/// Forward records are larger than what the stack comfortably holds.
#[map]
pub static FWD_SCRATCH: PerCpuArray<ForwardEvent> = PerCpuArray::with_max_entries(1, 0);

/// Last forced wake-up of the reader for a milestone, per CPU.
#[map]
pub static LAST_WAKE: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

pub fn count_lost(slot: u32) {
    if let Some(p) = LOST.get_ptr_mut(slot) {
        // Per-CPU slot: no other writer.
        unsafe { *p += 1 };
    }
}

const BPF_NOEXIST: u64 = 1;

/// Names the session in the loss report: `untracked` for a process PROCS
/// could not hold, else a record that did not fit a ring buffer (or was
/// over a rate limit).
pub fn count_session_loss(session: u64, untracked: bool) {
    if session == 0 || add_session_loss(session, untracked) {
        return;
    }
    let first = SessionLoss {
        records: (!untracked) as u64,
        untracked: untracked as u64,
    };
    if SESSION_LOSS.insert(&session, &first, BPF_NOEXIST).is_ok() {
        return;
    }
    // Another CPU inserted it meanwhile (add to that), or the map is full.
    if !add_session_loss(session, untracked) {
        count_lost(LOST_SESSION_LOSS_FULL);
    }
}

/// Adds one to `session`'s entry if it has one.
#[inline(always)]
fn add_session_loss(session: u64, untracked: bool) -> bool {
    let Some(l) = SESSION_LOSS.get_ptr_mut(&session) else {
        return false;
    };
    let l = unsafe { &mut *l };
    let counter = if untracked {
        &mut l.untracked
    } else {
        &mut l.records
    };
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(counter, 1) };
    true
}

/// Adds `delta` to COUNTS[0] (the user-listener quota). The bpf target's
/// generic CPU has no fetch-and-add: the value is read separately.
pub fn user_listeners_add(delta: i64) {
    if let Some(p) = COUNTS.get_ptr_mut(0) {
        unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(p, delta as u64) };
    }
}

/// Listener entries of non-root servers now.
pub fn user_listeners() -> u64 {
    COUNTS.get(0).copied().unwrap_or(u64::MAX)
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

/// The two ring buffers.
#[derive(Clone, Copy)]
pub enum Ring {
    /// Process tree: never wakes the reader, which polls every
    /// READER_POLL_MS, unless the ring is over a quarter full.
    Events,
    /// Milestones: wake the reader, at most once per MILESTONE_WAKE_NS per CPU.
    Milestones,
    /// File transfers: like Events (polled), in a ring of their own.
    Transfers,
}

const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
const BPF_RB_RING_SIZE: u64 = 1;

fn ring_buf(ring: Ring) -> &'static RingBuf {
    match ring {
        Ring::Events => &EVENTS,
        Ring::Milestones => &MILESTONES,
        Ring::Transfers => &XFER_RECORDS,
    }
}

fn wake_flags(ring: Ring) -> u64 {
    let rb = ring_buf(ring);
    if rb.query(BPF_RB_AVAIL_DATA) > rb.query(BPF_RB_RING_SIZE) / 4 {
        return BPF_RB_FORCE_WAKEUP;
    }
    if let Ring::Milestones = ring {
        if let Some(last) = LAST_WAKE.get_ptr_mut(0) {
            let now = unsafe { bpf_ktime_get_ns() };
            let last = unsafe { &mut *last };
            if now.wrapping_sub(*last) >= MILESTONE_WAKE_NS {
                *last = now;
                return BPF_RB_FORCE_WAKEUP;
            }
        }
    }
    BPF_RB_NO_WAKEUP
}

/// Writes a fixed-size record; a full ring buffer is counted, never silent,
/// and charged to the record's session.
pub fn emit<T: 'static>(record: &T, session: u64, ring: Ring) {
    output(
        unsafe {
            core::slice::from_raw_parts(record as *const T as *const u8, core::mem::size_of::<T>())
        },
        session,
        ring,
    );
}

pub fn output(bytes: &[u8], session: u64, ring: Ring) {
    if ring_buf(ring)
        .output::<[u8]>(bytes, wake_flags(ring))
        .is_err()
    {
        count_lost(match ring {
            Ring::Events | Ring::Transfers => LOST_RINGBUF,
            Ring::Milestones => LOST_MILESTONES,
        });
        count_session_loss(session, false);
    }
}

/// Whether `tgid` may have a PROCS entry (false: certainly not). A tgid
/// beyond the bitmaps (pid_max raised after loading) may.
#[inline(always)]
fn maybe_ours(tgid: u32) -> bool {
    let word = tgid / 64;
    let bit = 1u64 << (tgid % 64);
    let Some(k) = PROC_BITS.get(word) else {
        return true;
    };
    let d = DISCOVERED_BITS.get(word).copied().unwrap_or(0);
    (*k | d) & bit != 0
}

#[inline(always)]
pub fn proc_of(tgid: u32) -> Option<*mut Proc> {
    if !maybe_ours(tgid) {
        return None;
    }
    PROCS.get_ptr_mut(&tgid)
}

/// Adds a new process to PROCS and sets its bit; false when the map is full.
#[inline(always)]
pub fn procs_insert(tgid: u32, entry: &Proc) -> bool {
    let mut e = *entry;
    e.flags |= PROC_KERNEL_BIT;
    if PROCS.insert(&tgid, &e, 0).is_err() {
        return false;
    }
    if let Some(w) = PROC_BITS.get_ptr_mut(tgid / 64) {
        // Set by addition (the generic BPF CPU has atomic add, not or):
        // the entry was new, so its bit was clear.
        unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(w, 1u64 << (tgid % 64)) };
    }
    true
}

/// Removes a process from PROCS and clears the bit the kernel set for it.
#[inline(always)]
pub fn procs_remove(tgid: u32, entry: &Proc) {
    if PROCS.remove(&tgid).is_err() || entry.flags & PROC_KERNEL_BIT == 0 {
        return;
    }
    if let Some(w) = PROC_BITS.get_ptr_mut(tgid / 64) {
        let bit = 1u64 << (tgid % 64);
        unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(w, bit.wrapping_neg()) };
    }
}
