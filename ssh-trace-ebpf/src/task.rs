//! Reads of kernel structures through the BTF offsets.
use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};
use ssh_trace_common::event::Creds;

use crate::maps::off;

const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;

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

pub fn euid(task: u64) -> u32 {
    let cred: u64 = read(task, off!(task_cred)).unwrap_or(0);
    read(cred, off!(cred_euid)).unwrap_or(u32::MAX)
}

/// The wait status of a process whose last thread is exiting: the group's
/// code after exit_group() or a fatal signal, else the leader's own.
pub fn exit_status(task: u64) -> u32 {
    let signal: u64 = read(task, off!(task_signal)).unwrap_or(0);
    let flags: u32 = read(signal, off!(signal_flags)).unwrap_or(0);
    if flags & off!(signal_group_exit_flag) as u32 != 0 {
        return read(signal, off!(signal_group_exit_code)).unwrap_or(0);
    }
    let leader: u64 = read(task, off!(task_group_leader)).unwrap_or(task);
    read(leader, off!(task_exit_code)).unwrap_or(0)
}

/// `struct file *` behind file descriptor `fd` of `task`.
pub fn file_of_fd(task: u64, fd: u32) -> Option<u64> {
    let files: u64 = read(task, off!(task_files))?;
    let fdt: u64 = read(files, off!(files_fdt))?;
    let max: u32 = read(fdt, off!(fdt_max_fds))?;
    if fd >= max {
        return None;
    }
    let fds: u64 = read(fdt, off!(fdt_fd))?;
    read(fds, fd as usize * 8)
}

/// `struct sock *` of a socket file (None for any other kind of file).
pub fn sock_of_file(file: u64) -> Option<u64> {
    let inode: u64 = read(file, off!(file_inode))?;
    let mode: u16 = read(inode, off!(inode_mode))?;
    if mode & S_IFMT != S_IFSOCK {
        return None;
    }
    let socket: u64 = read(file, off!(file_private_data))?;
    read(socket, off!(socket_sk))
}

/// `struct sock *` behind file descriptor `fd` of `task`, if it is a socket.
pub fn sock_of_fd(task: u64, fd: u32) -> Option<u64> {
    sock_of_file(file_of_fd(task, fd)?)
}
