//! setuid-family syscalls of session processes: arguments and old ids at
//! enter, result and new ids at exit.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::{CredEvent, CredSyscall, EventKind},
    maps::{CredArgs, CredWindow, CRED_RATE_PER_SEC, LOST_CRED_RATE},
};

use crate::{maps::*, task, tp, xfer};

/// The session of the calling process, if it belongs to one.
#[inline(always)]
fn current_session() -> Option<u64> {
    let p = proc_of(current_tgid())?;
    let session = unsafe { (*p).session };
    (session != 0).then_some(session)
}

#[inline(always)]
fn enter(ctx: &TracePointContext, syscall: CredSyscall) -> u32 {
    if current_session().is_none() {
        return 0;
    }
    let mut args = [0u32; 3];
    for (i, a) in args.iter_mut().enumerate().take(syscall.arg_count()) {
        *a = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS + 8 * i) }.unwrap_or(0) as u32;
    }
    let rec = CredArgs {
        syscall: syscall as u32,
        args,
        old: task::creds(task::current_task()),
    };
    let _ = CRED_ARGS.insert(&current_tid(), &rec, 0);
    0
}

#[inline(always)]
fn exit(ctx: &TracePointContext) -> u32 {
    let tid = current_tid();
    let Some(rec) = (unsafe { CRED_ARGS.get(&tid).copied() }) else {
        return 0;
    };
    let _ = CRED_ARGS.remove(&tid);
    let Some(session) = current_session() else {
        return 0;
    };
    let ev = CredEvent {
        hdr: header(EventKind::CredChange, current_tgid(), session),
        syscall: rec.syscall,
        args: rec.args,
        ret: unsafe { ctx.read_at::<i64>(tp::SYS_EXIT_RET) }.unwrap_or(0),
        old: rec.old,
        new: task::creds(task::current_task()),
    };
    xfer::after_setuid(ev.hdr.tgid, ev.syscall, &ev.args, ev.ret, &ev.new);
    let changed = ev.ret == 0 && ev.old != ev.new;
    if !changed && over_rate(session, ev.hdr.ktime_ns) {
        count_lost(LOST_CRED_RATE);
        count_session_loss(session, false);
        return 0;
    }
    emit(&ev, session, Ring::Milestones);
    0
}

/// Whether `session` already reported CRED_RATE_PER_SEC calls that changed
/// nothing in this second (counts this one). Not atomic across CPUs: a
/// window may let a few more through, never fewer.
#[inline(always)]
fn over_rate(session: u64, now_ns: u64) -> bool {
    let second = now_ns / 1_000_000_000;
    if let Some(w) = CRED_RATE.get_ptr_mut(&session) {
        let w = unsafe { &mut *w };
        if w.second != second {
            (w.second, w.count) = (second, 1);
            return false;
        }
        if w.count >= CRED_RATE_PER_SEC {
            return true;
        }
        w.count += 1;
        return false;
    }
    let _ = CRED_RATE.insert(&session, &CredWindow { second, count: 1 }, 0);
    false
}

macro_rules! cred_syscall {
    ($enter:ident, $exit:ident, $kind:expr) => {
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            enter(&ctx, $kind)
        }

        #[tracepoint]
        pub fn $exit(ctx: TracePointContext) -> u32 {
            exit(&ctx)
        }
    };
}

cred_syscall!(setuid_enter, setuid_exit, CredSyscall::Setuid);
cred_syscall!(setreuid_enter, setreuid_exit, CredSyscall::Setreuid);
cred_syscall!(setresuid_enter, setresuid_exit, CredSyscall::Setresuid);
cred_syscall!(setgid_enter, setgid_exit, CredSyscall::Setgid);
cred_syscall!(setregid_enter, setregid_exit, CredSyscall::Setregid);
cred_syscall!(setresgid_enter, setresgid_exit, CredSyscall::Setresgid);
