//! SSH server executables, recognised by file identity (device + inode),
//! never by process name: a user's program named "sshd" is not a server.
use std::{os::unix::fs::MetadataExt, path::Path};

use std::collections::BTreeMap;

use ssh_trace_common::maps::{BinaryId, ServerDevs};

pub const DEFAULT_SERVER_BINARIES: &[&str] = &[
    "/usr/sbin/sshd",
    "/usr/lib/openssh/sshd-session",
    "/usr/lib/openssh/sshd-auth",
    "/usr/libexec/openssh/sshd-session",
    "/usr/libexec/openssh/sshd-auth",
    "/usr/sbin/dropbear",
];

/// Identity of a file as the kernel sees it (`super_block.s_dev`, `i_ino`).
pub fn binary_id(path: &Path) -> std::io::Result<BinaryId> {
    let m = std::fs::metadata(path)?;
    let dev = m.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    Ok(BinaryId {
        dev: (major << 20) | minor,
        _pad: 0,
        ino: m.ino(),
    })
}

/// The configured server binaries that exist on this machine.
#[derive(Default, Debug)]
pub struct ServerBinaries {
    found: Vec<(String, BinaryId)>,
}

impl ServerBinaries {
    pub fn resolve<S: AsRef<str>>(paths: &[S]) -> Self {
        let found = paths
            .iter()
            .filter_map(|p| {
                let p = p.as_ref();
                binary_id(Path::new(p)).ok().map(|id| (p.to_owned(), id))
            })
            .collect();
        Self { found }
    }

    pub fn ids(&self) -> impl Iterator<Item = BinaryId> + '_ {
        self.found.iter().map(|(_, id)| *id)
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.found.iter().map(|(p, _)| p.as_str())
    }

    /// Inode number → the devices it is a server binary on (the kernel's
    /// SERVER_INODES map: the inode is checked first, the device on a hit).
    pub fn by_inode(&self) -> impl Iterator<Item = (u64, ServerDevs)> {
        let mut out: BTreeMap<u64, ServerDevs> = BTreeMap::new();
        for (_, id) in &self.found {
            let devs = &mut out.entry(id.ino).or_default().devs;
            if let Some(slot) = devs.iter_mut().find(|d| **d == 0 || **d == id.dev) {
                *slot = id.dev;
            }
        }
        out.into_iter()
    }

    pub fn contains(&self, id: &BinaryId) -> bool {
        self.found.iter().any(|(_, f)| f == id)
    }
}
