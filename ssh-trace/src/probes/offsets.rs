//! The struct offsets the kernel programs need, from the running kernel's BTF.
use anyhow::{Context, Result};
use ssh_trace_common::offsets::KernelOffsets;

use super::btf::Btf;

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// `SIGNAL_GROUP_EXIT` (include/linux/sched/signal.h): a #define, so not
/// in BTF; unchanged since Linux 2.6.
const SIGNAL_GROUP_EXIT: u32 = 0x4;

pub fn from_kernel() -> Result<KernelOffsets> {
    let data = std::fs::read(VMLINUX_BTF).with_context(|| {
        format!("reading {VMLINUX_BTF}: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF), which ssh-trace needs")
    })?;
    from_btf(&Btf::parse(&data).context("parsing kernel BTF")?)
}

pub fn from_btf(b: &Btf) -> Result<KernelOffsets> {
    let task = |m| b.offset("task_struct", m);
    let skc = |m| b.offset("sock_common", m);
    let tcp = |m| b.offset("tcp_sock", m);
    let cred = |m| b.offset("cred", m);
    Ok(KernelOffsets {
        task_pid: task("pid")?,
        task_tgid: task("tgid")?,
        task_real_parent: task("real_parent")?,
        task_group_leader: task("group_leader")?,
        task_mm: task("mm")?,
        task_cred: task("cred")?,
        task_files: task("files")?,
        task_exit_code: task("exit_code")?,
        task_signal: task("signal")?,
        signal_flags: b.offset("signal_struct", "flags")?,
        signal_group_exit_code: b.offset("signal_struct", "group_exit_code")?,
        bprm_file: b.offset("linux_binprm", "file")?,
        bprm_filename: b.offset("linux_binprm", "filename")?,
        mm_arg_start: b.offset("mm_struct", "arg_start")?,
        mm_arg_end: b.offset("mm_struct", "arg_end")?,
        file_inode: b.offset("file", "f_inode")?,
        file_dentry: b.offset("file", "f_path")? + b.offset("path", "dentry")?,
        file_private_data: b.offset("file", "private_data")?,
        dentry_name: b.offset("dentry", "d_name")? + b.offset("qstr", "name")?,
        inode_ino: b.offset("inode", "i_ino")?,
        inode_sb: b.offset("inode", "i_sb")?,
        inode_mode: b.offset("inode", "i_mode")?,
        inode_nlink: b.offset("inode", "__i_nlink")?,
        sb_dev: b.offset("super_block", "s_dev")?,
        cred_uid: cred("uid")?,
        cred_gid: cred("gid")?,
        cred_suid: cred("suid")?,
        cred_sgid: cred("sgid")?,
        cred_euid: cred("euid")?,
        cred_egid: cred("egid")?,
        files_fdt: b.offset("files_struct", "fdt")?,
        fdt_max_fds: b.offset("fdtable", "max_fds")?,
        fdt_fd: b.offset("fdtable", "fd")?,
        socket_sk: b.offset("socket", "sk")?,
        skc_family: skc("skc_family")?,
        skc_state: skc("skc_state")?,
        skc_num: skc("skc_num")?,
        skc_dport: skc("skc_dport")?,
        skc_daddr: skc("skc_daddr")?,
        skc_rcv_saddr: skc("skc_rcv_saddr")?,
        skc_v6_daddr: skc("skc_v6_daddr")?,
        skc_v6_rcv_saddr: skc("skc_v6_rcv_saddr")?,
        // Linux 6.16 moved sk_flags into sock_common (skc_flags).
        sk_flags: b
            .offset("sock_common", "skc_flags")
            .or_else(|_| b.offset("sock", "sk_flags"))?,
        sk_type: b.offset("sock", "sk_type")?,
        sk_protocol: b.offset("sock", "sk_protocol")?,
        tcp_snd_una: tcp("snd_una")?,
        tcp_write_seq: tcp("write_seq")?,
        tcp_bytes_acked: tcp("bytes_acked")?,
        tcp_bytes_received: tcp("bytes_received")?,
        signal_group_exit_flag: SIGNAL_GROUP_EXIT,
        sock_done_bit: b.enum_value("sock_flags", "SOCK_DONE")?,
        sk_err: b.offset("sock", "sk_err")?,
        unix_addr: b.offset("unix_sock", "addr")?,
        unix_address_len: b.offset("unix_address", "len")?,
        unix_address_name: b.offset("unix_address", "name")?,
        task_nsproxy: task("nsproxy")?,
        nsproxy_net_ns: b.offset("nsproxy", "net_ns")?,
        net_ns_inum: b.offset("net", "ns")? + b.offset("ns_common", "inum")?,
        debug: 0,
        inode_uid: b.offset("inode", "i_uid")?,
        regs_arg0: syscall_arg(b, 0)?,
        regs_arg1: syscall_arg(b, 1)?,
        regs_arg2: syscall_arg(b, 2)?,
        nr_write: libc::SYS_write as u32,
        nr_sendto: libc::SYS_sendto as u32,
        inode_rdev: b.offset("inode", "i_rdev")?,
        tty_private_tty: b.offset("tty_file_private", "tty")?,
        tty_link: b.offset("tty_struct", "link")?,
        tty_lflag: b.offset("tty_struct", "termios")? + b.offset("ktermios", "c_lflag")?,
        tty_ws_row: b.offset("tty_struct", "winsize")? + b.offset("winsize", "ws_row")?,
        tty_ws_col: b.offset("tty_struct", "winsize")? + b.offset("winsize", "ws_col")?,
        ..transfer_offsets(b).unwrap_or_else(|e| {
            eprintln!("ssh-trace: file transfers are not traced on this kernel: {e:#}");
            KernelOffsets::default()
        })
    })
}

