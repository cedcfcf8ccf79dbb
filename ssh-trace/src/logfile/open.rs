//! Which file a server logs to, and opening it so that no user can have
//! put another file in its place. Only OpenSSH's `-E FILE` is followed:
//! the server opens that path itself, so the agent (which holds no
//! capability and cannot look at a root server's descriptors) opens the
//! same path, and trusts it only when no user could have changed what it
//! names: absolute, no symbolic link anywhere on it, every directory
//! root's and writable by root alone (or sticky, like /tmp, where nobody
//! can replace root's entries), and the file root's, regular, writable by
//! root alone. Anything else is read by the kernel hook, as before.
use std::{
    fs::{File, Metadata},
    os::unix::fs::MetadataExt,
    path::{Component, Path},
};

use anyhow::{bail, Context, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};

/// sshd's options that take a value (getopt "C:E:b:c:f:g:h:k:o:p:u:", 9.2
/// and 10 alike).
const SSHD_VALUED: &[u8] = b"CEbcfghkopu";

/// The arguments of an OpenSSH server from /proc/PID/cmdline: NUL-separated
/// as exec'd, or a listener's title, which sshd sets to its arguments
/// joined by spaces ("sshd: /usr/sbin/sshd -D -E /var/log/s [listener] 0
/// of 10-100 startups"). None when it is not OpenSSH's sshd.
pub fn sshd_args(cmdline: &[u8]) -> Option<Vec<&[u8]>> {
    let args: Vec<&[u8]> = match cmdline.strip_prefix(b"sshd: ") {
        Some(title) => {
            let title = title.split(|&b| b == 0).next()?;
            let end = title.windows(11).position(|w| w == b" [listener]")?;
            title[..end].split(|&b| b == b' ').collect()
        }
        None => cmdline
            .strip_suffix(b"\0")
            .unwrap_or(cmdline)
            .split(|&b| b == 0)
            .collect(),
    };
    let name = args.first()?.rsplit(|&b| b == b'/').next()?;
    name.starts_with(b"sshd").then_some(args)
}

/// The `-E` value of sshd's arguments (argv[0] first), the last one as
/// getopt leaves it. None without one, or with an argument that is not an
/// option (sshd takes none: a title's path with a space in it).
pub fn sshd_log_path<'a>(args: &[&'a [u8]]) -> Option<&'a [u8]> {
    let mut rest = args.iter().skip(1);
    let mut path = None;
    while let Some(&arg) = rest.next() {
        if arg == b"--" {
            break;
        }
        let flags = arg.strip_prefix(b"-").filter(|f| !f.is_empty())?;
        for (i, c) in flags.iter().enumerate() {
            if SSHD_VALUED.contains(c) {
                let tail = &flags[i + 1..];
                let value = if tail.is_empty() { *rest.next()? } else { tail };
                if *c == b'E' {
                    path = Some(value);
                }
                break;
            }
        }
    }
    path.filter(|p| !p.is_empty())
}

