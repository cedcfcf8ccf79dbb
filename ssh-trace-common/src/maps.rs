//! Keys and values of the kernel maps, and their sizes.

/// Processes the programs know (session members and SSH server listeners),
/// keyed by tgid. Larger than this machine's pid_max (32 768) and Debian's
/// default; a full map is counted and named per session.
pub const PROCS_MAX: u32 = 65_536;
/// Words of the PROCS bitmaps (one bit per tgid): the loader sizes them
/// from kernel.pid_max; this is the default (pid_max 4 194 304).
pub const PROC_BITS_WORDS: u32 = 4_194_304 / 64;
/// Listener entries of servers run by users other than root: a user forking
/// many copies of a server binary cannot crowd out the system's listeners.
pub const USER_LISTENERS_MAX: u64 = 1_024;
/// Session connections, keyed by `struct sock *`.
pub const SESSION_SOCKS_MAX: u32 = 16_384;
/// Connections of sessions found in /proc at start-up, keyed by their
/// addresses (the agent cannot know the `struct sock *`).
pub const DISCOVERED_SOCKS_MAX: u32 = 4_096;
/// Forward sockets of sessions (TCP connections made or accepted by a
/// session's server process, and its TCP listeners), keyed by
/// `struct sock *`; a full map is counted (LOST_FWD_FULL) per session.
pub const FWD_SOCKS_MAX: u32 = 8_192;
/// connect()/listen() calls of server processes in flight, keyed by tid.
pub const FWD_CALLS_MAX: u32 = 1_024;
/// setuid-family syscalls in flight (enter seen, exit not yet), keyed by tid.
pub const CRED_ARGS_MAX: u32 = 4_096;
/// Sessions still authenticating, keyed by session key: their server's
/// log output is read (the kernel adds a connection, the agent removes it
/// at login, the kernel at close). As many as SESSION_SOCKS.
pub const AUTH_SESSIONS_MAX: u32 = SESSION_SOCKS_MAX;
/// Inode numbers of SSH server executables.
pub const SERVER_INODES_MAX: u32 = 64;
/// Sessions with records lost, keyed by session key (reset by the agent).
pub const SESSION_LOSS_MAX: u32 = 4_096;
/// A session's uid/gid calls that changed nothing (or failed) reported per
/// second at most: a loop of them is noise that would crowd other
/// sessions' milestones out of their ring. Calls that change ids are
/// always reported.
pub const CRED_RATE_PER_SEC: u64 = 128;
/// Sessions with a CRED_RATE window (LRU: an evicted session starts a new
/// window, which costs at most one more second's worth).
pub const CRED_RATE_MAX: u32 = 4_096;
/// Default size of the process-tree ring buffer (power of two, ≥ a page).
pub const DEFAULT_RING_BYTES: u32 = 4 << 20;
/// Size of the milestone ring buffer (connects, uid changes, ends): a
/// flood of process records never pushes these out.
pub const MILESTONE_RING_BYTES: u32 = 1 << 20;

/// The reader drains the ring buffers at least this often: records written
/// without a wake-up wait at most this long.
pub const READER_POLL_MS: i32 = 20;
/// A milestone wakes the reader at most this often per CPU; under a flood
/// the reader is busy anyway, and a wake-up per record would cost a
/// context switch each.
pub const MILESTONE_WAKE_NS: u64 = 1_000_000;

/// Indices of the per-CPU `LOST` counters.
pub const LOST_RINGBUF: u32 = 0;
pub const LOST_TRACKED_FULL: u32 = 1;
pub const LOST_SOCKS_FULL: u32 = 2;
pub const LOST_MILESTONES: u32 = 3;
pub const LOST_USER_LISTENERS: u32 = 4;
pub const LOST_SESSION_LOSS_FULL: u32 = 5;
/// A connection whose authentication is not followed: AUTH_SESSIONS full.
pub const LOST_AUTH_FULL: u32 = 6;
/// A forward not followed: FWD_SOCKS or FWD_CALLS was full.
pub const LOST_FWD_FULL: u32 = 7;
/// A file-transfer process, or a file of one, that XFER_PROCS or
/// XFER_FILES could not hold (or a file descriptor past XFER_FD_MAX).
pub const LOST_XFER: u32 = 8;
/// Terminal bytes not recorded (rate limit, cap, full ring): bytes, not records.
pub const LOST_TTY: u32 = 9;
/// uid/gid calls that changed nothing or failed, over a session's
/// CRED_RATE_PER_SEC: counted, not sent. (Slot 8 is another feature's.)
pub const LOST_CRED_RATE: u32 = 10;
pub const LOST_SLOTS: u32 = 11;

