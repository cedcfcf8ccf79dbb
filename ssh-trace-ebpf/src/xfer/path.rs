//! Paths from the kernel's own dentries: a walk from a file (or a
//! directory) up to the root of its mount namespace, crossing mounts, that
//! notes where it passed the process's root (a chroot). Names are written
//! leaf first, each NUL-terminated; the agent reverses them. A path is the
//! file that was opened, whatever symlinks or relative names led to it.
use aya_ebpf::helpers::generated::{bpf_loop, bpf_probe_read_kernel_str};
use ssh_trace_common::event::{
    XFER_FLAG_PATH_TRUNCATED, XFER_NAME_MAX, XFER_NO_ROOT, XFER_WALK_BYTES,
};

use super::scratch;
use crate::{maps::off, task::read};

/// Steps of the walk: one per name, one per mount crossed.
const WALK_STEPS: u32 = 64;

/// A place in the tree: `struct vfsmount *` and `struct dentry *`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub mnt: u64,
    pub dentry: u64,
}

/// The `struct path` at `base + off` (f_path, fs->root, fs->pwd).
#[inline(always)]
pub fn place_at(base: u64, path_off: usize) -> Option<Place> {
    Some(Place {
        mnt: read(base, path_off + off!(path_mnt))?,
        dentry: read(base, path_off + off!(path_dentry))?,
    })
}

/// The process's root directory (`task->fs->root`).
#[inline(always)]
pub fn root_of(task: u64) -> Option<Place> {
    let fs: u64 = read(task, off!(task_fs))?;
    place_at(fs, off!(fs_root))
}

/// The process's working directory (`task->fs->pwd`).
#[inline(always)]
pub fn cwd_of(task: u64) -> Option<Place> {
    let fs: u64 = read(task, off!(task_fs))?;
    place_at(fs, off!(fs_pwd))
}

/// The walk's state between steps (bpf_loop's context, on the stack).
#[repr(C)]
struct Walk {
    at: Place,
    root: Place,
    names: u32,
    /// 1: the walk reached the top (not cut).
    done: u32,
}

/// Walks from `at` to the namespace root, writing the names into the
/// record in XFER_SCRATCH (its path, `path_len`, `root_at`, and
/// XFER_FLAG_PATH_TRUNCATED when cut). One step per bpf_loop call: the
/// verifier checks a step, not every path through 64 of them.
#[inline(always)]
pub fn walk(at: &Place, root: &Place) {
    let Some(rec) = scratch() else { return };
    let rec = unsafe { &mut *rec };
    rec.head.path_len = 0;
    rec.head.root_at = XFER_NO_ROOT;
    let mut w = Walk {
        at: *at,
        root: *root,
        names: 0,
        done: 0,
    };
    let step = walk_step as *const () as *mut core::ffi::c_void;
    // SAFETY: the callback gets `w` back as its context.
    unsafe { bpf_loop(WALK_STEPS, step, (&raw mut w).cast(), 0) };
    if w.done == 0 {
        rec.head.flags |= XFER_FLAG_PATH_TRUNCATED;
    }
}

/// One name or one mount up; 1 ends the walk.
#[inline(never)]
extern "C" fn walk_step(_i: u64, ctx: *mut core::ffi::c_void) -> i64 {
    let w = unsafe { &mut *(ctx as *mut Walk) };
    let Some(rec) = scratch() else { return 1 };
    let rec = unsafe { &mut *rec };
    let Place {
        mut mnt,
        mut dentry,
    } = w.at;
    if rec.head.root_at == XFER_NO_ROOT && dentry == w.root.dentry && mnt == w.root.mnt {
        rec.head.root_at = w.names;
    }
    let Some(mnt_root) = read::<u64>(mnt, off!(vfsmount_root)) else {
        return 1;
    };
    if dentry == mnt_root {
        // The top of this mount: continue from where it is mounted.
        let mount = mnt.wrapping_sub(off!(mount_mnt) as u64);
        let parent: u64 = read(mount, off!(mount_parent)).unwrap_or(0);
        if parent == 0 || parent == mount {
            w.done = 1;
            return 1;
        }
        dentry = read(mount, off!(mount_mountpoint)).unwrap_or(0);
        mnt = parent + off!(mount_mnt) as u64;
        w.at = Place { mnt, dentry };
        return 0;
    }
    let parent: u64 = read(dentry, off!(dentry_parent)).unwrap_or(0);
    if parent == 0 || parent == dentry {
        w.done = 1;
        return 1;
    }
    let len = unsafe { core::ptr::read_volatile(&rec.head.path_len) } as usize;
    if len >= XFER_WALK_BYTES {
        return 1;
    }
    let name: u64 = read(dentry, off!(dentry_name)).unwrap_or(0);
    let dst = &mut rec.path[len & (XFER_WALK_BYTES - 1)..];
    // SAFETY: at most XFER_NAME_MAX bytes from an offset below
    // XFER_WALK_BYTES: within `path`.
    let n = unsafe {
        bpf_probe_read_kernel_str(
            dst.as_mut_ptr().cast(),
            XFER_NAME_MAX as u32,
            name as *const core::ffi::c_void,
        )
    };
    if n <= 0 {
        return 1;
    }
    unsafe { core::ptr::write_volatile(&mut rec.head.path_len, (len + n as usize) as u32) };
    w.names += 1;
    w.at = Place {
        mnt,
        dentry: parent,
    };
    0
}
