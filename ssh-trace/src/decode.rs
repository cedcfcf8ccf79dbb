//! Ring buffer records → typed kernel events. Every length is checked: a
//! short or unknown record is an error, never a panic.
use anyhow::{bail, Context, Result};
use ssh_trace_common::event::*;

use crate::{event::Args, text::escape_bytes};

/// A decoded kernel record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    Connect(ConnectEvent),
    Fork(ForkEvent),
    Exec(Exec),
    Exit(ExitEvent),
    Cred(CredEvent),
    Bytes(BytesEvent),
    Transfer(Box<XferRecord>),
    /// Boxed: rare, and larger than the other records.
    Forward(Box<ForwardEvent>),
    Tty(Tty),
    Auth(AuthRecord),
}

/// A terminal record and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tty {
    pub head: TtyEvent,
    pub data: Vec<u8>,
}

/// A transfer record with its paths assembled and escaped: the walk's
/// names (leaf first) as the path the process sees and its chroot, and
/// the path arguments of an operation or a failed open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XferRecord {
    pub head: XferHead,
    /// The file's path, or for XFER_FLAG_ARGS records the directory the
    /// arguments are relative to, as the process sees it ("/" for its root).
    pub walked: String,
    /// The process's root directory when it is not the filesystem's.
    pub chroot: Option<String>,
    pub arg1: Option<String>,
    pub arg2: Option<String>,
}

/// A server process's log message as it wrote it (parsed by the session
/// model, which knows the session's real endpoints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRecord {
    pub head: AuthHead,
    pub text: Vec<u8>,
}

/// An exec record with its strings already escaped (text.rs), once: the
/// session model moves them into the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    pub head: ExecHead,
    pub executable: String,
    pub args: Args,
}

impl KernelEvent {
    pub fn header(&self) -> &EventHeader {
        match self {
            Self::Connect(e) => &e.hdr,
            Self::Fork(e) => &e.hdr,
            Self::Exec(e) => &e.head.hdr,
            Self::Exit(e) => &e.hdr,
            Self::Cred(e) => &e.hdr,
            Self::Bytes(e) => &e.hdr,
            Self::Transfer(t) => &t.head.hdr,
            Self::Forward(e) => &e.hdr,
            Self::Tty(e) => &e.head.hdr,
            Self::Auth(e) => &e.head.hdr,
        }
    }

    /// Session milestones (the connection starts, uids change, it ends,
    /// a file is transferred): kept before process-tree records when the
    /// agent falls behind.
    pub fn is_milestone(&self) -> bool {
        match self {
            Self::Connect(_)
            | Self::Cred(_)
            | Self::Bytes(_)
            | Self::Forward(_)
            | Self::Auth(_)
            | Self::Transfer(_) => true,
            Self::Fork(_) | Self::Exec(_) | Self::Exit(_) | Self::Tty(_) => false,
        }
    }
}

/// Copies a `#[repr(C)]` record out of `buf` (which may be unaligned).
fn read<T: Copy>(buf: &[u8]) -> Result<T> {
    let need = std::mem::size_of::<T>();
    if buf.len() < need {
        bail!(
            "record of {} bytes is shorter than its {need}-byte type",
            buf.len()
        );
    }
    // SAFETY: length checked; T is a plain-old-data record of integers.
    Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr() as *const T) })
}

pub fn decode(buf: &[u8]) -> Result<KernelEvent> {
    let hdr: EventHeader = read(buf)?;
    let Some(kind) = EventKind::from_u32(hdr.kind) else {
        bail!("unknown record kind {}", hdr.kind);
    };
    Ok(match kind {
        EventKind::Connect => KernelEvent::Connect(read(buf)?),
        EventKind::Fork => KernelEvent::Fork(read(buf)?),
        EventKind::Exit => KernelEvent::Exit(read(buf)?),
        EventKind::CredChange => KernelEvent::Cred(read(buf)?),
        EventKind::Bytes => KernelEvent::Bytes(read(buf)?),
        EventKind::Forward => KernelEvent::Forward(Box::new(read(buf)?)),
        EventKind::Exec => KernelEvent::Exec(decode_exec(buf)?),
        EventKind::Tty => KernelEvent::Tty(decode_tty(buf)?),
        EventKind::Transfer => KernelEvent::Transfer(Box::new(decode_transfer(buf)?)),
        EventKind::Auth => KernelEvent::Auth(decode_auth(buf)?),
    })
}

