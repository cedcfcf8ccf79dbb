//! Connections accepted by SSH server listeners: each starts a session.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::{ConnectEvent, EventKind},
    maps::{session_key, SockStats, LOST_SOCKS_FULL},
};

use crate::{maps::*, task};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[tracepoint]
pub fn sys_exit_accept(ctx: TracePointContext) -> u32 {
    on_accept(&ctx)
}

#[tracepoint]
pub fn sys_exit_accept4(ctx: TracePointContext) -> u32 {
    on_accept(&ctx)
}

#[inline(always)]
fn on_accept(ctx: &TracePointContext) -> u32 {
    let tgid = current_tgid();
    // Only listeners start sessions: an accept() inside a session (port
    // forwarding, a user's own server) does not.
    if unsafe { LISTENERS.get(&tgid) }.is_none() {
        return 0;
    }
    let ret: i64 = unsafe { ctx.read_at(16) }.unwrap_or(-1);
    if ret < 0 {
        return 0;
    }
    let cur = task::current_task();
    let Some(sk) = task::sock_of_fd(cur, ret as u32) else {
        return 0;
    };
    let family: u16 = task::read(sk, off!(skc_family)).unwrap_or(0);
    if family != AF_INET && family != AF_INET6 {
        return 0;
    }
    let now = header(EventKind::Connect, tgid, 0);
    // Nothing has been sent on a just-accepted connection, but subtracting
    // bytes_acked keeps the ISN exact in any case.
    let snd_una: u32 = task::read(sk, off!(tcp_snd_una)).unwrap_or(0);
    let acked: u64 = task::read(sk, off!(tcp_bytes_acked)).unwrap_or(0);
    let server_isn = snd_una.wrapping_sub(acked as u32).wrapping_sub(1);
    let mut ev = ConnectEvent {
        hdr: now,
        listener_tgid: tgid,
        family,
        local_port: task::read(sk, off!(skc_num)).unwrap_or(0),
        remote_port: u16::from_be(task::read(sk, off!(skc_dport)).unwrap_or(0)),
        sock: sk,
        ..Default::default()
    };
    if family == AF_INET {
        let l: [u8; 4] = task::read(sk, off!(skc_rcv_saddr)).unwrap_or([0; 4]);
        let r: [u8; 4] = task::read(sk, off!(skc_daddr)).unwrap_or([0; 4]);
        ev.local_addr[..4].copy_from_slice(&l);
        ev.remote_addr[..4].copy_from_slice(&r);
    } else {
        ev.local_addr = task::read(sk, off!(skc_v6_rcv_saddr)).unwrap_or([0; 16]);
        ev.remote_addr = task::read(sk, off!(skc_v6_daddr)).unwrap_or([0; 16]);
    }
    // The last four address bytes: all of IPv4, the host part of IPv6.
    let tail = if family == AF_INET { 0 } else { 12 };
    let client = u32::from_be_bytes([
        ev.remote_addr[tail],
        ev.remote_addr[tail + 1],
        ev.remote_addr[tail + 2],
        ev.remote_addr[tail + 3],
    ]);
    let key = session_key(server_isn, client, ev.remote_port);
    ev.hdr.session = key;
    let stats = SockStats {
        session: key,
        bytes_in: 0,
        bytes_out: 0,
        last_flush_ns: now.ktime_ns,
    };
    if SESSION_SOCKS.insert(&sk, &stats, 0).is_err() {
        count_lost(LOST_SOCKS_FULL);
    }
    // The next child of this listener belongs to this connection.
    let _ = LISTENERS.insert(&tgid, &key, 0);
    emit(&ev, Wake::Now);
    0
}
