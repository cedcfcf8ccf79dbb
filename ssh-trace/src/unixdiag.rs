//! When unix-socket forwards end. The kernel programs see them start
//! (connect, accept, listen of a session's server) but no tracepoint fires
//! when a unix socket goes away, so once a second the agent asks sock_diag
//! (UNIX_DIAG, one exact lookup by inode per open forward, sent together)
//! and makes the close record of each one gone. Sockets of servers in
//! another network namespace cannot be looked up from ours: they end with
//! their process (session/forward.rs).
use std::{collections::HashMap, os::unix::fs::MetadataExt};

use netlink_packet_core::NetlinkPayload;
use netlink_packet_sock_diag::{
    unix::{ShowFlags, StateFlags, UnixRequest},
    SockDiagMessage,
};
use ssh_trace_common::event::{ForwardEvent, AF_UNIX, FWD_CLOSE, FWD_LISTEN, FWD_OPEN};

use crate::{
    decode::KernelEvent,
    sockdiag::{gone_if_enoent, DiagSocket},
};

/// Cookie meaning "whichever socket has this inode".
const NO_COOKIE: [u8; 8] = [0xff; 8];

pub struct Poller {
    pub diag: DiagSocket,
    /// Open unix-socket forwards by socket inode: the record that opened it.
    open: HashMap<u32, ForwardEvent>,
    /// Inode of the agent's network namespace (0: unknown, look up all).
    netns: u32,
}

impl Default for Poller {
    fn default() -> Self {
        let netns = std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino() as u32);
        Self {
            diag: DiagSocket::default(),
            open: HashMap::new(),
            netns,
        }
    }
}

impl Poller {
    /// Follows the kernel records: a unix forward's start adds it; the exit
    /// of its process ends it (the session model reports that end).
    pub fn observe(&mut self, ev: &KernelEvent) {
        match ev {
            KernelEvent::Forward(f) if self.follows(f) => {
                self.open.insert(f.ino as u32, **f);
            }
            KernelEvent::Exit(x) => self.open.retain(|_, f| f.hdr.tgid != x.hdr.tgid),
            _ => {}
        }
    }

    fn follows(&self, f: &ForwardEvent) -> bool {
        let start = f.phase == FWD_OPEN || f.phase == FWD_LISTEN;
        let here = self.netns == 0 || f.netns == self.netns;
        f.family == AF_UNIX && start && here && f.ino != 0
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Close records, stamped `ktime_ns`, of the forwards whose socket is gone.
    pub fn poll(&mut self, ktime_ns: u64) -> Vec<KernelEvent> {
        if self.open.is_empty() {
            return Vec::new();
        }
        let inodes: Vec<u32> = self.open.keys().copied().collect();
        let Some(gone) = self
            .diag
            .gone(&inodes, request, |_, payload| match payload {
                NetlinkPayload::Error(e) => gone_if_enoent(&e),
                _ => Ok(false),
            })
        else {
            return Vec::new();
        };
        gone.into_iter()
            .filter_map(|ino| self.open.remove(&ino))
            .map(|mut f| {
                f.phase = FWD_CLOSE;
                f.hdr.ktime_ns = ktime_ns;
                KernelEvent::Forward(Box::new(f))
            })
            .collect()
    }
}

/// One exact lookup by inode (the inodes the kernel no longer has are
/// answered ENOENT).
pub(crate) fn request(ino: u32) -> SockDiagMessage {
    SockDiagMessage::UnixRequest(UnixRequest {
        state_flags: StateFlags::all(),
        inode: ino,
        show_flags: ShowFlags::empty(),
        cookie: NO_COOKIE,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::{UnixListener, UnixStream};

    use ssh_trace_common::event::{EventHeader, EventKind, FWD_ACCEPT};

    use super::*;

    fn opened(ino: u64, tgid: u32) -> KernelEvent {
        KernelEvent::Forward(Box::new(ForwardEvent {
            hdr: EventHeader {
                kind: EventKind::Forward as u32,
                tgid,
                ktime_ns: 1,
                session: 9,
            },
            sock: 77,
            ino,
            phase: FWD_OPEN,
            how: FWD_ACCEPT,
            family: AF_UNIX,
            ..Default::default()
        }))
    }

    #[test]
    fn a_unix_socket_that_goes_away_makes_a_close_record() {
        let dir = std::env::temp_dir().join(format!("unixdiag-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("s")).unwrap();
        let client = UnixStream::connect(dir.join("s")).unwrap();
        let (server, _) = listener.accept().unwrap();
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            server.as_raw_fd()
        }))
        .unwrap()
        .ino();
        let mut p = Poller {
            netns: 0,
            ..Default::default()
        };
        p.observe(&opened(ino, 5));
        assert!(p.poll(2).is_empty(), "still open");
        assert_eq!(p.diag.errors, 0);
        drop(server);
        let got = p.poll(3);
        let [KernelEvent::Forward(f)] = got.as_slice() else {
            panic!("{got:?}");
        };
        assert_eq!(
            (f.phase, f.sock, f.hdr.ktime_ns, f.hdr.session),
            (FWD_CLOSE, 77, 3, 9)
        );
        assert!(p.is_empty());
        drop(client);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
