//! Facts about this machine used in every event: host name, boot id and the
//! kernel clock (bpf_ktime_get_ns is CLOCK_MONOTONIC) mapped to wall time.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// 16 bytes of /proc/sys/kernel/random/boot_id: random per boot.
pub fn boot_id() -> [u8; 16] {
    let s = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    parse_uuid(s.trim()).unwrap_or_default()
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// Maps monotonic kernel timestamps to Unix-epoch nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset_ns: i128,
}

impl Clock {
    pub fn now() -> Self {
        Self {
            offset_ns: realtime_ns() as i128 - monotonic_ns() as i128,
        }
    }

    #[cfg(test)]
    pub fn fixed(offset_ns: i128) -> Self {
        Self { offset_ns }
    }

    pub fn wall_ns(&self, monotonic_ns: u64) -> u64 {
        (monotonic_ns as i128 + self.offset_ns).max(0) as u64
    }
}

/// RFC 3339, UTC, nanoseconds.
pub fn rfc3339(unix_ns: u64) -> String {
    Rfc3339(unix_ns).to_string()
}

/// A time written as RFC 3339 (UTC, nanoseconds) without allocating.
#[derive(Clone, Copy, Debug)]
pub struct Rfc3339(pub u64);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = UNIX_EPOCH + Duration::from_nanos(self.0);
        write!(f, "{}", humantime::format_rfc3339_nanos(t))
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

pub fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Everything is written and flushed: whoever reads standard output sees
/// its end now, not once the kernel has detached the programs (each
/// tracepoint's detach waits for RCU grace periods, a second or more in
/// all on a loaded machine). /dev/null takes fd 1 so later writes are
/// harmless.
pub fn close_stdout() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::File::options().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1 of a valid descriptor; Rust's Stdout holds
        // no state that a new fd 1 invalidates (it was flushed).
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}

/// The agent's default nice value: like auditd's `priority_boost = 4`, the
/// agent keeps its place against a storm of fresh processes (which the
/// scheduler favours over a thread that has been busy reading them).
pub const DEFAULT_NICE: i32 = -4;

/// Sets the calling thread's nice value; threads it starts later inherit
/// it (Linux keeps one per thread). Without CAP_SYS_NICE it says so and
/// goes on at the inherited priority. 0 leaves the priority as started.
pub fn set_nice(nice: i32) {
    // SAFETY: geteuid has no preconditions. Not root, the agent stops at
    // its root check with one clear line; this would only add noise.
    if nice == 0 || unsafe { libc::geteuid() } != 0 {
        return;
    }
    // SAFETY: setpriority with integer arguments (0: this thread).
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
        eprintln!(
            "ssh-trace: cannot set nice {nice} ({}): events may lag behind a busy machine",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_nanos() {
        assert_eq!(
            rfc3339(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
    }
}
