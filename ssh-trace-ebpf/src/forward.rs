//! Forwards of sessions: what a session's SSH server process connects,
//! accepts and listens on for its client (-L/-D/-W and ProxyJump, -R, unix
//! sockets, the agent socket, X11 displays). A forwarder is a server
//! process of a session that is not a listener: OpenSSH's post-auth child,
//! dropbear's per-connection child.
//!
//! TCP costs no new hook: tcp_set_state already sees SYN_SENT and LISTEN in
//! the caller's context (a bitmap check for processes that are not ours),
//! ESTABLISHED and CLOSE by `struct sock *` (skipped while no forward
//! exists), and the byte counts are the tcp_sock's at close, as for
//! sessions. Unix sockets: connect() and listen() of forwarders (enter and
//! exit, rare syscalls), accept() where it is already hooked.
use aya_ebpf::{
    helpers::{bpf_probe_read_kernel_buf, bpf_probe_read_user_buf},
    macros::tracepoint,
    programs::TracePointContext,
};
use ssh_trace_common::{
    event::*,
    maps::{FwdCall, FwdSock, Proc, LOST_FWD_FULL, PROC_LISTENER, PROC_SERVER},
};

use crate::{bytes, maps::*, task, tp, tp::inet_sock_set_state as f};

const TCP_ESTABLISHED: i32 = 1;
const TCP_SYN_SENT: i32 = 2;
const TCP_LISTEN: i32 = 10;
const SOCK_STREAM: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// The session a forwarder process forwards for.
#[inline(always)]
fn forwarder(tgid: u32) -> Option<u64> {
    let p = proc_of(tgid)?;
    let p: &Proc = unsafe { &*p };
    let server = p.flags & PROC_SERVER != 0 && p.flags & PROC_LISTENER == 0;
    (server && p.session != 0).then_some(p.session)
}

/// The per-CPU record, cleared, with its header and socket.
#[inline(always)]
fn record(
    tgid: u32,
    session: u64,
    sk: u64,
    phase: u16,
    how: u16,
) -> Option<&'static mut ForwardEvent> {
    let ev = FWD_SCRATCH.get_ptr_mut(0)?;
    let ev = unsafe { &mut *ev };
    *ev = ForwardEvent::default();
    ev.hdr = header(EventKind::Forward, tgid, session);
    ev.sock = sk;
    ev.phase = phase;
    ev.how = how;
    Some(ev)
}

fn forwards() -> u64 {
    FWD_COUNT.get(0).copied().unwrap_or(1)
}

fn count_add(delta: i64) {
    if let Some(p) = FWD_COUNT.get_ptr_mut(0) {
        unsafe {
            core::intrinsics::atomic_xadd::<u64, u64, { core::intrinsics::AtomicOrdering::Relaxed }>(
                p,
                delta as u64,
            )
        };
    }
}

/// Follows a forward socket to its close; a full map is counted.
#[inline(always)]
fn track(sk: u64, entry: &FwdSock) -> bool {
    if FWD_SOCKS.insert(&sk, entry, 0).is_err() {
        count_lost(LOST_FWD_FULL);
        count_session_loss(entry.session, false);
        return false;
    }
    count_add(1);
    true
}

/// From tcp_set_state, for TCP state changes other than TCP_CLOSE.
#[inline(always)]
pub fn on_tcp_state(ctx: &TracePointContext, newstate: i32) {
    match newstate {
        TCP_SYN_SENT => connecting(ctx),
        TCP_LISTEN => listening(ctx),
        TCP_ESTABLISHED => established(ctx),
        _ => {}
    }
}

/// A forwarder's connect(): a local forward (its record comes when the
/// connection is established, or fails).
#[inline(always)]
fn connecting(ctx: &TracePointContext) {
    let tgid = current_tgid();
    let Some(session) = forwarder(tgid) else {
        return;
    };
    let sk: u64 = unsafe { ctx.read_at(f::SKADDR) }.unwrap_or(0);
    let entry = FwdSock {
        session,
        tgid,
        how: FWD_CONNECT,
        pending: 1,
    };
    track(sk, &entry);
}

/// A forwarder's listen() on TCP: a remote forward or an X11 display.
#[inline(always)]
fn listening(ctx: &TracePointContext) {
    let tgid = current_tgid();
    let Some(session) = forwarder(tgid) else {
        return;
    };
    let sk: u64 = unsafe { ctx.read_at(f::SKADDR) }.unwrap_or(0);
    let entry = FwdSock {
        session,
        tgid,
        how: FWD_LISTENER,
        pending: 0,
    };
    if !track(sk, &entry) {
        return;
    }
    let Some(ev) = record(tgid, session, sk, FWD_LISTEN, FWD_LISTENER) else {
        return;
    };
    tcp_tuple(ctx, ev);
    emit(&*ev, session, Ring::Milestones);
}

