//! Bytes moved on session connections, summed per socket in SESSION_SOCKS
//! and flushed at most once a second per connection and at close.
use core::intrinsics::{atomic_xadd, AtomicOrdering};

use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::tracepoint, programs::TracePointContext};
use ssh_trace_common::{
    event::{BytesEvent, EventKind},
    maps::{SockStats, BYTES_FLUSH_NS, LOST_SOCKS_FULL, TRACKED_ADOPT_SOCK},
};

use crate::maps::*;

const MSG_PEEK: i32 = 2;
const IPPROTO_TCP: u16 = 6;
const TCP_CLOSE: i32 = 7;

/// tracepoint/sock/sock_recv_length: received from the client.
#[tracepoint]
pub fn sock_recv_length(ctx: TracePointContext) -> u32 {
    let flags: i32 = unsafe { ctx.read_at(24) }.unwrap_or(0);
    if flags & MSG_PEEK != 0 {
        return 0;
    }
    count(&ctx, true)
}

/// tracepoint/sock/sock_send_length: sent to the client.
#[tracepoint]
pub fn sock_send_length(ctx: TracePointContext) -> u32 {
    count(&ctx, false)
}

#[inline(always)]
fn count(ctx: &TracePointContext, inbound: bool) -> u32 {
    let ret: i32 = unsafe { ctx.read_at(20) }.unwrap_or(0);
    if ret <= 0 {
        return 0;
    }
    let sk: u64 = unsafe { ctx.read_at(8) }.unwrap_or(0);
    let stats = match SESSION_SOCKS.get_ptr_mut(&sk) {
        Some(s) => s,
        None => match adopt(ctx, sk) {
            Some(s) => s,
            None => return 0,
        },
    };
    let s = unsafe { &mut *stats };
    let counter = if inbound {
        &mut s.bytes_in
    } else {
        &mut s.bytes_out
    };
    // Several CPUs may count the same connection: BPF atomic add (the bpf
    // target has no compare-and-swap, so core's AtomicU64 lacks fetch_add).
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(counter, ret as u64) };
    let now = unsafe { bpf_ktime_get_ns() };
    if now.wrapping_sub(s.last_flush_ns) >= BYTES_FLUSH_NS {
        s.last_flush_ns = now;
        flush(sk, s, false);
    }
    0
}

/// Sessions discovered at start-up have no known socket: the marked process
/// adopts the first TCP socket it moves bytes on.
#[inline(always)]
fn adopt(ctx: &TracePointContext, sk: u64) -> Option<*mut SockStats> {
    let protocol: u16 = unsafe { ctx.read_at(18) }.unwrap_or(0);
    if protocol != IPPROTO_TCP {
        return None;
    }
    let tgid = current_tgid();
    let mut t = tracked(tgid)?;
    if t.flags & TRACKED_ADOPT_SOCK == 0 {
        return None;
    }
    t.flags &= !TRACKED_ADOPT_SOCK;
    let _ = TRACKED.insert(&tgid, &t, 0);
    let stats = SockStats {
        session: t.session,
        bytes_in: 0,
        bytes_out: 0,
        last_flush_ns: unsafe { bpf_ktime_get_ns() },
    };
    if SESSION_SOCKS.insert(&sk, &stats, 0).is_err() {
        count_lost(LOST_SOCKS_FULL);
        return None;
    }
    SESSION_SOCKS.get_ptr_mut(&sk)
}

#[inline(always)]
fn flush(sk: u64, s: &SockStats, closed: bool) {
    emit(
        &BytesEvent {
            hdr: header(EventKind::Bytes, 0, s.session),
            sock: sk,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            closed: closed as u32,
            _pad: 0,
        },
        if closed { Wake::Now } else { Wake::Lazy },
    );
}

/// tracepoint/sock/inet_sock_set_state: a session connection reaching
/// TCP_CLOSE ends its session. Runs in any context (often softirq).
#[tracepoint]
pub fn inet_sock_set_state(ctx: TracePointContext) -> u32 {
    let newstate: i32 = unsafe { ctx.read_at(20) }.unwrap_or(0);
    if newstate != TCP_CLOSE {
        return 0;
    }
    let sk: u64 = unsafe { ctx.read_at(8) }.unwrap_or(0);
    let Some(s) = (unsafe { SESSION_SOCKS.get(&sk).copied() }) else {
        return 0;
    };
    flush(sk, &s, true);
    let _ = SESSION_SOCKS.remove(&sk);
    0
}
