//! The struct offsets the kernel programs need, from the running kernel's BTF.
use anyhow::{Context, Result};
use ssh_trace_common::offsets::KernelOffsets;

use super::btf::Btf;

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

pub fn from_kernel() -> Result<KernelOffsets> {
    let data = std::fs::read(VMLINUX_BTF).with_context(|| {
        format!("reading {VMLINUX_BTF}: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF), which ssh-trace needs")
    })?;
    from_btf(&Btf::parse(&data).context("parsing kernel BTF")?)
}

pub fn from_btf(b: &Btf) -> Result<KernelOffsets> {
    let skc = |m| b.offset("sock_common", m);
    Ok(KernelOffsets {
        task_pid: b.offset("task_struct", "pid")?,
        task_tgid: b.offset("task_struct", "tgid")?,
        task_real_parent: b.offset("task_struct", "real_parent")?,
        task_mm: b.offset("task_struct", "mm")?,
        task_cred: b.offset("task_struct", "cred")?,
        task_files: b.offset("task_struct", "files")?,
        task_exit_code: b.offset("task_struct", "exit_code")?,
        mm_arg_start: b.offset("mm_struct", "arg_start")?,
        mm_arg_end: b.offset("mm_struct", "arg_end")?,
        mm_exe_file: b.offset("mm_struct", "exe_file")?,
        file_inode: b.offset("file", "f_inode")?,
        file_private_data: b.offset("file", "private_data")?,
        inode_ino: b.offset("inode", "i_ino")?,
        inode_sb: b.offset("inode", "i_sb")?,
        sb_dev: b.offset("super_block", "s_dev")?,
        cred_uid: b.offset("cred", "uid")?,
        cred_gid: b.offset("cred", "gid")?,
        cred_suid: b.offset("cred", "suid")?,
        cred_sgid: b.offset("cred", "sgid")?,
        cred_euid: b.offset("cred", "euid")?,
        cred_egid: b.offset("cred", "egid")?,
        files_fdt: b.offset("files_struct", "fdt")?,
        fdt_max_fds: b.offset("fdtable", "max_fds")?,
        fdt_fd: b.offset("fdtable", "fd")?,
        socket_sk: b.offset("socket", "sk")?,
        skc_family: skc("skc_family")?,
        skc_num: skc("skc_num")?,
        skc_dport: skc("skc_dport")?,
        skc_daddr: skc("skc_daddr")?,
        skc_rcv_saddr: skc("skc_rcv_saddr")?,
        skc_v6_daddr: skc("skc_v6_daddr")?,
        skc_v6_rcv_saddr: skc("skc_v6_rcv_saddr")?,
        tcp_snd_una: b.offset("tcp_sock", "snd_una")?,
        tcp_bytes_acked: b.offset("tcp_sock", "bytes_acked")?,
    })
}
