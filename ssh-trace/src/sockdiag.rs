//! Live byte counts of open sessions without a per-packet hook: once a
//! second the agent asks the kernel's sock_diag (INET_DIAG with TCP info)
//! for the TCP counters of session connections only — one exact lookup per
//! session, batched in one netlink send. The final counts at close come
//! from the kernel programs.
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use netlink_packet_core::{
    ErrorMessage, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::{
    constants::{AF_INET, IPPROTO_TCP},
    inet::{nlas::Nla, ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};
use ssh_trace_common::{
    event::{BytesEvent, EventHeader, EventKind},
    maps::SockTuple,
};

use crate::decode::KernelEvent;

const TCP_ESTABLISHED: u8 = 1;
/// A reply that has not come by then will not: the poll gives up.
const RECV_TIMEOUT: Duration = Duration::from_millis(200);
/// Cookie meaning "any socket with these addresses".
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// Open session connections and their last counts.
#[derive(Default)]
pub struct Poller {
    pub diag: DiagSocket,
    conns: HashMap<u64, Conn>,
}

struct Conn {
    tuple: SockTuple,
    sock: u64,
    last: (u64, u64),
}

impl Poller {
    /// Follows the kernel records: a connect adds a connection, its final
    /// byte count removes it.
    pub fn observe(&mut self, ev: &KernelEvent) {
        match ev {
            KernelEvent::Connect(c) => {
                let tuple = SockTuple {
                    family: c.family,
                    local_port: c.local_port,
                    remote_port: c.remote_port,
                    _pad: 0,
                    local_addr: c.local_addr,
                    remote_addr: c.remote_addr,
                };
                self.add(c.hdr.session, tuple, c.sock);
            }
            KernelEvent::Bytes(b) if b.closed != 0 => {
                self.conns.remove(&b.hdr.session);
            }
            _ => {}
        }
    }

    /// A connection found in /proc (its `struct sock *` unknown: 0).
    pub fn add(&mut self, session: u64, tuple: SockTuple, sock: u64) {
        self.conns.insert(
            session,
            Conn {
                tuple,
                sock,
                last: (0, 0),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Byte records (not final) for the connections whose counts moved
    /// since the last poll, stamped `ktime_ns`.
    pub fn poll(&mut self, ktime_ns: u64) -> Vec<KernelEvent> {
        if self.conns.is_empty() {
            return Vec::new();
        }
        let keys: Vec<u64> = self.conns.keys().copied().collect();
        let mut requests = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            append_request(i as u32, request(&self.conns[k].tuple), &mut requests);
        }
        let mut counts = Vec::with_capacity(keys.len());
        let answered = self.diag.exchange(&requests, keys.len(), |data| {
            parse_replies(data, &keys, &mut counts)
        });
        if answered.is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (key, (rx, tx)) in counts {
            let Some(c) = self.conns.get_mut(&key) else {
                continue;
            };
            if (rx, tx) == c.last {
                continue;
            }
            c.last = (rx, tx);
            out.push(KernelEvent::Bytes(BytesEvent {
                hdr: EventHeader {
                    kind: EventKind::Bytes as u32,
                    tgid: 0,
                    ktime_ns,
                    session: key,
                },
                sock: c.sock,
                bytes_in: rx,
                bytes_out: tx,
                closed: 0,
                _pad: 0,
            }));
        }
        out
    }
}

/// A sock_diag socket as every poller uses it (this one, unixdiag.rs,
/// listendiag.rs):
/// opened on first use and dropped after any error (the next poll opens a
/// new one); a poll's requests are sent together and replies read until
/// each was answered.
#[derive(Default)]
pub struct DiagSocket {
    socket: Option<Socket>,
    /// Polls that failed (netlink errors other than "no such socket").
    pub errors: u64,
}

impl DiagSocket {
    /// Sends `requests` (`count` of them) and hands each reply buffer to
    /// `parse`, which returns how many requests it answered. None: the
    /// poll failed (counted).
    pub fn exchange(
        &mut self,
        requests: &[u8],
        count: usize,
        mut parse: impl FnMut(&[u8]) -> std::io::Result<usize>,
    ) -> Option<()> {
        let r = self.try_exchange(requests, count, &mut parse);
        if r.is_err() {
            self.errors += 1;
            self.socket = None;
        }
        r.ok()
    }

    /// One exact lookup per key (`request` makes it), sent together: the
    /// keys whose reply `gone` says is of a socket no longer there. None:
    /// the poll failed (counted). The unix-forward and discovered-listener
    /// pollers ask so.
    pub fn gone<K: Copy>(
        &mut self,
        keys: &[K],
        request: impl Fn(K) -> SockDiagMessage,
        mut gone: impl FnMut(K, NetlinkPayload<SockDiagMessage>) -> std::io::Result<bool>,
    ) -> Option<Vec<K>> {
        let mut requests = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            append_request(i as u32, request(k), &mut requests);
        }
        let mut out = Vec::new();
        self.exchange(&requests, keys.len(), |data| {
            each_reply(data, keys.len(), |i, payload| {
                if gone(keys[i], payload)? {
                    out.push(keys[i]);
                }
                Ok(())
            })
        })?;
        Some(out)
    }

    fn try_exchange(
        &mut self,
        requests: &[u8],
        count: usize,
        parse: &mut impl FnMut(&[u8]) -> std::io::Result<usize>,
    ) -> std::io::Result<()> {
        if self.socket.is_none() {
            self.socket = Some(diag_socket()?);
        }
        let socket = self.socket.as_mut().expect("just opened");
        socket.send(requests, 0)?;
        let mut answered = 0;
        let mut rbuf = vec![0u8; 64 << 10];
        while answered < count {
            let n = socket.recv(&mut &mut rbuf[..], 0)?;
            answered += parse(&rbuf[..n])?;
        }
        Ok(())
    }
}

/// An error reply to an exact lookup: ENOENT, the socket is gone; none (an
/// acknowledgement), it is not; any other code fails the poll.
pub(crate) fn gone_if_enoent(e: &ErrorMessage) -> std::io::Result<bool> {
    match e.code.map(|c| -c.get()) {
        Some(ENOENT) => Ok(true),
        Some(code) => Err(std::io::Error::from_raw_os_error(code)),
        None => Ok(false),
    }
}

const ENOENT: i32 = 2;

/// Appends `request` as one netlink message with sequence number `seq`.
pub fn append_request(seq: u32, request: SockDiagMessage, out: &mut Vec<u8>) {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST;
    hdr.sequence_number = seq;
    let mut msg = NetlinkMessage::new(hdr, request.into());
    msg.finalize();
    let start = out.len();
    out.resize(start + msg.buffer_len(), 0);
    msg.serialize(&mut out[start..]);
}

/// A sock_diag netlink socket whose replies are waited for RECV_TIMEOUT.
pub(crate) fn diag_socket() -> std::io::Result<Socket> {
    let mut s = Socket::new(NETLINK_SOCK_DIAG)?;
    s.bind_auto()?;
    s.connect(&SocketAddr::new(0, 0))?;
    set_rx_timeout(&s, RECV_TIMEOUT)?;
    Ok(s)
}

fn set_rx_timeout(s: &Socket, t: Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: a valid socket and a timeval of the size given.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn ip(family: u16, addr: &[u8; 16]) -> IpAddr {
    if family == AF_INET as u16 {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*addr))
    }
}

fn request(t: &SockTuple) -> SockDiagMessage {
    SockDiagMessage::InetRequest(InetRequest {
        family: t.family as u8,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::INFO,
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port: t.local_port,
            destination_port: t.remote_port,
            source_address: ip(t.family, &t.local_addr),
            destination_address: ip(t.family, &t.remote_addr),
            interface_id: 0,
            cookie: NO_COOKIE,
        },
    })
}

/// Parses the netlink messages in `data`; returns how many requests they
/// answered (a reply or an error each).
fn parse_replies(
    data: &[u8],
    keys: &[u64],
    out: &mut Vec<(u64, (u64, u64))>,
) -> std::io::Result<usize> {
    each_reply(data, keys.len(), |i, payload| {
        if let NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) = payload {
            if let Some(counts) = established_counts(&r) {
                out.push((keys[i], counts));
            }
        }
        Ok(())
    })
}