/// `Proc::flags`: an SSH server that may accept sessions.
pub const PROC_LISTENER: u32 = 1;
/// `Proc::flags`: the server's own lineage (only server binaries exec'd
/// since the server started): its exec of a server binary is plumbing.
pub const PROC_SERVER: u32 = 2;
/// `Proc::flags`: a listener entry counted in the user-listener quota.
pub const PROC_USER_LISTENER: u32 = 4;
/// `Proc::flags`: the kernel inserted the entry and set its PROC_BITS bit
/// (entries the agent adds from /proc use DISCOVERED_BITS instead).
pub const PROC_KERNEL_BIT: u32 = 8;
/// `Proc::flags`: a file-transfer process (sftp-server, scp -t/-f,
/// internal-sftp) or a server child that may become internal-sftp: the
/// I/O hooks look it up in XFER_PROCS.
pub const PROC_XFER: u32 = 16;

/// File-transfer processes and the server processes they may come from.
pub const XFER_PROCS_MAX: u32 = 4_096;
/// Open files of file-transfer processes (values hold the path: ~4 KiB,
/// allocated as used).
pub const XFER_FILES_MAX: u32 = 1_024;
/// Descriptors above this are not tracked: the exit flush looks at these.
pub const XFER_FD_MAX: u32 = 256;
/// Identities of sftp-server and scp executables.
pub const XFER_INODES_MAX: u32 = 64;
/// The wake-up ring of the hook thread (one page).
pub const XFER_WAKE_BYTES: u32 = 4_096;
/// The transfer records' own ring: a flood of process records in another
/// session never pushes a file transfer out.
pub const XFER_RING_BYTES: u32 = 1 << 20;

/// `XferProc::state`: a server process that switched to the user for good
/// (OpenSSH's post-auth child): its children may become internal-sftp.
pub const XFER_POSTAUTH: u32 = 1;
/// A child of such a process that has not exec'd: internal-sftp once it
/// makes itself undumpable (a shell's child execs without doing so).
pub const XFER_CANDIDATE: u32 = 2;
/// A file-transfer server (`XferProc::server` says which).
pub const XFER_ACTIVE: u32 = 3;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XferProc {
    pub state: u32,
    /// XFER_SFTP_SERVER … (crate::event) once active.
    pub server: u32,
    /// 1: it started while the I/O hooks were detached and was stopped
    /// (SIGSTOP) until they are attached; the hook thread continues it.
    pub held: u32,
    pub _pad: u32,
}

/// XFER_CTL slots, written by the agent's hook thread: 1 while the I/O
/// hooks are attached; the thread's last heartbeat (ktime, ns).
pub const XFER_CTL_ATTACHED: u32 = 0;
pub const XFER_CTL_ALIVE: u32 = 1;
pub const XFER_CTL_SLOTS: u32 = 2;
/// A transfer server is held for the hooks only while the thread's
/// heartbeat is this fresh (it beats every 100 ms): an agent that died
/// holds nobody for longer than this.
pub const XFER_ALIVE_NS: u64 = 1_000_000_000;

/// `XferBinary::kinds`: an sftp-server executable.
pub const XFER_BIN_SFTP_SERVER: u32 = 1;
/// An scp executable (a server when run with -t or -f).
pub const XFER_BIN_SCP: u32 = 2;

/// Devices and kinds of the transfer executables with one inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XferBinary {
    pub devs: [u32; 4],
    pub kinds: [u32; 4],
}

/// Key of XFER_FILES: the process and the descriptor.
pub const fn xfer_file_key(tgid: u32, fd: u32) -> u64 {
    (tgid as u64) << 32 | fd as u64
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Proc {
    /// Session the process belongs to; 0 = none (a listener outside sessions).
    pub session: u64,
    /// Listener: key of the connection it accepted and has not yet handed
    /// to a child (0 = none).
    pub pending: u64,
    pub flags: u32,
    pub _pad: u32,
}

/// A forward socket (FWD_SOCKS value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FwdSock {
    pub session: u64,
    /// The server process that made, accepted or listened on it.
    pub tgid: u32,
    /// FWD_CONNECT, FWD_ACCEPT or FWD_LISTENER (common event.rs).
    pub how: u16,
    /// 1 while a connect is in SYN_SENT (not yet established).
    pub pending: u16,
}

/// A connect() or listen() of a server process in flight (FWD_CALLS value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FwdCall {
    /// The user's `struct sockaddr *` (connect), or 0 (listen).
    pub addr: u64,
    pub fd: u32,
    pub addr_len: u32,
}

/// Addresses of a connection as the server sees it (local first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SockTuple {
    pub family: u16,
    pub local_port: u16,
    pub remote_port: u16,
    pub _pad: u16,
    /// IPv4 in the first 4 bytes for AF_INET; network byte order.
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}

/// Identity of an executable: the kernel `dev_t` (MAJOR << 20 | MINOR) of its
/// filesystem and its inode number. Names are not trusted; identities are.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BinaryId {
    pub dev: u32,
    pub _pad: u32,
    pub ino: u64,
}

/// Devices of the server executables that have one inode number (almost
/// always one); 0 = unused slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerDevs {
    pub devs: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredArgs {
    pub syscall: u32,
    pub args: [u32; 3],
    pub old: crate::event::Creds,
}

