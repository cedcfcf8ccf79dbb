//! Terminal recording: what a session's SSH server process reads from the
//! pty master (the terminal's output) and writes to it (what the client
//! typed), taken in the kernel where no wrapper of the user's sits. The
//! agent attaches these programs only while recording is on and a session
//! is open (probes/tty.rs); for every process that is not a session's
//! server they cost the bitmap check of `proc_of`.
use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_probe_read_user, bpf_probe_read_user_buf},
    macros::{map, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::TracePointContext,
};
use ssh_trace_common::{
    event::{
        EventKind, TtyEvent, TtyRecord, TTY_CHUNK, TTY_CHUNKS, TTY_FLAG_WITHHELD, TTY_INPUT,
        TTY_IOVECS, TTY_OUTPUT,
    },
    maps::{
        TtyArgs, TtyConfig, TtyState, LOST_TTY, PROC_SERVER, TTY_ARGS_MAX, TTY_REC_INPUT,
        TTY_REC_OUTPUT, TTY_RING_BYTES, TTY_SESSIONS_MAX,
    },
};

use crate::{maps::*, task, tp};

/// Terminal records: bulk, on a ring of their own so that a terminal
/// flood never pushes out process or milestone records.
#[map]
pub static TTY_RING: RingBuf = RingBuf::with_byte_size(TTY_RING_BYTES, 0);

/// [0]: the agent's settings (rate, burst, cap, what to record by default).
#[map]
pub static TTY_CONFIG: Array<TtyConfig> = Array::with_max_entries(1, 0);

/// Per session key: the agent's decision and the rate-limit state.
#[map]
pub static TTY_SESSIONS: LruHashMap<u64, TtyState> =
    LruHashMap::with_max_entries(TTY_SESSIONS_MAX, 0);

/// Pty-master reads and writes in flight, by tid (LRU: a thread killed in
/// the syscall, or hooks detached between enter and exit, leave nothing).
#[map]
pub static TTY_ARGS: LruHashMap<u32, TtyArgs> = LruHashMap::with_max_entries(TTY_ARGS_MAX, 0);

/// Records are larger than the 512-byte stack: built here.
#[map]
pub static TTY_SCRATCH: PerCpuArray<TtyRecord> = PerCpuArray::with_max_entries(1, 0);

const S_IFMT: u16 = 0o170000;
const S_IFCHR: u16 = 0o020000;
/// /dev/ptmx (and devpts' own ptmx node): TTYAUX_MAJOR 5, minor 2, as the
/// kernel encodes a dev_t (MAJOR << 20 | MINOR). Its files are pty masters.
const PTMX_RDEV: u32 = 5 << 20 | 2;
/// termios c_lflag bits (asm-generic/termbits.h).
const ECHO: u32 = 0o10;
const ICANON: u32 = 0o2;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

#[tracepoint]
pub fn tty_read_enter(ctx: TracePointContext) -> u32 {
    enter(&ctx, TTY_OUTPUT as u32, TTY_REC_OUTPUT, false)
}

#[tracepoint]
pub fn tty_read_exit(ctx: TracePointContext) -> u32 {
    exit(&ctx)
}

#[tracepoint]
pub fn tty_write_enter(ctx: TracePointContext) -> u32 {
    enter(&ctx, TTY_INPUT as u32, TTY_REC_INPUT, false)
}

#[tracepoint]
pub fn tty_write_exit(ctx: TracePointContext) -> u32 {
    exit(&ctx)
}

/// writev(fd, iov, iovcnt): dropbear writes input so.
#[tracepoint]
pub fn tty_writev_ent(ctx: TracePointContext) -> u32 {
    enter(&ctx, TTY_INPUT as u32, TTY_REC_INPUT, true)
}

#[tracepoint]
pub fn tty_writev_exit(ctx: TracePointContext) -> u32 {
    exit(&ctx)
}

fn config() -> TtyConfig {
    TTY_CONFIG.get(0).copied().unwrap_or_default()
}

