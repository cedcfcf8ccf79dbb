//! Session model: kernel events → sessions, their processes and user.
//!
//! A session starts when an SSH server listener accepts a TCP connection and
//! covers the per-connection server process and all its descendants; it ends
//! when that connection closes. Login is the first permanent switch of a
//! session process to a uid other than the privilege-separation user's.
pub mod discover;
pub mod live;
pub mod procfs;
pub mod socket;
pub mod users;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ssh_trace_common::event::{
    ConnectEvent, CredEvent, CredSyscall, Creds, EXEC_FLAG_ARGS_TRUNCATED,
    EXEC_FLAG_FILENAME_TRUNCATED,
};

use crate::{
    decode::{Exec, KernelEvent},
    event::*,
    host::{session_id, Clock},
    text::escape_bytes,
};

/// Resolves uids to names; replaceable in tests.
pub type NameLookup = fn(u32) -> Option<String>;

#[derive(Clone, Debug)]
pub struct Session {
    pub key: u64,
    pub id: String,
    pub start_ns: u64,
    pub source: Option<Endpoint>,
    pub destination: Option<Endpoint>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub discovered: bool,
    pub ended: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub processes: HashSet<u32>,
}

impl Session {
    pub fn new(key: u64, id: String, start_ns: u64) -> Self {
        Self {
            key,
            id,
            start_ns,
            source: None,
            destination: None,
            user: None,
            uid: None,
            discovered: false,
            ended: false,
            bytes_in: 0,
            bytes_out: 0,
            processes: HashSet::new(),
        }
    }

    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            user: self.user.clone(),
            uid: self.uid,
            source: self.source.clone(),
            destination: self.destination.clone(),
            discovered: self.discovered,
            traffic: None,
            end: None,
        }
    }
}

pub struct SessionTable {
    boot_id: [u8; 16],
    clock: Clock,
    privsep_uids: HashSet<u32>,
    names: NameLookup,
    sessions: HashMap<u64, Session>,
    /// Last known ids of each session process (to see set-user-ID execs).
    procs: HashMap<u32, Creds>,
}

pub fn ids(c: &Creds) -> Ids {
    Ids {
        uid: c.uid,
        euid: c.euid,
        suid: c.suid,
        gid: c.gid,
        egid: c.egid,
        sgid: c.sgid,
    }
}

pub fn endpoint(family: u16, addr: &[u8; 16], port: u16) -> Endpoint {
    let ip = if family == 10 {
        let v6 = Ipv6Addr::from(*addr);
        // Show v4-mapped peers of a dual-stack listener as IPv4.
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    } else {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    };
    Endpoint {
        ip: ip.to_string(),
        port,
    }
}

