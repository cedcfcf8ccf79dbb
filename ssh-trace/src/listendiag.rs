//! When listeners found at start-up end (session/discover.rs: a `-R`, an
//! X11 display, the forwarded agent's socket that a session's server
//! already had). The kernel programs never saw them listen, so no close
//! record comes when the client cancels one: once a second, and only while
//! one is open, the agent asks sock_diag about each (one exact lookup
//! each, sent together) and makes, for each one gone, the close record the
//! kernel makes for a listener it saw. TCP: the listener at its address
//! and port must still be its inode; unix: a lookup by inode (as
//! unixdiag.rs). Not /proc/PID/fd: without the capabilities the agent
//! dropped, another user's process's is unreadable; not /proc/net/tcp: it
//! lists every connection of the host. Discovery read the agent's own
//! network namespace, where these lookups look. A poll that fails ends
//! nothing (the process's exit still does).
use std::collections::HashMap;

use netlink_packet_core::NetlinkPayload;
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use ssh_trace_common::event::{
    EventHeader, EventKind, ForwardEvent, AF_UNIX, FWD_CLOSE, FWD_LISTENER,
};

use crate::{
    decode::KernelEvent,
    event::Endpoint,
    session::{
        discover::{ListenAt, Listening},
        forward::discovered_sock,
    },
    sockdiag::{gone_if_enoent, DiagSocket},
};

const TCP_LISTEN: u8 = 10;
/// Cookie meaning "whichever socket answers".
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// The discovered listeners still open, by socket inode.
#[derive(Default)]
pub struct Poller {
    pub diag: DiagSocket,
    open: HashMap<u64, Watched>,
}

struct Watched {
    session: u64,
    pid: u32,
    at: ListenAt,
}

impl Poller {
    /// The listeners discovery reported for the session `session`.
    pub fn add(&mut self, session: u64, found: &[Listening]) {
        for l in found {
            let w = Watched {
                session,
                pid: l.pid,
                at: l.at.clone(),
            };
            self.open.insert(l.inode, w);
        }
    }

    /// The exit of a listener's process ends it (the session model does).
    pub fn observe(&mut self, ev: &KernelEvent) {
        match ev {
            KernelEvent::Exit(x) if !self.open.is_empty() => {
                self.open.retain(|_, w| w.pid != x.hdr.tgid);
            }
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Close records, stamped `ktime_ns`, of the listeners whose socket is
    /// gone (none when the poll failed: counted in `diag.errors`, the next
    /// one asks again).
    pub fn poll(&mut self, ktime_ns: u64) -> Vec<KernelEvent> {
        if self.open.is_empty() {
            return Vec::new();
        }
        let inodes: Vec<u64> = self.open.keys().copied().collect();
        let open = &self.open;
        let Some(gone) = self
            .diag
            .gone(&inodes, |ino| request(ino, &open[&ino].at), not_listening)
        else {
            return Vec::new();
        };
        gone.into_iter()
            .filter_map(|ino| Some(close(ino, self.open.remove(&ino)?, ktime_ns)))
            .collect()
    }
}

/// The record the kernel makes when a listener it saw closes.
fn close(ino: u64, w: Watched, ktime_ns: u64) -> KernelEvent {
    let family = match &w.at {
        ListenAt::Tcp(at) if at.ip.is_ipv4() => AF_INET as u16,
        ListenAt::Tcp(_) => AF_INET6 as u16,
        ListenAt::Unix(_) => AF_UNIX,
    };
    KernelEvent::Forward(Box::new(ForwardEvent {
        hdr: EventHeader {
            kind: EventKind::Forward as u32,
            tgid: w.pid,
            ktime_ns,
            session: w.session,
        },
        sock: discovered_sock(ino),
        ino,
        phase: FWD_CLOSE,
        how: FWD_LISTENER,
        family,
        ..Default::default()
    }))
}

fn request(ino: u64, at: &ListenAt) -> SockDiagMessage {
    match at {
        ListenAt::Tcp(at) => tcp_request(at),
        ListenAt::Unix(_) => crate::unixdiag::request(ino as u32),
    }
}

/// The listener a connection to `at` would reach (no remote end: only a
/// listener matches).
fn tcp_request(at: &Endpoint) -> SockDiagMessage {
    let (family, any) = if at.ip.is_ipv4() {
        (AF_INET, std::net::Ipv4Addr::UNSPECIFIED.into())
    } else {
        (AF_INET6, std::net::Ipv6Addr::UNSPECIFIED.into())
    };
    SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::LISTEN,
        socket_id: SocketId {
            source_port: at.port,
            destination_port: 0,
            source_address: at.ip,
            destination_address: any,
            interface_id: 0,
            cookie: NO_COOKIE,
        },
    })
}

