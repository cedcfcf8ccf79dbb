//! Which executables are file-transfer servers: sftp-server and scp by the
//! identity of their file (as the SSH servers), scp only with -t or -f.
use aya_ebpf::helpers::generated::bpf_loop;
use ssh_trace_common::event::{EXEC_ARGS_MAX, XFER_SCP_SINK, XFER_SCP_SOURCE};

use super::XFER_INODES;
use crate::{
    maps::{off, EXEC_SCRATCH},
    task::read,
};

/// Bytes of argv looked at for scp's options and for a hint.
const SCAN: usize = 512;

/// XFER_BIN_* of the executable `file`, 0 for any other.
#[inline(always)]
pub fn kind_of(file: u64) -> u32 {
    let Some(inode) = read::<u64>(file, off!(file_inode)) else {
        return 0;
    };
    let Some(ino) = read::<u64>(inode, off!(inode_ino)) else {
        return 0;
    };
    let Some(bin) = (unsafe { XFER_INODES.get(&ino) }) else {
        return 0;
    };
    let sb: u64 = read(inode, off!(inode_sb)).unwrap_or(0);
    let Some(dev) = read::<u32>(sb, off!(sb_dev)) else {
        return 0;
    };
    for i in 0..4 {
        if bin.devs[i] != 0 && bin.devs[i] == dev {
            return bin.kinds[i];
        }
    }
    0
}

/// Option letters of scp that take a value (OpenSSH 9 and 10).
#[inline(always)]
fn takes_value(c: u8) -> bool {
    matches!(
        c,
        b'D' | b'F' | b'J' | b'M' | b'P' | b'S' | b'X' | b'c' | b'i' | b'l' | b'o'
    )
}

/// States of the argv scan.
const START: u8 = 0;
/// Inside a cluster of option letters.
const FLAGS: u8 = 1;
/// Inside an option's value (the rest of this argument), or argv[0].
const VALUE: u8 = 2;
/// The next argument is an option's value.
const NEXT_IS_VALUE: u8 = 3;

/// Bytes of scp's argv parsed: the options come before any path.
const SCP_SCAN: u32 = 256;

/// The scan's state, on the stack of the program that loops.
#[repr(C)]
struct ScpScan {
    len: u64,
    role: u16,
    state: u8,
    prev: u8,
    _pad: u32,
}

/// One byte of argv (bpf_loop callback): 1 stops the loop.
#[inline(never)]
extern "C" fn scp_step(i: u64, ctx: *mut core::ffi::c_void) -> i64 {
    let s = unsafe { &mut *(ctx as *mut ScpScan) };
    let Some(ev) = EXEC_SCRATCH.get_ptr(0) else {
        return 1;
    };
    if i >= s.len {
        return 1;
    }
    let args = unsafe { &(*ev).args };
    let at = (i as usize) & (EXEC_ARGS_MAX - 1);
    let c = args[at];
    let next = args[(at + 1) & (EXEC_ARGS_MAX - 1)];
    let (state, prev) = (s.state, s.prev);
    s.prev = c;
    s.state = match state {
        VALUE if c == 0 => START,
        NEXT_IS_VALUE if c == 0 => VALUE,
        VALUE | NEXT_IS_VALUE => state,
        START if c == b'-' => FLAGS,
        START => return 1,
        _ if c == 0 => START,
        // "--" ends the options.
        _ if c == b'-' && prev == b'-' => return 1,
        _ if c == b't' || c == b'f' => {
            s.role = if c == b't' {
                XFER_SCP_SINK
            } else {
                XFER_SCP_SOURCE
            };
            FLAGS
        }
        _ if takes_value(c) && next == 0 => NEXT_IS_VALUE,
        _ if takes_value(c) => VALUE,
        _ => FLAGS,
    };
    0
}

/// scp's role from its argv (NUL-separated, `len` bytes, in EXEC_SCRATCH):
/// -t receives (XFER_SCP_SINK), -f sends (XFER_SCP_SOURCE); 0 for a
/// client. Options end at `--` or the first operand, as scp's getopt has
/// them; an option that takes a value takes the rest of its argument or
/// the next one. bpf_loop: the verifier checks one step, not 256.
#[inline(always)]
pub fn scp_role(len: usize) -> u16 {
    let mut s = ScpScan {
        len: len as u64,
        role: 0,
        state: VALUE,
        prev: 1,
        _pad: 0,
    };
    let step = scp_step as *const () as *mut core::ffi::c_void;
    // SAFETY: the callback gets `s` back as its context.
    unsafe { bpf_loop(SCP_SCAN, step, (&raw mut s).cast(), 0) };
    s.role
}

/// Whether argv mentions sftp or scp: the server starting a shell for one
/// (`bash -c /usr/lib/openssh/sftp-server`, `bash -c 'scp -t .'`). Only a
/// hint to attach the I/O hooks early; the exec of the binary decides.
#[inline(always)]
pub fn mentions_transfer(args: &[u8; EXEC_ARGS_MAX], len: usize) -> bool {
    let end = if len < SCAN { len } else { SCAN };
    let mut i = 0;
    while i + 3 < end && i + 3 < EXEC_ARGS_MAX {
        if args[i] == b's'
            && ((args[i + 1] == b'c' && args[i + 2] == b'p')
                || (args[i + 1] == b'f' && args[i + 2] == b't' && args[i + 3] == b'p'))
        {
            return true;
        }
        i += 1;
    }
    false
}
