//! Sessions already open when the agent starts, found in /proc: SSH server
//! listeners (server binary whose parent is not one), their per-connection
//! children (session roots) and all descendants.
use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
};

use ssh_trace_common::{
    event::Creds,
    maps::{SockTuple, DISCOVERED_KEY_BIT},
};

use super::{endpoint, Session};
use crate::{
    event::{Endpoint, Server, ServerMode, SessionId, SessionInfo},
    probes::ServerBinaries,
};

#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Clock ticks after boot.
    pub start_ticks: u64,
    pub creds: Creds,
    pub server: bool,
}

#[derive(Debug)]
pub struct Found {
    pub session: Session,
    /// Members with their ids, root first.
    pub procs: Vec<(u32, Creds)>,
    /// The session's connection (its final byte counts are reported).
    pub conn: Option<SockTuple>,
    /// Sockets the session's server processes listen on (`-R` forwards,
    /// X11 displays, the forwarded agent's socket).
    pub listening: Vec<Listening>,
}

/// A listening socket of a session's server, found in /proc.
#[derive(Clone, Debug, PartialEq)]
pub struct Listening {
    pub pid: u32,
    /// The socket's inode (its identity while it lives).
    pub inode: u64,
    pub at: ListenAt,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ListenAt {
    Tcp(Endpoint),
    /// A unix socket's path ("@name" for an abstract one).
    Unix(String),
}

#[derive(Debug, Default)]
pub struct Snapshot {
    pub listeners: Vec<u32>,
    pub sessions: Vec<Found>,
}

/// /proc/PID/stat of `pid`, if it runs.
fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let after = text.rfind(')')? + 2;
    (after <= text.len()).then_some(Stat { text, after })
}

/// /proc/PID/stat, read once; fields counted from the state (0).
struct Stat {
    text: String,
    after: usize,
}

impl Stat {
    fn field(&self, i: usize) -> Option<&str> {
        self.text[self.after..].split(' ').nth(i)
    }
}

/// The state letter of `pid` (`T`: stopped), if it runs.
pub fn state_of(pid: u32) -> Option<char> {
    read_stat(pid)?.field(0)?.chars().next()
}

/// Whether `pid` is still the process `found` read (not gone, and not a
/// new process given its pid).
pub fn still_running(found: &ProcInfo) -> bool {
    read_stat(found.pid)
        .and_then(|f| f.field(19)?.parse::<u64>().ok())
        .is_some_and(|t| t == found.start_ticks)
}

pub fn read_proc(pid: u32, servers: &ServerBinaries) -> Option<ProcInfo> {
    let f = read_stat(pid)?;
    let ppid = f.field(1)?.parse().ok()?;
    let start_ticks = f.field(19)?.parse().ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ids = |key: &str| -> Option<Vec<u32>> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect()
    };
    let (u, g) = (ids("Uid:")?, ids("Gid:")?);
    let creds = Creds {
        uid: u[0],
        euid: u[1],
        suid: u[2],
        gid: g[0],
        egid: g[1],
        sgid: g[2],
    };
    let server = crate::probes::binary_id(Path::new(&format!("/proc/{pid}/exe")))
        .map(|id| servers.contains(&id))
        .unwrap_or(false);
    Some(ProcInfo {
        pid,
        ppid,
        start_ticks,
        creds,
        server,
    })
}

pub fn all_procs(servers: &ServerBinaries) -> HashMap<u32, ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| read_proc(pid, servers))
        .map(|p| (p.pid, p))
        .collect()
}

/// Key for a discovered session: top bit set (kernel keys never have it),
/// then the root's start time and pid, so a restarted agent makes the same.
pub fn discovered_key(root: &ProcInfo) -> u64 {
    DISCOVERED_KEY_BIT | ((root.start_ticks & 0xff_ffff_ffff) << 22) | (root.pid as u64 & 0x3f_ffff)
}

