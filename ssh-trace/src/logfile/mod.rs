//! Authentication decisions read from OpenSSH's own `-E` log file, with
//! no hook in the kernel: a server that logs to a file only root can
//! write needs no syscall hook (which would cost every system call of the
//! machine while it is attached, docs/benchmarks.md). Its sessions are
//! followed here from their connect; their lines become the same records
//! the kernel hook makes, so the session model parses both alike.
//!
//! A line names no process: it is the session's whose client address and
//! port are the server's anchor in it (session/auth), among the sessions
//! of that file still authenticating, and dropped when it fits none or
//! more than one. Lines are read before any record of such a session is
//! handed on (a decision is written before the login it allows, and
//! before the connection closes), and once a tick.
mod follow;
mod open;

use open::{open_trusted, sshd_args, sshd_log_path};

use std::{
    collections::{HashMap, HashSet},
    os::unix::fs::MetadataExt,
};

use ssh_trace_common::event::{
    AuthHead, ConnectEvent, EventHeader, EventKind, AUTH_DEST_FILE, AUTH_FLAG_TRUNCATED,
    CONNECT_INETD,
};

use crate::{
    decode::{AuthRecord, KernelEvent},
    event::Endpoint,
    host,
    session::{
        auth::{self, Watch},
        endpoint,
    },
};
use follow::Follower;

/// Files followed at once: one per server log is the usual count.
const FILES_MAX: usize = 16;
/// Sessions followed at once (each connection authenticating).
const SESSIONS_MAX: usize = 4096;

type FileId = (u64, u64);

struct Followed {
    follower: Follower,
    /// Unix ns it was opened: it saw every line written since.
    since_ns: u64,
    /// A read failed: its sessions' decisions are not read.
    failed: bool,
}

struct Watched {
    file: FileId,
    client: Endpoint,
    /// The connection's own server process, OpenSSH's monitor, which logs
    /// its decisions: the listener's child, or in inetd mode the server
    /// itself.
    server: u32,
    /// `server` is that process (the listener forked it, or inetd mode).
    forked: bool,
}

#[derive(Default)]
pub struct LogFiles {
    files: HashMap<FileId, Followed>,
    sessions: HashMap<u64, Watched>,
    /// Lines cut in files no longer followed.
    cut_before: u64,
    /// Servers whose log path was said on stderr not to be trusted.
    said_untrusted: HashSet<u32>,
}

impl LogFiles {
    /// Whether `key`'s decisions are read from a file.
    pub fn covers(&self, key: u64) -> bool {
        self.sessions.contains_key(&key)
    }

    /// A connection came in: followed here if its server is root's OpenSSH
    /// logging to a trusted `-E` file. Returns whether it is.
    pub fn connected(&mut self, c: &ConnectEvent) -> bool {
        if c.server_uid != 0 || self.sessions.len() >= SESSIONS_MAX {
            return false;
        }
        let Some(file) = self.file_of(c.listener_tgid) else {
            return false;
        };
        let client = endpoint(c.family, &c.remote_addr, c.remote_port);
        let server = c.listener_tgid;
        let w = Watched {
            file,
            client,
            server,
            forked: c.origin == CONNECT_INETD,
        };
        self.sessions.insert(c.hdr.session, w);
        true
    }

    /// The file `pid` (a root OpenSSH server) logs to, opened if new. The
    /// path is opened at each connect: a rotated log's new file is where
    /// the connection's own server process writes.
    fn file_of(&mut self, pid: u32) -> Option<FileId> {
        use std::os::unix::ffi::OsStrExt;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args = sshd_args(&cmdline)?;
        let path = std::ffi::OsStr::from_bytes(sshd_log_path(&args)?);
        match open_trusted(std::path::Path::new(path)) {
            Ok((file, meta)) => self.follow(file, &meta),
            Err(e) => {
                // Said once per server process (a bounded set).
                if self.said_untrusted.len() < 64 && self.said_untrusted.insert(pid) {
                    eprintln!(
                        "ssh-trace: server {pid}'s -E log is read by the kernel hook instead: {e:#}"
                    );
                }
                None
            }
        }
    }

