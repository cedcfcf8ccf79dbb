//! Programs and maps pinned in bpffs, so that they outlive the agent: a
//! restarted agent (kill -9, upgrade, `systemctl restart`) reads what the
//! kernel recorded meanwhile and continues the same sessions.
//!
//! Layout: /sys/fs/bpf/ssh-trace/NAME/maps/MAP and …/links/PROGRAM.
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
    "AUTH_SESSIONS",
    "AUTH_SCRATCH",
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

    /// Whether every map and every program's link is pinned.
    pub fn complete<'a>(&self, programs: impl IntoIterator<Item = &'a str>) -> bool {
        MAP_NAMES.iter().all(|m| self.map(m).exists())
            && programs.into_iter().all(|p| self.link(p).exists())
    }

    /// Creates the directories (0700) on a mounted bpffs.
    pub fn create(&self) -> Result<()> {
        ensure_bpffs()?;
        for d in [self.root.join("maps"), self.root.join("links")] {
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