pub fn snapshot(
    procs: &HashMap<u32, ProcInfo>,
    privsep: &HashSet<u32>,
    make_id: impl Fn(u64) -> SessionId,
    boot_wall_ns: u64,
) -> Snapshot {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in procs.values() {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let (tcp, mut listen) = tcp_tables();
    listen.extend(unix_listeners());
    let found = Finder {
        procs,
        children: &children,
        privsep,
        ticks: clock_ticks(),
        tcp,
        listen,
        boot_wall_ns,
    };
    let mut snap = Snapshot::default();
    for top in procs
        .values()
        .filter(|p| p.server && !found.is_server(p.ppid))
    {
        // A server with a connection on its standard input serves that one
        // connection (inetd mode): it is a session's root, not a listener.
        if stdin_conn(top.pid, &found.tcp).is_some() {
            let server = Server {
                uid: top.creds.euid,
                mode: ServerMode::Inetd,
            };
            snap.sessions.push(found.session(top, server, &make_id));
            continue;
        }
        snap.listeners.push(top.pid);
        for root in found.children.get(&top.pid).into_iter().flatten() {
            if let Some(root) = procs.get(root) {
                let server = Server {
                    uid: top.creds.euid,
                    mode: ServerMode::Accept,
                };
                snap.sessions.push(found.session(root, server, &make_id));
            }
        }
    }
    snap
}

/// What one session is made of, from the process table.
struct Finder<'a> {
    procs: &'a HashMap<u32, ProcInfo>,
    children: &'a HashMap<u32, Vec<u32>>,
    privsep: &'a HashSet<u32>,
    ticks: u64,
    tcp: TcpTable,
    listen: ListenTable,
    boot_wall_ns: u64,
}

impl Finder<'_> {
    fn is_server(&self, pid: u32) -> bool {
        self.procs.get(&pid).is_some_and(|p| p.server)
    }

    /// Members in breadth-first order (root, then shallower first).
    fn members(&self, root: u32) -> Vec<u32> {
        let mut members = vec![root];
        let mut i = 0;
        while i < members.len() {
            if let Some(c) = self.children.get(&members[i]) {
                members.extend(c);
            }
            i += 1;
        }
        members
    }

    fn session(
        &self,
        root: &ProcInfo,
        server: Server,
        make_id: &impl Fn(u64) -> SessionId,
    ) -> Found {
        let members = self.members(root.pid);
        let key = discovered_key(root);
        let mut s = SessionInfo::new(make_id(key));
        s.discovered = true;
        s.server = Some(server);
        // Logged in once a member other than the root runs as a uid that
        // is not the privilege-separation user's.
        if let Some(user) = members[1..]
            .iter()
            .filter_map(|p| self.procs.get(p))
            .find(|p| p.creds.uid == p.creds.euid && !self.privsep.contains(&p.creds.uid))
        {
            s.uid = Some(user.creds.uid);
            s.user = super::users::name_of(user.creds.uid);
        }
        // The root holds the connection (whatever its binary); else a server
        // process of the session does. User processes' sockets are not asked.
        let servers: Vec<u32> = members
            .iter()
            .copied()
            .filter(|&m| m == root.pid || self.procs.get(&m).is_some_and(|p| p.server))
            .collect();
        let conn = servers.iter().find_map(|&m| socket_conn(m, &self.tcp));
        // Forward listeners are the server's own (the root, and server
        // processes whose parent is one): a user's own sshd in the session
        // listens for sessions of its own.
        let listening = servers
            .iter()
            .copied()
            .filter(|&m| {
                m == root.pid || self.procs.get(&m).is_some_and(|p| self.is_server(p.ppid))
            })
            .flat_map(|m| listening(m, &self.listen))
            .collect();
        if let Some(c) = &conn {
            s.source = Some(c.remote);
            s.destination = Some(c.local);
        }
        let procs = members
            .iter()
            .filter_map(|p| self.procs.get(p))
            .map(|p| (p.pid, p.creds))
            .collect();
        let start = self.boot_wall_ns + root.start_ticks * 1_000_000_000 / self.ticks;
        Found {
            session: Session::new(key, s, start),
            procs,
            conn: conn.map(|c| c.tuple),
            listening,
        }
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Wall time of boot, in Unix ns.
pub fn boot_wall_ns() -> u64 {
    // /proc starttime counts from boot on CLOCK_BOOTTIME.
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let boot = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    crate::host::realtime_ns().saturating_sub(boot)
}

/// An established TCP connection from /proc/net/tcp{,6}.
#[derive(Clone, Copy, Debug)]
struct Conn {
    remote: Endpoint,
    local: Endpoint,
    tuple: SockTuple,
}

type TcpTable = HashMap<u64, Conn>;
/// Listening sockets by inode: their address or path.
type ListenTable = HashMap<u64, ListenAt>;

/// TCP state numbers in /proc/net/tcp.
const ESTABLISHED: &str = "01";
const LISTEN: &str = "0A";

/// Established and listening TCP sockets by inode.
fn tcp_tables() -> (TcpTable, ListenTable) {
    let (mut conns, mut listen) = (HashMap::new(), HashMap::new());
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || (f[3] != ESTABLISHED && f[3] != LISTEN) {
                continue;
            }
            let (Some((la, lp)), Some((ra, rp)), Ok(inode)) =
                (parse_raw(f[1], v6), parse_raw(f[2], v6), f[9].parse())
            else {
                continue;
            };
            if f[3] == LISTEN {
                let at = endpoint(if v6 { 10 } else { 2 }, &la, lp);
                listen.insert(inode, ListenAt::Tcp(at));
            } else {
                conns.insert(inode, conn(v6, la, lp, ra, rp));
            }
        }
    }
    (conns, listen)
}

