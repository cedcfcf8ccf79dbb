//! Process tree of sessions: fork, exec and exit.
use aya_ebpf::{
    helpers::{bpf_probe_read_kernel_str_bytes, bpf_probe_read_user_buf},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
    EbpfContext,
};
use ssh_trace_common::{
    event::*,
    maps::{Tracked, LOST_TRACKED_FULL},
};

use crate::{
    maps::*,
    task::{self, read},
};

/// raw_tracepoint/sched_process_fork(parent, child): the child's task is
/// needed to tell processes from threads (threads share the tracked tgid).
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    let child: u64 = ctx.arg(1);
    let Some(pid) = read::<u32>(child, off!(task_pid)) else {
        return 0;
    };
    let Some(tgid) = read::<u32>(child, off!(task_tgid)) else {
        return 0;
    };
    if pid != tgid {
        return 0;
    }
    let parent = current_tgid();
    let session = if let Some(t) = tracked(parent) {
        t.session
    } else if let Some(pending) = unsafe { LISTENERS.get(&parent).copied() } {
        if pending == 0 {
            // A listener forking without a pending connection (daemonising):
            // the child is a listener too.
            let _ = LISTENERS.insert(&tgid, &0, 0);
            return 0;
        }
        // The listener's child for the connection it just accepted.
        let _ = LISTENERS.insert(&parent, &0, 0);
        pending
    } else {
        return 0;
    };
    let entry = Tracked {
        session,
        flags: 0,
        _pad: 0,
    };
    if TRACKED.insert(&tgid, &entry, 0).is_err() {
        count_lost(LOST_TRACKED_FULL);
    }
    emit(
        &ForkEvent {
            hdr: header(EventKind::Fork, parent, session),
            child_tgid: tgid,
            _pad: 0,
            creds: task::creds(task::current_task()),
        },
        Wake::Lazy,
    );
    0
}

/// tracepoint/sched/sched_process_exec: argv from mm->arg_start..arg_end
/// (complete here, unlike at sys_enter_execve).
#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let tgid = current_tgid();
    let cur = task::current_task();
    let t = tracked(tgid);
    let is_server = match task::exe_id(cur) {
        Some(id) => unsafe { SERVER_BINARIES.get(&id).is_some() },
        None => false,
    };
    let Some(t) = t else {
        if is_server {
            // An SSH server started outside any session: a listener.
            let _ = LISTENERS.insert(&tgid, &0, 0);
        } else {
            let _ = LISTENERS.remove(&tgid);
        }
        return 0;
    };
    let Some(ev) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    let ev = unsafe { &mut *ev };
    ev.head = ExecHead {
        hdr: header(EventKind::Exec, tgid, t.session),
        ppid: task::ppid(cur),
        flags: if is_server {
            EXEC_FLAG_SERVER_BINARY
        } else {
            0
        },
        creds: task::creds(cur),
        filename_len: 0,
        args_len: 0,
    };
    // __data_loc char[] filename at offset 8: low 16 bits = offset in record.
    let loc: u32 = unsafe { ctx.read_at(8) }.unwrap_or(0);
    let src = unsafe { (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize) };
    if let Ok(name) = unsafe { bpf_probe_read_kernel_str_bytes(src, &mut ev.filename) } {
        ev.head.filename_len = name.len() as u32;
        if name.len() >= EXEC_FILENAME_MAX - 1 {
            ev.head.flags |= EXEC_FLAG_FILENAME_TRUNCATED;
        }
    }
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
    let total = core::mem::size_of::<ExecHead>() + EXEC_FILENAME_MAX + ev.head.args_len as usize;
    let bytes = unsafe {
        core::slice::from_raw_parts(
            ev as *const ExecEvent as *const u8,
            core::mem::size_of::<ExecEvent>(),
        )
    };
    if total <= bytes.len() {
        output(&bytes[..total], Wake::Lazy);
    }
    0
}

/// tracepoint/sched/sched_process_exit: thread-group leader only.
#[tracepoint]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    let tgid = current_tgid();
    if current_tid() != tgid {
        return 0;
    }
    let Some(t) = tracked(tgid) else {
        let _ = LISTENERS.remove(&tgid);
        return 0;
    };
    let _ = TRACKED.remove(&tgid);
    let _ = CRED_ARGS.remove(&tgid);
    let exit_code = read::<u32>(task::current_task(), off!(task_exit_code)).unwrap_or(0);
    emit(
        &ExitEvent {
            hdr: header(EventKind::Exit, tgid, t.session),
            exit_code,
            _pad: 0,
        },
        Wake::Lazy,
    );
    0
}