    /// `file`'s id, followed from its end if it was not yet. At FILES_MAX,
    /// files no session still needs (rotated logs) make room, else None.
    fn follow(&mut self, file: std::fs::File, meta: &std::fs::Metadata) -> Option<FileId> {
        let id = (meta.dev(), meta.ino());
        if self.files.contains_key(&id) {
            return Some(id);
        }
        if self.files.len() >= FILES_MAX {
            let (sessions, cut) = (&self.sessions, &mut self.cut_before);
            self.files.retain(|id, f| {
                let needed = sessions.values().any(|w| w.file == *id);
                if !needed {
                    *cut += f.follower.cut;
                }
                needed
            });
        }
        if self.files.len() >= FILES_MAX {
            return None;
        }
        let f = Followed {
            follower: Follower::at_end(file, meta.len()),
            since_ns: host::now_unix_ns(),
            failed: false,
        };
        self.files.insert(id, f);
        Some(id)
    }

    /// Sees every record before the session model. For a record of a
    /// session read from its file: the file's new lines, as the kernel's
    /// log records, into `out`; true when the record is the kernel hook's
    /// copy of such a line (attached for another session), to be dropped.
    pub fn before_record(&mut self, rec: &KernelEvent, out: &mut Vec<AuthRecord>) -> bool {
        let hdr = rec.header();
        let Some(w) = self.sessions.get_mut(&hdr.session) else {
            return false;
        };
        if matches!(rec, KernelEvent::Auth(_)) {
            return true;
        }
        if let KernelEvent::Fork(f) = rec {
            if !w.forked && f.hdr.tgid == w.server {
                w.server = f.child_tgid;
                w.forked = true;
            }
        }
        let file = w.file;
        self.read(file, hdr.ktime_ns, out);
        false
    }

    /// Every followed file's new lines (once a tick).
    pub fn read_all(&mut self, out: &mut Vec<AuthRecord>) {
        let mut ids: Vec<FileId> = self.sessions.values().map(|w| w.file).collect();
        ids.sort_unstable();
        ids.dedup();
        let now = host::monotonic_ns();
        for id in ids {
            self.read(id, now, out);
        }
    }

    fn read(&mut self, id: FileId, ktime: u64, out: &mut Vec<AuthRecord>) {
        let Some(f) = self.files.get_mut(&id) else {
            return;
        };
        if f.failed {
            return;
        }
        let sessions = &self.sessions;
        let result = f.follower.read_lines(|line| {
            if let Some(rec) = attribute(sessions, id, line.text, line.cut, ktime) {
                out.push(rec);
            }
        });
        if let Err(e) = result {
            eprintln!(
                "ssh-trace: reading a server's log file: {e}: its sessions' decisions are not read"
            );
            f.failed = true;
        }
    }

    /// The session's authentication ended: how its file watched it.
    pub fn finish(&mut self, key: u64) -> Option<Watch> {
        let w = self.sessions.remove(&key)?;
        let f = self.files.get(&w.file)?;
        Some(if f.failed {
            Watch::Gone
        } else {
            Watch::Since(f.since_ns)
        })
    }

    /// Forgets sessions the model no longer has (`known` false).
    pub fn retain(&mut self, known: impl Fn(u64) -> bool) {
        self.sessions.retain(|&k, _| known(k));
    }

    /// Lines cut at the length bound.
    pub fn cut(&self) -> u64 {
        self.cut_before + self.files.values().map(|f| f.follower.cut).sum::<u64>()
    }
}

