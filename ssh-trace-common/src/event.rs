//! Records written to the ring buffers (`EVENTS` for the process tree,
//! `MILESTONES` for connects, uid changes and connection ends).

/// Discriminant stored in [`EventHeader::kind`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Connect = 1,
    Fork = 2,
    Exec = 3,
    Exit = 4,
    CredChange = 5,
    Bytes = 6,
    /// A server process's own log output (auth.rs).
    Auth = 7,
    Forward = 8,
    /// A file-transfer process's file (at close) or directory operation.
    Transfer = 9,
    Tty = 10,
}

impl EventKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Connect,
            2 => Self::Fork,
            3 => Self::Exec,
            4 => Self::Exit,
            5 => Self::CredChange,
            6 => Self::Bytes,
            7 => Self::Auth,
            8 => Self::Forward,
            9 => Self::Transfer,
            10 => Self::Tty,
            _ => return None,
        })
    }
}

/// Common prefix of every event.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    pub kind: u32,
    /// Process (thread-group id) the event is about; 0 when not in process context.
    pub tgid: u32,
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ktime_ns: u64,
    /// Kernel session key (see [`crate::maps::session_key`]); 0 = none.
    pub session: u64,
}

/// Real, effective and saved ids of a task (`struct cred`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
}

/// [`ConnectEvent::origin`]: the server accepted the connection itself.
pub const CONNECT_ACCEPT: u16 = 1;
/// [`ConnectEvent::origin`]: a server binary was exec'd with the connected
/// socket on its standard input (inetd mode, systemd socket activation).
pub const CONNECT_INETD: u16 = 2;

/// An SSH server process took a TCP connection: a session starts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectEvent {
    pub hdr: EventHeader,
    /// The accepting server process (inetd mode: the exec'd server).
    pub listener_tgid: u32,
    /// Effective uid of that server process: 0 for the system's server.
    pub server_uid: u32,
    /// Session the server process itself runs in (a server started from a
    /// session); 0 = none.
    pub parent_session: u64,
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u16,
    pub local_port: u16,
    pub remote_port: u16,
    /// CONNECT_ACCEPT or CONNECT_INETD.
    pub origin: u16,
    /// IPv4 in the first 4 bytes for AF_INET; network byte order.
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    /// Kernel `struct sock *` of the connection.
    pub sock: u64,
}

/// A tracked process forked a child process (threads are not reported).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForkEvent {
    pub hdr: EventHeader,
    pub child_tgid: u32,
    pub _pad: u32,
    pub creds: Creds,
}

pub const EXEC_FILENAME_MAX: usize = 512;
pub const EXEC_ARGS_MAX: usize = 4096;
/// Name of the executable's dentry, sent for executables without a path.
pub const EXEC_DENTRY_MAX: usize = 64;

/// The new program image is an SSH server binary (by file identity).
pub const EXEC_FLAG_SERVER_BINARY: u32 = 1;
pub const EXEC_FLAG_ARGS_TRUNCATED: u32 = 2;
pub const EXEC_FLAG_FILENAME_TRUNCATED: u32 = 4;
pub const EXEC_FLAG_ARGS_UNREADABLE: u32 = 8;
/// The process is the SSH server's own plumbing: a server binary exec'd by
/// the server's lineage (privsep monitor, sshd-session, sshd-auth, re-exec).
pub const EXEC_FLAG_SERVER_ROLE: u32 = 16;
/// A server binary exec'd from a user's process: a server of its own.
pub const EXEC_FLAG_LISTENER: u32 = 32;
/// The executable has no link left on any filesystem (deleted, or a memfd).
pub const EXEC_FLAG_UNLINKED: u32 = 64;
/// The executable is a memfd (`memfd_create`): a program with no file.
pub const EXEC_FLAG_MEMFD: u32 = 128;

