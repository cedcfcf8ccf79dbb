//! Kernel struct field offsets, read by the agent from /sys/kernel/btf/vmlinux
//! and passed to the programs as the global `OFFSETS` (aya has no CO-RE).

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_group_leader: u32,
    pub task_mm: u32,
    pub task_cred: u32,
    pub task_files: u32,
    pub task_exit_code: u32,
    pub task_signal: u32,
    pub signal_flags: u32,
    pub signal_group_exit_code: u32,
    pub bprm_file: u32,
    pub bprm_filename: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub file_inode: u32,
    /// `file.f_path.dentry` (f_path's offset plus path.dentry's).
    pub file_dentry: u32,
    pub file_private_data: u32,
    /// `dentry.d_name.name`.
    pub dentry_name: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub inode_mode: u32,
    pub inode_nlink: u32,
    pub sb_dev: u32,
    pub cred_uid: u32,
    pub cred_gid: u32,
    pub cred_suid: u32,
    pub cred_sgid: u32,
    pub cred_euid: u32,
    pub cred_egid: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    pub socket_sk: u32,
    pub skc_family: u32,
    pub skc_state: u32,
    pub skc_num: u32,
    pub skc_dport: u32,
    pub skc_daddr: u32,
    pub skc_rcv_saddr: u32,
    pub skc_v6_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    pub sk_flags: u32,
    pub sk_type: u32,
    pub sk_protocol: u32,
    pub tcp_snd_una: u32,
    pub tcp_write_seq: u32,
    pub tcp_bytes_acked: u32,
    pub tcp_bytes_received: u32,
    /// Values, not offsets: `SIGNAL_GROUP_EXIT` and the bit of `SOCK_DONE`.
    pub signal_group_exit_flag: u32,
    pub sock_done_bit: u32,
    /// `sock.sk_err`: why a connect failed.
    pub sk_err: u32,
    /// `unix_sock.addr`, `unix_address.len`, `unix_address.name`.
    pub unix_addr: u32,
    pub unix_address_len: u32,
    pub unix_address_name: u32,
    /// `task_struct.nsproxy`, `nsproxy.net_ns`, `net.ns.inum`.
    pub task_nsproxy: u32,
    pub nsproxy_net_ns: u32,
    pub net_ns_inum: u32,
    /// Non-zero: the programs log their decisions about SSH servers (aya-log).
    pub debug: u32,
    // File transfers (issue 14): the path walk, open files, syscall arguments.
    pub task_fs: u32,
    /// `fs_struct.root` and `.pwd` (struct path).
    pub fs_root: u32,
    pub fs_pwd: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    /// `file.f_path` (struct path).
    pub file_path: u32,
    pub file_flags: u32,
    pub file_pos: u32,
    pub dentry_parent: u32,
    pub vfsmount_root: u32,
    /// `struct mount`: its embedded vfsmount, parent and mountpoint.
    pub mount_mnt: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
    pub fdt_close_on_exec: u32,
    pub inode_size: u32,
    /// `struct pt_regs` of the syscall (x86_64): its number and arguments.
    pub regs_orig_ax: u32,
    pub regs_di: u32,
    pub regs_si: u32,
    pub regs_dx: u32,
    pub regs_r10: u32,
    pub regs_r8: u32,
    /// `inode.i_uid`.
    pub inode_uid: u32,
    /// The first three syscall arguments in `struct pt_regs` (x86_64: di,
    /// si, dx), as the raw sys_enter tracepoint passes them.
    pub regs_arg0: u32,
    pub regs_arg1: u32,
    pub regs_arg2: u32,
    /// Values: this architecture's numbers of write(2) and sendto(2).
    pub nr_write: u32,
    pub nr_sendto: u32,
    /// Terminal recording: `inode.i_rdev`, `tty_file_private.tty`,
    /// `tty_struct.link`, `.termios.c_lflag`, `.winsize.ws_row`/`ws_col`.
    pub inode_rdev: u32,
    pub tty_private_tty: u32,
    pub tty_link: u32,
    pub tty_lflag: u32,
    pub tty_ws_row: u32,
    pub tty_ws_col: u32,
}

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 92 * 4);
