//! Directory operations of file-transfer processes (rename, remove,
//! mkdir, link) and opens that failed: the path arguments as given, and
//! the directory they are relative to, walked like a file's path.
use aya_ebpf::helpers::generated::bpf_probe_read_user_str;
use ssh_trace_common::event::{
    EventKind, XferHead, XferOp, XFER_ARG_BYTES, XFER_FLAG_ARGS, XFER_FLAG_ARG_TRUNCATED,
    XFER_PATH_AREA,
};

use super::{path, scratch};
use crate::{maps::*, task};

/// `AT_FDCWD`: relative to the working directory.
pub const AT_FDCWD: i64 = -100;

/// What one call was about.
pub struct Call {
    pub op: u16,
    pub server: u16,
    /// Directory the paths are relative to: AT_FDCWD or a descriptor.
    pub dirfd: i64,
    /// User pointers to the path (and the second path of rename and link).
    pub path: u64,
    pub target: u64,
    /// The syscall's result (0 or -errno).
    pub ret: i64,
    /// open's flags, for a failed open.
    pub open_flags: u32,
}

/// Reads a user string into `dst` (XFER_ARG_BYTES); its length without the NUL.
#[inline(always)]
fn user_str(dst: *mut u8, src: u64, flags: &mut u32) -> u32 {
    if src == 0 {
        return 0;
    }
    // SAFETY: dst has XFER_ARG_BYTES bytes.
    let n = unsafe { bpf_probe_read_user_str(dst.cast(), XFER_ARG_BYTES as u32, src as *const _) };
    if n <= 0 {
        return 0;
    }
    if n as usize >= XFER_ARG_BYTES {
        *flags |= XFER_FLAG_ARG_TRUNCATED;
    }
    (n - 1) as u32
}

/// The directory a call's relative paths start from.
#[inline(always)]
fn base(task: u64, dirfd: i64) -> Option<path::Place> {
    if dirfd == AT_FDCWD {
        return path::cwd_of(task);
    }
    let file = task::file_of_fd(task, dirfd as u32)?;
    path::place_at(file, off!(file_path))
}

/// Sends the record of one call.
#[inline(always)]
pub fn report(tgid: u32, session: u64, c: &Call) {
    let Some(rec) = scratch() else {
        return;
    };
    let rec: &mut XferOp = unsafe { &mut *rec };
    let task = task::current_task();
    rec.head = XferHead {
        hdr: header(EventKind::Transfer, tgid, session),
        op: c.op,
        server: c.server,
        flags: XFER_FLAG_ARGS,
        open_flags: c.open_flags,
        errno: if c.ret < 0 { -c.ret as i32 } else { 0 },
        ..Default::default()
    };
    let root = path::root_of(task).unwrap_or(path::Place { mnt: 0, dentry: 0 });
    if let Some(at) = base(task, c.dirfd) {
        path::walk(&at, &root);
    }
    let mut flags = rec.head.flags;
    rec.head.arg1_len = user_str(rec.arg1.as_mut_ptr(), c.path, &mut flags);
    rec.head.arg2_len = user_str(rec.arg2.as_mut_ptr(), c.target, &mut flags);
    rec.head.flags = flags;
    let head = core::mem::size_of::<XferHead>() + XFER_PATH_AREA;
    let len = if c.target != 0 {
        head + XFER_ARG_BYTES + rec.head.arg2_len as usize
    } else {
        head + rec.head.arg1_len as usize
    };
    let bytes = unsafe {
        core::slice::from_raw_parts(
            rec as *const XferOp as *const u8,
            core::mem::size_of::<XferOp>(),
        )
    };
    if len <= bytes.len() {
        output(&bytes[..len], session, Ring::Transfers);
    }
}