fn decode_tty(buf: &[u8]) -> Result<Tty> {
    let head: TtyEvent = read(buf)?;
    let body = &buf[std::mem::size_of::<TtyEvent>()..];
    let len = head.len as usize;
    if len > TTY_CHUNK || body.len() < len {
        bail!(
            "terminal record length {len} out of range (body {})",
            body.len()
        );
    }
    Ok(Tty {
        head,
        data: body[..len].to_vec(),
    })
}

fn decode_auth(buf: &[u8]) -> Result<AuthRecord> {
    let head: AuthHead = read(buf)?;
    let body = &buf[std::mem::size_of::<AuthHead>()..];
    let n = head.copied as usize;
    if n > AUTH_TEXT_MAX || n > head.len as usize || body.len() < n {
        bail!(
            "log record lengths out of range (copied {n}, written {}, body {})",
            head.len,
            body.len()
        );
    }
    Ok(AuthRecord {
        head,
        text: body[..n].to_vec(),
    })
}

fn decode_transfer(buf: &[u8]) -> Result<XferRecord> {
    let head: XferHead = read(buf)?;
    let body = &buf[std::mem::size_of::<XferHead>()..];
    let (plen, a1, a2) = (
        head.path_len as usize,
        head.arg1_len as usize,
        head.arg2_len as usize,
    );
    let args = head.flags & XFER_FLAG_ARGS != 0;
    // The arguments are bounds-checked where they are read.
    let fits = plen <= XFER_PATH_AREA && a1 <= XFER_ARG_BYTES && a2 <= XFER_ARG_BYTES;
    if !fits || body.len() < plen {
        bail!(
            "transfer record lengths out of range (path {plen}, args {a1}/{a2}, body {})",
            body.len()
        );
    }
    let (walked, chroot) = assemble(&body[..plen], head.root_at);
    let arg = |at: usize, len: usize| -> Result<Option<String>> {
        if !args || len == 0 {
            return Ok(None);
        }
        let raw = body
            .get(at..at + len)
            .with_context(|| format!("transfer record ends before its argument at {at}"))?;
        Ok(Some(escape_bytes(raw)))
    };
    Ok(XferRecord {
        head,
        walked,
        arg1: arg(XFER_PATH_AREA, a1)?,
        arg2: arg(XFER_PATH_AREA + XFER_ARG_BYTES, a2)?,
        chroot,
    })
}

/// Names leaf first, each NUL-terminated → the path below the process's
/// root (`root_at` names) and the root's own path when it is not "/".
fn assemble(raw: &[u8], root_at: u32) -> (String, Option<String>) {
    let names: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(escape_bytes)
        .collect();
    let cut = if root_at == XFER_NO_ROOT {
        names.len()
    } else {
        (root_at as usize).min(names.len())
    };
    let join = |part: &[String]| {
        let mut p = String::new();
        for n in part.iter().rev() {
            p.push('/');
            p.push_str(n);
        }
        if p.is_empty() {
            p.push('/');
        }
        p
    };
    let chroot = (cut < names.len()).then(|| join(&names[cut..]));
    (join(&names[..cut]), chroot)
}

fn decode_exec(buf: &[u8]) -> Result<Exec> {
    let head: ExecHead = read(buf)?;
    let body = &buf[std::mem::size_of::<ExecHead>()..];
    let (flen, alen) = (head.filename_len as usize, head.args_len as usize);
    if flen > EXEC_FILENAME_MAX || alen > EXEC_ARGS_MAX || body.len() < EXEC_FILENAME_MAX + alen {
        bail!(
            "exec record lengths out of range (filename {flen}, args {alen}, body {})",
            body.len()
        );
    }
    let filename = &body[..flen];
    // bpf_probe_read_kernel_str counts the NUL.
    let filename = filename.strip_suffix(&[0]).unwrap_or(filename);
    Ok(Exec {
        head,
        executable: executable(&head, filename),
        args: split_args(&body[EXEC_FILENAME_MAX..EXEC_FILENAME_MAX + alen]),
    })
}

