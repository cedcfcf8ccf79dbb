//! OpenSSH's internal-sftp is recognised at its prctl(PR_SET_DUMPABLE, 0):
//! sftp_server_main makes itself undumpable (platform_disable_tracing)
//! before it reads the client's first request, and a shell's session child
//! never does that before its exec. So no session has the I/O hooks
//! attached for it unless it transfers. A per-syscall tracepoint: it runs
//! on prctl calls only, which are rare.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::XFER_INTERNAL_SFTP,
    maps::{PROC_XFER, XFER_CANDIDATE},
};

use super::{activate, XFER_PROCS};
use crate::{maps::*, tp};

const PR_SET_DUMPABLE: u64 = 4;

#[tracepoint]
pub fn xfer_prctl(ctx: TracePointContext) -> u32 {
    let tgid = current_tgid();
    let Some(p) = proc_of(tgid) else {
        return 0;
    };
    let p = unsafe { &*p };
    if p.flags & PROC_XFER == 0 {
        return 0;
    }
    let option = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS) }.unwrap_or(0);
    let value = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS + 8) }.unwrap_or(1);
    if option != PR_SET_DUMPABLE || value != 0 {
        return 0;
    }
    match unsafe { XFER_PROCS.get(&tgid) } {
        Some(x) if x.state == XFER_CANDIDATE => {
            activate(tgid, p.session, XFER_INTERNAL_SFTP);
        }
        _ => {}
    }
    0
}