/// Whether the reply to the lookup of listener `ino` says it is gone:
/// ENOENT, or a socket that is not it listening.
fn not_listening(ino: u64, payload: NetlinkPayload<SockDiagMessage>) -> std::io::Result<bool> {
    Ok(match payload {
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
            r.header.state != TCP_LISTEN || u64::from(r.header.inode) != ino
        }
        NetlinkPayload::InnerMessage(SockDiagMessage::UnixResponse(r)) => {
            r.header.state != TCP_LISTEN
        }
        NetlinkPayload::Error(e) => return gone_if_enoent(&e),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use std::{
        net::TcpListener,
        os::{fd::AsRawFd, unix::fs::MetadataExt, unix::net::UnixListener},
    };

    use super::*;

    fn inode_of(fd: &impl AsRawFd) -> u64 {
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        std::fs::metadata(path).unwrap().ino()
    }

    fn found(inode: u64, at: ListenAt) -> Listening {
        Listening { pid: 5, inode, at }
    }

    #[test]
    fn a_discovered_listener_whose_socket_closed_makes_the_kernels_close_record() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = Endpoint::new(
            tcp.local_addr().unwrap().ip(),
            tcp.local_addr().unwrap().port(),
        );
        let tcp6 = TcpListener::bind("[::1]:0").ok();
        let dir = std::env::temp_dir().join(format!("listendiag-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let unix = UnixListener::bind(dir.join("s")).unwrap();
        let mut p = Poller::default();
        let mut listening = vec![
            found(inode_of(&tcp), ListenAt::Tcp(at)),
            found(inode_of(&unix), ListenAt::Unix("s".into())),
        ];
        if let Some(l) = &tcp6 {
            let a = l.local_addr().unwrap();
            listening.push(found(
                inode_of(l),
                ListenAt::Tcp(Endpoint::new(a.ip(), a.port())),
            ));
        }
        p.add(9, &listening);
        assert!(p.poll(1).is_empty(), "all still listen");
        assert_eq!(p.diag.errors, 0);
        drop(tcp);
        drop(unix);
        drop(tcp6);
        let mut got: Vec<ForwardEvent> = p
            .poll(2)
            .into_iter()
            .map(|e| match e {
                KernelEvent::Forward(f) => *f,
                e => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(got.len(), listening.len(), "{got:?}");
        got.sort_by_key(|f| f.family);
        for f in &got {
            let l = listening.iter().find(|l| l.inode == f.ino).unwrap();
            assert_eq!(
                (
                    f.phase,
                    f.how,
                    f.sock,
                    f.hdr.session,
                    f.hdr.tgid,
                    f.hdr.ktime_ns
                ),
                (FWD_CLOSE, FWD_LISTENER, discovered_sock(l.inode), 9, 5, 2)
            );
        }
        assert_eq!(got[0].family, AF_UNIX);
        assert_eq!(got[1].family, AF_INET as u16);
        assert!(p.is_empty());
        assert!(p.poll(3).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_socket_on_the_same_address_is_not_the_one_found() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = tcp.local_addr().unwrap();
        let mut p = Poller::default();
        // The inode discovery found is not the one listening there now.
        let stale = inode_of(&tcp) + 1_000_000;
        p.add(
            9,
            &[found(stale, ListenAt::Tcp(Endpoint::new(a.ip(), a.port())))],
        );
        assert_eq!(p.poll(1).len(), 1);
        assert_eq!(p.diag.errors, 0);
    }

    #[test]
    fn the_exit_of_its_process_stops_the_check() {
        let mut p = Poller::default();
        let at = ListenAt::Unix("/nowhere".into());
        p.add(9, &[found(1, at)]);
        let exit = ssh_trace_common::event::ExitEvent {
            hdr: EventHeader {
                kind: EventKind::Exit as u32,
                tgid: 5,
                ktime_ns: 0,
                session: 9,
            },
            ..Default::default()
        };
        p.observe(&KernelEvent::Exit(exit));
        assert!(p.is_empty());
    }
}
