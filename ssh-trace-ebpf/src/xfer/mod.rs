//! File transfers (issue 14). Which processes are file-transfer servers —
//! sftp-server and `scp -t`/`-f` by the identity of what they exec, and
//! OpenSSH's internal-sftp (a child of the post-auth server process that
//! reads its standard input without exec'ing) — is decided here, on the
//! process-tree tracepoints; the I/O hooks (hooks.rs) that sum their files'
//! bytes run only while the agent has them attached. XFER_WAKE tells the
//! agent's hook thread when a transfer may be starting.
mod binaries;
mod files;
mod hooks;
mod ops;
mod path;
mod prctl;

use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, generated::bpf_send_signal},
    macros::{map, raw_tracepoint},
    maps::{Array, HashMap, PerCpuArray, ProgramArray, RingBuf},
    programs::RawTracePointContext,
};
use ssh_trace_common::{
    event::{CredSyscall, Creds, XferFile, XferOp, XFER_SFTP_SERVER},
    maps::{
        Proc, XferBinary, XferProc, LOST_XFER, PROC_SERVER, PROC_XFER, XFER_ACTIVE, XFER_ALIVE_NS,
        XFER_BIN_SCP, XFER_BIN_SFTP_SERVER, XFER_CANDIDATE, XFER_CTL_ALIVE, XFER_CTL_ATTACHED,
        XFER_CTL_SLOTS, XFER_FILES_MAX, XFER_INODES_MAX, XFER_POSTAUTH, XFER_PROCS_MAX,
        XFER_WAKE_BYTES,
    },
};

use crate::{maps::*, task::read, tp};

/// Hash map entries are allocated as used (file values are ~4 KiB).
const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;

#[map]
pub static XFER_PROCS: HashMap<u32, XferProc> = HashMap::with_max_entries(XFER_PROCS_MAX, 0);

/// (tgid, fd) → the file's record as it grows.
#[map]
pub static XFER_FILES: HashMap<u64, XferFile> =
    HashMap::with_max_entries(XFER_FILES_MAX, BPF_F_NO_PREALLOC);

/// Inode number → devices and kinds of sftp-server and scp executables.
#[map]
pub static XFER_INODES: HashMap<u64, XferBinary> = HashMap::with_max_entries(XFER_INODES_MAX, 0);

/// The hook thread's state (XFER_CTL_*): are the I/O hooks attached, is
/// the thread alive.
#[map]
pub static XFER_CTL: Array<u64> = Array::with_max_entries(XFER_CTL_SLOTS, 0);

/// Records are built here (larger than the stack).
#[map]
pub static XFER_SCRATCH: PerCpuArray<XferOp> = PerCpuArray::with_max_entries(1, 0);

/// Wake-ups of the agent's hook thread (the tgid; only their arrival counts).
#[map]
pub static XFER_WAKE: RingBuf = RingBuf::with_byte_size(XFER_WAKE_BYTES, 0);

/// Programs tail-called on sched_process_exec (each has its own verifier
/// budget): [TAIL_EXEC] by proc_exec, [TAIL_SCP] by xfer_exec.
#[map]
pub static XFER_TAILS: ProgramArray = ProgramArray::with_max_entries(2, 0);
const TAIL_EXEC: u32 = 0;
const TAIL_SCP: u32 = 1;

/// proc_exec's flags of the process before the exec, for xfer_exec (same
/// CPU, same tracepoint call).
#[map]
pub static XFER_EXEC_WAS: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// The end of proc_exec for a session process: hands over to xfer_exec.
#[inline(always)]
pub fn exec_tail(ctx: &RawTracePointContext, was: u32) {
    if let Some(w) = XFER_EXEC_WAS.get_ptr_mut(0) {
        unsafe { *w = was };
        // SAFETY: a tail call into a program of the same type; without one
        // (not set) it returns and the exec is just not a transfer's.
        unsafe { XFER_TAILS.tail_call(ctx, TAIL_EXEC) };
    }
}

/// sched_process_exec, tail-called: is the new image a transfer server?
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn xfer_exec(ctx: RawTracePointContext) -> i32 {
    let tgid = current_tgid();
    let (Some(p), Some(was), Some(ev)) = (
        proc_of(tgid),
        XFER_EXEC_WAS.get(0).copied(),
        EXEC_SCRATCH.get_ptr(0),
    ) else {
        return 0;
    };
    let bprm: u64 = ctx.arg(tp::raw::EXEC_BPRM);
    let file: u64 = read(bprm, off!(bprm_file)).unwrap_or(0);
    let ev = unsafe { &*ev };
    let p = unsafe { &mut *p };
    if was & (PROC_XFER | PROC_SERVER) != 0 {
        let _ = XFER_PROCS.remove(&tgid);
    }
    p.flags &= !PROC_XFER;
    match binaries::kind_of(file) {
        XFER_BIN_SFTP_SERVER => start(tgid, p, XFER_SFTP_SERVER),
        // Its argv says whether it is a server: parsed in a program of its own.
        XFER_BIN_SCP => unsafe { XFER_TAILS.tail_call(&ctx, TAIL_SCP) },
        _ => {
            let len = ev.head.args_len as usize;
            if was & PROC_SERVER != 0 && binaries::mentions_transfer(&ev.args, len) {
                wake(tgid);
            }
        }
    }
    0
}