/// A local forward's connection is established (softirq: the process is
/// the one that connected, from FWD_SOCKS).
#[inline(always)]
fn established(ctx: &TracePointContext) {
    let old: i32 = unsafe { ctx.read_at(f::OLDSTATE) }.unwrap_or(0);
    if old != TCP_SYN_SENT || forwards() == 0 {
        return;
    }
    let sk: u64 = unsafe { ctx.read_at(f::SKADDR) }.unwrap_or(0);
    let Some(entry) = FWD_SOCKS.get_ptr_mut(&sk) else {
        return;
    };
    let entry = unsafe { &mut *entry };
    if entry.pending == 0 {
        return;
    }
    entry.pending = 0;
    let (tgid, session) = (entry.tgid, entry.session);
    let Some(ev) = record(tgid, session, sk, FWD_OPEN, FWD_CONNECT) else {
        return;
    };
    tcp_tuple(ctx, ev);
    emit(&*ev, session, Ring::Milestones);
}

/// From tcp_set_state at TCP_CLOSE: true when `sk` was a forward's (its
/// final record sent: the bytes of a connection, or why a connect failed).
#[inline(always)]
pub fn on_tcp_close(ctx: &TracePointContext, sk: u64, oldstate: i32) -> bool {
    if forwards() == 0 {
        return false;
    }
    let Some(entry) = (unsafe { FWD_SOCKS.get(&sk).copied() }) else {
        return false;
    };
    let _ = FWD_SOCKS.remove(&sk);
    count_add(-1);
    let phase = if entry.pending != 0 {
        FWD_FAILED
    } else {
        FWD_CLOSE
    };
    let Some(ev) = record(entry.tgid, entry.session, sk, phase, entry.how) else {
        return true;
    };
    tcp_tuple(ctx, ev);
    if phase == FWD_FAILED {
        ev.error = task::read(sk, off!(sk_err)).unwrap_or(0);
    } else if entry.how != FWD_LISTENER {
        (ev.bytes_in, ev.bytes_out) = bytes::final_counts(sk, oldstate);
        // The connecting side's bytes_acked also counts the SYN (acked by
        // the SYN-ACK through tcp_ack); the accepting side's does not.
        if entry.how == FWD_CONNECT {
            ev.bytes_out = ev.bytes_out.saturating_sub(1);
        }
    }
    emit(&*ev, entry.session, Ring::Milestones);
    true
}

/// Addresses from the inet_sock_set_state record (local first).
#[inline(always)]
fn tcp_tuple(ctx: &TracePointContext, ev: &mut ForwardEvent) {
    let t = bytes::tuple_of(ctx);
    ev.family = t.family;
    ev.local_port = t.local_port;
    ev.remote_port = t.remote_port;
    ev.local_addr = t.local_addr;
    ev.remote_addr = t.remote_addr;
}

/// From accept()'s exit, for processes of ours that are not listeners: a
/// forwarder accepting on a forward listener (-R, the agent socket, X11).
#[inline(always)]
pub fn on_accept(ctx: &TracePointContext, tgid: u32) {
    let Some(session) = forwarder(tgid) else {
        return;
    };
    let ret: i64 = unsafe { ctx.read_at(tp::SYS_EXIT_RET) }.unwrap_or(-1);
    if ret < 0 {
        return;
    }
    let Some((file, sk, family)) = stream_socket(ret as u32) else {
        return;
    };
    if family == AF_INET || family == AF_INET6 {
        let entry = FwdSock {
            session,
            tgid,
            how: FWD_ACCEPT,
            pending: 0,
        };
        if !track(sk, &entry) {
            return;
        }
    }
    let Some(ev) = record(tgid, session, sk, FWD_OPEN, FWD_ACCEPT) else {
        return;
    };
    ev.family = family;
    ev.ino = ino_of(file);
    if family == AF_UNIX {
        ev.netns = netns();
        unix_path(sk, ev);
    } else {
        inet_addrs(sk, ev);
    }
    emit(&*ev, session, Ring::Milestones);
}

/// File, socket and family behind `fd` of the current task, if it is a
/// stream socket of IPv4, IPv6 or a unix socket.
#[inline(always)]
fn stream_socket(fd: u32) -> Option<(u64, u64, u16)> {
    let file = task::file_of_fd(task::current_task(), fd)?;
    let sk = task::sock_of_file(file)?;
    let family: u16 = task::read(sk, off!(skc_family))?;
    let sk_type: u16 = task::read(sk, off!(sk_type))?;
    let ok = family == AF_INET || family == AF_INET6 || family == AF_UNIX;
    (ok && sk_type == SOCK_STREAM).then_some((file, sk, family))
}

#[inline(always)]
fn ino_of(file: u64) -> u64 {
    let inode: u64 = task::read(file, off!(file_inode)).unwrap_or(0);
    task::read(inode, off!(inode_ino)).unwrap_or(0)
}

/// Inode of the current task's network namespace.
#[inline(always)]
fn netns() -> u32 {
    let ns: u64 = task::read(task::current_task(), off!(task_nsproxy)).unwrap_or(0);
    let net: u64 = task::read(ns, off!(nsproxy_net_ns)).unwrap_or(0);
    task::read(net, off!(net_ns_inum)).unwrap_or(0)
}