fn conn(v6: bool, la: [u8; 16], lp: u16, ra: [u8; 16], rp: u16) -> Conn {
    let family = if v6 { 10 } else { 2 };
    Conn {
        remote: endpoint(family, &ra, rp),
        local: endpoint(family, &la, lp),
        tuple: SockTuple {
            family,
            local_port: lp,
            remote_port: rp,
            _pad: 0,
            local_addr: la,
            remote_addr: ra,
        },
    }
}

/// "0100007F:0016" (IPv4, host-order words) or 32 hex digits for IPv6:
/// the address in network byte order and the port.
fn parse_raw(s: &str, v6: bool) -> Option<([u8; 16], u16)> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let mut bytes = [0u8; 16];
    let words = if v6 { 4 } else { 1 };
    if a.len() != words * 8 {
        return None;
    }
    for w in 0..words {
        let v = u32::from_str_radix(&a[w * 8..w * 8 + 8], 16).ok()?;
        bytes[w * 4..w * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    Some((bytes, port))
}

#[cfg(test)]
fn parse_addr(s: &str, v6: bool) -> Option<Endpoint> {
    let (a, p) = parse_raw(s, v6)?;
    Some(endpoint(if v6 { 10 } else { 2 }, &a, p))
}

/// Inodes of the sockets `pid` has open, from /proc/PID/fd (only fd 0
/// with `stdin_only`).
fn socket_inodes(pid: u32, stdin_only: bool) -> Vec<u64> {
    let inode = |p: &Path| -> Option<u64> {
        let l = fs::read_link(p).ok()?;
        l.to_str()?
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    };
    if stdin_only {
        return inode(Path::new(&format!("/proc/{pid}/fd/0")))
            .into_iter()
            .collect();
    }
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| inode(&e.ok()?.path())).collect()
}

fn socket_conn(pid: u32, tcp: &TcpTable) -> Option<Conn> {
    socket_inodes(pid, false)
        .into_iter()
        .find_map(|i| tcp.get(&i).copied())
}

/// /proc/net/unix's flag of a listening socket (__SO_ACCEPTCON).
const SO_ACCEPTCON: u32 = 0x0001_0000;

/// Listening unix sockets with a name, by inode.
fn unix_listeners() -> ListenTable {
    let Ok(text) = fs::read_to_string("/proc/net/unix") else {
        return HashMap::new();
    };
    text.lines().skip(1).filter_map(unix_listener).collect()
}

