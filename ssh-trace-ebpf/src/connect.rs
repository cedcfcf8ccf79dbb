//! Connections an SSH server takes: each starts a session. Either the
//! server accepts it (a listener's accept()), or the server is exec'd with
//! it on its standard input (inetd mode; see servers.rs).
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::{ConnectEvent, EventKind, CONNECT_ACCEPT},
    maps::{session_key, LOST_SOCKS_FULL, PROC_LISTENER},
};

use crate::{maps::*, task, tp};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u16 = 1;
const IPPROTO_TCP: u16 = 6;
const TCP_ESTABLISHED: u8 = 1;
/// The client may have half-closed before the server took the connection.
const TCP_CLOSE_WAIT: u8 = 8;

#[tracepoint]
pub fn accept_exit(ctx: TracePointContext) -> u32 {
    on_accept(&ctx)
}

#[tracepoint]
pub fn accept4_exit(ctx: TracePointContext) -> u32 {
    on_accept(&ctx)
}

#[inline(always)]
fn on_accept(ctx: &TracePointContext) -> u32 {
    let tgid = current_tgid();
    // Only listeners start sessions: an accept() by a session's process
    // that is not a server (port forwarding, a user's program) does not.
    let Some(p) = proc_of(tgid) else {
        return 0;
    };
    let p = unsafe { &mut *p };
    if p.flags & PROC_LISTENER == 0 {
        // A session's server accepting on a forward listener (-R, agent, X11).
        crate::forward::on_accept(ctx, tgid);
        return 0;
    }
    let ret: i64 = unsafe { ctx.read_at(tp::SYS_EXIT_RET) }.unwrap_or(-1);
    if ret < 0 {
        return 0;
    }
    let cur = task::current_task();
    let Some(sk) = task::sock_of_fd(cur, ret as u32) else {
        return 0;
    };
    if let Some(key) = start_session(sk, tgid, p.session, CONNECT_ACCEPT) {
        // The next child of this listener belongs to this connection.
        p.pending = key;
    }
    0
}

/// A TCP connection of an SSH server becomes a session: its key goes into
/// SESSION_SOCKS and a connect record onto the milestone ring. None when
/// `sk` is not a connected TCP socket over IP.
#[inline(always)]
pub fn start_session(sk: u64, tgid: u32, parent_session: u64, origin: u16) -> Option<u64> {
    let family: u16 = task::read(sk, off!(skc_family))?;
    if family != AF_INET && family != AF_INET6 {
        return None;
    }
    let sk_type: u16 = task::read(sk, off!(sk_type))?;
    let protocol: u16 = task::read(sk, off!(sk_protocol))?;
    let state: u8 = task::read(sk, off!(skc_state))?;
    if sk_type != SOCK_STREAM
        || protocol != IPPROTO_TCP
        || (state != TCP_ESTABLISHED && state != TCP_CLOSE_WAIT)
    {
        return None;
    }
    let now = header(EventKind::Connect, tgid, 0);
    let mut ev = ConnectEvent {
        hdr: now,
        listener_tgid: tgid,
        server_uid: task::euid(task::current_task()),
        parent_session,
        family,
        local_port: task::read(sk, off!(skc_num)).unwrap_or(0),
        remote_port: u16::from_be(task::read(sk, off!(skc_dport)).unwrap_or(0)),
        origin,
        sock: sk,
        ..Default::default()
    };
    (ev.local_addr, ev.remote_addr) = inet_addrs(sk, family);
    let key = session_key(server_isn(sk), client_tail(&ev), ev.remote_port);
    ev.hdr.session = key;
    if SESSION_SOCKS.insert(&sk, &key, 0).is_err() {
        count_lost(LOST_SOCKS_FULL);
        count_session_loss(key, false);
    }
    emit(&ev, key, Ring::Milestones);
    crate::auth::begin(key);
    Some(key)
}

/// (local, remote) address of a connected IP socket; IPv4 in the first
/// 4 bytes, network byte order.
#[inline(always)]
pub fn inet_addrs(sk: u64, family: u16) -> ([u8; 16], [u8; 16]) {
    let (mut local, mut remote) = ([0; 16], [0; 16]);
    if family == AF_INET {
        let l: [u8; 4] = task::read(sk, off!(skc_rcv_saddr)).unwrap_or([0; 4]);
        let r: [u8; 4] = task::read(sk, off!(skc_daddr)).unwrap_or([0; 4]);
        local[..4].copy_from_slice(&l);
        remote[..4].copy_from_slice(&r);
    } else {
        local = task::read(sk, off!(skc_v6_rcv_saddr)).unwrap_or([0; 16]);
        remote = task::read(sk, off!(skc_v6_daddr)).unwrap_or([0; 16]);
    }
    (local, remote)
}

/// The server's initial sequence number: snd_una minus what was acked
/// since (and the SYN's one), exact however much already moved.
#[inline(always)]
fn server_isn(sk: u64) -> u32 {
    let snd_una: u32 = task::read(sk, off!(tcp_snd_una)).unwrap_or(0);
    let acked: u64 = task::read(sk, off!(tcp_bytes_acked)).unwrap_or(0);
    snd_una.wrapping_sub(acked as u32).wrapping_sub(1)
}

/// The last four address bytes of the client: all of IPv4, the host part of IPv6.
#[inline(always)]
fn client_tail(ev: &ConnectEvent) -> u32 {
    let tail = if ev.family == AF_INET { 0 } else { 12 };
    u32::from_be_bytes([
        ev.remote_addr[tail],
        ev.remote_addr[tail + 1],
        ev.remote_addr[tail + 2],
        ev.remote_addr[tail + 3],
    ])
}