/// The executable as /proc/PID/exe would name it: a memfd by its name
/// ("memfd:NAME"), a program with no link left as "PATH (deleted)". Run
/// through a descriptor (/dev/fd/N, /proc/self/fd/N) the path says nothing
/// true on its own, so the file's own name stands in for it.
fn executable(head: &ExecHead, filename: &[u8]) -> String {
    let dentry = || {
        let d = &head.dentry;
        escape_bytes(&d[..d.iter().position(|&b| b == 0).unwrap_or(d.len())])
    };
    if head.flags & EXEC_FLAG_MEMFD != 0 {
        return dentry();
    }
    if head.flags & EXEC_FLAG_UNLINKED == 0 {
        return escape_bytes(filename);
    }
    let through_fd = filename.is_empty()
        || filename.starts_with(b"/dev/fd/")
        || (filename.starts_with(b"/proc/") && filename.windows(4).any(|w| w == b"/fd/"));
    let path = if through_fd {
        dentry()
    } else {
        escape_bytes(filename)
    };
    format!("{path} (deleted)")
}

/// argv area: NUL-terminated strings back to back. Escaping keeps every NUL
/// and escapes byte by byte, so the whole area is escaped in one go.
pub fn split_args(raw: &[u8]) -> Args {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Args::default();
    }
    let count = raw.iter().filter(|&&b| b == 0).count() as u32 + 1;
    Args::from_joined(escape_bytes(raw), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T>(v: &T) -> Vec<u8> {
        // SAFETY: test records are plain integers with no padding.
        unsafe {
            std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>())
                .to_vec()
        }
    }

    #[test]
    fn decodes_exec_with_args() {
        let head = ExecHead {
            hdr: EventHeader {
                kind: EventKind::Exec as u32,
                tgid: 7,
                ktime_ns: 5,
                session: 9,
            },
            ppid: 6,
            flags: 0,
            creds: Creds::default(),
            filename_len: 8,
            args_len: 9,
            ..Default::default()
        };
        let mut buf = bytes_of(&head);
        let mut name = b"/bin/ls\0".to_vec();
        name.resize(EXEC_FILENAME_MAX, 0);
        buf.extend(name);
        buf.extend(b"ls\0-l\0/\xff\0");
        let KernelEvent::Exec(e) = decode(&buf).unwrap() else {
            panic!()
        };
        assert_eq!(e.executable, "/bin/ls");
        assert_eq!(e.args, Args::from_parts(["ls", "-l", "/\\xff"]));
        assert_eq!(e.head.ppid, 6);
    }

    #[test]
    fn fileless_programs_are_named_as_proc_exe_names_them() {
        let named = |flags: u32, filename: &[u8], dentry: &[u8]| {
            let mut head = ExecHead {
                flags,
                ..Default::default()
            };
            head.dentry[..dentry.len()].copy_from_slice(dentry);
            executable(&head, filename)
        };
        let (gone, memfd) = (EXEC_FLAG_UNLINKED, EXEC_FLAG_UNLINKED | EXEC_FLAG_MEMFD);
        assert_eq!(named(memfd, b"/dev/fd/3", b"memfd:x"), "memfd:x");
        assert_eq!(named(gone, b"/tmp/a", b"a"), "/tmp/a (deleted)");
        assert_eq!(named(gone, b"/proc/self/fd/3", b"st.1"), "st.1 (deleted)");
        assert_eq!(named(gone, b"/dev/fd/4", b"st.1"), "st.1 (deleted)");
        // Bytes that are not UTF-8 are escaped (control characters are
        // escaped by the terminal output, not here).
        assert_eq!(named(gone, b"", b"a\xffb"), "a\\xffb (deleted)");
        assert_eq!(named(0, b"/proc/self/fd/3", b"st.1"), "/proc/self/fd/3");
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        assert!(decode(&[1, 0, 0]).is_err());
        let hdr = EventHeader {
            kind: 99,
            ..Default::default()
        };
        assert!(decode(&bytes_of(&hdr))
            .unwrap_err()
            .to_string()
            .contains("unknown record kind 99"));
        let hdr = EventHeader {
            kind: EventKind::Connect as u32,
            ..Default::default()
        };
        assert!(decode(&bytes_of(&hdr)).is_err());
    }

    #[test]
    fn rejects_exec_lengths_out_of_range() {
        let head = ExecHead {
            hdr: EventHeader {
                kind: EventKind::Exec as u32,
                ..Default::default()
            },
            args_len: 100_000,
            ..Default::default()
        };
        let mut buf = bytes_of(&head);
        buf.resize(buf.len() + EXEC_FILENAME_MAX + 10, 0);
        assert!(decode(&buf).is_err());
    }

    #[test]
    fn transfer_paths_are_assembled_and_lengths_checked() {
        assert_eq!(
            assemble(b"x\0upload\0alice\0srv\0", 2),
            ("/upload/x".into(), Some("/srv/alice".into()))
        );
        assert_eq!(assemble(b"x\0tmp\0", XFER_NO_ROOT), ("/tmp/x".into(), None));
        assert_eq!(assemble(b"alice\0", 0), ("/".into(), Some("/alice".into())));
        assert_eq!(assemble(b"", 0), ("/".into(), None));
        let head = XferHead {
            hdr: EventHeader {
                kind: EventKind::Transfer as u32,
                ..Default::default()
            },
            path_len: 10,
            ..Default::default()
        };
        let mut buf = bytes_of(&head);
        buf.extend(b"abc\0");
        assert!(decode(&buf).is_err(), "path longer than the record");
        let head = XferHead {
            flags: XFER_FLAG_ARGS,
            arg1_len: 5,
            path_len: 0,
            ..head
        };
        let mut buf = bytes_of(&head);
        buf.resize(buf.len() + XFER_PATH_AREA + 2, 0);
        assert!(decode(&buf).is_err(), "argument past the end");
    }

    #[test]
    fn decodes_forward_records() {
        let f = ForwardEvent {
            hdr: EventHeader {
                kind: EventKind::Forward as u32,
                tgid: 700,
                ktime_ns: 3,
                session: 9,
            },
            phase: FWD_CLOSE,
            bytes_in: 5,
            path_len: 3,
            ..Default::default()
        };
        let KernelEvent::Forward(got) = decode(&bytes_of(&f)).unwrap() else {
            panic!()
        };
        assert_eq!(*got, f);
        assert!(decode(&bytes_of(&f)[..100]).is_err(), "short");
    }

    #[test]
    fn decodes_log_records_and_refuses_bad_lengths() {
        let head = AuthHead {
            hdr: EventHeader {
                kind: EventKind::Auth as u32,
                tgid: 600,
                ..Default::default()
            },
            dest: AUTH_DEST_FILE,
            flags: 0,
            len: 6,
            copied: 6,
        };
        let mut buf = bytes_of(&head);
        buf.extend(b"Failed");
        let KernelEvent::Auth(a) = decode(&buf).unwrap() else {
            panic!()
        };
        assert_eq!((a.head.hdr.tgid, a.text.as_slice()), (600, &b"Failed"[..]));
        // More copied than written, or than follows: an error, not a panic.
        for (len, copied) in [(5, 6), (100, 7)] {
            let bad = AuthHead {
                len,
                copied,
                ..head
            };
            let mut buf = bytes_of(&bad);
            buf.extend(b"Failed");
            assert!(decode(&buf).is_err(), "{len} {copied}");
        }
    }

    #[test]
    fn splits_args() {
        assert_eq!(split_args(b""), Args::default());
        assert_eq!(split_args(b"a\0\0b\0"), Args::from_parts(["a", "", "b"]));
        assert_eq!(split_args(b"\0"), Args::default());
        assert_eq!(split_args(b"\0\0"), Args::from_parts(["", ""]));
    }
}
