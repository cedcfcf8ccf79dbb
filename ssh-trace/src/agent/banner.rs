//! The one line `tail` on a terminal starts with: what it watches.
use crate::{
    event::{Body, Event},
    probes::ServerBinaries,
};

/// `watching N SSH server binaries (…); K open sessions discovered; ring buffer S`.
pub fn line(servers: &ServerBinaries, discovered: &[Event], ring_bytes: u32) -> String {
    let paths: Vec<&str> = servers.paths().collect();
    let sessions = discovered
        .iter()
        .filter(|e| matches!(e.body, Body::SessionConnect))
        .count();
    format!(
        "ssh-trace: watching {} SSH server {} ({}); {} open {} discovered; ring buffer {} (Ctrl-C stops)",
        paths.len(),
        plural(paths.len(), "binary", "binaries"),
        paths.join(", "),
        sessions,
        plural(sessions, "session", "sessions"),
        bytesize::ByteSize::b(u64::from(ring_bytes)).display().iec(),
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}