/// The record of `line` for the one session of file `id` it names.
fn attribute(
    sessions: &HashMap<u64, Watched>,
    id: FileId,
    line: &[u8],
    cut: bool,
    ktime: u64,
) -> Option<AuthRecord> {
    let msg = auth::message(line, false)?;
    let mut found = sessions
        .iter()
        .filter(|(_, w)| w.file == id && auth::parse(msg, &w.client).is_some());
    let (&key, w) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let head = AuthHead {
        hdr: EventHeader {
            kind: EventKind::Auth as u32,
            tgid: w.server,
            ktime_ns: ktime,
            session: key,
        },
        dest: AUTH_DEST_FILE,
        flags: if cut { AUTH_FLAG_TRUNCATED } else { 0 },
        len: line.len() as u32,
        copied: line.len() as u32,
    };
    Some(AuthRecord {
        head,
        text: line.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const FILE: FileId = (1, 2);

    fn watched(ports: &[(u64, u16)]) -> HashMap<u64, Watched> {
        ports
            .iter()
            .map(|&(key, port)| {
                let w = Watched {
                    file: FILE,
                    client: Endpoint::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
                    server: 7,
                    forked: false,
                };
                (key, w)
            })
            .collect()
    }

    fn owner(sessions: &HashMap<u64, Watched>, line: &str) -> Option<u64> {
        attribute(sessions, FILE, line.as_bytes(), false, 0).map(|r| r.head.hdr.session)
    }

    #[test]
    fn a_line_goes_to_the_session_whose_endpoint_the_server_wrote() {
        let s = watched(&[(1, 40000), (2, 40001)]);
        let line = "Failed password for alice from 127.0.0.1 port 40001 ssh2\r";
        assert_eq!(owner(&s, line), Some(2));
        let line = "Accepted publickey for alice from 127.0.0.1 port 40000 ssh2: ED25519 SHA256:TXN2akJhBLOWfJzlzGBM618PesfFy8r9pvFPZmefsmg";
        assert_eq!(owner(&s, line), Some(1));
        assert_eq!(owner(&s, "Server listening on 0.0.0.0 port 22."), None);
        // Another file's sessions are not candidates.
        assert_eq!(attribute(&s, (9, 9), line.as_bytes(), false, 0), None);
    }

    #[test]
    fn a_user_name_naming_another_session_stays_with_its_own() {
        let s = watched(&[(1, 40000), (2, 40001)]);
        for line in [
            "Invalid user x from 127.0.0.1 port 40001 from 127.0.0.1 port 40000",
            "Failed password for invalid user x from 127.0.0.1 port 40001 ssh2 from 127.0.0.1 port 40000 ssh2",
            "Failed none for invalid user root from 127.0.0.1 port 40001 ssh2 from 127.0.0.1 port 40000 ssh2",
        ] {
            assert_eq!(owner(&s, line), Some(1), "{line}");
        }
    }

    #[test]
    fn a_line_is_attributed_with_the_connections_own_server_process() {
        let s = watched(&[(1, 40000)]);
        let line = "Failed password for alice from 127.0.0.1 port 40000 ssh2";
        let rec = attribute(&s, FILE, line.as_bytes(), true, 5).unwrap();
        assert_eq!(rec.head.hdr.tgid, 7);
        assert_eq!(rec.head.hdr.ktime_ns, 5);
        assert_eq!(rec.head.dest, AUTH_DEST_FILE);
        assert_eq!(rec.head.flags, AUTH_FLAG_TRUNCATED);
        assert_eq!(rec.text, line.as_bytes());
    }

    #[test]
    fn rotated_files_no_session_needs_make_room_for_new_ones() {
        let dir = std::env::temp_dir().join(format!("logfiles-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open = |i: usize| {
            let p = dir.join(format!("log.{i}"));
            std::fs::write(&p, b"").unwrap();
            let f = std::fs::File::open(&p).unwrap();
            let meta = f.metadata().unwrap();
            (f, meta)
        };
        let follow = |logs: &mut LogFiles, i: usize| {
            let (f, meta) = open(i);
            logs.follow(f, &meta)
        };
        let mut logs = LogFiles::default();
        let first = follow(&mut logs, 0).unwrap();
        logs.sessions = watched(&[(1, 40000)]);
        logs.sessions.get_mut(&1).unwrap().file = first;
        for i in 1..FILES_MAX {
            assert!(follow(&mut logs, i).is_some(), "{i}");
        }
        // Full: the files of no session go, the session's stays.
        assert!(follow(&mut logs, FILES_MAX).is_some());
        assert_eq!(logs.files.len(), 2);
        assert!(logs.files.contains_key(&first));
        // Every slot needed: refused (the hook reads that server).
        for i in 0..FILES_MAX {
            let id = follow(&mut logs, 100 + i);
            if let Some(id) = id {
                logs.sessions.insert(
                    200 + i as u64,
                    Watched {
                        file: id,
                        ..watched(&[(0, 1)]).remove(&0).unwrap()
                    },
                );
            }
        }
        assert_eq!(logs.files.len(), FILES_MAX);
        assert!(follow(&mut logs, 999).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
