//! File-transfer servers already running when the agent starts (found with
//! their session in /proc): marked in the kernel's maps as the programs
//! would have marked them at their exec, so that the rest of their
//! transfer is counted; the bytes a file moved before come from its
//! position (`late`).
use std::path::Path;

use aya::maps::{HashMap as BpfHashMap, MapData};
use ssh_trace_common::{
    event::{XFER_INTERNAL_SFTP, XFER_SCP_SINK, XFER_SCP_SOURCE, XFER_SFTP_SERVER},
    maps::{XferProc, XFER_ACTIVE, XFER_BIN_SCP, XFER_BIN_SFTP_SERVER},
};

use crate::probes::{binary_id, Maps, TransferBinaries};

/// scp's options that take a value (OpenSSH 9 and 10).
const SCP_VALUE_OPTIONS: &str = "DFJMPSXcilo";

/// scp's role from its argv, as the kernel program decides it: -t
/// receives, -f sends; none for a client. Options end at `--` or the first
/// operand; an option that takes a value takes the rest of its argument or
/// the next one.
pub fn scp_role<S: AsRef<str>>(argv: &[S]) -> Option<u16> {
    let mut role = None;
    let mut args = argv.iter().skip(1).map(AsRef::as_ref);
    while let Some(a) = args.next() {
        let Some(letters) = a.strip_prefix('-').filter(|l| !l.is_empty() && *l != "-") else {
            break;
        };
        for (i, c) in letters.char_indices() {
            match c {
                't' => role = Some(XFER_SCP_SINK),
                'f' => role = Some(XFER_SCP_SOURCE),
                c if SCP_VALUE_OPTIONS.contains(c) => {
                    if i + 1 == letters.len() {
                        args.next();
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    role
}

fn argv(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Which transfer server `pid` is, if any. `server`: it runs an SSH server
/// binary (internal-sftp shows as `sshd: USER@internal-sftp`: OpenSSH's
/// own title, which the user cannot set).
pub fn server_of(pid: u32, server: bool, bins: &TransferBinaries) -> Option<u16> {
    let exe = binary_id(Path::new(&format!("/proc/{pid}/exe"))).ok();
    match exe.and_then(|id| bins.kind_of(&id)) {
        Some(XFER_BIN_SFTP_SERVER) => Some(XFER_SFTP_SERVER),
        Some(XFER_BIN_SCP) => scp_role(&argv(pid)),
        _ if server => argv(pid)
            .concat()
            .ends_with("@internal-sftp")
            .then_some(XFER_INTERNAL_SFTP),
        _ => None,
    }
}

/// Marks `pid` a transfer server in PROCS and XFER_PROCS.
pub fn mark(
    maps: &mut Maps,
    procs: &mut BpfHashMap<MapData, u32, XferProc>,
    pid: u32,
    server: u16,
) -> anyhow::Result<()> {
    let x = XferProc {
        state: XFER_ACTIVE,
        server: server as u32,
        ..Default::default()
    };
    procs.insert(pid, x, 0)?;
    maps.mark_transfer(pid)
}

/// A transfer server found stopped may be one the kernel held for an
/// agent that was killed before it continued it (docs/design.md, "File
/// transfers"): it is continued, and said.
pub fn continue_if_stopped(pid: u32) {
    if crate::session::discover::state_of(pid) != Some('T') {
        return;
    }
    // SAFETY: kill with a pid and a signal number.
    if unsafe { libc::kill(pid as i32, libc::SIGCONT) } == 0 {
        eprintln!("ssh-trace: transfer server {pid} was stopped; continued it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_roles_follow_its_options() {
        let role = |a: &[&str]| scp_role(a);
        assert_eq!(role(&["scp", "-t", "."]), Some(XFER_SCP_SINK));
        assert_eq!(
            role(&["scp", "-v", "-r", "-f", "--", "/x"]),
            Some(XFER_SCP_SOURCE)
        );
        assert_eq!(role(&["scp", "-prt", "d"]), Some(XFER_SCP_SINK));
        assert_eq!(
            role(&["scp", "file", "-t"]),
            None,
            "an operand ends the options"
        );
        assert_eq!(
            role(&["scp", "-o", "ft", "a", "b:"]),
            None,
            "a value is no option"
        );
        assert_eq!(role(&["scp", "-oft", "a"]), None);
        assert_eq!(role(&["scp", "--", "-t"]), None);
        assert_eq!(role(&["scp", "-l", "100", "-t", "."]), Some(XFER_SCP_SINK));
    }
}
