//! A session's forwards (`session.forward`): the kernel's forward records
//! paired by socket, numbered per session and classified (local, remote,
//! agent, x11). Unix sockets and listeners found at start-up have no close
//! record of their own: their end comes from unixdiag.rs or listendiag.rs
//! (the socket is gone, the same record) or the server process's exit.
use std::{collections::HashMap, net::IpAddr};

use ssh_trace_common::event::{
    ForwardEvent, AF_UNIX, FWD_ACCEPT, FWD_CLOSE, FWD_CONNECT, FWD_FAILED, FWD_LISTEN,
    FWD_LISTENER, FWD_OPEN,
};

use super::{
    discover::{ListenAt, Listening},
    model::endpoint,
};
use crate::{
    event::{Endpoint, Forward, ForwardKind, ForwardSocket, ForwardState},
    text::escape_bytes,
};

/// sshd's X11 displays listen on 6000 + display (X11DisplayOffset, 10 by
/// default, up to display 999); dropbear's likewise.
pub const X11_PORTS: std::ops::RangeInclusive<u16> = 6000..=6999;

/// The forwards of one session still open (listeners and connections).
#[derive(Clone, Debug, Default)]
pub struct Forwards {
    next_id: u32,
    open: HashMap<u64, Open>,
}

#[derive(Clone, Debug)]
struct Open {
    start_ns: u64,
    fwd: Forward,
    /// Found at start-up: the kernel does not know its socket, so it ends
    /// when listendiag.rs finds it gone, or with its process.
    discovered: bool,
}

/// Keys of discovered listeners: their socket inode with the top bit set
/// (kernel socket addresses, the other keys, are never that small).
const DISCOVERED_SOCK: u64 = 1 << 62;

/// The key of the discovered listener with socket inode `inode` (the
/// `sock` of its close record).
pub fn discovered_sock(inode: u64) -> u64 {
    DISCOVERED_SOCK | inode
}

impl Forwards {
    /// The event body a forward record makes.
    pub fn record(&mut self, r: &ForwardEvent, time_ns: u64) -> Option<Forward> {
        match r.phase {
            FWD_LISTEN => Some(self.start(r, time_ns, ForwardState::Listen)),
            FWD_OPEN => Some(self.start(r, time_ns, ForwardState::Open)),
            FWD_CLOSE => self.close(r, time_ns),
            FWD_FAILED => {
                self.open.remove(&r.sock);
                let mut f = self.describe(r, ForwardState::Failed);
                f.error = Some(r.error);
                Some(f)
            }
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// A listener of the server found at start-up (`-R`, an X11 display,
    /// the forwarded agent's socket): reported when found, its connections
    /// name it.
    pub fn discovered_listener(&mut self, l: &Listening, time_ns: u64) -> Forward {
        self.next_id += 1;
        let (listen, path, socket) = match &l.at {
            ListenAt::Tcp(at) => (Some(*at), None, ForwardSocket::Tcp),
            ListenAt::Unix(p) => (None, Some(p.clone()), ForwardSocket::Unix),
        };
        let kind = listener_kind(listen, path.as_deref(), l.pid);
        let fwd = Forward {
            listen,
            path,
            ..bare(self.next_id, kind, ForwardState::Listen, socket, l.pid)
        };
        let open = Open {
            start_ns: time_ns,
            fwd: fwd.clone(),
            discovered: true,
        };
        self.open.insert(discovered_sock(l.inode), open);
        fwd
    }

    /// Unix-socket forwards and discovered listeners of `pid` end with it
    /// (the kernel ends the other TCP ones).
    pub fn exited(&mut self, pid: u32, time_ns: u64) -> Vec<Forward> {
        let gone: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, o)| {
                o.fwd.pid == pid && (o.fwd.socket == ForwardSocket::Unix || o.discovered)
            })
            .map(|(&sock, _)| sock)
            .collect();
        gone.into_iter()
            .filter_map(|sock| self.open.remove(&sock))
            .map(|o| closed(o, time_ns))
            .collect()
    }

    fn start(&mut self, r: &ForwardEvent, time_ns: u64, state: ForwardState) -> Forward {
        let fwd = self.describe(r, state);
        let open = Open {
            start_ns: time_ns,
            fwd: fwd.clone(),
            discovered: false,
        };
        self.open.insert(r.sock, open);
        fwd
    }