/// Fixed part of an exec event. On the ring buffer it is followed by
/// `EXEC_FILENAME_MAX` bytes of filename (`filename_len` used) and then
/// `args_len` bytes of NUL-separated argv; the record is cut after the argv.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecHead {
    pub hdr: EventHeader,
    pub ppid: u32,
    pub flags: u32,
    pub creds: Creds,
    pub filename_len: u32,
    pub args_len: u32,
    /// Dentry name of an unlinked executable (e.g. "memfd:x"), NUL-padded.
    pub dentry: [u8; EXEC_DENTRY_MAX],
}

impl Default for ExecHead {
    fn default() -> Self {
        Self {
            hdr: EventHeader::default(),
            ppid: 0,
            flags: 0,
            creds: Creds::default(),
            filename_len: 0,
            args_len: 0,
            dentry: [0; EXEC_DENTRY_MAX],
        }
    }
}

/// Full exec record as built in the per-CPU scratch buffer.
#[repr(C)]
pub struct ExecEvent {
    pub head: ExecHead,
    pub filename: [u8; EXEC_FILENAME_MAX],
    pub args: [u8; EXEC_ARGS_MAX],
}

/// A tracked process exited: its last thread died.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitEvent {
    pub hdr: EventHeader,
    /// Wait status of the process (exit status << 8 | signal).
    pub exit_code: u32,
    pub _pad: u32,
}

/// Syscalls reported in [`CredEvent::syscall`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredSyscall {
    Setuid = 1,
    Setreuid = 2,
    Setresuid = 3,
    Setgid = 4,
    Setregid = 5,
    Setresgid = 6,
}

impl CredSyscall {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Setuid,
            2 => Self::Setreuid,
            3 => Self::Setresuid,
            4 => Self::Setgid,
            5 => Self::Setregid,
            6 => Self::Setresgid,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Setuid => "setuid",
            Self::Setreuid => "setreuid",
            Self::Setresuid => "setresuid",
            Self::Setgid => "setgid",
            Self::Setregid => "setregid",
            Self::Setresgid => "setresgid",
        }
    }

    /// Number of id arguments the syscall takes.
    pub fn arg_count(self) -> usize {
        match self {
            Self::Setuid | Self::Setgid => 1,
            Self::Setreuid | Self::Setregid => 2,
            Self::Setresuid | Self::Setresgid => 3,
        }
    }
}

/// A tracked process called a setuid-family syscall (reported at exit, with result).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredEvent {
    pub hdr: EventHeader,
    pub syscall: u32,
    /// Syscall arguments; unused ones are 0, "unchanged" is u32::MAX (-1).
    pub args: [u32; 3],
    /// Syscall return value (0 or -errno).
    pub ret: i64,
    pub old: Creds,
    pub new: Creds,
}

/// Byte counters of a session's connection. The kernel sends one when the
/// connection closes (final counts from the tcp_sock); the agent makes the
/// periodic ones itself from sock_diag.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BytesEvent {
    pub hdr: EventHeader,
    pub sock: u64,
    /// Received from the client (cumulative TCP payload).
    pub bytes_in: u64,
    /// Sent to the client and acknowledged by it (cumulative TCP payload).
    pub bytes_out: u64,
    /// 1 when the connection reached TCP_CLOSE (final counts).
    pub closed: u32,
    pub _pad: u32,
}

/// [`XferHead::op`]: a file the process opened (sent when it is closed, or
/// when the open failed).
pub const XFER_OP_FILE: u16 = 1;
/// rename, renameat, renameat2.
pub const XFER_OP_RENAME: u16 = 2;
/// unlink, unlinkat.
pub const XFER_OP_UNLINK: u16 = 3;
/// rmdir, unlinkat(AT_REMOVEDIR).
pub const XFER_OP_RMDIR: u16 = 4;
/// mkdir, mkdirat.
pub const XFER_OP_MKDIR: u16 = 5;
/// link, linkat (sftp's hardlink, and its rename of a regular file).
pub const XFER_OP_LINK: u16 = 6;

