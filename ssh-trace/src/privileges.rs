//! Least privilege: once the programs are attached and open sessions are
//! discovered, the agent needs no capability (reading the ring buffer and
//! maps uses file descriptors it already holds). All are dropped, for good.
use anyhow::{Context, Result};
use caps::CapSet;

pub fn drop_all() -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("PR_SET_NO_NEW_PRIVS");
    }
    for cap in caps::all() {
        // Fails only where the bounding set is already without it.
        let _ = caps::drop(None, CapSet::Bounding, cap);
    }
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).with_context(|| format!("clearing the {set:?} capability set"))?;
    }
    Ok(())
}

/// For a thread that needs `keep` after loading (the transfer hook
/// thread attaches programs): every other capability is dropped from it,
/// and no-new-privs is set. Capabilities are per thread.
pub fn keep_only(keep: &[caps::Capability]) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("PR_SET_NO_NEW_PRIVS");
    }
    for cap in caps::all() {
        if !keep.contains(&cap) {
            let _ = caps::drop(None, CapSet::Bounding, cap);
        }
    }
    let set: caps::CapsHashSet = keep.iter().copied().collect();
    for s in [CapSet::Ambient, CapSet::Inheritable] {
        caps::clear(None, s).with_context(|| format!("clearing the {s:?} capability set"))?;
    }
    for s in [CapSet::Effective, CapSet::Permitted] {
        caps::set(None, s, &set).with_context(|| format!("setting the {s:?} capability set"))?;
    }
    Ok(())
}