/// "Num: RefCount Protocol Flags Type St Inode Path": a named listener's
/// inode and path (everything after the inode column, spaces kept).
fn unix_listener(line: &str) -> Option<(u64, ListenAt)> {
    let mut rest = line;
    let mut fields = [""; 7];
    for f in &mut fields {
        rest = rest.trim_start();
        let end = rest.find(' ').unwrap_or(rest.len());
        (*f, rest) = rest.split_at(end);
    }
    let flags = u32::from_str_radix(fields[3], 16).ok()?;
    let inode = fields[6].parse().ok()?;
    let path = rest.strip_prefix(' ')?;
    (flags & SO_ACCEPTCON != 0 && !path.is_empty())
        .then(|| (inode, ListenAt::Unix(path.to_owned())))
}

/// The sockets `pid` listens on.
fn listening(pid: u32, listen: &ListenTable) -> Vec<Listening> {
    socket_inodes(pid, false)
        .into_iter()
        .filter_map(|inode| {
            let at = listen.get(&inode)?.clone();
            Some(Listening { pid, inode, at })
        })
        .collect()
}

fn stdin_conn(pid: u32, tcp: &TcpTable) -> Option<Conn> {
    socket_inodes(pid, true)
        .into_iter()
        .find_map(|i| tcp.get(&i).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process read from /proc is still itself; one gone, or another
    /// process with its pid (another start time), is not.
    #[test]
    fn a_process_is_still_running_only_with_its_own_start_time() {
        let me = read_proc(std::process::id(), &ServerBinaries::default()).unwrap();
        assert!(still_running(&me));
        let reused = ProcInfo {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!still_running(&reused));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let gone = read_proc(pid, &ServerBinaries::default());
        child.wait().unwrap();
        if let Some(gone) = gone {
            assert!(!still_running(&gone), "{pid} was reaped");
        }
    }

    /// A stopped process says T.
    #[test]
    fn a_stopped_process_is_in_state_t() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let stopped = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            state_of(pid) == Some('T')
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(stopped);
    }

    #[test]
    fn parses_proc_net_addresses() {
        let e = parse_addr("0100007F:0016", false).unwrap();
        assert_eq!((e.ip.to_string().as_str(), e.port), ("127.0.0.1", 22));
        let e = parse_addr("0000000000000000FFFF00000100007F:1F90", true).unwrap();
        assert_eq!((e.ip.to_string().as_str(), e.port), ("127.0.0.1", 8080));
        let e = parse_addr("00000000000000000000000001000000:0050", true).unwrap();
        assert_eq!(e.ip.to_string(), "::1");
        assert!(parse_addr("zz:1", false).is_none());
    }

    #[test]
    fn a_named_listening_unix_socket_is_read_from_proc_net_unix() {
        let line = "000000005d31c734: 00000002 00000000 00010000 0001 01 387914 /tmp/a b.sock";
        assert_eq!(
            unix_listener(line),
            Some((387914, ListenAt::Unix("/tmp/a b.sock".into())))
        );
        // Connected (no accept flag) or unnamed sockets are no listeners.
        let connected = "000000005d31c734: 00000003 00000000 00000000 0001 03 387915 /tmp/a.sock";
        assert_eq!(unix_listener(connected), None);
        let unnamed = "000000005d31c734: 00000002 00000000 00010000 0001 01  1676";
        assert_eq!(unix_listener(unnamed), None);
    }

    #[test]
    fn discovered_keys_are_apart_from_kernel_keys() {
        let p = ProcInfo {
            pid: 42,
            ppid: 1,
            start_ticks: 1234,
            creds: Creds::default(),
            server: true,
        };
        let k = discovered_key(&p);
        assert!(k & DISCOVERED_KEY_BIT != 0);
        assert_eq!(k & 0x3f_ffff, 42);
        assert!(
            ssh_trace_common::maps::session_key(u32::MAX, u32::MAX, 65535) & DISCOVERED_KEY_BIT
                == 0
        );
    }
}
