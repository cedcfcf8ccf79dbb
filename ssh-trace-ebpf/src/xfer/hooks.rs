//! The I/O hooks: raw sys_enter and sys_exit, attached by the agent only
//! while a file-transfer process may exist (see docs/design.md). For every
//! other process on the machine they cost the bitmap test of `proc_of`.
//! Syscall numbers and `pt_regs` are x86_64's; the arguments are read from
//! the registers at exit, where they still are.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};
use ssh_trace_common::{
    event::{
        XFER_INTERNAL_SFTP, XFER_OP_FILE, XFER_OP_LINK, XFER_OP_MKDIR, XFER_OP_RENAME,
        XFER_OP_RMDIR, XFER_OP_UNLINK,
    },
    maps::{PROC_XFER, XFER_ACTIVE, XFER_CANDIDATE},
};

use super::{
    activate, files,
    ops::{self, Call, AT_FDCWD},
    XFER_PROCS,
};
use crate::{maps::*, task::read};

const NR_READ: u64 = 0;
const NR_WRITE: u64 = 1;
const NR_OPEN: u64 = 2;
const NR_CLOSE: u64 = 3;
const NR_PREAD64: u64 = 17;
const NR_PWRITE64: u64 = 18;
const NR_READV: u64 = 19;
const NR_WRITEV: u64 = 20;
const NR_RENAME: u64 = 82;
const NR_MKDIR: u64 = 83;
const NR_RMDIR: u64 = 84;
const NR_LINK: u64 = 86;
const NR_UNLINK: u64 = 87;
const NR_OPENAT: u64 = 257;
const NR_MKDIRAT: u64 = 258;
const NR_UNLINKAT: u64 = 263;
const NR_RENAMEAT: u64 = 264;
const NR_LINKAT: u64 = 265;
const NR_RENAMEAT2: u64 = 316;
const AT_REMOVEDIR: u64 = 0x200;

/// The session of the calling process, when it is a transfer process or
/// a candidate (PROC_XFER).
#[inline(always)]
fn transfer_process(tgid: u32) -> Option<u64> {
    let p = proc_of(tgid)?;
    let p = unsafe { &*p };
    (p.flags & PROC_XFER != 0).then_some(p.session)
}

/// sys_enter: a close is seen before the file goes (its size and mode).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn xfer_enter(ctx: RawTracePointContext) -> i32 {
    let tgid = current_tgid();
    if transfer_process(tgid).is_none() {
        return 0;
    }
    let id: u64 = ctx.arg(1);
    if id == NR_CLOSE {
        let regs: u64 = ctx.arg(0);
        let fd: u64 = read(regs, off!(regs_di)).unwrap_or(u64::MAX);
        if fd < u32::MAX as u64 {
            files::close(tgid, fd as u32, 0);
        }
    }
    0
}

/// The syscall's registers: its number and first five arguments.
struct Regs {
    nr: u64,
    a: [u64; 5],
}

#[inline(always)]
fn regs(base: u64) -> Regs {
    let r = |o: usize| read::<u64>(base, o).unwrap_or(0);
    Regs {
        nr: r(off!(regs_orig_ax)),
        a: [
            r(off!(regs_di)),
            r(off!(regs_si)),
            r(off!(regs_dx)),
            r(off!(regs_r10)),
            r(off!(regs_r8)),
        ],
    }
}