/// [`XferHead::server`]: the file-transfer server a process is.
pub const XFER_SFTP_SERVER: u16 = 1;
/// sshd serving sftp itself (`internal-sftp`), maybe chrooted.
pub const XFER_INTERNAL_SFTP: u16 = 2;
/// `scp -t`: receives files from the client.
pub const XFER_SCP_SINK: u16 = 3;
/// `scp -f`: sends files to the client.
pub const XFER_SCP_SOURCE: u16 = 4;

/// [`XferHead::flags`]: the file was open before the I/O hooks were
/// attached; the bytes moved until then are taken from its position.
pub const XFER_FLAG_LATE: u32 = 1;
/// The process exited with the file still open (no close call).
pub const XFER_FLAG_AT_EXIT: u32 = 2;
/// The walk stopped before the root (deeper than the programs follow).
pub const XFER_FLAG_PATH_TRUNCATED: u32 = 4;
/// A path argument was longer than XFER_ARG_BYTES.
pub const XFER_FLAG_ARG_TRUNCATED: u32 = 8;
/// The record has the argument areas (operations and failed opens): the
/// walk is of the directory the arguments are relative to.
pub const XFER_FLAG_ARGS: u32 = 16;

/// Bytes of path components a record holds, and the room for the last
/// one (a name is at most 255 bytes and its NUL).
pub const XFER_WALK_BYTES: usize = 4096;
pub const XFER_NAME_MAX: usize = 256;
pub const XFER_PATH_AREA: usize = XFER_WALK_BYTES + XFER_NAME_MAX;
/// Bytes of each path argument of an operation.
pub const XFER_ARG_BYTES: usize = 1024;
/// [`XferHead::root_at`] when the walk never met the process's root.
pub const XFER_NO_ROOT: u32 = u32::MAX;

/// Fixed part of a transfer record. On the ring it is followed by
/// `path_len` bytes of path components, each NUL-terminated, from the file
/// up to the filesystem root (the reverse of a path); with XFER_FLAG_ARGS
/// the area is XFER_PATH_AREA bytes and two argument strings of
/// XFER_ARG_BYTES follow (the record is cut after the last one used).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XferHead {
    pub hdr: EventHeader,
    /// XFER_OP_*.
    pub op: u16,
    /// XFER_SFTP_SERVER, XFER_INTERNAL_SFTP, XFER_SCP_SINK, XFER_SCP_SOURCE.
    pub server: u16,
    /// XFER_FLAG_*.
    pub flags: u32,
    /// The open file's f_flags (O_ACCMODE, O_CREAT, O_TRUNC, O_APPEND …).
    pub open_flags: u32,
    /// errno of a failed open or operation, or of the file's first failed
    /// read or write; 0 = none.
    pub errno: i32,
    /// The inode's i_mode (type and permissions) at close; 0 = unknown.
    pub mode: u32,
    /// Components of the walk below the process's root directory (its
    /// chroot): the first `root_at` are the path the process sees.
    pub root_at: u32,
    pub path_len: u32,
    pub arg1_len: u32,
    pub arg2_len: u32,
    pub _pad: u32,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// The furthest offset a read or write reached.
    pub high_pos: u64,
    /// The inode's size at close.
    pub size: u64,
    /// When the file was opened (bpf_ktime_get_ns).
    pub open_ns: u64,
}

/// A transfer record as the programs build it: a file's lives in the
/// XFER_FILES map (head and path), an operation's in a per-CPU scratch.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct XferFile {
    pub head: XferHead,
    pub path: [u8; XFER_PATH_AREA],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct XferOp {
    pub head: XferHead,
    pub path: [u8; XFER_PATH_AREA],
    pub arg1: [u8; XFER_ARG_BYTES],
    pub arg2: [u8; XFER_ARG_BYTES],
}

/// Bytes of a server log message copied: OpenSSH's and dropbear's message
/// buffers are 1024 bytes (log.c MSGBUFSIZ, svr-session.c printbuf), so a
/// message is cut only if the server cut it too or a header made it longer.
pub const AUTH_TEXT_MAX: usize = 1024;

