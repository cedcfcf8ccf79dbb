//! Transfer records → `file.transfer` bodies: which way the file went, how
//! many of its bytes, how it ended, and the paths as the client named them.
use ssh_trace_common::event::*;

use crate::{decode::XferRecord, event::*};

const O_ACCMODE: u32 = 0o3;
const O_WRONLY: u32 = 0o1;
const O_RDWR: u32 = 0o2;

fn server(head: &XferHead) -> TransferServer {
    match head.server {
        XFER_INTERNAL_SFTP => TransferServer::InternalSftp,
        XFER_SCP_SINK | XFER_SCP_SOURCE => TransferServer::Scp,
        _ => TransferServer::SftpServer,
    }
}

/// Writing the file is an upload; reading it a download (a file opened
/// for both counts as written once anything was).
fn direction(head: &XferHead) -> TransferAction {
    match head.open_flags & O_ACCMODE {
        O_WRONLY => TransferAction::Upload,
        O_RDWR if head.bytes_written > 0 || head.errno != 0 => TransferAction::Upload,
        _ => TransferAction::Download,
    }
}

fn action(head: &XferHead) -> TransferAction {
    match head.op {
        XFER_OP_RENAME => TransferAction::Rename,
        XFER_OP_UNLINK => TransferAction::Remove,
        XFER_OP_RMDIR => TransferAction::Rmdir,
        XFER_OP_MKDIR => TransferAction::Mkdir,
        XFER_OP_LINK => TransferAction::Link,
        _ => direction(head),
    }
}

fn outcome(head: &XferHead, action: TransferAction, opened: bool) -> TransferOutcome {
    if head.errno != 0 {
        return TransferOutcome::Error;
    }
    match action {
        _ if !opened => TransferOutcome::Complete,
        TransferAction::Download if head.high_pos < head.size => TransferOutcome::Partial,
        TransferAction::Upload if head.flags & XFER_FLAG_AT_EXIT != 0 => TransferOutcome::Partial,
        _ => TransferOutcome::Complete,
    }
}

fn file_type(mode: u32) -> FileType {
    match mode & 0o170000 {
        0o100000 => FileType::File,
        0o040000 => FileType::Directory,
        0o060000 => FileType::BlockDevice,
        0o020000 => FileType::CharDevice,
        _ => FileType::Other,
    }
}

/// `arg` as seen from `dir` (both as the process sees them): absolute
/// arguments as they are, relative ones joined, `.` and `..` resolved by
/// name (the directory itself is the kernel's, symlinks resolved).
pub fn resolve(dir: &str, arg: &str) -> String {
    let mut parts: Vec<&str> = if arg.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for p in arg.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::with_capacity(dir.len() + arg.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

pub fn body(r: XferRecord) -> FileTransfer {
    let h = &r.head;
    let action = action(h);
    // A file's record has its own path; an operation's (and a failed
    // open's) has the directory its arguments are relative to.
    let opened = h.op == XFER_OP_FILE && h.flags & XFER_FLAG_ARGS == 0;
    let at = |arg: &Option<String>| arg.as_deref().map(|a| resolve(&r.walked, a));
    let (path, target) = if opened {
        (r.walked.clone(), None)
    } else {
        (at(&r.arg1).unwrap_or_else(|| r.walked.clone()), at(&r.arg2))
    };
    let bytes = match action {
        TransferAction::Upload => h.bytes_written,
        TransferAction::Download => h.bytes_read,
        _ => 0,
    };
    let known = opened && h.mode != 0;
    let transfer = Transfer {
        server: server(h),
        action,
        path,
        target,
        chroot: r.chroot,
        bytes,
        size: known.then_some(h.size),
        mode: known.then(|| format!("{:04o}", h.mode & 0o7777)),
        file_type: match action {
            _ if known => Some(file_type(h.mode)),
            TransferAction::Mkdir | TransferAction::Rmdir => Some(FileType::Directory),
            _ => None,
        },
        outcome: outcome(h, action, opened),
        errno: (h.errno != 0).then_some(h.errno),
        duration_ms: opened.then(|| h.hdr.ktime_ns.saturating_sub(h.open_ns) / 1_000_000),
        path_truncated: h.flags & (XFER_FLAG_PATH_TRUNCATED | XFER_FLAG_ARG_TRUNCATED) != 0,
        late: h.flags & XFER_FLAG_LATE != 0,
    };
    FileTransfer {
        process: Pid { pid: h.hdr.tgid },
        transfer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_arguments_join_the_directory() {
        assert_eq!(resolve("/home/alice", "x.txt"), "/home/alice/x.txt");
        assert_eq!(resolve("/home/alice", "./d/../x"), "/home/alice/x");
        assert_eq!(resolve("/home/alice", "/etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/", "../../x"), "/x");
        assert_eq!(resolve("/a", ".."), "/");
    }
}