/// Opens `path` for reading if no user can have chosen what it names,
/// with the metadata it was checked by.
pub fn open_trusted(path: &Path) -> Result<(File, Metadata)> {
    if !path.is_absolute() {
        bail!("{} is not an absolute path", path.display());
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("{} has a .. component", path.display());
    }
    let fd = rustix::fs::openat2(
        CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        // Implies RESOLVE_NO_MAGICLINKS.
        ResolveFlags::NO_SYMLINKS,
    )
    .with_context(|| format!("opening {} without following links", path.display()))?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        bail!(
            "{} is not a regular file only root can write (uid {}, mode {:o})",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        );
    }
    // Resolved without links: each ancestor is a directory as named.
    for dir in path.ancestors().skip(1) {
        let m = std::fs::symlink_metadata(dir)?;
        let sticky = m.mode() & 0o1000 != 0;
        if m.uid() != 0 || (m.mode() & 0o022 != 0 && !sticky) {
            bail!(
                "{} can be changed by a user other than root (uid {}, mode {:o})",
                dir.display(),
                m.uid(),
                m.mode() & 0o7777
            );
        }
    }
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fresh directory of this test's (root's 0755 under /tmp when root).
    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("logfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    /// Why `path` is not trusted.
    fn refusal(path: &Path) -> String {
        format!("{:#}", open_trusted(path).unwrap_err())
    }

    /// `dir`/log with `mode`.
    fn log_in(dir: &Path, mode: u32) -> std::path::PathBuf {
        let file = dir.join("log");
        std::fs::write(&file, b"x\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    fn cmdline(args: &[&str]) -> Vec<u8> {
        args.iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect()
    }

    fn log_path(cmdline: &[u8]) -> Option<String> {
        let args = sshd_args(cmdline)?;
        sshd_log_path(&args).map(|p| String::from_utf8(p.to_vec()).unwrap())
    }

    #[test]
    fn the_log_path_is_the_value_of_sshds_last_e_option() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (
                &["sshd", "-D", "-f", "/c", "-E", "/var/log/s"],
                Some("/var/log/s"),
            ),
            (&["/usr/sbin/sshd", "-DE/l"], Some("/l")),
            (&["sshd", "-E", "/a", "-E", "/b"], Some("/b")),
            (&["sshd", "-D"], None),
            (&["sshd", "-e"], None),
            // -f's value is not an option.
            (&["sshd", "-f", "-E", "-D"], None),
            (&["sshd", "-E"], None),
            (
                &["/usr/sbin/sshd", "-i", "-f", "/c", "-E", "/l"],
                Some("/l"),
            ),
            // Not sshd's.
            (&["/usr/sbin/dropbear", "-F", "-E", "/l"], None),
        ];
        for (args, want) in cases {
            let got = log_path(&cmdline(args));
            assert_eq!(got.as_deref(), *want, "{args:?}");
        }
    }

    #[test]
    fn a_listeners_title_gives_its_arguments() {
        let title = b"sshd: /usr/sbin/sshd -D -f /c -E /var/log/s -o Port=2 [listener] 0 of 10-100 startups\0";
        assert_eq!(log_path(title).as_deref(), Some("/var/log/s"));
        // A path with a space cannot be told from two arguments: not read.
        let spaced = b"sshd: /usr/sbin/sshd -D -E /var/log/my log [listener] 0 of 10-100 startups";
        assert_eq!(log_path(spaced), None);
        // Another process's title.
        assert_eq!(log_path(b"sshd: alice@pts/0\0"), None);
    }

    #[test]
    fn a_root_only_file_under_root_only_directories_is_trusted() {
        let dir = scratch("trusted");
        let file = log_in(&dir, 0o600);
        if rustix::process::geteuid().is_root() {
            assert!(open_trusted(&file).is_ok());
        }
        assert!(open_trusted(Path::new("relative/log")).is_err());
        assert!(open_trusted(&dir.join("sub/../log")).is_err());
    }

    #[test]
    fn a_log_path_through_a_symlink_is_not_trusted() {
        let dir = scratch("symlink");
        let file = log_in(&dir, 0o600);
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let why = refusal(&link);
        assert!(why.contains("without following links"), "{why}");
    }

    #[test]
    fn a_log_file_others_can_write_is_not_trusted() {
        let dir = scratch("others");
        let file = log_in(&dir, 0o622);
        let why = refusal(&file);
        assert!(why.contains("only root can write"), "{why}");
    }

    #[test]
    fn a_log_file_in_a_directory_others_can_write_is_not_trusted() {
        let dir = scratch("dir");
        let sub = dir.join("open");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        let file = log_in(&sub, 0o600);
        let text = refusal(&file);
        assert!(
            text.contains("can be changed by a user") || text.contains("only root can write"),
            "{text}"
        );
    }
}