#[inline(always)]
fn inet_addrs(sk: u64, ev: &mut ForwardEvent) {
    ev.local_port = task::read(sk, off!(skc_num)).unwrap_or(0);
    ev.remote_port = u16::from_be(task::read(sk, off!(skc_dport)).unwrap_or(0));
    (ev.local_addr, ev.remote_addr) = crate::connect::inet_addrs(sk, ev.family);
}

/// The path a unix socket is bound to (an accepted socket shares its
/// listener's): `unix_sk(sk)->addr->name[0].sun_path`, `len` bytes.
#[inline(always)]
fn unix_path(sk: u64, ev: &mut ForwardEvent) {
    let addr: u64 = task::read(sk, off!(unix_addr)).unwrap_or(0);
    let len: i32 = task::read(addr, off!(unix_address_len)).unwrap_or(0);
    // sun_family (2 bytes) comes first.
    let mut n = (len as usize).saturating_sub(2);
    if n > FWD_PATH_MAX {
        n = FWD_PATH_MAX;
    }
    if n == 0 {
        return;
    }
    let src = (addr as usize + off!(unix_address_name) + 2) as *const u8;
    if unsafe { bpf_probe_read_kernel_buf(src, &mut ev.path[..n]) }.is_ok() {
        ev.path_len = n as u16;
    }
}

/// connect() and listen() of forwarders on unix stream sockets, between
/// enter and exit (TCP goes through tcp_set_state).
#[inline(always)]
fn call_enter(ctx: &TracePointContext, with_addr: bool) -> u32 {
    let Some(session) = forwarder(current_tgid()) else {
        return 0;
    };
    let fd = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS) }.unwrap_or(u64::MAX);
    let Some((_, _, AF_UNIX)) = stream_socket(fd as u32) else {
        return 0;
    };
    let mut call = FwdCall {
        fd: fd as u32,
        ..Default::default()
    };
    if with_addr {
        call.addr = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS + 8) }.unwrap_or(0);
        call.addr_len = unsafe { ctx.read_at::<u64>(tp::SYS_ENTER_ARGS + 16) }.unwrap_or(0) as u32;
    }
    if FWD_CALLS.insert(&current_tid(), &call, 0).is_err() {
        count_lost(LOST_FWD_FULL);
        count_session_loss(session, false);
    }
    0
}

/// The call's result: a unix local forward opened or failed (the path the
/// server asked for), or a unix listener (the path it bound).
#[inline(always)]
fn call_exit(ctx: &TracePointContext, connect: bool) -> u32 {
    // Every other process's connect() costs the bitmap check only; a
    // forwarder's thread that dies inside the call is cleaned at its exit.
    let tgid = current_tgid();
    let Some(session) = forwarder(tgid) else {
        return 0;
    };
    let tid = current_tid();
    let Some(call) = (unsafe { FWD_CALLS.get(&tid).copied() }) else {
        return 0;
    };
    let _ = FWD_CALLS.remove(&tid);
    let ret: i64 = unsafe { ctx.read_at(tp::SYS_EXIT_RET) }.unwrap_or(-1);
    if !connect && ret != 0 {
        return 0;
    }
    let Some((file, sk, _)) = stream_socket(call.fd) else {
        return 0;
    };
    let (phase, how) = match (connect, ret) {
        (false, _) => (FWD_LISTEN, FWD_LISTENER),
        (true, 0) => (FWD_OPEN, FWD_CONNECT),
        (true, _) => (FWD_FAILED, FWD_CONNECT),
    };
    let Some(ev) = record(tgid, session, sk, phase, how) else {
        return 0;
    };
    ev.family = AF_UNIX;
    ev.ino = ino_of(file);
    ev.netns = netns();
    ev.error = if ret < 0 { -ret as i32 } else { 0 };
    if connect {
        user_path(&call, ev);
    } else {
        unix_path(sk, ev);
    }
    emit(&*ev, session, Ring::Milestones);
    0
}

/// The path of the `struct sockaddr_un` the server passed to connect().
#[inline(always)]
fn user_path(call: &FwdCall, ev: &mut ForwardEvent) {
    let mut n = (call.addr_len as usize).saturating_sub(2);
    if n > FWD_PATH_MAX {
        n = FWD_PATH_MAX;
    }
    if n == 0 || call.addr == 0 {
        return;
    }
    let src = (call.addr + 2) as *const u8;
    if unsafe { bpf_probe_read_user_buf(src, &mut ev.path[..n]) }.is_ok() {
        ev.path_len = n as u16;
    }
}

#[tracepoint]
pub fn fwd_conn_enter(ctx: TracePointContext) -> u32 {
    call_enter(&ctx, true)
}

#[tracepoint]
pub fn fwd_conn_exit(ctx: TracePointContext) -> u32 {
    call_exit(&ctx, true)
}

#[tracepoint]
pub fn fwd_lstn_enter(ctx: TracePointContext) -> u32 {
    call_enter(&ctx, false)
}

#[tracepoint]
pub fn fwd_lstn_exit(ctx: TracePointContext) -> u32 {
    call_exit(&ctx, false)
}
