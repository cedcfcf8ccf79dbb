//! OpenSSH's internal-sftp is recognised at its prctl(PR_SET_DUMPABLE, 0):
//! sftp_server_main makes itself undumpable (platform_disable_tracing)
//! before it reads the client's first request, and no other server process
//! that has not exec'd does so (checked on OpenSSH 9.2 and 10: the pre-auth
//! child, the post-auth child, a shell's session child; dropbear serves sftp
//! by exec'ing sftp-server). So no session has the I/O hooks attached for
//! it unless it transfers. A per-syscall tracepoint: it runs on prctl calls
//! only, which are rare.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::XFER_INTERNAL_SFTP,
    maps::{PROC_SERVER, PROC_XFER, XFER_CANDIDATE, XFER_POSTAUTH},
};

use super::{activate, XFER_PROCS};
use crate::{maps::*, tp};

const PR_SET_DUMPABLE: u64 = 4;

/// The caller: a child of a post-auth server process (a candidate), or a
/// server process that switched to its user for good itself — root's
/// session child, which OpenSSH's monitor forks without a post-auth child.
#[tracepoint]
pub fn xfer_prctl(ctx: TracePointContext) -> u32 {
    let tgid = current_tgid();
    let Some(p) = proc_of(tgid) else {
        return 0;
    };
    let p = unsafe { &mut *p };
    if p.flags & PROC_SERVER == 0 || p.session == 0 {
        return 0;
    }
    let option = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS) }.unwrap_or(0);
    let value = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS + 8) }.unwrap_or(1);
    if option != PR_SET_DUMPABLE || value != 0 {
        return 0;
    }
    let state = unsafe { XFER_PROCS.get(&tgid) }.map_or(0, |x| x.state);
    if (state == XFER_CANDIDATE || state == XFER_POSTAUTH)
        && activate(tgid, p.session, XFER_INTERNAL_SFTP)
    {
        p.flags |= PROC_XFER;
    }
    0
}