    fn close(&mut self, r: &ForwardEvent, time_ns: u64) -> Option<Forward> {
        let tcp = r.family != AF_UNIX;
        let mut f = match self.open.remove(&r.sock) {
            Some(o) => closed(o, time_ns),
            // Its open record was lost: the kernel's close still tells.
            None if tcp => self.describe(r, ForwardState::Close),
            // A unix socket that was not a forward (see `wanted`).
            None => return None,
        };
        if tcp && r.how != FWD_LISTENER {
            (f.bytes_in, f.bytes_out) = (Some(r.bytes_in), Some(r.bytes_out));
        }
        Some(f)
    }

    /// A new forward (its own id) from what the record says.
    fn describe(&mut self, r: &ForwardEvent, state: ForwardState) -> Forward {
        self.next_id += 1;
        let unix = r.family == AF_UNIX;
        let path = (unix && r.path_len > 0).then(|| path_text(r));
        let tcp = |addr, port| (!unix).then(|| endpoint(r.family, addr, port));
        let local = tcp(&r.local_addr, r.local_port);
        let remote = tcp(&r.remote_addr, r.remote_port);
        let (kind, listener) = match r.how {
            FWD_CONNECT => (ForwardKind::Local, None),
            FWD_ACCEPT => self.listener_of(local, path.as_deref(), r),
            _ => (listener_kind(local, path.as_deref(), r.hdr.tgid), None),
        };
        let socket = if unix {
            ForwardSocket::Unix
        } else {
            ForwardSocket::Tcp
        };
        let mut f = Forward {
            listener,
            path,
            ..bare(self.next_id, kind, state, socket, r.hdr.tgid)
        };
        match r.how {
            FWD_CONNECT => (f.local, f.target) = (local, remote),
            FWD_ACCEPT => (f.listen, f.peer) = (local, remote),
            _ => f.listen = local,
        }
        f
    }

    /// The listener an accepted connection came through, and its kind.
    fn listener_of(
        &self,
        local: Option<Endpoint>,
        path: Option<&str>,
        r: &ForwardEvent,
    ) -> (ForwardKind, Option<u32>) {
        let found = self.open.values().map(|o| &o.fwd).find(|l| {
            l.state == ForwardState::Listen
                && match (local, l.listen) {
                    (Some(at), Some(l)) => at.port == l.port && covers(l.ip, at.ip),
                    _ => path.is_some() && l.path.as_deref() == path,
                }
        });
        match found {
            Some(l) => (l.kind, Some(l.id)),
            None => (listener_kind(local, path, r.hdr.tgid), None),
        }
    }
}

/// Whether a record is a forward. A unix-socket connect counts only from
/// the process that logged in (OpenSSH's post-auth child, which forwards):
/// the monitor's own connects (PAM to D-Bus, NSS to nscd, sssd or
/// systemd-userdb) are not forwards. Dropbear forwards no unix sockets.
pub fn wanted(r: &ForwardEvent, login_pid: Option<u32>) -> bool {
    let unix_connect = r.family == AF_UNIX && r.how == FWD_CONNECT && r.phase != FWD_CLOSE;
    !unix_connect || login_pid == Some(r.hdr.tgid)
}

/// A listener bound to `listen` takes connections to `at`.
fn covers(listen: IpAddr, at: IpAddr) -> bool {
    listen == at || listen.is_unspecified()
}

/// The forward as it ends.
/// A forward with its identity and nothing else known yet.
fn bare(
    id: u32,
    kind: ForwardKind,
    state: ForwardState,
    socket: ForwardSocket,
    pid: u32,
) -> Forward {
    Forward {
        id,
        kind,
        state,
        socket,
        pid,
        listener: None,
        local: None,
        target: None,
        listen: None,
        peer: None,
        path: None,
        error: None,
        bytes_in: None,
        bytes_out: None,
        duration_ms: None,
    }
}

fn closed(o: Open, time_ns: u64) -> Forward {
    let mut f = o.fwd;
    f.state = ForwardState::Close;
    f.duration_ms = Some(time_ns.saturating_sub(o.start_ns) / 1_000_000);
    f
}

fn path_text(r: &ForwardEvent) -> String {
    let raw = &r.path[..(r.path_len as usize).min(r.path.len())];
    // A path ends at its NUL; an abstract name starts with one.
    let raw = match raw.split_first() {
        Some((0, _)) => raw,
        _ => raw.split(|&b| b == 0).next().unwrap_or(raw),
    };
    escape_bytes(raw)
}

