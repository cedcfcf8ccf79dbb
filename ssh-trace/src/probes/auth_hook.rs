//! The servers' log capture (auth_sys_enter on raw sys_enter) runs for
//! every system call on the machine while it is attached, ≈ 60 ns each
//! (docs/benchmarks.md): it is attached only while some session is between
//! its connect and its login or end. Attaching needs CAP_BPF, which the
//! agent drops after loading; so a helper process (this binary re-run as
//! `ssh-trace auth-hook`) keeps that one and the program's descriptor, and does one thing: attach on `1`, detach on `0`,
//! read from its standard input; it exits when the agent closes it (at the
//! agent's exit, whatever the cause).
use std::{
    io::{Read, Write},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    os::unix::process::CommandExt,
    process::{Child, ChildStdin, Command, Stdio},
};

use anyhow::{bail, Context, Result};
use caps::{CapSet, Capability};

/// The program's descriptor in the helper.
const PROG_FD: i32 = 3;
/// bpf(2) command BPF_RAW_TRACEPOINT_OPEN.
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const TRACEPOINT: &[u8] = b"sys_enter\0";

/// The agent's end: the helper and what it was last told.
pub struct AuthHook {
    /// Ends by itself when `to_child` closes (this struct dropped, or the
    /// agent gone).
    child: Child,
    to_child: ChildStdin,
    attached: bool,
    /// The helper exited or stopped reading: the hook is detached for good
    /// (its link died with it) and cannot be attached again (no CAP_BPF).
    gone: bool,
}

impl AuthHook {
    /// Starts the helper with `prog` (a loaded, unattached raw tracepoint
    /// program), attached: sessions already authenticating are followed
    /// until the agent has looked at them.
    pub fn spawn(prog: OwnedFd) -> Result<Self> {
        let raw = prog.as_raw_fd();
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("ssh-trace")
            .arg("auth-hook")
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        // SAFETY: dup2 and fcntl are async-signal-safe; `raw` is open.
        unsafe {
            cmd.pre_exec(move || {
                let ok = if raw == PROG_FD {
                    libc::fcntl(PROG_FD, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(raw, PROG_FD) == PROG_FD
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = cmd.spawn().context("starting the auth-hook helper")?;
        drop(prog);
        let to_child = child.stdin.take().context("the helper's stdin")?;
        let mut hook = Self {
            child,
            to_child,
            attached: false,
            gone: false,
        };
        hook.set(true);
        Ok(hook)
    }

    /// Whether it was last asked to attach.
    pub fn attached(&self) -> bool {
        self.attached
    }

    /// Whether `set(attached)` would ask for an attach.
    pub fn would_attach(&self, attached: bool) -> bool {
        attached && !self.attached && !self.gone
    }

    /// Attach (`true`) or detach; a no-op when already so. A helper that
    /// is gone is said once on stderr; the sessions it then misses are
    /// counted (`watching`).
    pub fn set(&mut self, attached: bool) {
        if attached == self.attached || self.gone {
            return;
        }
        let byte = if attached { b"1" } else { b"0" };
        self.attached = attached;
        if let Err(e) = self.to_child.write_all(byte) {
            eprintln!("ssh-trace: auth-hook helper: {e}: server log decisions are no longer read");
            self.gone = true;
        }
    }

    /// Whether the hook can be running: the helper is still there.
    pub fn watching(&mut self) -> bool {
        if !self.gone && !matches!(self.child.try_wait(), Ok(None)) {
            eprintln!(
                "ssh-trace: auth-hook helper exited: server log decisions are no longer read"
            );
            self.gone = true;
        }
        !self.gone
    }
}

/// `ssh-trace auth-hook`: the helper's side.
pub fn serve() -> Result<()> {
    keep_only(&[Capability::CAP_BPF])?;
    let mut link: Option<OwnedFd> = None;
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        match stdin.read(&mut byte) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the agent's requests"),
        }
        match (byte[0], &link) {
            (b'1', None) => link = Some(attach()?),
            // Closing the link detaches (it waits for RCU here, not in
            // the agent).
            (b'0', Some(_)) => link = None,
            _ => {}
        }
    }
}

fn attach() -> Result<OwnedFd> {
    // union bpf_attr's raw_tracepoint: { __u64 name; __u32 prog_fd; __u32
    // pad; __u64 cookie }.
    let mut attr = [0u64; 3];
    attr[0] = TRACEPOINT.as_ptr() as u64;
    attr[1] = PROG_FD as u64;
    // SAFETY: attr is a valid bpf_attr prefix of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_RAW_TRACEPOINT_OPEN,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("attaching auth_sys_enter to sys_enter");
    }
    // SAFETY: the kernel returned a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Keeps `keep` in the effective and permitted sets, nothing else anywhere.
fn keep_only(keep: &[Capability]) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!("PR_SET_NO_NEW_PRIVS: {}", std::io::Error::last_os_error());
    }
    let set: caps::CapsHashSet = keep.iter().copied().collect();
    for cap in caps::all() {
        if !set.contains(&cap) {
            let _ = caps::drop(None, CapSet::Bounding, cap);
        }
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    caps::set(None, CapSet::Effective, &set)?;
    caps::set(None, CapSet::Permitted, &set)?;
    Ok(())
}