/// sys_exit: reads and writes are summed, opens make entries, operations
/// are reported; a candidate reading its standard input is internal-sftp.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn xfer_exit(ctx: RawTracePointContext) -> i32 {
    let tgid = current_tgid();
    let Some(session) = transfer_process(tgid) else {
        return 0;
    };
    let Some(x) = (unsafe { XFER_PROCS.get(&tgid).copied() }) else {
        return 0;
    };
    let r = regs(ctx.arg(0));
    let ret: i64 = ctx.arg(1);
    if x.state == XFER_CANDIDATE {
        // Its prctl makes it internal-sftp first (prctl.rs); this is the
        // fallback: a shell's session child execs before reading, the one
        // serving internal-sftp reads the client's requests.
        if (r.nr == NR_READ || r.nr == NR_READV) && r.a[0] == 0 && ret > 0 {
            activate(tgid, session, XFER_INTERNAL_SFTP);
        }
        return 0;
    }
    if x.state != XFER_ACTIVE {
        return 0;
    }
    let server = x.server as u16;
    match r.nr {
        NR_READ | NR_READV => io(tgid, session, server, &r, ret, false, None),
        NR_WRITE | NR_WRITEV => io(tgid, session, server, &r, ret, true, None),
        NR_PREAD64 => io(tgid, session, server, &r, ret, false, Some(r.a[3])),
        NR_PWRITE64 => io(tgid, session, server, &r, ret, true, Some(r.a[3])),
        NR_OPENAT => opened(tgid, session, server, r.a[0] as i64, r.a[1], r.a[2], ret),
        NR_OPEN => opened(tgid, session, server, AT_FDCWD, r.a[0], r.a[1], ret),
        _ => operation(tgid, session, server, &r, ret),
    }
    0
}

#[inline(always)]
fn io(tgid: u32, session: u64, server: u16, r: &Regs, ret: i64, write: bool, pos: Option<u64>) {
    if r.a[0] < u32::MAX as u64 {
        files::account(tgid, session, server, r.a[0] as u32, ret, write, pos);
    }
}

const O_CLOEXEC: u64 = 0o2000000;

/// An open that worked makes an entry; one that failed is reported (the
/// files sftp and scp open are never close-on-exec, the C library's are).
#[inline(always)]
fn opened(tgid: u32, session: u64, server: u16, dirfd: i64, path: u64, flags: u64, ret: i64) {
    if ret >= 0 {
        files::track(tgid, session, server, ret as u32, None);
        return;
    }
    if flags & O_CLOEXEC != 0 {
        return;
    }
    let c = Call {
        op: XFER_OP_FILE,
        server,
        dirfd: dirfd as i32 as i64,
        path,
        target: 0,
        ret,
        open_flags: flags as u32,
    };
    ops::report(tgid, session, &c);
}

/// rename, unlink, rmdir, mkdir and link, plain and *at.
#[inline(always)]
fn operation(tgid: u32, session: u64, server: u16, r: &Regs, ret: i64) {
    let a = &r.a;
    let (op, dirfd, path, target) = match r.nr {
        NR_RENAME => (XFER_OP_RENAME, AT_FDCWD, a[0], a[1]),
        NR_RENAMEAT | NR_RENAMEAT2 => (XFER_OP_RENAME, a[0] as i32 as i64, a[1], a[3]),
        NR_UNLINK => (XFER_OP_UNLINK, AT_FDCWD, a[0], 0),
        NR_UNLINKAT if a[2] & AT_REMOVEDIR != 0 => (XFER_OP_RMDIR, a[0] as i32 as i64, a[1], 0),
        NR_UNLINKAT => (XFER_OP_UNLINK, a[0] as i32 as i64, a[1], 0),
        NR_RMDIR => (XFER_OP_RMDIR, AT_FDCWD, a[0], 0),
        NR_MKDIR => (XFER_OP_MKDIR, AT_FDCWD, a[0], 0),
        NR_MKDIRAT => (XFER_OP_MKDIR, a[0] as i32 as i64, a[1], 0),
        NR_LINK => (XFER_OP_LINK, AT_FDCWD, a[0], a[1]),
        NR_LINKAT => (XFER_OP_LINK, a[0] as i32 as i64, a[1], a[3]),
        _ => return,
    };
    let c = Call {
        op,
        server,
        dirfd,
        path,
        target,
        ret,
        open_flags: 0,
    };
    ops::report(tgid, session, &c);
}
