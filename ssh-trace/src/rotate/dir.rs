//! A directory checked once and then held open: output files are created,
//! reopened, renamed and removed relative to it (openat, renameat,
//! unlinkat), never by path again, so nobody can redirect them afterwards.
//!
//! What is accepted (docs/capture.md, "Files"):
//! - on the way to the directory, a symbolic link is followed only when it
//!   belongs to root (or the agent's own user), and every directory belongs
//!   to root (or the agent's user) and is not writable by every user unless
//!   sticky (like /tmp);
//! - the directory itself the same, and when files rotate in it, writable
//!   by neither group nor others, sticky or not (another user could plant
//!   the next file's name);
//! - a file is created new (O_CREAT|O_EXCL|O_NOFOLLOW, then fchmod 0600
//!   whatever the umask), or, if the name exists, used only when it is a
//!   regular file (not a link), belongs to the agent's user and has one
//!   link; it is then made 0600 too (and emptied for a capture file). A
//!   character device of the agent's user (/dev/null) is written as it is.
use std::{
    collections::VecDeque,
    ffi::{OsStr, OsString},
    fs::File,
    os::{fd::OwnedFd, unix::ffi::OsStringExt},
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use rustix::{
    fs::{self as fs, AtFlags, FileType, Mode, OFlags, Stat, CWD},
    io::Errno,
};

use super::Open;

/// Symbolic links followed on the way, at most (the kernel's own limit).
const MAX_LINKS: u32 = 40;
const STICKY: u32 = 0o1000;

/// What the directory is for: one file, or a rotation set (renames).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    OneFile,
    Rotation,
}

pub struct Dir {
    fd: OwnedFd,
    /// As given, for messages.
    path: PathBuf,
}

fn uid_trusted(uid: u32) -> bool {
    uid == 0 || uid == rustix::process::geteuid().as_raw()
}

/// A directory on the way (or the directory itself) may be used.
fn check_dir(st: &Stat, here: &Path) -> Result<()> {
    let mode = st.st_mode & 0o7777;
    if !uid_trusted(st.st_uid) {
        bail!(
            "{} belongs to uid {}, not root: its owner could replace what is in it",
            here.display(),
            st.st_uid
        );
    }
    if mode & 0o002 != 0 && mode & STICKY == 0 {
        bail!(
            "{} is writable by every user and not sticky (mode {mode:o})",
            here.display()
        );
    }
    Ok(())
}

/// The components still to walk, `..` kept (the kernel's `..` is physical).
fn parts(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_owned()),
        Component::ParentDir => Some("..".into()),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

fn open_path(at: &OwnedFd, name: &OsStr, here: &Path) -> Result<OwnedFd> {
    fs::openat(
        at,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("{}: cannot open", here.display()))
}

/// Walks `path` from `/`, one component at a time, checking every
/// directory and link on the way; returns the directory and its stat.
fn resolve(path: &Path) -> Result<(OwnedFd, Stat)> {
    let abs = std::path::absolute(path).context("the current directory")?;
    let root = || {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        fs::openat(CWD, "/", flags, Mode::empty()).context("/: cannot open")
    };
    let (mut cur, mut walked) = (root()?, PathBuf::from("/"));
    let mut st = fs::fstat(&cur)?;
    check_dir(&st, &walked)?;
    let mut todo: VecDeque<OsString> = parts(&abs).collect();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let here = if name == ".." {
            walked.parent().unwrap_or(&walked).to_path_buf()
        } else {
            walked.join(&name)
        };
        let next = open_path(&cur, &name, &here)?;
        let nst = fs::fstat(&next)?;
        match FileType::from_raw_mode(nst.st_mode) {
            FileType::Directory => {
                check_dir(&nst, &here)?;
                (cur, walked, st) = (next, here, nst);
            }
            FileType::Symlink => {
                if !uid_trusted(nst.st_uid) {
                    bail!(
                        "{} is a symbolic link of uid {}: not followed (only root's are)",
                        here.display(),
                        nst.st_uid
                    );
                }
                links += 1;
                if links > MAX_LINKS {
                    bail!("{}: too many levels of symbolic links", here.display());
                }
                let target = fs::readlinkat(&next, "", Vec::new())
                    .with_context(|| format!("{}: cannot read the link", here.display()))?;
                let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                if target.is_absolute() {
                    (cur, walked) = (root()?, PathBuf::from("/"));
                    st = fs::fstat(&cur)?;
                }
                for (i, p) in parts(&target).enumerate() {
                    todo.insert(i, p);
                }
            }
            _ => bail!("{} is not a directory", here.display()),
        }
    }
    Ok((cur, st))
}

