//! The file-transfer executables — sftp-server (the `sftp` subsystem, and
//! scp's SFTP-based default) and scp (legacy `scp -t`/`-f`) — recognised,
//! like the SSH servers, by file identity. Paths that do not exist are
//! skipped; docs/servers.md says where each distribution installs them.
use std::{collections::BTreeMap, path::Path};

use ssh_trace_common::maps::{BinaryId, XferBinary, XFER_BIN_SCP, XFER_BIN_SFTP_SERVER};

use super::binary_id;

/// sftp-server: Debian, Ubuntu; Fedora, RHEL; Arch, Alpine; openSUSE;
/// Gentoo; upstream's `--prefix=/usr` and default prefix.
pub const DEFAULT_SFTP_SERVERS: &[&str] = &[
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/ssh/sftp-server",
    "/usr/lib64/misc/sftp-server",
    "/usr/lib/misc/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/local/libexec/sftp-server",
];

/// scp: every distribution's /usr/bin, and source builds'.
pub const DEFAULT_SCP_BINARIES: &[&str] = &["/usr/bin/scp", "/usr/local/bin/scp"];

/// The configured transfer executables that exist, each file once.
#[derive(Default, Debug)]
pub struct TransferBinaries {
    found: Vec<(String, BinaryId, u32)>,
}

impl TransferBinaries {
    pub fn resolve<S: AsRef<str>>(sftp_servers: &[S], scp: &[S]) -> Self {
        let mut t = Self::default();
        for (paths, kind) in [(sftp_servers, XFER_BIN_SFTP_SERVER), (scp, XFER_BIN_SCP)] {
            for p in paths {
                let p = p.as_ref();
                if let Ok(id) = binary_id(Path::new(p)) {
                    if !t.found.iter().any(|(_, f, _)| *f == id) {
                        t.found.push((p.to_owned(), id, kind));
                    }
                }
            }
        }
        t
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.found.iter().map(|(p, _, _)| p.as_str())
    }

    /// The kind of the executable with identity `id`, if it is one of them.
    pub fn kind_of(&self, id: &BinaryId) -> Option<u32> {
        self.found.iter().find(|(_, f, _)| f == id).map(|f| f.2)
    }

    /// Inode number → devices and kinds (the kernel's XFER_INODES map).
    pub fn by_inode(&self) -> impl Iterator<Item = (u64, XferBinary)> {
        let mut out: BTreeMap<u64, XferBinary> = BTreeMap::new();
        for (_, id, kind) in &self.found {
            let bin = out.entry(id.ino).or_default();
            if let Some(i) = bin.devs.iter().position(|d| *d == 0 || *d == id.dev) {
                bin.devs[i] = id.dev;
                bin.kinds[i] = *kind;
            }
        }
        out.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sftp_server_and_scp_keep_their_kinds() {
        let dir = std::env::temp_dir().join(format!("ssh-trace-xfer-bins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (sftp, scp) = (dir.join("sftp-server"), dir.join("scp"));
        std::fs::write(&sftp, b"1").unwrap();
        std::fs::write(&scp, b"2").unwrap();
        let s = |p: &std::path::Path| p.display().to_string();
        let t =
            TransferBinaries::resolve(&[s(&sftp), s(&dir.join("absent"))], &[s(&scp), s(&sftp)]);
        assert_eq!(t.paths().collect::<Vec<_>>(), [s(&sftp), s(&scp)]);
        assert_eq!(
            t.kind_of(&binary_id(&sftp).unwrap()),
            Some(XFER_BIN_SFTP_SERVER)
        );
        assert_eq!(t.kind_of(&binary_id(&scp).unwrap()), Some(XFER_BIN_SCP));
        let kinds: Vec<u32> = t.by_inode().map(|(_, b)| b.kinds[0]).collect();
        assert_eq!(kinds.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
