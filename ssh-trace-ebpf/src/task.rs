//! Reads of kernel structures through the BTF offsets.
use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};
use ssh_trace_common::{event::Creds, maps::BinaryId};

use crate::maps::off;

#[inline(always)]
pub fn read<T>(base: u64, offset: usize) -> Option<T> {
    if base == 0 {
        return None;
    }
    unsafe { bpf_probe_read_kernel((base as usize + offset) as *const T).ok() }
}

pub fn current_task() -> u64 {
    unsafe { bpf_get_current_task() }
}

pub fn ppid(task: u64) -> u32 {
    let parent: u64 = read(task, off!(task_real_parent)).unwrap_or(0);
    read(parent, off!(task_tgid)).unwrap_or(0)
}

pub fn creds(task: u64) -> Creds {
    let cred: u64 = read(task, off!(task_cred)).unwrap_or(0);
    Creds {
        uid: read(cred, off!(cred_uid)).unwrap_or(u32::MAX),
        euid: read(cred, off!(cred_euid)).unwrap_or(u32::MAX),
        suid: read(cred, off!(cred_suid)).unwrap_or(u32::MAX),
        gid: read(cred, off!(cred_gid)).unwrap_or(u32::MAX),
        egid: read(cred, off!(cred_egid)).unwrap_or(u32::MAX),
        sgid: read(cred, off!(cred_sgid)).unwrap_or(u32::MAX),
    }
}

/// Identity of the task's executable (mm->exe_file->f_inode).
pub fn exe_id(task: u64) -> Option<BinaryId> {
    let mm: u64 = read(task, off!(task_mm))?;
    let file: u64 = read(mm, off!(mm_exe_file))?;
    let inode: u64 = read(file, off!(file_inode))?;
    let ino: u64 = read(inode, off!(inode_ino))?;
    let sb: u64 = read(inode, off!(inode_sb))?;
    let dev: u32 = read(sb, off!(sb_dev))?;
    Some(BinaryId { dev, _pad: 0, ino })
}

/// `struct sock *` behind file descriptor `fd` of the current task.
pub fn sock_of_fd(task: u64, fd: u32) -> Option<u64> {
    let files: u64 = read(task, off!(task_files))?;
    let fdt: u64 = read(files, off!(files_fdt))?;
    let max: u32 = read(fdt, off!(fdt_max_fds))?;
    if fd >= max {
        return None;
    }
    let fds: u64 = read(fdt, off!(fdt_fd))?;
    let file: u64 = read(fds, fd as usize * 8)?;
    let socket: u64 = read(file, off!(file_private_data))?;
    read(socket, off!(socket_sk))
}