/// Hands each netlink message in `data` that answers one of the `requests`
/// (its sequence number, as `append_request` numbered them) to `each`;
/// returns how many it handed over. Every sock_diag poller reads its
/// replies so.
pub(crate) fn each_reply(
    data: &[u8],
    requests: usize,
    mut each: impl FnMut(usize, NetlinkPayload<SockDiagMessage>) -> std::io::Result<()>,
) -> std::io::Result<usize> {
    let mut at = 0;
    let mut answered = 0;
    while at < data.len() {
        let msg = NetlinkMessage::<SockDiagMessage>::deserialize(&data[at..])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let len = msg.header.length as usize;
        if len == 0 {
            break;
        }
        at += len;
        let i = msg.header.sequence_number as usize;
        if i < requests {
            answered += 1;
            each(i, msg.payload)?;
        }
    }
    Ok(answered)
}

/// Counts of an established connection; after a FIN either way TCP counts
/// it as a byte, so only the close (the kernel's final record) is exact.
fn established_counts(r: &netlink_packet_sock_diag::inet::InetResponse) -> Option<(u64, u64)> {
    if r.header.state != TCP_ESTABLISHED {
        return None;
    }
    r.nlas.iter().find_map(|nla| match nla {
        Nla::TcpInfo(info) => Some((info.bytes_received, info.bytes_acked)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{TcpListener, TcpStream},
    };

    use super::*;

    fn tuple_of(s: &TcpStream) -> SockTuple {
        let (l, r) = (s.local_addr().unwrap(), s.peer_addr().unwrap());
        let mut t = SockTuple {
            family: 2,
            local_port: l.port(),
            remote_port: r.port(),
            ..Default::default()
        };
        let (std::net::IpAddr::V4(la), std::net::IpAddr::V4(ra)) = (l.ip(), r.ip()) else {
            panic!("IPv4 loopback");
        };
        t.local_addr[..4].copy_from_slice(&la.octets());
        t.remote_addr[..4].copy_from_slice(&ra.octets());
        t
    }

    #[test]
    fn polls_the_tcp_counters_of_a_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(&[1u8; 1000]).unwrap();
        let mut buf = [0u8; 1000];
        server.read_exact(&mut buf).unwrap();
        server.write_all(&[2u8; 300]).unwrap();
        client.read_exact(&mut buf[..300]).unwrap();
        let mut p = Poller::default();
        p.add(7, tuple_of(&server), 0);
        let got = p.poll(42);
        assert_eq!(p.diag.errors, 0);
        let [KernelEvent::Bytes(b)] = got.as_slice() else {
            panic!("{got:?}");
        };
        assert_eq!((b.hdr.session, b.hdr.ktime_ns), (7, 42));
        assert_eq!((b.bytes_in, b.bytes_out, b.closed), (1000, 300, 0));
        // Unchanged counts make no record; a connection gone makes none.
        assert!(p.poll(43).is_empty());
        p.add(
            8,
            SockTuple {
                local_port: 1,
                ..tuple_of(&server)
            },
            0,
        );
        assert!(p.poll(44).is_empty());
        assert_eq!(p.diag.errors, 0);
    }
}
