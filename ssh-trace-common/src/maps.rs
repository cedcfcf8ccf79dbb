//! Keys and values of the kernel maps, and their sizes.

/// Tracked processes (session members), keyed by tgid.
pub const TRACKED_MAX: u32 = 65_536;
/// SSH server listeners, keyed by tgid; value = session key of the last
/// accepted connection not yet handed to a child (0 = none).
pub const LISTENERS_MAX: u32 = 1_024;
/// Session connections being counted, keyed by `struct sock *`.
pub const SESSION_SOCKS_MAX: u32 = 16_384;
/// setuid-family syscalls in flight (enter seen, exit not yet), keyed by tid.
pub const CRED_ARGS_MAX: u32 = 4_096;
/// Identities of SSH server executables.
pub const SERVER_BINARIES_MAX: u32 = 64;
/// Default ring buffer size in bytes (power of two, multiple of the page size).
pub const DEFAULT_RING_BYTES: u32 = 4 << 20;

/// The reader drains the ring buffer at least this often: records emitted
/// without a wake-up (process tree, byte flushes) wait at most this long.
pub const READER_POLL_MS: i32 = 20;

/// Minimum interval between periodic byte-counter flushes of one connection.
pub const BYTES_FLUSH_NS: u64 = 1_000_000_000;

/// Indices of the per-CPU `LOST` counters.
pub const LOST_RINGBUF: u32 = 0;
pub const LOST_TRACKED_FULL: u32 = 1;
pub const LOST_SOCKS_FULL: u32 = 2;
pub const LOST_SLOTS: u32 = 3;

/// `Tracked::flags`: this process may adopt the first TCP socket it uses as
/// its session's connection (sessions discovered from /proc at start-up).
pub const TRACKED_ADOPT_SOCK: u32 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracked {
    pub session: u64,
    pub flags: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockStats {
    pub session: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub last_flush_ns: u64,
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

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CredArgs {
    pub syscall: u32,
    pub args: [u32; 3],
    pub old: crate::event::Creds,
}

/// Session key of an accepted connection, made from what the connection
/// itself carries so that every agent on the host computes the same one:
/// the server's initial sequence number (random per connection, with a
/// clock component) and the client's address and port. The top bit is
/// reserved for sessions discovered from /proc.
pub const fn session_key(server_isn: u32, client_addr: u32, client_port: u16) -> u64 {
    let low = (client_addr ^ ((client_port as u32) << 16 | client_port as u32)) as u64;
    (((server_isn as u64) << 31) ^ low) & !DISCOVERED_KEY_BIT
}

pub const DISCOVERED_KEY_BIT: u64 = 1 << 63;

// No implicit padding: each value's size is the sum of its fields.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<Tracked>() == 8 + 4 + 4);
    assert!(size_of::<SockStats>() == 4 * 8);
    assert!(size_of::<BinaryId>() == 4 + 4 + 8);
    assert!(size_of::<CredArgs>() == 4 + 12 + 24);
};