/// [`AuthHead::dest`]: a unix datagram socket (syslog, journald's /dev/log).
pub const AUTH_DEST_SYSLOG: u32 = 1;
/// A regular file owned by root and writable by nobody else (sshd -E).
pub const AUTH_DEST_FILE: u32 = 2;
/// Standard error (fd 2) on a pipe or a unix stream socket (a supervisor,
/// journald's stdout stream).
pub const AUTH_DEST_STDERR: u32 = 3;

/// [`AuthHead::flags`]: the write was longer than AUTH_TEXT_MAX and is cut.
pub const AUTH_FLAG_TRUNCATED: u32 = 1;
/// The process's buffer could not be read (nothing follows the head).
pub const AUTH_FLAG_UNREADABLE: u32 = 2;

/// Fixed part of a server log record: a root process of an SSH server, in
/// a session still authenticating, wrote `len` bytes to a log destination.
/// On the ring buffer it is followed by `copied` bytes of the message.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthHead {
    pub hdr: EventHeader,
    /// AUTH_DEST_*.
    pub dest: u32,
    pub flags: u32,
    /// Bytes the process wrote (the syscall's length argument).
    pub len: u32,
    /// Bytes of it that follow.
    pub copied: u32,
}

/// Full log record as built in the per-CPU scratch buffer.
#[repr(C)]
pub struct AuthEvent {
    pub head: AuthHead,
    pub text: [u8; AUTH_TEXT_MAX],
}

/// [`ForwardEvent::phase`]: the server listens on the client's behalf
/// (a remote forward, the agent socket, an X11 display).
pub const FWD_LISTEN: u16 = 1;
/// A connection through a forward started.
pub const FWD_OPEN: u16 = 2;
/// It ended (TCP: the final byte counts); a listener closed.
pub const FWD_CLOSE: u16 = 3;
/// The server's connection to the target failed (`error` says why).
pub const FWD_FAILED: u16 = 4;

/// [`ForwardEvent::how`]: the server connected (a local forward: -L, -D, -W).
pub const FWD_CONNECT: u16 = 1;
/// The server accepted a connection on one of its forward listeners.
pub const FWD_ACCEPT: u16 = 2;
/// The listener itself.
pub const FWD_LISTENER: u16 = 3;

pub const AF_UNIX: u16 = 1;
/// `sun_path` of a unix socket address.
pub const FWD_PATH_MAX: usize = 108;

/// A forward of a session: made, accepted or listened on by the session's
/// SSH server process on the client's behalf.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForwardEvent {
    /// `tgid`: the server process (also for records made in softirq).
    pub hdr: EventHeader,
    /// Kernel `struct sock *`: pairs a forward's records.
    pub sock: u64,
    /// At FWD_CLOSE of a TCP connection: payload received from the peer
    /// and sent to it and acknowledged (FIN-corrected, as for sessions).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Inode number of the socket (unix sockets are followed by it).
    pub ino: u64,
    pub phase: u16,
    pub how: u16,
    /// AF_INET, AF_INET6 or AF_UNIX.
    pub family: u16,
    pub local_port: u16,
    pub remote_port: u16,
    /// Bytes of `path` used (AF_UNIX); a leading NUL is an abstract name.
    pub path_len: u16,
    /// FWD_FAILED: the errno (ECONNREFUSED, ETIMEDOUT, ...).
    pub error: i32,
    /// IPv4 in the first 4 bytes for AF_INET; network byte order.
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    /// AF_UNIX: the socket's path (a listener's, or the one connected to).
    pub path: [u8; FWD_PATH_MAX],
    /// Inode of the server process's network namespace (unix sockets are
    /// looked up by inode in the agent's own).
    pub netns: u32,
}

impl Default for ForwardEvent {
    fn default() -> Self {
        Self {
            hdr: EventHeader::default(),
            sock: 0,
            bytes_in: 0,
            bytes_out: 0,
            ino: 0,
            phase: 0,
            how: 0,
            family: 0,
            local_port: 0,
            remote_port: 0,
            path_len: 0,
            error: 0,
            local_addr: [0; 16],
            remote_addr: [0; 16],
            path: [0; FWD_PATH_MAX],
            netns: 0,
        }
    }
}

