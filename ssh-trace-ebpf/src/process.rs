//! Process tree of sessions: fork, exec and exit, on raw tracepoints (no
//! trace record is built for the many processes that are not ours: each
//! costs one PROCS lookup, and an exec three reads more).
use aya_ebpf::{
    helpers::{bpf_probe_read_kernel_str_bytes, bpf_probe_read_user_buf},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use ssh_trace_common::{
    event::*,
    maps::{Proc, LOST_TRACKED_FULL, PROC_LISTENER, PROC_SERVER, PROC_USER_LISTENER, PROC_XFER},
};

use crate::{
    maps::*,
    servers,
    task::{self, read},
    tp, xfer,
};

/// sched_process_fork(parent, child): a child of a session process joins
/// its session; a listener's child takes the connection it just accepted.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn proc_fork(ctx: RawTracePointContext) -> i32 {
    let parent = current_tgid();
    let Some(p) = proc_of(parent) else {
        return 0;
    };
    let child: u64 = ctx.arg(tp::raw::FORK_CHILD);
    let (Some(pid), Some(tgid)) = (
        read::<u32>(child, off!(task_pid)),
        read::<u32>(child, off!(task_tgid)),
    ) else {
        return 0;
    };
    // Threads share their process's entry.
    if pid != tgid {
        return 0;
    }
    let p = unsafe { &mut *p };
    let candidate = xfer::child_flags(parent, p);
    let mut entry = child_entry(p);
    entry.flags = (entry.flags & !PROC_XFER) | candidate;
    if entry.flags & PROC_USER_LISTENER != 0 && !servers::take_user_listener_slot() {
        entry.flags &= !(PROC_LISTENER | PROC_USER_LISTENER);
        if entry.session == 0 {
            return 0;
        }
    }
    // A pid is reused only after its process was reaped, and so removed.
    if !procs_insert(tgid, &entry) {
        servers::release(&entry);
        count_lost(LOST_TRACKED_FULL);
        count_session_loss(entry.session, true);
        return 0;
    }
    xfer::after_fork(tgid, entry.flags, entry.session);
    if entry.session != 0 {
        let ev = ForkEvent {
            hdr: header(EventKind::Fork, parent, entry.session),
            child_tgid: tgid,
            _pad: 0,
            creds: task::creds(task::current_task()),
        };
        emit(&ev, entry.session, Ring::Events);
    }
    0
}

/// What a child inherits: a listener's child for a pending connection
/// serves that session; any other child keeps its parent's session and
/// role (a daemonising listener's child is still a listener).
#[inline(always)]
fn child_entry(p: &mut Proc) -> Proc {
    if p.flags & PROC_LISTENER != 0 && p.pending != 0 {
        let session = p.pending;
        p.pending = 0;
        return Proc {
            session,
            pending: 0,
            flags: PROC_SERVER,
            _pad: 0,
        };
    }
    Proc {
        session: p.session,
        pending: 0,
        flags: p.flags,
        _pad: 0,
    }
}

/// sched_process_exec(p, old_pid, bprm): argv from mm->arg_start..arg_end
/// (complete here, unlike at sys_enter_execve).
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn proc_exec(ctx: RawTracePointContext) -> i32 {
    let tgid = current_tgid();
    let bprm: u64 = ctx.arg(tp::raw::EXEC_BPRM);
    let file: u64 = read(bprm, off!(bprm_file)).unwrap_or(0);
    let Some(p) = proc_of(tgid) else {
        if servers::is_server_file(&ctx, file) {
            if let Some(key) = servers::untracked_exec(&ctx, tgid) {
                write_exec(
                    bprm,
                    file,
                    tgid,
                    key,
                    EXEC_FLAG_SERVER_BINARY | EXEC_FLAG_SERVER_ROLE,
                );
            }
        }
        return 0;
    };
    let p = unsafe { &mut *p };
    let was = p.flags;
    let flags = if servers::is_server_file(&ctx, file) {
        servers::tracked_exec(&ctx, tgid, p)
    } else {
        servers::leave_server(p);
        0
    };
    if p.session == 0 {
        // A listener that exec'd something else is no listener any more.
        if p.flags & PROC_LISTENER == 0 {
            let entry = *p;
            procs_remove(tgid, &entry);
        }
        return 0;
    }
    let role = if p.flags & PROC_SERVER != 0 && flags & EXEC_FLAG_LISTENER == 0 {
        EXEC_FLAG_SERVER_ROLE
    } else {
        0
    };
    write_exec(bprm, file, tgid, p.session, flags | role);
    // Transfer servers are told apart in a program of their own (the
    // record, argv included, is still in the scratch buffer).
    xfer::exec_tail(&ctx, was);
    0
}