/// What a session lost in the kernel since the agent last reset it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionLoss {
    /// Its records that did not fit a full ring buffer.
    pub records: u64,
    /// Its processes not tracked because PROCS was full.
    pub untracked: u64,
}

/// CRED_RATE value: a session's count of unchanged/failed uid calls in
/// the current second.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredWindow {
    /// `ktime / 1 s` of the window.
    pub second: u64,
    pub count: u64,
}

/// Terminal records (bulk: never wakes the reader, which polls).
pub const TTY_RING_BYTES: u32 = 4 << 20;
/// Sessions whose terminal the programs know (LRU: the agent removes
/// ended ones; beyond this the oldest is forgotten, its counters restart).
pub const TTY_SESSIONS_MAX: u32 = 4_096;
/// reads/writes of pty masters in flight (enter seen, exit not yet), by tid.
pub const TTY_ARGS_MAX: u32 = 4_096;

/// `TtyState::flags` / `TtyConfig::flags`: record what the terminal shows.
pub const TTY_REC_OUTPUT: u32 = 1;
/// Record what is typed (echo-off canonical input is withheld).
pub const TTY_REC_INPUT: u32 = 2;

/// Recording settings, written by the agent (TTY_CONFIG[0]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtyConfig {
    /// TTY_REC_* for a session the agent has not decided on yet.
    pub flags: u32,
    pub _pad: u32,
    /// Per-session rate limit, bytes per second, and the burst above it.
    pub rate: u64,
    pub burst: u64,
    /// Bytes recorded per session at most.
    pub cap: u64,
}

/// One session's terminal recording (TTY_SESSIONS, by session key).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtyState {
    /// TTY_REC_*; 0 = not recorded (the agent's decision for the session).
    pub flags: u32,
    pub _pad: u32,
    /// Token bucket of the rate limit (bytes) and when it was last filled.
    pub tokens: u64,
    pub last_ns: u64,
    /// Bytes recorded and bytes lost so far.
    pub recorded: u64,
    pub lost: u64,
}

/// A read or write of a pty master between its enter and exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtyArgs {
    /// The user buffer.
    pub buf: u64,
    /// The master's `struct tty_struct *`.
    pub tty: u64,
    pub session: u64,
    /// TTY_OUTPUT (read) or TTY_INPUT (write, writev).
    pub stream: u32,
    /// writev: the number of iovecs at `buf`; 0: `buf` is the data.
    pub iovcnt: u32,
}

/// `AgentState::flags`: the last agent stopped cleanly.
pub const AGENT_STOPPED_CLEANLY: u32 = 1;

/// Written by the agent only (the programs never touch it), pinned with the
/// programs when they persist: what the next agent needs to know of the last.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentState {
    /// Hash of the program object and the loader's settings: a new agent
    /// reuses pinned programs only when it would have loaded the same.
    pub build: u64,
    /// Unix ns of the last agent's last sign of life (tick or stop).
    pub alive_ns: u64,
    /// Records the last agent took from the rings, and those whose events
    /// it had written out; the difference died with it.
    pub consumed: u64,
    pub done: u64,
    pub flags: u32,
    pub _pad: u32,
}

/// Session key of a connection, made from what the connection itself
/// carries so that every agent on the host computes the same one: the
/// server's initial sequence number (random per connection, with a clock
/// component) and the client's address and port. The top bit is reserved
/// for sessions discovered from /proc.
pub const fn session_key(server_isn: u32, client_addr: u32, client_port: u16) -> u64 {
    let low = (client_addr ^ ((client_port as u32) << 16 | client_port as u32)) as u64;
    (((server_isn as u64) << 31) ^ low) & !DISCOVERED_KEY_BIT
}

pub const DISCOVERED_KEY_BIT: u64 = 1 << 63;

// No implicit padding: each value's size is the sum of its fields.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<Proc>() == 8 + 8 + 4 + 4);
    assert!(size_of::<SockTuple>() == 2 * 4 + 16 + 16);
    assert!(size_of::<BinaryId>() == 4 + 4 + 8);
    assert!(size_of::<ServerDevs>() == 16);
    assert!(size_of::<CredArgs>() == 4 + 12 + 24);
    assert!(size_of::<SessionLoss>() == 16);
    assert!(size_of::<FwdSock>() == 8 + 4 + 2 + 2);
    assert!(size_of::<FwdCall>() == 8 + 4 + 4);
    assert!(size_of::<CredWindow>() == 16);
    assert!(size_of::<AgentState>() == 4 * 8 + 4 + 4);
    assert!(size_of::<TtyConfig>() == 4 + 4 + 3 * 8);
    assert!(size_of::<TtyState>() == 4 + 4 + 4 * 8);
    assert!(size_of::<TtyArgs>() == 3 * 8 + 4 + 4);
    assert!(size_of::<XferProc>() == 16);
    assert!(size_of::<XferBinary>() == 32);
};
