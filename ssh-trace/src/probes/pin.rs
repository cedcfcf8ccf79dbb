//! Programs and maps pinned in bpffs, so that they outlive the agent: a
//! restarted agent (kill -9, upgrade, `systemctl restart`) reads what the
//! kernel recorded meanwhile and continues the same sessions.
//!
//! Layout: /sys/fs/bpf/ssh-trace/NAME/maps/MAP and …/links/PROGRAM; the
//! programs attached only on demand (the transfer hooks) are pinned
//! unattached, as …/progs/PROGRAM.
use std::{
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

pub const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Every map of the object (all are pinned: a map the programs use but
/// the agent does not is still state the next agent needs).
pub const MAP_NAMES: &[&str] = &[
    "EVENTS",
    "MILESTONES",
    "LOST",
    "SESSION_LOSS",
    "PROCS",
    "PROC_BITS",
    "DISCOVERED_BITS",
    "COUNTS",
    "SESSION_SOCKS",
    "DISCOVERED_SOCKS",
    "CRED_ARGS",
    "CRED_RATE",
    "SERVER_INODES",
    "EXEC_SCRATCH",
    "AGENT_STATE",
    "LAST_WAKE",
    "FWD_SOCKS",
    "FWD_COUNT",
    "FWD_CALLS",
    "FWD_SCRATCH",
    "AYA_LOGS",
    "XFER_PROCS",
    "XFER_CTL",
    "XFER_FILES",
    "XFER_INODES",
    "XFER_SCRATCH",
    "XFER_WAKE",
    "XFER_TAILS",
    "XFER_EXEC_WAS",
    "XFER_RECORDS",
    "AUTH_SESSIONS",
    "AUTH_SCRATCH",
    "AUTH_WATCH",
    "TTY_RING",
    "TTY_CONFIG",
    "TTY_SESSIONS",
    "TTY_ARGS",
    "TTY_SCRATCH",
];

#[derive(Clone, Debug)]
pub struct PinDir {
    root: PathBuf,
}

impl PinDir {
    /// The pin directory of instance `name` (letters, digits, `-`, `_`, `.`).
    pub fn new(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            bail!("persist name {name:?}: 1 to 64 letters, digits, '-', '_' or '.'");
        }
        Ok(Self {
            root: Path::new(BPFFS).join("ssh-trace").join(name),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn map(&self, name: &str) -> PathBuf {
        self.root.join("maps").join(name)
    }

    pub fn link(&self, program: &str) -> PathBuf {
        self.root.join("links").join(program)
    }

    /// A program pinned unattached (attached on demand by each agent).
    pub fn prog(&self, program: &str) -> PathBuf {
        self.root.join("progs").join(program)
    }

    /// Whether every map, every program's link and every on-demand
    /// program is pinned.
    pub fn complete<'a>(
        &self,
        programs: impl IntoIterator<Item = &'a str>,
        on_demand: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        MAP_NAMES.iter().all(|m| self.map(m).exists())
            && programs.into_iter().all(|p| self.link(p).exists())
            && on_demand.into_iter().all(|p| self.prog(p).exists())
    }

    /// Creates the directories (0700) on a mounted bpffs.
    pub fn create(&self) -> Result<()> {
        ensure_bpffs()?;
        for d in ["maps", "links", "progs"].map(|d| self.root.join(d)) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(())
    }

    /// Unpins everything: the programs detach once nothing holds them.
    pub fn clear(&self) -> Result<()> {
        if !self.root.exists() {
            return Ok(());
        }
        std::fs::remove_dir_all(&self.root)
            .with_context(|| format!("removing pinned programs in {}", self.root.display()))
    }
}

/// bpffs at /sys/fs/bpf (mounted if missing, as systemd does at boot).
fn ensure_bpffs() -> Result<()> {
    if is_bpffs(Path::new(BPFFS)) {
        return Ok(());
    }
    let status = std::process::Command::new("mount")
        .args(["-t", "bpf", "bpf", BPFFS])
        .status()
        .context("running mount -t bpf")?;
    if !status.success() || !is_bpffs(Path::new(BPFFS)) {
        bail!("{BPFFS} is not a BPF filesystem and mounting one there failed");
    }
    Ok(())
}

fn is_bpffs(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string and a statfs buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

#[cfg(test)]
mod tests {
    /// A map left off MAP_NAMES is not pinned: a restarted agent would
    /// fail to open it (XFER_CTL once was).
    #[test]
    fn every_map_of_the_programs_is_pinned_by_name() {
        let obj = aya_obj::Object::parse(super::super::PROBES).unwrap();
        let mut in_object: Vec<&str> = obj
            .maps
            .keys()
            .map(String::as_str)
            .filter(|n| !n.starts_with('.'))
            .collect();
        let mut pinned = super::MAP_NAMES.to_vec();
        in_object.sort_unstable();
        pinned.sort_unstable();
        assert_eq!(in_object, pinned);
    }
}
