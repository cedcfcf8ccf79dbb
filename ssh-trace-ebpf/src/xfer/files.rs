//! Open files of file-transfer processes: an entry per (process, fd) made
//! at open — or at the first read or write of a file opened before the
//! hooks were attached — that sums the bytes read and written; one record
//! when it is closed (or when the process exits with it open).
use aya_ebpf::helpers::generated::bpf_loop;
use ssh_trace_common::{
    event::{EventKind, XferFile, XferHead, XFER_FLAG_AT_EXIT, XFER_FLAG_LATE, XFER_OP_FILE},
    maps::{xfer_file_key, LOST_XFER, XFER_FD_MAX},
};

use super::{path, scratch, XFER_FILES};
use crate::{
    maps::*,
    task::{self, read},
};

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFBLK: u32 = 0o060000;

/// Regular files and disks carry data; pipes, sockets (the process's own
/// stdin and stdout), directories and character devices (the /dev/null
/// OpenSSH puts on missing standard descriptors) do not.
#[inline(always)]
fn carries_data(mode: u32) -> bool {
    matches!(mode & S_IFMT, S_IFREG | S_IFBLK)
}

/// Whether `fd` is close-on-exec: how the C library and the dynamic
/// loader open their own files (libraries, NSS, locales); the files sftp
/// and scp move are opened without it.
#[inline(always)]
fn close_on_exec(task: u64, fd: u32) -> bool {
    let files: u64 = read(task, off!(task_files)).unwrap_or(0);
    let fdt: u64 = read(files, off!(files_fdt)).unwrap_or(0);
    let bits: u64 = read(fdt, off!(fdt_close_on_exec)).unwrap_or(0);
    let word: u64 = read(bits, (fd / 64) as usize * 8).unwrap_or(0);
    word >> (fd % 64) & 1 != 0
}

fn inode_mode(file: u64) -> u32 {
    let inode: u64 = read(file, off!(file_inode)).unwrap_or(0);
    read::<u16>(inode, off!(inode_mode)).unwrap_or(0) as u32
}

/// A file `fd` of transfer process `tgid` to follow: its entry is made
/// with the path walked from the file itself. `before`: bytes moved before
/// the hooks saw it (late entries), with the direction they went.
#[inline(always)]
pub fn track(tgid: u32, session: u64, server: u16, fd: u32, late: Option<(u64, bool)>) {
    if fd >= XFER_FD_MAX {
        count_lost(LOST_XFER);
        count_session_loss(session, false);
        return;
    }
    let task = task::current_task();
    let Some(file) = task::file_of_fd(task, fd) else {
        return;
    };
    let mode = inode_mode(file);
    if !carries_data(mode) || close_on_exec(task, fd) {
        return;
    }
    let Some(rec) = scratch() else {
        return;
    };
    let rec = unsafe { &mut *(rec as *mut XferFile) };
    rec.head = XferHead {
        hdr: header(EventKind::Transfer, tgid, session),
        op: XFER_OP_FILE,
        server,
        open_flags: read(file, off!(file_flags)).unwrap_or(0),
        mode,
        ..Default::default()
    };
    rec.head.open_ns = rec.head.hdr.ktime_ns;
    if let Some((bytes, written)) = late {
        rec.head.flags |= XFER_FLAG_LATE;
        if written {
            rec.head.bytes_written = bytes;
        } else {
            rec.head.bytes_read = bytes;
        }
        rec.head.high_pos = bytes;
    }
    let root = path::root_of(task).unwrap_or(path::Place { mnt: 0, dentry: 0 });
    if let Some(at) = path::place_at(file, off!(file_path)) {
        path::walk(&at, &root);
    }
    if XFER_FILES
        .insert(xfer_file_key(tgid, fd), &*rec, 0)
        .is_err()
    {
        count_lost(LOST_XFER);
        count_session_loss(session, false);
    }
}