/// [`TtyEvent::stream`]: what the server read from the pty master (the
/// terminal's output).
pub const TTY_OUTPUT: u8 = 1;
/// [`TtyEvent::stream`]: what the server wrote to the pty master (what the
/// client typed).
pub const TTY_INPUT: u8 = 2;
/// [`TtyEvent::flags`]: input typed while the terminal did not echo in
/// canonical mode (a password prompt): `bytes` were written, none are sent.
pub const TTY_FLAG_WITHHELD: u8 = 1;
/// Terminal bytes per record; a larger read or write takes several.
pub const TTY_CHUNK: usize = 8192;
/// Records per syscall at most: bytes beyond `TTY_CHUNK * TTY_CHUNKS` of
/// one read or write are counted lost (OpenSSH and dropbear move ≤ 32 KiB).
pub const TTY_CHUNKS: usize = 8;
/// iovecs of one writev read at most, one record each (dropbear writes
/// input with two: its circular buffer's halves); the rest is counted lost.
pub const TTY_IOVECS: usize = 4;

/// Terminal data of a session, taken where its server process reads or
/// writes the pty master. On the ring buffer it is followed by `len` bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtyEvent {
    pub hdr: EventHeader,
    /// TTY_OUTPUT or TTY_INPUT.
    pub stream: u8,
    /// TTY_FLAG_*.
    pub flags: u8,
    pub _pad: u16,
    /// The terminal's window size when the bytes moved.
    pub rows: u16,
    pub cols: u16,
    /// Bytes of data that follow.
    pub len: u32,
    /// Bytes the syscall moved that this record stands for (`len`, or the
    /// withheld input's length).
    pub bytes: u32,
    /// Bytes of this session's terminal lost so far (rate limit, cap, full
    /// ring): cumulative, so the agent marks a loss where it happened.
    pub lost: u64,
}

/// A terminal record as built in the per-CPU scratch buffer.
#[repr(C)]
pub struct TtyRecord {
    pub head: TtyEvent,
    pub data: [u8; TTY_CHUNK],
}

// No implicit padding: each record's size is the sum of its fields.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<EventHeader>() == 4 + 4 + 8 + 8);
    assert!(size_of::<Creds>() == 6 * 4);
    assert!(size_of::<ConnectEvent>() == 24 + 4 + 4 + 8 + 2 * 4 + 16 + 16 + 8);
    assert!(size_of::<ForkEvent>() == 24 + 4 + 4 + 24);
    assert!(size_of::<ExecHead>() == 24 + 4 + 4 + 24 + 4 + 4 + EXEC_DENTRY_MAX);
    assert!(size_of::<ExecEvent>() == size_of::<ExecHead>() + EXEC_FILENAME_MAX + EXEC_ARGS_MAX);
    assert!(size_of::<ExitEvent>() == 24 + 4 + 4);
    assert!(size_of::<CredEvent>() == 24 + 4 + 12 + 8 + 24 + 24);
    assert!(size_of::<BytesEvent>() == 24 + 8 + 8 + 8 + 4 + 4);
    assert!(size_of::<XferHead>() == 24 + 2 + 2 + 4 * 9 + 8 * 5);
    assert!(size_of::<XferFile>() == size_of::<XferHead>() + XFER_PATH_AREA);
    assert!(size_of::<XferOp>() == size_of::<XferFile>() + 2 * XFER_ARG_BYTES);
    assert!(size_of::<ForwardEvent>() == 24 + 4 * 8 + 6 * 2 + 4 + 16 + 16 + FWD_PATH_MAX + 4);
    assert!(size_of::<AuthHead>() == 24 + 4 * 4);
    assert!(size_of::<AuthEvent>() == size_of::<AuthHead>() + AUTH_TEXT_MAX);
    assert!(size_of::<TtyEvent>() == 24 + 1 + 1 + 2 + 2 + 2 + 4 + 4 + 8);
    assert!(size_of::<TtyRecord>() == size_of::<TtyEvent>() + TTY_CHUNK);
};
