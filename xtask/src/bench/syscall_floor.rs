//! The floor of any syscall tracepoint: a perf counter on the enter and
//! exit tracepoints of acct(2), which nothing here calls. Opening it
//! registers the kernel's syscall tracing probes, and from then on every
//! system call of every process takes the traced slow path of syscall
//! entry and exit, as it does once the agent attaches its first
//! `syscalls:*` program. No program runs, so what it costs other
//! processes is that path alone: the part of the agent's idle cost that
//! no program of it can avoid.
use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};

const PERF_TYPE_TRACEPOINT: u64 = 2;
/// PERF_ATTR_SIZE_VER0: the fields used here are all in it.
const ATTR_SIZE: u64 = 64;
/// Not in the libc crate: `1 << 3` in linux/perf_event.h.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
const TRACEPOINTS: [&str; 2] = ["sys_enter_acct", "sys_exit_acct"];

/// The counters; syscall tracing stays on while this is held.
pub struct SyscallFloor {
    _events: Vec<OwnedFd>,
}

impl SyscallFloor {
    pub fn attach() -> Result<Self> {
        let events = TRACEPOINTS
            .iter()
            .map(|tp| open(tracepoint_id(tp)?))
            .collect::<Result<_>>()?;
        Ok(Self { _events: events })
    }
}

fn tracepoint_id(name: &str) -> Result<u64> {
    let path = format!("/sys/kernel/tracing/events/syscalls/{name}/id");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.trim()
        .parse()
        .with_context(|| format!("{path} holds no number"))
}

/// A counting event (no sampling), enabled at open, on CPU 0: the
/// registration it makes is machine-wide all the same.
fn open(id: u64) -> Result<OwnedFd> {
    // type, size; config; then sample_period.. all zero (counting, enabled).
    let mut attr = [0u64; 16];
    attr[0] = PERF_TYPE_TRACEPOINT | ATTR_SIZE << 32;
    attr[1] = id;
    // SAFETY: attr is a zero-padded perf_event_attr of at least ATTR_SIZE bytes.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1i32,
            0i32,
            -1i32,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        bail!(
            "perf_event_open on syscall tracepoint {id}: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: a new descriptor, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