impl Dir {
    /// Opens and checks `path` (see the module's description).
    pub fn open(path: &Path, usage: Use) -> Result<Self> {
        let (fd, st) = resolve(path)?;
        let mode = st.st_mode & 0o7777;
        if usage == Use::Rotation && mode & 0o022 != 0 {
            bail!(
                "{} is writable by other users (mode {mode:o}): files rotate by renames there, and another user could plant the next name; use a directory only root can write",
                path.display()
            );
        }
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates `name` or reopens it as the module says, mode 0600.
    pub fn file(&self, name: &OsStr, open: Open) -> Result<File> {
        let access = match open {
            Open::Truncate => OFlags::WRONLY,
            // Readable too: a rotated file is compressed from this descriptor.
            Open::Append => OFlags::RDWR | OFlags::APPEND,
        };
        let flags = access | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        let new = OFlags::CREATE | OFlags::EXCL;
        match fs::openat(&self.fd, name, flags | new, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => private(fd),
            Err(Errno::EXIST) => self.reopen(name, flags, open),
            Err(e) => Err(e).context("cannot create it"),
        }
    }

    /// An existing name: only a regular file of ours with one link.
    fn reopen(&self, name: &OsStr, flags: OFlags, open: Open) -> Result<File> {
        // NONBLOCK: a planted FIFO must not hang the open.
        let fd = match fs::openat(&self.fd, name, flags | OFlags::NONBLOCK, Mode::empty()) {
            Err(Errno::LOOP) => {
                bail!("it is a symbolic link: refused (a planted link could point at any file)")
            }
            Err(Errno::ISDIR) => bail!("it exists and is not a regular file: refused"),
            r => r.context("it exists and cannot be opened")?,
        };
        let st = fs::fstat(&fd)?;
        let kind = FileType::from_raw_mode(st.st_mode);
        let device = kind == FileType::CharacterDevice;
        if kind != FileType::RegularFile && !device {
            bail!("it exists and is not a regular file: refused");
        }
        if st.st_uid != rustix::process::geteuid().as_raw() {
            bail!(
                "it exists and belongs to uid {}: refused (its owner could read it; remove it or choose another name)",
                st.st_uid
            );
        }
        if device {
            // Only root makes device nodes: one of root's (/dev/null) is
            // written as it is, never made 0600.
            return Ok(File::from(fd));
        }
        if st.st_nlink != 1 {
            bail!(
                "it has {} hard links: refused (writing it would change another file)",
                st.st_nlink
            );
        }
        if open == Open::Truncate {
            fs::ftruncate(&fd, 0).context("emptying it")?;
        }
        private(fd)
    }

    pub fn rename(&self, from: &OsStr, to: &OsStr) -> Result<()> {
        fs::renameat(&self.fd, from, &self.fd, to).with_context(|| {
            format!(
                "renaming {} to {}",
                self.path.join(from).display(),
                self.path.join(to).display()
            )
        })
    }

    /// Renames `from` if it exists.
    pub fn rename_if_there(&self, from: &OsStr, to: &OsStr) -> Result<()> {
        match fs::statat(&self.fd, from, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(()),
            _ => self.rename(from, to),
        }
    }

    /// Removes `name`; one that is not there is fine.
    pub fn remove(&self, name: &OsStr) -> Result<()> {
        match fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => {
                Err(e).with_context(|| format!("removing {}", self.path.join(name).display()))
            }
        }
    }
}

/// Mode 0600 whatever the umask made of it, or of an existing file.
fn private(fd: OwnedFd) -> Result<File> {
    fs::fchmod(&fd, Mode::from_raw_mode(0o600)).context("chmod 600")?;
    Ok(File::from(fd))
}
