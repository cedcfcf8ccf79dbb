//! How sessions authenticate, from the SSH servers' own record of each
//! decision: their log messages, taken at the system call that hands them
//! to syslog (a unix datagram socket), to sshd's `-E` file or to standard
//! error. One raw tracepoint on sys_enter (no trace record is built): for
//! every syscall on the machine it compares the syscall number, for write
//! and sendto it tests the caller's PROCS bit; only a root process of an
//! SSH server, in a session still authenticating, writing to a log
//! destination, has its message copied. Its writes to the client's TCP
//! socket cost a few struct reads, only until the login.
use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, bpf_probe_read_user_buf},
    macros::map,
    macros::raw_tracepoint,
    maps::{Array, HashMap, PerCpuArray},
    programs::RawTracePointContext,
};
use ssh_trace_common::{
    event::*,
    maps::{AUTH_SESSIONS_MAX, LOST_AUTH_FULL, PROC_SERVER},
};

use crate::{
    maps::*,
    task::{self, read},
};

/// Sessions still authenticating (key → 0). The kernel adds a session at
/// its connect and removes it at the connection's close; the agent removes
/// it at the login.
#[map]
pub static AUTH_SESSIONS: HashMap<u64, u64> = HashMap::with_max_entries(AUTH_SESSIONS_MAX, 0);

/// Since when (ktime ns) the hook has run: set by its first write or
/// sendto after the agent cleared it (at each attach request). A session
/// that connected before then was not watched from its start.
#[map]
pub static AUTH_WATCH: Array<u64> = Array::with_max_entries(1, 0);

/// Log records are larger than the 512-byte stack: built here.
#[map]
pub static AUTH_SCRATCH: PerCpuArray<AuthEvent> = PerCpuArray::with_max_entries(1, 0);

const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const S_IFREG: u16 = 0o100000;
const S_IFIFO: u16 = 0o010000;
/// Group- or other-writable.
const S_IWGO: u16 = 0o022;
const AF_UNIX: u16 = 1;
const SOCK_STREAM: u16 = 1;
const SOCK_DGRAM: u16 = 2;
const STDERR: u32 = 2;

/// A new session: its server's log output is followed until its login.
#[inline(always)]
pub fn begin(session: u64) {
    if AUTH_SESSIONS.insert(&session, &0, 0).is_err() {
        count_lost(LOST_AUTH_FULL);
        count_session_loss(session, false);
    }
}

/// The session's connection closed.
#[inline(always)]
pub fn end(session: u64) {
    let _ = AUTH_SESSIONS.remove(&session);
}

/// raw_syscalls:sys_enter(struct pt_regs *regs, long id).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn auth_sys_enter(ctx: RawTracePointContext) -> i32 {
    let id: u64 = ctx.arg(1);
    if id != off!(nr_write) as u64 && id != off!(nr_sendto) as u64 {
        return 0;
    }
    if let Some(since) = AUTH_WATCH.get_ptr_mut(0) {
        // SAFETY: a one-entry array's value; a race writes a time as good.
        unsafe {
            if *since == 0 {
                *since = bpf_ktime_get_ns();
            }
        }
    }
    let tgid = current_tgid();
    let Some(p) = proc_of(tgid) else {
        return 0;
    };
    let (flags, session) = unsafe { ((*p).flags, (*p).session) };
    if flags & PROC_SERVER == 0 || session == 0 {
        return 0;
    }
    if unsafe { AUTH_SESSIONS.get(&session) }.is_none() {
        return 0;
    }
    // A server run by a user (or a root server's post-login child, which
    // runs as the user) could write anything: only root's record counts.
    let cur = task::current_task();
    if task::euid(cur) != 0 {
        return 0;
    }
    let regs: u64 = ctx.arg(0);
    let (Some(fd), Some(buf), Some(len)) = (
        read::<u64>(regs, off!(regs_arg0)),
        read::<u64>(regs, off!(regs_arg1)),
        read::<u64>(regs, off!(regs_arg2)),
    ) else {
        return 0;
    };
    if let Some(dest) = log_destination(cur, fd as u32) {
        copy(tgid, session, dest, buf, len);
    }
    0
}

/// What file descriptor `fd` of `task` is, if it is where a server logs:
/// a unix datagram socket (syslog), a regular file only root can write
/// (`-E`), or standard error on a pipe or unix stream (a supervisor,
/// journald). Anything else — the client's TCP socket, the monitor's
/// socketpair with its child (it carries passwords), a pty — is not.
#[inline(always)]
fn log_destination(task: u64, fd: u32) -> Option<u32> {
    let file = task::file_of_fd(task, fd)?;
    let inode: u64 = read(file, off!(file_inode))?;
    let mode: u16 = read(inode, off!(inode_mode))?;
    match mode & S_IFMT {
        S_IFSOCK => {
            let socket: u64 = read(file, off!(file_private_data))?;
            let sk: u64 = read(socket, off!(socket_sk))?;
            if read::<u16>(sk, off!(skc_family))? != AF_UNIX {
                return None;
            }
            match read::<u16>(sk, off!(sk_type))? {
                SOCK_DGRAM => Some(AUTH_DEST_SYSLOG),
                SOCK_STREAM if fd == STDERR => Some(AUTH_DEST_STDERR),
                _ => None,
            }
        }
        S_IFREG => {
            let uid: u32 = read(inode, off!(inode_uid))?;
            (uid == 0 && mode & S_IWGO == 0).then_some(AUTH_DEST_FILE)
        }
        S_IFIFO if fd == STDERR => Some(AUTH_DEST_STDERR),
        _ => None,
    }
}

/// Copies at most AUTH_TEXT_MAX bytes of the message onto the milestone
/// ring (a cut is flagged, an unreadable buffer too).
#[inline(always)]
fn copy(tgid: u32, session: u64, dest: u32, buf: u64, len: u64) {
    let Some(ev) = AUTH_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let ev = unsafe { &mut *ev };
    ev.head.hdr = header(EventKind::Auth, tgid, session);
    ev.head.dest = dest;
    ev.head.flags = 0;
    ev.head.len = len.min(u32::MAX as u64) as u32;
    ev.head.copied = 0;
    let mut n = len as usize;
    if len > AUTH_TEXT_MAX as u64 {
        n = AUTH_TEXT_MAX;
        ev.head.flags |= AUTH_FLAG_TRUNCATED;
    }
    if n > 0 && n <= AUTH_TEXT_MAX {
        let dst = &mut ev.text[..n];
        if unsafe { bpf_probe_read_user_buf(buf as *const u8, dst) }.is_ok() {
            ev.head.copied = n as u32;
        } else {
            ev.head.flags |= AUTH_FLAG_UNREADABLE;
        }
    }
    let total = core::mem::size_of::<AuthHead>() + ev.head.copied as usize;
    let bytes = unsafe {
        core::slice::from_raw_parts(
            ev as *const AuthEvent as *const u8,
            core::mem::size_of::<AuthEvent>(),
        )
    };
    if total <= bytes.len() {
        output(&bytes[..total], session, Ring::Milestones);
    }
}