/// sys_enter_read/write(fd, buf, count) or writev(fd, iov, iovcnt) by a
/// session's server process on a pty master: remember the buffer until the
/// syscall returns.
#[inline(always)]
fn enter(ctx: &TracePointContext, stream: u32, want: u32, vectored: bool) -> u32 {
    let Some(p) = proc_of(current_tgid()) else {
        return 0;
    };
    let p = unsafe { *p };
    if p.flags & PROC_SERVER == 0 || p.session == 0 {
        return 0;
    }
    // The agent's decision for the session, else the default.
    let flags = match unsafe { TTY_SESSIONS.get(&p.session) } {
        Some(st) => st.flags,
        None => config().flags,
    };
    if flags & want == 0 {
        return 0;
    }
    let fd: u64 = unsafe { ctx.read_at(tp::SYS_ENTER_ARGS) }.unwrap_or(u64::MAX);
    let Some(tty) = master_tty(task::current_task(), fd as u32) else {
        return 0;
    };
    let third: u64 = unsafe { ctx.read_at(tp::SYS_ENTER_ARGS + 16) }.unwrap_or(0);
    let args = TtyArgs {
        buf: unsafe { ctx.read_at(tp::SYS_ENTER_ARGS + 8) }.unwrap_or(0),
        tty,
        session: p.session,
        stream,
        iovcnt: if vectored {
            third.clamp(1, u32::MAX as u64) as u32
        } else {
            0
        },
    };
    let _ = TTY_ARGS.insert(&current_tid(), &args, 0);
    0
}

/// The master's `struct tty_struct *` when `fd` is a pty master: a
/// character device file of /dev/ptmx, whose private data is a
/// `tty_file_private`.
#[inline(always)]
fn master_tty(cur: u64, fd: u32) -> Option<u64> {
    let file = task::file_of_fd(cur, fd)?;
    let inode: u64 = task::read(file, off!(file_inode))?;
    let mode: u16 = task::read(inode, off!(inode_mode))?;
    let rdev: u32 = task::read(inode, off!(inode_rdev))?;
    if mode & S_IFMT != S_IFCHR || rdev != PTMX_RDEV {
        return None;
    }
    let private: u64 = task::read(file, off!(file_private_data))?;
    task::read(private, off!(tty_private_tty))
}

#[inline(always)]
fn exit(ctx: &TracePointContext) -> u32 {
    // The bitmap first: every other process's syscall stops here, without
    // the hash lookup.
    if proc_of(current_tgid()).is_none() {
        return 0;
    }
    let tid = current_tid();
    let Some(a) = (unsafe { TTY_ARGS.get(&tid).copied() }) else {
        return 0;
    };
    let _ = TTY_ARGS.remove(&tid);
    let ret: i64 = unsafe { ctx.read_at(tp::SYS_EXIT_RET) }.unwrap_or(0);
    if ret > 0 {
        record(&a, ret as u64);
    }
    0
}

/// The session's state, made with the default flags on its first record.
#[inline(always)]
fn state(session: u64, cfg: &TtyConfig) -> Option<*mut TtyState> {
    if let Some(st) = TTY_SESSIONS.get_ptr_mut(&session) {
        return Some(st);
    }
    let fresh = TtyState {
        flags: cfg.flags,
        tokens: cfg.burst,
        last_ns: unsafe { bpf_ktime_get_ns() },
        ..Default::default()
    };
    let _ = TTY_SESSIONS.insert(&session, &fresh, 0);
    TTY_SESSIONS.get_ptr_mut(&session)
}

/// Terminal bytes lost, in all (LOST counts bytes in this slot).
#[inline(always)]
fn lost_bytes(n: u64) {
    if let Some(p) = LOST.get_ptr_mut(LOST_TTY) {
        // Per-CPU slot: no other writer.
        unsafe { *p += n };
    }
}

/// Terminal bytes lost, in all and for the session.
#[inline(always)]
fn count_lost_bytes(st: &mut TtyState, n: u64) {
    st.lost += n;
    lost_bytes(n);
}

/// How many of `n` bytes the rate limit (a token bucket) and the cap let
/// through now; the rest are lost.
#[inline(always)]
fn allow(st: &mut TtyState, cfg: &TtyConfig, n: u64) -> u64 {
    let now = unsafe { bpf_ktime_get_ns() };
    let dt = now.saturating_sub(st.last_ns);
    // Products stay within 64 bits: the agent keeps rate below 2^34 (16
    // GiB/s) and whole seconds are clamped (the bucket is full by then).
    let add = if dt >= 1_000_000_000 {
        cfg.rate * (dt / 1_000_000_000).min(1 << 20)
    } else {
        dt * cfg.rate / 1_000_000_000
    };
    st.tokens = st.tokens.saturating_add(add).min(cfg.burst);
    st.last_ns = now;
    let room = cfg.cap.saturating_sub(st.recorded);
    let ok = n.min(st.tokens).min(room);
    st.tokens -= ok;
    st.recorded += ok;
    ok
}