/// sched_process_exec, tail-called for an scp executable: -t or -f?
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn xfer_scp(_ctx: RawTracePointContext) -> i32 {
    let tgid = current_tgid();
    let (Some(p), Some(ev)) = (proc_of(tgid), EXEC_SCRATCH.get_ptr(0)) else {
        return 0;
    };
    let len = unsafe { (*ev).head.args_len } as usize;
    let role = binaries::scp_role(len);
    if role != 0 {
        start(tgid, unsafe { &mut *p }, role);
    }
    0
}

/// The process is a file-transfer server from its exec on.
#[inline(always)]
fn start(tgid: u32, p: &mut Proc, server: u16) {
    if activate(tgid, p.session, server) {
        p.flags |= PROC_XFER;
    }
}

#[inline(always)]
fn scratch() -> Option<*mut XferOp> {
    XFER_SCRATCH.get_ptr_mut(0)
}

/// Asks the agent to attach the I/O hooks now (a full ring: it is awake).
#[inline(always)]
fn wake(tgid: u32) {
    let _ = XFER_WAKE.output::<u64>(&(tgid as u64), BPF_RB_FORCE_WAKEUP);
}

/// `tgid` is a file-transfer server from now on. Started while the I/O
/// hooks are detached, it is held (stopped on its return to user space)
/// until the hook thread has attached them and continues it, about 0.2 ms:
/// a client that sends its requests without waiting for answers would
/// otherwise have a file opened, read and closed before the hooks run.
/// The entry goes in before the flag is read: the hook thread clears the
/// flag before its last look for servers, so a server starting meanwhile
/// is held or keeps the hooks.
#[inline(always)]
fn activate(tgid: u32, session: u64, server: u16) -> bool {
    let x = XferProc {
        state: XFER_ACTIVE,
        server: server as u32,
        ..Default::default()
    };
    if XFER_PROCS.insert(&tgid, &x, 0).is_err() {
        count_lost(LOST_XFER);
        count_session_loss(session, false);
        return false;
    }
    if must_hold() {
        if let Some(e) = XFER_PROCS.get_ptr_mut(&tgid) {
            unsafe { (*e).held = 1 };
            // SAFETY: signals the current task, which is this transfer server.
            unsafe { bpf_send_signal(SIGSTOP) };
        }
    }
    wake(tgid);
    true
}

const SIGSTOP: u32 = 19;

/// The hooks are detached and the hook thread is alive to attach them.
#[inline(always)]
fn must_hold() -> bool {
    let attached = XFER_CTL.get(XFER_CTL_ATTACHED).copied().unwrap_or(0);
    let alive = XFER_CTL.get(XFER_CTL_ALIVE).copied().unwrap_or(0);
    let now = unsafe { bpf_ktime_get_ns() };
    attached == 0 && alive != 0 && now.wrapping_sub(alive) < XFER_ALIVE_NS
}

/// Flags of a new child of `parent`: a child of a post-auth server process
/// is a candidate for internal-sftp; a transfer process's child is not one.
#[inline(always)]
pub fn child_flags(parent: u32, p: &Proc) -> u32 {
    if p.flags & PROC_SERVER == 0 || p.session == 0 {
        return 0;
    }
    match unsafe { XFER_PROCS.get(&parent) } {
        Some(x) if x.state == XFER_POSTAUTH => PROC_XFER,
        _ => 0,
    }
}

/// The child `tgid` was added to PROCS with `flags`: a candidate is noted,
/// not woken for (it becomes internal-sftp at its prctl, prctl.rs; a shell's
/// session child execs and stops being one).
#[inline(always)]
pub fn after_fork(tgid: u32, flags: u32, session: u64) {
    if flags & PROC_XFER == 0 {
        return;
    }
    let x = XferProc {
        state: XFER_CANDIDATE,
        ..Default::default()
    };
    if XFER_PROCS.insert(&tgid, &x, 0).is_err() {
        count_lost(LOST_XFER);
        count_session_loss(session, false);
    }
}

/// A setuid-family call returned: a server process that switched to a user
/// for good is the post-auth child (OpenSSH's permanently_set_uid).
#[inline(always)]
pub fn after_setuid(tgid: u32, syscall: u32, args: &[u32; 3], ret: i64, new: &Creds) {
    let uid_call = syscall == CredSyscall::Setuid as u32
        || syscall == CredSyscall::Setreuid as u32
        || syscall == CredSyscall::Setresuid as u32;
    if ret != 0 || !uid_call || new.uid != new.euid || new.euid != new.suid {
        return;
    }
    let n = if syscall == CredSyscall::Setuid as u32 {
        1
    } else if syscall == CredSyscall::Setreuid as u32 {
        2
    } else {
        3
    };
    for (i, &a) in args.iter().enumerate() {
        if i < n && a == u32::MAX {
            return;
        }
    }
    let Some(p) = proc_of(tgid) else { return };
    let p = unsafe { &*p };
    if p.flags & PROC_SERVER == 0 || p.session == 0 {
        return;
    }
    let x = XferProc {
        state: XFER_POSTAUTH,
        ..Default::default()
    };
    if XFER_PROCS.insert(&tgid, &x, 0).is_err() {
        count_lost(LOST_XFER);
        count_session_loss(p.session, false);
    }
}

/// The process `tgid` (flags `p`) is exiting: its open files are sent.
#[inline(always)]
pub fn at_exit(tgid: u32, p: &Proc) {
    if p.flags & PROC_XFER != 0 {
        files::close_all(tgid);
    }
    if p.flags & (PROC_XFER | PROC_SERVER) != 0 {
        let _ = XFER_PROCS.remove(&tgid);
    }
}