/// A read or write of `ret` bytes on `fd`; `pos`: the offset of pread and
/// pwrite (the others move the file position, read after the call).
#[inline(always)]
pub fn account(
    tgid: u32,
    session: u64,
    server: u16,
    fd: u32,
    ret: i64,
    write: bool,
    pos: Option<u64>,
) {
    let key = xfer_file_key(tgid, fd);
    let e = match XFER_FILES.get_ptr_mut(&key) {
        Some(e) => e,
        None => {
            if ret <= 0 {
                return;
            }
            // Opened before the hooks were attached: what it moved until
            // now is where it is (files are moved from their start).
            let end = end_pos(fd, ret, pos);
            track(
                tgid,
                session,
                server,
                fd,
                Some((end.saturating_sub(ret as u64), write)),
            );
            match XFER_FILES.get_ptr_mut(&key) {
                Some(e) => e,
                None => return,
            }
        }
    };
    let h = unsafe { &mut (*e).head };
    if ret < 0 {
        if h.errno == 0 {
            h.errno = -ret as i32;
        }
        return;
    }
    let n = ret as u64;
    if write {
        h.bytes_written += n;
    } else {
        h.bytes_read += n;
    }
    let end = end_pos(fd, ret, pos);
    if end > h.high_pos {
        h.high_pos = end;
    }
}

/// The offset just past this read or write.
#[inline(always)]
fn end_pos(fd: u32, ret: i64, pos: Option<u64>) -> u64 {
    if let Some(p) = pos {
        return p + ret as u64;
    }
    let file = task::file_of_fd(task::current_task(), fd).unwrap_or(0);
    read::<u64>(file, off!(file_pos)).unwrap_or(0)
}

/// Sends `fd`'s record (its size and mode now) and forgets it.
#[inline(always)]
pub fn close(tgid: u32, fd: u32, flags: u32) {
    let key = xfer_file_key(tgid, fd);
    let Some(e) = XFER_FILES.get_ptr_mut(&key) else {
        return;
    };
    let rec = unsafe { &mut *e };
    if let Some(file) = task::file_of_fd(task::current_task(), fd) {
        let inode: u64 = read(file, off!(file_inode)).unwrap_or(0);
        rec.head.size = read(inode, off!(inode_size)).unwrap_or(0);
        rec.head.mode = inode_mode(file);
    }
    rec.head.flags |= flags;
    // Opened and closed with its data neither read nor written (mapped by
    // the C library, a stat through the file): no transfer.
    let h = &rec.head;
    if h.bytes_read == 0 && h.bytes_written == 0 && h.size > 0 && h.errno == 0 {
        let _ = XFER_FILES.remove(&key);
        return;
    }
    rec.head.hdr.ktime_ns = header(EventKind::Transfer, 0, 0).ktime_ns;
    let session = rec.head.hdr.session;
    let len = core::mem::size_of::<XferHead>() + rec.head.path_len as usize;
    let bytes =
        unsafe { core::slice::from_raw_parts(e as *const u8, core::mem::size_of::<XferFile>()) };
    if len <= bytes.len() {
        output(&bytes[..len], session, Ring::Transfers);
    }
    let _ = XFER_FILES.remove(&key);
}

/// The process is exiting with these files open (a dropped connection):
/// each is sent as closed at exit. bpf_loop: the verifier checks one
/// descriptor, not XFER_FD_MAX of them.
#[inline(always)]
pub fn close_all(tgid: u32) {
    let mut t = tgid as u64;
    let step = close_at_exit as *const () as *mut core::ffi::c_void;
    // SAFETY: the callback gets the tgid back as its context.
    unsafe { bpf_loop(XFER_FD_MAX, step, (&raw mut t).cast(), 0) };
}

#[inline(never)]
extern "C" fn close_at_exit(fd: u64, ctx: *mut core::ffi::c_void) -> i64 {
    let tgid = unsafe { *(ctx as *const u64) } as u32;
    close(tgid, fd as u32, XFER_FLAG_AT_EXIT);
    0
}