/// Builds the exec record in the per-CPU scratch buffer and sends it.
#[inline(always)]
fn write_exec(bprm: u64, file: u64, tgid: u32, session: u64, flags: u32) {
    let Some(ev) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let ev = unsafe { &mut *ev };
    let cur = task::current_task();
    ev.head.hdr = header(EventKind::Exec, tgid, session);
    ev.head.ppid = task::ppid(cur);
    ev.head.flags = flags | unlinked_flags(file, &mut ev.head.dentry);
    ev.head.creds = task::creds(cur);
    ev.head.filename_len = 0;
    ev.head.args_len = 0;
    let name: u64 = read(bprm, off!(bprm_filename)).unwrap_or(0);
    if let Ok(s) = unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, &mut ev.filename) } {
        ev.head.filename_len = s.len() as u32;
        if s.len() >= EXEC_FILENAME_MAX - 1 {
            ev.head.flags |= EXEC_FLAG_FILENAME_TRUNCATED;
        }
    }
    read_args(cur, ev);
    let total = core::mem::size_of::<ExecHead>() + EXEC_FILENAME_MAX + ev.head.args_len as usize;
    let bytes = unsafe {
        core::slice::from_raw_parts(
            ev as *const ExecEvent as *const u8,
            core::mem::size_of::<ExecEvent>(),
        )
    };
    if total <= bytes.len() {
        output(&bytes[..total], session, Ring::Events);
    }
}

/// argv: the new image's mm->arg_start..arg_end, at most EXEC_ARGS_MAX.
#[inline(always)]
fn read_args(cur: u64, ev: &mut ExecEvent) {
    let mm: u64 = read(cur, off!(task_mm)).unwrap_or(0);
    let start: u64 = read(mm, off!(mm_arg_start)).unwrap_or(0);
    let end: u64 = read(mm, off!(mm_arg_end)).unwrap_or(0);
    let mut len = end.saturating_sub(start) as usize;
    if len > EXEC_ARGS_MAX {
        len = EXEC_ARGS_MAX;
        ev.head.flags |= EXEC_FLAG_ARGS_TRUNCATED;
    }
    if len > 0 {
        let dst = &mut ev.args[..len];
        if unsafe { bpf_probe_read_user_buf(start as *const u8, dst) }.is_ok() {
            ev.head.args_len = len as u32;
        } else {
            ev.head.flags |= EXEC_FLAG_ARGS_UNREADABLE;
        }
    }
}

/// An executable with no link on any filesystem (deleted, or a memfd) has
/// no trustworthy path: flag it and keep its dentry name ("memfd:NAME").
#[inline(always)]
fn unlinked_flags(file: u64, dentry_out: &mut [u8; EXEC_DENTRY_MAX]) -> u32 {
    dentry_out[0] = 0;
    let inode: u64 = read(file, off!(file_inode)).unwrap_or(0);
    if read::<u32>(inode, off!(inode_nlink)).unwrap_or(1) != 0 {
        return 0;
    }
    let dentry: u64 = read(file, off!(file_dentry)).unwrap_or(0);
    let name: u64 = read(dentry, off!(dentry_name)).unwrap_or(0);
    let got = unsafe { bpf_probe_read_kernel_str_bytes(name as *const u8, dentry_out) };
    match got {
        Ok(s) if s.starts_with(b"memfd:") => EXEC_FLAG_UNLINKED | EXEC_FLAG_MEMFD,
        _ => EXEC_FLAG_UNLINKED,
    }
}

/// sched_process_exit(p, group_dead): a process ends when its last thread
/// does — not when its leader thread does (a leader may exit alone, and a
/// non-leader's exec kills the leader).
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn proc_exit(ctx: RawTracePointContext) -> i32 {
    let tgid = current_tgid();
    let Some(p) = proc_of(tgid) else {
        return 0;
    };
    // A thread killed inside a setuid call leaves its syscall entry behind.
    let _ = CRED_ARGS.remove(&current_tid());
    let _ = FWD_CALLS.remove(&current_tid());
    let group_dead: u64 = ctx.arg(tp::raw::EXIT_GROUP_DEAD);
    if group_dead & 0xff == 0 {
        return 0;
    }
    let p = unsafe { *p };
    xfer::at_exit(tgid, &p);
    servers::release(&p);
    procs_remove(tgid, &p);
    if p.session != 0 {
        let ev = ExitEvent {
            hdr: header(EventKind::Exit, tgid, p.session),
            exit_code: task::exit_status(task::current_task()),
            _pad: 0,
        };
        emit(&ev, p.session, Ring::Events);
    }
    0
}
