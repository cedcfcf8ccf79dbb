//! Field offsets in the tracepoint records the programs read, from
//! /sys/kernel/tracing/events/<category>/<name>/format (stable ABI).

/// syscalls:sys_enter_* — the syscall's arguments, 8 bytes each.
pub const SYS_ENTER_ARGS: usize = 16;
/// syscalls:sys_exit_* — the return value.
pub const SYS_EXIT_RET: usize = 16;

/// sock:inet_sock_set_state.
pub mod inet_sock_set_state {
    pub const SKADDR: usize = 8;
    pub const OLDSTATE: usize = 16;
    pub const NEWSTATE: usize = 20;
    pub const SPORT: usize = 24;
    pub const DPORT: usize = 26;
    pub const FAMILY: usize = 28;
    pub const PROTOCOL: usize = 30;
    pub const SADDR: usize = 32;
    pub const DADDR: usize = 36;
    pub const SADDR_V6: usize = 40;
    pub const DADDR_V6: usize = 56;
}

/// Raw tracepoint arguments (TP_PROTO order).
pub mod raw {
    /// sched_process_fork(struct task_struct *parent, struct task_struct *child).
    pub const FORK_CHILD: usize = 1;
    /// sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm).
    pub const EXEC_BPRM: usize = 2;
    /// sched_process_exit(struct task_struct *p, bool group_dead).
    pub const EXIT_GROUP_DEAD: usize = 1;
}