impl SessionTable {
    pub fn new(
        boot_id: [u8; 16],
        clock: Clock,
        privsep_uids: HashSet<u32>,
        names: NameLookup,
    ) -> Self {
        Self {
            boot_id,
            clock,
            privsep_uids,
            names,
            sessions: HashMap::new(),
            procs: HashMap::new(),
        }
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn session_id(&self, key: u64) -> String {
        session_id(&self.boot_id, key)
    }

    /// Adds a session found in /proc at start-up and its processes.
    pub fn add_discovered(&mut self, s: Session, procs: &[(u32, Creds)], out: &mut Vec<Event>) {
        for &(pid, creds) in procs {
            self.procs.insert(pid, creds);
        }
        let key = s.key;
        let start = s.start_ns;
        let logged_in = s.uid.is_some();
        let mut s = s;
        s.processes = procs.iter().map(|p| p.0).collect();
        self.sessions.insert(key, s);
        let info = self.sessions[&key].info();
        out.push(Event::new(
            start,
            Kind::SessionConnect,
            Some(info.clone()),
            Body::None {},
        ));
        if logged_in {
            out.push(Event::new(
                start,
                Kind::SessionLogin,
                Some(info),
                Body::None {},
            ));
        }
    }

    /// Session for `key`, created on the fly if its connect record was lost.
    fn session(&mut self, key: u64, time_ns: u64) -> &mut Session {
        let id = session_id(&self.boot_id, key);
        self.sessions
            .entry(key)
            .or_insert_with(|| Session::new(key, id, time_ns))
    }

    pub fn handle(&mut self, ev: &KernelEvent, out: &mut Vec<Event>) {
        let hdr = ev.header();
        let time = self.clock.wall_ns(hdr.ktime_ns);
        let key = hdr.session;
        match ev {
            KernelEvent::Connect(c) => self.on_connect(c, time, out),
            KernelEvent::Fork(f) => {
                self.procs.insert(f.child_tgid, f.creds);
                self.session(key, time).processes.insert(f.child_tgid);
            }
            KernelEvent::Exec(e) => self.on_exec(e, time, out),
            KernelEvent::Exit(x) => {
                let pid = hdr.tgid;
                self.procs.remove(&pid);
                let code = x.exit_code;
                let sig = (code & 0x7f) as u8;
                let body = ProcessExit {
                    pid,
                    exit_code: (sig == 0).then_some((code >> 8) as u8),
                    signal: (sig != 0).then_some(sig),
                };
                let s = self.session(key, time);
                s.processes.remove(&pid);
                let info = s.info();
                out.push(Event::new(
                    time,
                    Kind::ProcessExit,
                    Some(info),
                    Body::ProcessExit { process: body },
                ));
                self.forget_if_done(key);
            }
            KernelEvent::Cred(c) => self.on_cred(c, time, out),
            KernelEvent::Bytes(b) => {
                let s = self.session(key, time);
                s.bytes_in = s.bytes_in.max(b.bytes_in);
                s.bytes_out = s.bytes_out.max(b.bytes_out);
                if s.ended {
                    return;
                }
                let mut info = s.info();
                info.traffic = Some(Traffic {
                    bytes_in: s.bytes_in,
                    bytes_out: s.bytes_out,
                });
                if b.closed == 0 {
                    out.push(Event::new(
                        time,
                        Kind::SessionBytes,
                        Some(info),
                        Body::None {},
                    ));
                    return;
                }
                s.ended = true;
                info.end = Some(SessionEnd {
                    duration_ms: time.saturating_sub(s.start_ns) / 1_000_000,
                    logged_in: s.uid.is_some(),
                });
                out.push(Event::new(
                    time,
                    Kind::SessionEnd,
                    Some(info),
                    Body::None {},
                ));
                self.forget_if_done(key);
            }
        }
    }

    /// An ended session is kept while processes of it still run.
    fn forget_if_done(&mut self, key: u64) {
        if self
            .sessions
            .get(&key)
            .is_some_and(|s| s.ended && s.processes.is_empty())
        {
            self.sessions.remove(&key);
        }
    }

    fn on_connect(&mut self, c: &ConnectEvent, time: u64, out: &mut Vec<Event>) {
        let s = self.session(c.hdr.session, time);
        s.start_ns = time;
        s.source = Some(endpoint(c.family, &c.remote_addr, c.remote_port));
        s.destination = Some(endpoint(c.family, &c.local_addr, c.local_port));
        let info = s.info();
        out.push(Event::new(
            time,
            Kind::SessionConnect,
            Some(info),
            Body::None {},
        ));
    }

    fn on_exec(&mut self, e: &Exec, time: u64, out: &mut Vec<Event>) {
        let key = e.head.hdr.session;
        let pid = e.head.hdr.tgid;
        let new = e.head.creds;
        let before = self.procs.insert(pid, new);
        self.session(key, time).processes.insert(pid);
        // A set-user-ID program (sudo, su) changes ids at exec, without a
        // setuid-family call: report it as a user change too.
        if let Some(old) = before.filter(|old| ids(old) != ids(&new)) {
            let change = UserChange {
                syscall: "execve",
                args: Vec::new(),
                success: true,
                errno: None,
                old: ids(&old),
                new: ids(&new),
                user: (self.names)(new.uid),
                effective_user: (self.names)(new.euid),
            };
            let info = self.sessions[&key].info();
            out.push(Event::new(
                time,
                Kind::UserChange,
                Some(info),
                Body::UserChange {
                    process: Pid { pid },
                    change,
                },
            ));
        }
        let process = ProcessExec {
            pid,
            ppid: e.head.ppid,
            uid: new.uid,
            euid: new.euid,
            gid: new.gid,
            egid: new.egid,
            executable: escape_bytes(&e.filename),
            executable_truncated: e.head.flags & EXEC_FLAG_FILENAME_TRUNCATED != 0,
            args: e.args.iter().map(|a| escape_bytes(a)).collect(),
            args_truncated: e.head.flags & EXEC_FLAG_ARGS_TRUNCATED != 0,
        };
        let info = self.sessions[&key].info();
        out.push(Event::new(
            time,
            Kind::ProcessExec,
            Some(info),
            Body::ProcessExec { process },
        ));
    }

    fn on_cred(&mut self, c: &CredEvent, time: u64, out: &mut Vec<Event>) {
        let key = c.hdr.session;
        let pid = c.hdr.tgid;
        let Some(syscall) = CredSyscall::from_u32(c.syscall) else {
            return;
        };
        let args: Vec<i64> = c.args[..syscall.arg_count()]
            .iter()
            .map(|&a| if a == u32::MAX { -1 } else { a as i64 })
            .collect();
        let success = c.ret == 0;
        self.procs.insert(pid, c.new);
        let names = self.names;
        let login = success && is_login(syscall, &args, &c.new, &self.privsep_uids);
        let s = self.session(key, time);
        s.processes.insert(pid);
        let change = UserChange {
            syscall: syscall.name(),
            args: args.clone(),
            success,
            errno: (!success).then_some(-c.ret as i32),
            old: ids(&c.old),
            new: ids(&c.new),
            user: names(c.new.uid),
            effective_user: names(c.new.euid),
        };
        let info = s.info();
        out.push(Event::new(
            time,
            Kind::UserChange,
            Some(info),
            Body::UserChange {
                process: Pid { pid },
                change,
            },
        ));
        if s.uid.is_none() && login {
            s.uid = Some(c.new.uid);
            s.user = names(c.new.uid);
            let info = s.info();
            out.push(Event::new(
                time,
                Kind::SessionLogin,
                Some(info),
                Body::None {},
            ));
        }
    }
}

/// A login is a permanent switch: every uid argument given explicitly, and
/// real = effective = saved afterwards, to a uid that is not the privilege
/// separation user's. Temporary switches (sshd's monitor reading
/// authorized_keys with seteuid) do not count.
fn is_login(syscall: CredSyscall, args: &[i64], new: &Creds, privsep: &HashSet<u32>) -> bool {
    let uid_call = matches!(
        syscall,
        CredSyscall::Setuid | CredSyscall::Setreuid | CredSyscall::Setresuid
    );
    uid_call
        && args.iter().all(|&a| a >= 0)
        && new.uid == new.euid
        && new.euid == new.suid
        && !privsep.contains(&new.uid)
}

#[cfg(test)]
mod tests;
