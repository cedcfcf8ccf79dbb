//! SSH server executables, known by file identity (inode number, then
//! device), never by name; and what an exec of one means for the process.
use aya_ebpf::EbpfContext;
use aya_log_ebpf::{info, warn};
use ssh_trace_common::{
    event::{CONNECT_INETD, EXEC_FLAG_LISTENER, EXEC_FLAG_SERVER_BINARY},
    maps::{
        Proc, LOST_TRACKED_FULL, LOST_USER_LISTENERS, PROC_KERNEL_BIT, PROC_LISTENER, PROC_SERVER,
        PROC_USER_LISTENER, USER_LISTENERS_MAX,
    },
};

use crate::{connect::start_session, maps::*, task};

/// Whether `file` (a `struct file *`) is one of the server executables.
/// The inode number is looked up first: the device is read only on a hit,
/// which keeps the cost for every other exec on the machine to three reads.
#[inline(always)]
pub fn is_server_file<C: EbpfContext>(ctx: &C, file: u64) -> bool {
    let Some(inode) = task::read::<u64>(file, off!(file_inode)) else {
        return false;
    };
    let Some(ino) = task::read::<u64>(inode, off!(inode_ino)) else {
        return false;
    };
    let Some(devs) = (unsafe { SERVER_INODES.get(&ino) }) else {
        return false;
    };
    let sb: u64 = task::read(inode, off!(inode_sb)).unwrap_or(0);
    let Some(dev) = task::read::<u32>(sb, off!(sb_dev)) else {
        return false;
    };
    if devs.devs.iter().any(|&d| d != 0 && d == dev) {
        return true;
    }
    warn!(
        ctx,
        "exec of inode {} on device {:x}: a server binary's inode number, not its file: no server",
        ino,
        dev
    );
    false
}

/// A process no program knows exec'd a server binary: with a connected TCP
/// socket on its standard input it serves that connection (inetd mode,
/// systemd socket activation) — a session; otherwise it is a listener.
/// Returns the new session's key, if any.
#[inline(always)]
pub fn untracked_exec<C: EbpfContext>(ctx: &C, tgid: u32) -> Option<u64> {
    let cur = task::current_task();
    if let Some(key) = inetd_session(cur, tgid, 0) {
        info!(
            ctx,
            "pid {}: server exec'd with a connection on stdin: session {:x}", tgid, key
        );
        insert(tgid, key, PROC_SERVER);
        return Some(key);
    }
    let mut flags = PROC_LISTENER | PROC_SERVER;
    let euid = task::euid(cur);
    if euid != 0 {
        if !take_user_listener_slot() {
            warn!(
                ctx,
                "pid {}: server of uid {}: user listener quota used up, not a listener", tgid, euid
            );
            return None;
        }
        flags |= PROC_USER_LISTENER;
    }
    info!(
        ctx,
        "pid {}: server binary exec'd outside sessions by uid {}: listener", tgid, euid
    );
    if !insert(tgid, 0, flags) && flags & PROC_USER_LISTENER != 0 {
        user_listeners_add(-1);
    }
    None
}

/// A session's process exec'd a server binary. From the server's own
/// lineage that is plumbing (sshd -R, sshd-session, sshd-auth, dropbear's
/// re-exec); from a user's process it is a server of the user's: a session
/// of its own (inetd mode) or a listener. Returns the exec record's flags.
#[inline(always)]
pub fn tracked_exec<C: EbpfContext>(ctx: &C, tgid: u32, p: &mut Proc) -> u32 {
    if p.flags & PROC_SERVER != 0 {
        p.pending = 0;
        return EXEC_FLAG_SERVER_BINARY;
    }
    let cur = task::current_task();
    if let Some(key) = inetd_session(cur, tgid, p.session) {
        info!(
            ctx,
            "pid {}: a session's user exec'd a server on a connection: session {:x} (parent {:x})",
            tgid,
            key,
            p.session
        );
        p.session = key;
        p.flags = PROC_SERVER | (p.flags & PROC_KERNEL_BIT);
        return EXEC_FLAG_SERVER_BINARY;
    }
    let mut flags = PROC_LISTENER | PROC_SERVER;
    if task::euid(cur) != 0 {
        if !take_user_listener_slot() {
            return EXEC_FLAG_SERVER_BINARY;
        }
        flags |= PROC_USER_LISTENER;
    }
    p.flags = flags | (p.flags & PROC_KERNEL_BIT);
    info!(
        ctx,
        "pid {}: a session's user exec'd a server: listener of its own (session {:x})",
        tgid,
        p.session
    );
    EXEC_FLAG_SERVER_BINARY | EXEC_FLAG_LISTENER
}

/// A process of ours exec'd something that is not a server binary.
#[inline(always)]
pub fn leave_server(p: &mut Proc) {
    release(p);
    p.flags &= PROC_KERNEL_BIT;
    p.pending = 0;
}

/// Gives back the quota slot of a user's listener entry that goes away.
#[inline(always)]
pub fn release(p: &Proc) {
    if p.flags & PROC_USER_LISTENER != 0 {
        user_listeners_add(-1);
    }
}

#[inline(always)]
fn inetd_session(cur: u64, tgid: u32, parent: u64) -> Option<u64> {
    let sk = task::sock_of_fd(cur, 0)?;
    start_session(sk, tgid, parent, CONNECT_INETD)
}

/// Counts a listener entry of a server run by a user other than root;
/// false (and counted as lost) when the quota is used up. Check and add
/// are apart, so racing CPUs may pass the quota by a few.
#[inline(always)]
pub fn take_user_listener_slot() -> bool {
    if user_listeners() >= USER_LISTENERS_MAX {
        count_lost(LOST_USER_LISTENERS);
        return false;
    }
    user_listeners_add(1);
    true
}

#[inline(always)]
fn insert(tgid: u32, session: u64, flags: u32) -> bool {
    let entry = Proc {
        session,
        pending: 0,
        flags,
        _pad: 0,
    };
    if !procs_insert(tgid, &entry) {
        count_lost(LOST_TRACKED_FULL);
        count_session_loss(session, true);
        return false;
    }
    true
}
