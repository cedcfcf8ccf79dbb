//! Final byte counts of a session's connection, from TCP's own counters
//! when it closes. No per-packet hook: while the connection is open the
//! agent asks sock_diag for the same counters, for session sockets only.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::{BytesEvent, EventKind},
    maps::SockTuple,
};

use crate::{forward, maps::*, task, tp::inet_sock_set_state as f};

const IPPROTO_TCP: u16 = 6;
const AF_INET: u16 = 2;
const TCP_FIN_WAIT1: i32 = 4;
const TCP_FIN_WAIT2: i32 = 5;
const TCP_CLOSE: i32 = 7;
const TCP_LAST_ACK: i32 = 9;
const TCP_CLOSING: i32 = 11;

/// sock:inet_sock_set_state: a session connection reaching TCP_CLOSE ends
/// its session; forwards (forward.rs) are followed through their states. Runs in any context (often softirq); for connections that
/// are not a session's it costs one lookup (two while discovered sessions
/// are open), once per connection.
#[tracepoint]
pub fn tcp_set_state(ctx: TracePointContext) -> u32 {
    let newstate: i32 = unsafe { ctx.read_at(f::NEWSTATE) }.unwrap_or(0);
    let protocol: u16 = unsafe { ctx.read_at(f::PROTOCOL) }.unwrap_or(0);
    if protocol != IPPROTO_TCP {
        return 0;
    }
    if newstate != TCP_CLOSE {
        forward::on_tcp_state(&ctx, newstate);
        return 0;
    }
    let sk: u64 = unsafe { ctx.read_at(f::SKADDR) }.unwrap_or(0);
    let oldstate: i32 = unsafe { ctx.read_at(f::OLDSTATE) }.unwrap_or(0);
    let session = match unsafe { SESSION_SOCKS.get(&sk).copied() } {
        Some(s) => {
            let _ = SESSION_SOCKS.remove(&sk);
            s
        }
        None if forward::on_tcp_close(&ctx, sk, oldstate) => return 0,
        None => {
            let tuple = tuple_of(&ctx);
            let Some(s) = (unsafe { DISCOVERED_SOCKS.get(&tuple).copied() }) else {
                return 0;
            };
            let _ = DISCOVERED_SOCKS.remove(&tuple);
            s
        }
    };
    crate::auth::end(session);
    let (bytes_in, bytes_out) = final_counts(sk, oldstate);
    let ev = BytesEvent {
        hdr: header(EventKind::Bytes, 0, session),
        sock: sk,
        bytes_in,
        bytes_out,
        closed: 1,
        _pad: 0,
    };
    emit(&ev, session, Ring::Milestones);
    0
}

/// TCP payload bytes received and sent-and-acknowledged. TCP counts a FIN
/// as one sequence number in bytes_received / bytes_acked: take it off —
/// the client's FIN was received when SOCK_DONE is set; ours was sent when
/// the socket went through a FIN state, and acked when nothing is
/// outstanding (snd_una == write_seq, the kernel's own test).
#[inline(always)]
pub(crate) fn final_counts(sk: u64, oldstate: i32) -> (u64, u64) {
    let received: u64 = task::read(sk, off!(tcp_bytes_received)).unwrap_or(0);
    let acked: u64 = task::read(sk, off!(tcp_bytes_acked)).unwrap_or(0);
    let sk_flags: u64 = task::read(sk, off!(sk_flags)).unwrap_or(0);
    let fin_in = (sk_flags >> (off!(sock_done_bit) & 63)) & 1;
    let fin_sent = matches!(
        oldstate,
        TCP_FIN_WAIT1 | TCP_FIN_WAIT2 | TCP_CLOSING | TCP_LAST_ACK
    );
    let snd_una: u32 = task::read(sk, off!(tcp_snd_una)).unwrap_or(0);
    let write_seq: u32 = task::read(sk, off!(tcp_write_seq)).unwrap_or(1);
    let fin_out = (fin_sent && snd_una == write_seq) as u64;
    (
        received.saturating_sub(fin_in),
        acked.saturating_sub(fin_out),
    )
}

/// The connection's addresses from the tracepoint record, local first.
#[inline(always)]
pub(crate) fn tuple_of(ctx: &TracePointContext) -> SockTuple {
    let family: u16 = unsafe { ctx.read_at(f::FAMILY) }.unwrap_or(0);
    let mut t = SockTuple {
        family,
        local_port: unsafe { ctx.read_at(f::SPORT) }.unwrap_or(0),
        remote_port: unsafe { ctx.read_at(f::DPORT) }.unwrap_or(0),
        ..Default::default()
    };
    if family == AF_INET {
        let s: [u8; 4] = unsafe { ctx.read_at(f::SADDR) }.unwrap_or([0; 4]);
        let d: [u8; 4] = unsafe { ctx.read_at(f::DADDR) }.unwrap_or([0; 4]);
        t.local_addr[..4].copy_from_slice(&s);
        t.remote_addr[..4].copy_from_slice(&d);
    } else {
        t.local_addr = unsafe { ctx.read_at(f::SADDR_V6) }.unwrap_or([0; 16]);
        t.remote_addr = unsafe { ctx.read_at(f::DADDR_V6) }.unwrap_or([0; 16]);
    }
    t
}