/// Sends what one syscall moved: up to TTY_CHUNKS records of TTY_CHUNK
/// bytes within the rate limit, each carrying the session's loss so far
/// (so the agent marks a loss at its place); withheld input as its length.
#[inline(always)]
fn record(a: &TtyArgs, n: u64) {
    let cfg = config();
    let Some(st) = state(a.session, &cfg) else {
        lost_bytes(n);
        return;
    };
    let st = unsafe { &mut *st };
    let Some(rec) = TTY_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let rec = unsafe { &mut *rec };
    let slave: u64 = task::read(a.tty, off!(tty_link)).unwrap_or(0);
    rec.head = TtyEvent {
        hdr: header(EventKind::Tty, current_tgid(), a.session),
        stream: a.stream as u8,
        rows: task::read(slave, off!(tty_ws_row)).unwrap_or(0),
        cols: task::read(slave, off!(tty_ws_col)).unwrap_or(0),
        lost: st.lost,
        ..Default::default()
    };
    if a.stream as u8 != TTY_OUTPUT && withheld(slave) {
        rec.head.flags = TTY_FLAG_WITHHELD;
        rec.head.bytes = n.min(u32::MAX as u64) as u32;
        if !send(rec, 0) {
            count_lost_bytes(st, n);
        }
        return;
    }
    let max = (TTY_CHUNK * TTY_CHUNKS) as u64;
    let ok = allow(st, &cfg, n.min(max));
    let sent = if a.iovcnt == 0 {
        segment(rec, st, a.buf, ok)
    } else {
        vectored(rec, st, a, ok)
    };
    // Beyond the allowance (and what the iovecs read here did not hold):
    // lost after what was sent, where the next record's count marks it.
    count_lost_bytes(st, n - sent);
}

/// Sends `len` bytes at `src` as records of up to TTY_CHUNK; returns the
/// bytes dealt with (sent, or lost to a full ring and counted).
#[inline(always)]
fn segment(rec: &mut TtyRecord, st: &mut TtyState, src: u64, len: u64) -> u64 {
    let len = len.min((TTY_CHUNK * TTY_CHUNKS) as u64);
    let mut sent = 0u64;
    for _ in 0..TTY_CHUNKS {
        if sent >= len {
            break;
        }
        let part = (len - sent).min(TTY_CHUNK as u64) as usize;
        if !chunk(rec, src + sent, part) {
            count_lost_bytes(st, part as u64);
        }
        sent += part as u64;
        rec.head.lost = st.lost;
    }
    sent
}

/// The first `len` bytes of a writev's iovecs: at most TTY_IOVECS of them
/// and one record of each (typed input is small; the verifier's work for
/// nested loops is not); the rest is counted lost by the caller.
#[inline(always)]
fn vectored(rec: &mut TtyRecord, st: &mut TtyState, a: &TtyArgs, len: u64) -> u64 {
    let mut done = 0u64;
    for i in 0..TTY_IOVECS {
        if done >= len || i as u32 >= a.iovcnt {
            break;
        }
        // struct iovec { void *iov_base; size_t iov_len; }
        let at = a.buf + (i * 16) as u64;
        let (Ok(base), Ok(size)) = (unsafe { bpf_probe_read_user(at as *const u64) }, unsafe {
            bpf_probe_read_user((at + 8) as *const u64)
        }) else {
            break;
        };
        let part = size.min(len - done).min(TTY_CHUNK as u64) as usize;
        if !chunk(rec, base, part) {
            count_lost_bytes(st, part as u64);
        }
        rec.head.lost = st.lost;
        done += part as u64;
        if (part as u64) < size {
            break;
        }
    }
    done
}

/// Input is withheld while the terminal neither echoes nor is raw: the
/// canonical, echo-off mode of password prompts (getpass, sudo, su).
#[inline(always)]
fn withheld(slave: u64) -> bool {
    let Some(lflag) = task::read::<u32>(slave, off!(tty_lflag)) else {
        // Unknown: withhold rather than record a secret.
        return true;
    };
    lflag & ECHO == 0 && lflag & ICANON != 0
}

#[inline(always)]
fn chunk(rec: &mut TtyRecord, src: u64, len: usize) -> bool {
    if len > TTY_CHUNK {
        return false;
    }
    let dst = &mut rec.data[..len];
    if unsafe { bpf_probe_read_user_buf(src as *const u8, dst) }.is_err() {
        return false;
    }
    rec.head.len = len as u32;
    rec.head.bytes = len as u32;
    send(rec, len)
}

/// Writes the record's head and `len` bytes of data; false when the ring
/// is full. Wakes the reader only past a quarter full (it polls).
#[inline(always)]
fn send(rec: &TtyRecord, len: usize) -> bool {
    let total = core::mem::size_of::<TtyEvent>() + len;
    let bytes = unsafe {
        core::slice::from_raw_parts(
            rec as *const TtyRecord as *const u8,
            core::mem::size_of::<TtyRecord>(),
        )
    };
    if total > bytes.len() {
        return false;
    }
    let wake = if TTY_RING.query(0) > TTY_RING.query(1) / 4 {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    TTY_RING.output::<[u8]>(&bytes[..total], wake).is_ok()
}
