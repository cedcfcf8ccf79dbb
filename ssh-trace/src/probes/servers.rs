//! SSH server executables, recognised by file identity (device + inode),
//! never by process name: a user's program named "sshd" is not a server.
use std::{os::unix::fs::MetadataExt, path::Path};

use std::collections::BTreeMap;

use ssh_trace_common::maps::{BinaryId, ServerDevs};

/// Where distributions install the OpenSSH listener, its per-connection
/// helpers (OpenSSH ≥ 9.8 `sshd-session`, ≥ 10.0 `sshd-auth`) and dropbear;
/// docs/servers.md cites each. Paths that do not exist are skipped.
pub const DEFAULT_SERVER_BINARIES: &[&str] = &[
    // Listeners: Debian, Ubuntu, Fedora, RHEL, SUSE, Alpine, Gentoo; Arch
    // installs to /usr/bin (its /usr/sbin is a link to it).
    "/usr/sbin/sshd",
    "/usr/bin/sshd",
    // Debian, Ubuntu.
    "/usr/lib/openssh/sshd-session",
    "/usr/lib/openssh/sshd-auth",
    // Fedora, RHEL and their rebuilds.
    "/usr/libexec/openssh/sshd-session",
    "/usr/libexec/openssh/sshd-auth",
    // Arch, Alpine.
    "/usr/lib/ssh/sshd-session",
    "/usr/lib/ssh/sshd-auth",
    // Alpine's openssh-server-pam flavour.
    "/usr/sbin/sshd.pam",
    "/usr/lib/ssh/sshd-session.pam",
    "/usr/lib/ssh/sshd-auth.pam",
    // openSUSE, SLES.
    "/usr/libexec/ssh/sshd-session",
    "/usr/libexec/ssh/sshd-auth",
    // Gentoo.
    "/usr/lib64/misc/sshd-session",
    "/usr/lib64/misc/sshd-auth",
    "/usr/lib/misc/sshd-session",
    "/usr/lib/misc/sshd-auth",
    // Upstream's layout with --prefix=/usr (buildroot, LFS).
    "/usr/libexec/sshd-session",
    "/usr/libexec/sshd-auth",
    // Upstream's default prefix: builds from source.
    "/usr/local/sbin/sshd",
    "/usr/local/libexec/sshd-session",
    "/usr/local/libexec/sshd-auth",
    // dropbear: Debian, Fedora, Alpine; Arch.
    "/usr/sbin/dropbear",
    "/usr/bin/dropbear",
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
    /// The paths that exist, each file once: where two paths name the same
    /// file (Arch's /usr/sbin links to /usr/bin), the first is kept.
    pub fn resolve<S: AsRef<str>>(paths: &[S]) -> Self {
        let mut found: Vec<(String, BinaryId)> = Vec::new();
        for p in paths {
            let p = p.as_ref();
            if let Ok(id) = binary_id(Path::new(p)) {
                if !found.iter().any(|(_, f)| *f == id) {
                    found.push((p.to_owned(), id));
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_named_twice_is_one_server_binary() {
        let dir = std::env::temp_dir().join(format!("ssh-trace-servers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (file, link) = (dir.join("sshd"), dir.join("sshd-link"));
        std::fs::write(&file, b"").unwrap();
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let paths = [
            file.display().to_string(),
            dir.join("absent").display().to_string(),
            link.display().to_string(),
        ];
        let found = ServerBinaries::resolve(&paths);
        assert_eq!(found.paths().collect::<Vec<_>>(), [paths[0].as_str()]);
        assert_eq!(found.ids().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn default_list_has_no_duplicates() {
        let mut sorted = DEFAULT_SERVER_BINARIES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), DEFAULT_SERVER_BINARIES.len());
    }
}