/// What a listener of the server is: X11 displays by port, the agent's
/// socket by the name the server gives it, anything else a remote forward.
fn listener_kind(local: Option<Endpoint>, path: Option<&str>, pid: u32) -> ForwardKind {
    if let Some(at) = local {
        if X11_PORTS.contains(&at.port) {
            return ForwardKind::X11;
        }
        return ForwardKind::Remote;
    }
    match path {
        Some(p) if is_agent_socket(p, pid) => ForwardKind::Agent,
        _ => ForwardKind::Remote,
    }
}

/// The agent sockets servers make: OpenSSH up to 10.0
/// `/tmp/ssh-XXXXXXXXXX/agent.<pid of the listening process>`, OpenSSH
/// 10.1 `~/.ssh/agent/s.*.sshd.*`, dropbear `/tmp/dropbear-XXXXXX/auth-*`.
pub fn is_agent_socket(path: &str, pid: u32) -> bool {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    (dir.starts_with("/tmp/ssh-") && file == format!("agent.{pid}"))
        || (dir.ends_with("/.ssh/agent") && file.starts_with("s.") && file.contains(".sshd."))
        || (dir.starts_with("/tmp/dropbear-") && file.starts_with("auth-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_trace_common::event::{EventHeader, EventKind};

    fn rec(phase: u16, how: u16, sock: u64) -> ForwardEvent {
        ForwardEvent {
            hdr: EventHeader {
                kind: EventKind::Forward as u32,
                tgid: 700,
                ktime_ns: 0,
                session: 5,
            },
            sock,
            phase,
            how,
            family: 2,
            ..Default::default()
        }
    }

    fn v4(r: &mut ForwardEvent, local: ([u8; 4], u16), remote: ([u8; 4], u16)) {
        r.local_addr[..4].copy_from_slice(&local.0);
        r.remote_addr[..4].copy_from_slice(&remote.0);
        (r.local_port, r.remote_port) = (local.1, remote.1);
    }

    #[test]
    fn a_local_forward_opens_and_closes_with_its_bytes_and_duration() {
        let mut f = Forwards::default();
        let mut open = rec(FWD_OPEN, FWD_CONNECT, 1);
        v4(&mut open, ([127, 0, 0, 1], 40000), ([10, 1, 2, 3], 80));
        let o = f.record(&open, 1_000_000_000).unwrap();
        assert_eq!(
            (o.id, o.kind, o.state),
            (1, ForwardKind::Local, ForwardState::Open)
        );
        assert_eq!(o.target.unwrap().to_string_pair(), ("10.1.2.3".into(), 80));
        let mut close = rec(FWD_CLOSE, FWD_CONNECT, 1);
        (close.bytes_in, close.bytes_out) = (1234, 77);
        let c = f.record(&close, 1_250_000_000).unwrap();
        assert_eq!(
            (c.id, c.state, c.duration_ms),
            (1, ForwardState::Close, Some(250))
        );
        assert_eq!((c.bytes_in, c.bytes_out), (Some(1234), Some(77)));
        assert_eq!(c.target, o.target);
    }

    #[test]
    fn an_accepted_connection_takes_its_listeners_kind_and_id() {
        let mut f = Forwards::default();
        let mut l = rec(FWD_LISTEN, FWD_LISTENER, 1);
        v4(&mut l, ([0, 0, 0, 0], 8022), ([0; 4], 0));
        assert_eq!(f.record(&l, 0).unwrap().kind, ForwardKind::Remote);
        let mut x = rec(FWD_LISTEN, FWD_LISTENER, 2);
        v4(&mut x, ([127, 0, 0, 1], 6010), ([0; 4], 0));
        assert_eq!(f.record(&x, 0).unwrap().kind, ForwardKind::X11);
        let mut a = rec(FWD_OPEN, FWD_ACCEPT, 3);
        v4(&mut a, ([10, 0, 0, 1], 8022), ([10, 0, 0, 9], 5555));
        let a = f.record(&a, 0).unwrap();
        assert_eq!(
            (a.kind, a.listener, a.id),
            (ForwardKind::Remote, Some(1), 3)
        );
        assert_eq!(a.peer.unwrap().port, 5555);
    }

    #[test]
    fn a_listener_found_at_start_up_names_its_connections_and_ends_with_its_process() {
        let mut f = Forwards::default();
        let at = Endpoint::new("127.0.0.1".parse().unwrap(), 4000);
        let found = Listening {
            pid: 77,
            inode: 123,
            at: ListenAt::Tcp(at),
        };
        let l = f.discovered_listener(&found, 1_000_000);
        assert_eq!(
            (l.kind, l.state, l.listen),
            (ForwardKind::Remote, ForwardState::Listen, Some(at))
        );
        let mut a = rec(FWD_OPEN, FWD_ACCEPT, 0xffff_8880_0000_1000);
        v4(&mut a, ([127, 0, 0, 1], 4000), ([127, 0, 0, 1], 50000));
        let conn = f.record(&a, 2_000_000).unwrap();
        assert_eq!(
            (conn.kind, conn.listener),
            (ForwardKind::Remote, Some(l.id))
        );
        // Its process's exit ends it (the kernel never saw its socket).
        let ended = f.exited(77, 5_000_000);
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(
            (ended[0].id, ended[0].state, ended[0].duration_ms),
            (l.id, ForwardState::Close, Some(4))
        );
        assert!(f.exited(78, 6_000_000).is_empty());
    }

    #[test]
    fn the_agent_socket_is_known_by_the_name_its_server_gives_it() {
        assert!(is_agent_socket("/tmp/ssh-Ab3dE6gH9j/agent.700", 700));
        assert!(!is_agent_socket("/tmp/ssh-Ab3dE6gH9j/agent.701", 700));
        assert!(is_agent_socket("/home/a/.ssh/agent/s.x1.sshd.Qw3", 1));
        assert!(is_agent_socket("/tmp/dropbear-a1B2c3/auth-d8f2e1a0-3", 9));
        assert!(!is_agent_socket("/tmp/app.sock", 700));
        let mut f = Forwards::default();
        let mut l = rec(FWD_LISTEN, FWD_LISTENER, 1);
        l.family = AF_UNIX;
        let p = b"/tmp/ssh-Ab3dE6gH9j/agent.700\0";
        l.path[..p.len()].copy_from_slice(p);
        l.path_len = p.len() as u16;
        let got = f.record(&l, 0).unwrap();
        assert_eq!(got.path.as_deref(), Some("/tmp/ssh-Ab3dE6gH9j/agent.700"));
        assert_eq!(
            (got.kind, got.socket),
            (ForwardKind::Agent, ForwardSocket::Unix)
        );
        let mut a = rec(FWD_OPEN, FWD_ACCEPT, 2);
        (a.family, a.path, a.path_len) = (AF_UNIX, l.path, l.path_len);
        assert_eq!(f.record(&a, 5).unwrap().listener, Some(1));
        let ended = f.exited(700, 2_000_000);
        assert_eq!(ended.len(), 2);
        assert!(ended
            .iter()
            .all(|e| e.state == ForwardState::Close && e.bytes_in.is_none()));
    }

    #[test]
    fn a_failed_connect_names_its_target_and_errno() {
        let mut f = Forwards::default();
        let mut r = rec(FWD_FAILED, FWD_CONNECT, 4);
        v4(&mut r, ([127, 0, 0, 1], 40001), ([10, 1, 2, 3], 81));
        r.error = 111;
        let got = f.record(&r, 0).unwrap();
        assert_eq!((got.state, got.error), (ForwardState::Failed, Some(111)));
        assert_eq!(got.target.unwrap().port, 81);
    }

    #[test]
    fn a_unix_connect_is_a_forward_only_from_the_process_that_logged_in() {
        let mut r = rec(FWD_OPEN, FWD_CONNECT, 1);
        r.family = AF_UNIX;
        // The monitor (PAM to D-Bus, NSS) is another process of the server.
        assert!(!wanted(&r, Some(701)));
        assert!(!wanted(&r, None));
        assert!(wanted(&r, Some(700)));
        // TCP connects count from any server process (dropbear has no
        // post-auth child of its own).
        r.family = 2;
        assert!(wanted(&r, None));
    }

    trait Pair {
        fn to_string_pair(&self) -> (String, u16);
    }

    impl Pair for Endpoint {
        fn to_string_pair(&self) -> (String, u16) {
            (self.ip.to_string(), self.port)
        }
    }
}