/// What the file-transfer programs read: the path walk (fs_struct, path,
/// mount), open files (fdtable, file, inode) and the syscall's registers
/// (x86_64's `pt_regs`; elsewhere this fails and transfers are not traced).
pub fn transfer_offsets(b: &Btf) -> Result<KernelOffsets> {
    let regs = |m| b.offset("pt_regs", m);
    Ok(KernelOffsets {
        task_fs: b.offset("task_struct", "fs")?,
        fs_root: b.offset("fs_struct", "root")?,
        fs_pwd: b.offset("fs_struct", "pwd")?,
        path_mnt: b.offset("path", "mnt")?,
        path_dentry: b.offset("path", "dentry")?,
        file_path: b.offset("file", "f_path")?,
        file_flags: b.offset("file", "f_flags")?,
        file_pos: b.offset("file", "f_pos")?,
        dentry_parent: b.offset("dentry", "d_parent")?,
        vfsmount_root: b.offset("vfsmount", "mnt_root")?,
        mount_mnt: b.offset("mount", "mnt")?,
        mount_parent: b.offset("mount", "mnt_parent")?,
        mount_mountpoint: b.offset("mount", "mnt_mountpoint")?,
        fdt_close_on_exec: b.offset("fdtable", "close_on_exec")?,
        inode_size: b.offset("inode", "i_size")?,
        regs_orig_ax: regs("orig_ax")?,
        regs_di: regs("di")?,
        regs_si: regs("si")?,
        regs_dx: regs("dx")?,
        regs_r10: regs("r10")?,
        regs_r8: regs("r8")?,
        ..Default::default()
    })
}

/// Where syscall argument `n` (0..3) sits in `struct pt_regs` at syscall
/// entry: x86_64 passes them in di, si, dx; arm64 in regs[0..].
fn syscall_arg(b: &Btf, n: u32) -> Result<u32> {
    if cfg!(target_arch = "x86_64") {
        return b.offset("pt_regs", ["di", "si", "dx"][n as usize]);
    }
    if cfg!(target_arch = "aarch64") {
        return Ok(b.offset("user_pt_regs", "regs")? + 8 * n);
    }
    anyhow::bail!("syscall arguments: only x86_64 and arm64 are known")
}
