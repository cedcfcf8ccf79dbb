//! Session model: kernel events → sessions, their processes and user, and
//! the events they make. Each session keeps one shared snapshot
//! (`Arc<SessionInfo>`) that its events point to; it is replaced only when
//! the session changes (connect, login).
use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use ssh_trace_common::event::{
    BytesEvent, ConnectEvent, CredEvent, CredSyscall, Creds, ExitEvent, ForwardEvent,
    AUTH_DEST_SYSLOG, AUTH_FLAG_TRUNCATED, AUTH_FLAG_UNREADABLE, CONNECT_INETD,
    EXEC_FLAG_ARGS_TRUNCATED, EXEC_FLAG_FILENAME_TRUNCATED, EXEC_FLAG_SERVER_ROLE,
    EXEC_FLAG_UNLINKED,
};

use super::{
    auth,
    forward::{self, Forwards},
    users::{NameLookup, UserNames},
};
use crate::{
    decode::{AuthRecord, Exec, KernelEvent, Tty},
    event::*,
    host::Clock,
};

#[derive(Clone, Debug)]
pub struct Session {
    pub key: u64,
    pub start_ns: u64,
    /// What its events show; replaced (not edited) when it changes.
    pub info: Arc<SessionInfo>,
    pub ended: bool,
    pub traffic: Traffic,
    pub processes: HashSet<u32>,
    /// Its terminal recording (session/tty.rs).
    pub tty: super::tty::Track,
    /// Its forwards still open.
    pub forwards: Forwards,
    /// The process that made the login switch (OpenSSH's post-auth child).
    pub login_pid: Option<u32>,
    /// What it tried before the login, and the accepted decision.
    pub attempts: Attempts,
    pub accepted: Option<Box<Accepted>>,
    /// Unix ns of its connect, when this agent saw it (its authentication
    /// is then this agent's to watch).
    pub connected_ns: Option<u64>,
}

impl Session {
    pub fn new(key: u64, info: SessionInfo, start_ns: u64) -> Self {
        Self {
            key,
            start_ns,
            info: Arc::new(info),
            ended: false,
            traffic: Traffic::default(),
            processes: HashSet::new(),
            tty: Default::default(),
            forwards: Forwards::default(),
            login_pid: None,
            attempts: Attempts::default(),
            accepted: None,
            connected_ns: None,
        }
    }

    pub fn id(&self) -> SessionId {
        self.info.id
    }

    /// Gives a session found in /proc the key (and id) the kernel knows it
    /// by: its programs were tracking it already (a restart of persistent
    /// programs, or a connection accepted while discovery ran).
    pub fn rekey(&mut self, key: u64, id: SessionId) {
        self.key = key;
        let mut info = (*self.info).clone();
        info.id = id;
        self.info = Arc::new(info);
    }

    /// A new snapshot for the events from now on.
    fn change(&mut self, f: impl FnOnce(&mut SessionInfo)) {
        f(Arc::make_mut(&mut self.info));
    }
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
        IpAddr::V6(Ipv6Addr::from(*addr))
    } else {
        IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    };
    // Endpoint::new shows v4-mapped peers of a dual-stack listener as IPv4.
    Endpoint::new(ip, port)
}

/// What discovery found of one session, for `add_discovered`.
pub struct Discovered<'a> {
    pub session: Session,
    /// Members with their ids, root first.
    pub procs: &'a [(u32, Creds)],
    /// Its server's listening sockets.
    pub listening: &'a [super::discover::Listening],
}

pub struct SessionTable {
    boot_id: [u8; 16],
    clock: Clock,
    privsep_uids: HashSet<u32>,
    names: UserNames,
    sessions: HashMap<u64, Session>,
    /// Last known ids of each session process (to see set-user-ID execs).
    procs: HashMap<u32, Creds>,
    /// Whose terminals are recorded (None: recording is off).
    tty: Option<Arc<super::tty::Selection>>,
    /// Sessions that logged in since the last `take_logged_in`: the kernel
    /// stops reading their server's log output.
    logged_in: Vec<u64>,
    /// Authentications that ended (login or end) since the last
    /// `take_auth_windows`.
    auth_windows: Vec<super::auth::AuthWindow>,
    /// Server ports whose server logged a decision that was read: there a
    /// login without one means a missed one, not logging turned off.
    logging_servers: HashSet<u16>,
    /// A connection came in since the last `take_connected`.
    connected: bool,
    /// Log records of servers that made no event (other messages, or
    /// another format), since the start.
    pub auth_unparsed: u64,
    /// Of those, records cut at the kernel's copy limit (AUTH_TEXT_MAX) or
    /// unreadable: they may have been decisions.
    pub auth_cut: u64,
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
            names: UserNames::new(names),
            sessions: HashMap::new(),
            procs: HashMap::new(),
            tty: None,
            logged_in: Vec::new(),
            auth_windows: Vec::new(),
            logging_servers: HashSet::new(),
            connected: false,
            auth_unparsed: 0,
            auth_cut: 0,
        }
    }

    /// Records the terminals of the sessions `sel` selects.
    pub fn record_terminals(&mut self, sel: super::tty::Selection) {
        self.tty = Some(Arc::new(sel));
    }

    /// Whether the session's terminal is recorded: decided once its user
    /// is known (dropbear logs in after its pty exists: until then only a
    /// selection of everyone records it).
    pub fn tty_recorded(&mut self, key: u64, time_ns: u64) -> bool {
        let Some(sel) = self.tty.clone() else {
            return false;
        };
        let s = self.session(key, time_ns);
        if let Some(decided) = s.tty.recorded {
            return decided;
        }
        let yes = sel.selects(&s.info);
        if yes || s.info.user.is_some() {
            s.tty.recorded = Some(yes);
        }
        yes
    }

    pub fn get(&self, key: u64) -> Option<&Session> {
        self.sessions.get(&key)
    }

    /// Unix ns of a kernel (monotonic) time.
    pub fn wall_ns(&self, ktime_ns: u64) -> u64 {
        self.clock.wall_ns(ktime_ns)
    }

    /// Sessions that logged in since the last call.
    pub fn take_logged_in(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.logged_in)
    }

    /// Authentications that ended since the last call.
    pub fn take_auth_windows(&mut self) -> Vec<super::auth::AuthWindow> {
        std::mem::take(&mut self.auth_windows)
    }

    /// Whether a connection came in since the last call (its server's log
    /// output is to be read from now on).
    pub fn take_connected(&mut self) -> bool {
        std::mem::take(&mut self.connected)
    }

    /// Sessions between their connect and their login or end.
    pub fn authenticating_keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.sessions
            .iter()
            .filter(|(_, s)| s.info.uid.is_none() && !s.ended)
            .map(|(&k, _)| k)
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn session_id(&self, key: u64) -> SessionId {
        SessionId::new(&self.boot_id, key)
    }

    /// Adds a session found in /proc at start-up and its processes: its
    /// connect (and login), then the listeners its server already had
    /// (reported now, `now_ns`).
    pub fn add_discovered(&mut self, found: Discovered, now_ns: u64, out: &mut Vec<Event>) {
        for &(pid, creds) in found.procs {
            self.procs.insert(pid, creds);
        }
        let mut s = found.session;
        let (key, start) = (s.key, s.start_ns);
        let logged_in = s.info.uid.is_some();
        s.processes = found.procs.iter().map(|p| p.0).collect();
        let info = s.info.clone();
        out.push(Event::new(start, Some(info.clone()), Body::SessionConnect));
        if logged_in {
            out.push(Event::new(
                start,
                Some(info.clone()),
                Body::SessionLogin(Login::default()),
            ));
        }
        for l in found.listening {
            let f = s.forwards.discovered_listener(l, now_ns);
            let body = Body::SessionForward(Box::new(f));
            out.push(Event::new(now_ns, Some(info.clone()), body));
        }
        self.sessions.insert(key, s);
    }

    /// Session for `key`, created on the fly if its connect record was lost.
    fn session(&mut self, key: u64, time_ns: u64) -> &mut Session {
        let id = SessionId::new(&self.boot_id, key);
        self.sessions
            .entry(key)
            .or_insert_with(|| Session::new(key, SessionInfo::new(id), time_ns))
    }

    pub fn handle(&mut self, ev: KernelEvent, out: &mut Vec<Event>) {
        let hdr = *ev.header();
        let time = self.clock.wall_ns(hdr.ktime_ns);
        let key = hdr.session;
        match ev {
            KernelEvent::Connect(c) => self.on_connect(&c, time, out),
            KernelEvent::Fork(f) => {
                self.procs.insert(f.child_tgid, f.creds);
                self.session(key, time).processes.insert(f.child_tgid);
            }
            KernelEvent::Exec(e) => self.on_exec(e, time, out),
            KernelEvent::Exit(x) => self.on_exit(&x, time, out),
            KernelEvent::Cred(c) => self.on_cred(&c, time, out),
            KernelEvent::Bytes(b) => self.on_bytes(&b, time, out),
            KernelEvent::Tty(t) => self.on_tty(t, time, out),
            KernelEvent::Transfer(t) => {
                let s = self.session(key, time);
                let body = Body::FileTransfer(Box::new(super::transfers::body(*t)));
                out.push(Event::new(time, Some(s.info.clone()), body));
            }
            KernelEvent::Forward(f) => self.on_forward(&f, time, out),
            KernelEvent::Auth(a) => self.on_auth(&a, time, out),
        }
    }

    fn on_tty(&mut self, t: Tty, time: u64, out: &mut Vec<Event>) {
        let key = t.head.hdr.session;
        if !self.tty_recorded(key, time) {
            return;
        }
        let s = self.session(key, time);
        super::tty::events(&mut s.tty, t, time, &s.info, out);
    }

    fn on_forward(&mut self, r: &ForwardEvent, time: u64, out: &mut Vec<Event>) {
        let s = self.session(r.hdr.session, time);
        if !forward::wanted(r, s.login_pid) {
            return;
        }
        if let Some(f) = s.forwards.record(r, time) {
            let body = Body::SessionForward(Box::new(f));
            out.push(Event::new(time, Some(s.info.clone()), body));
        }
        self.forget_if_done(r.hdr.session);
    }

    /// An ended session is kept while processes or forwards of it remain.
    fn forget_if_done(&mut self, key: u64) {
        if self
            .sessions
            .get(&key)
            .is_some_and(|s| s.ended && s.processes.is_empty() && s.forwards.is_empty())
        {
            self.sessions.remove(&key);
        }
    }

    fn on_connect(&mut self, c: &ConnectEvent, time: u64, out: &mut Vec<Event>) {
        let parent = (c.parent_session != 0).then(|| self.session_id(c.parent_session));
        self.connected = true;
        let s = self.session(c.hdr.session, time);
        s.start_ns = time;
        s.connected_ns = Some(time);
        s.change(|i| {
            i.source = Some(endpoint(c.family, &c.remote_addr, c.remote_port));
            i.destination = Some(endpoint(c.family, &c.local_addr, c.local_port));
            let mode = if c.origin == CONNECT_INETD {
                ServerMode::Inetd
            } else {
                ServerMode::Accept
            };
            i.server = Some(Server {
                uid: c.server_uid,
                mode,
            });
            i.parent = parent;
        });
        out.push(Event::new(time, Some(s.info.clone()), Body::SessionConnect));
    }

    fn on_exit(&mut self, x: &ExitEvent, time: u64, out: &mut Vec<Event>) {
        let (pid, key) = (x.hdr.tgid, x.hdr.session);
        self.procs.remove(&pid);
        let sig = (x.exit_code & 0x7f) as u8;
        let body = ProcessExit {
            pid,
            exit_code: (sig == 0).then_some((x.exit_code >> 8) as u8),
            signal: (sig != 0).then_some(sig),
        };
        let s = self.session(key, time);
        s.processes.remove(&pid);
        out.push(Event::new(
            time,
            Some(s.info.clone()),
            Body::ProcessExit(body),
        ));
        for f in s.forwards.exited(pid, time) {
            let body = Body::SessionForward(Box::new(f));
            out.push(Event::new(time, Some(s.info.clone()), body));
        }
        self.forget_if_done(key);
    }

    fn on_bytes(&mut self, b: &BytesEvent, time: u64, out: &mut Vec<Event>) {
        let key = b.hdr.session;
        let s = self.session(key, time);
        s.traffic.bytes_in = s.traffic.bytes_in.max(b.bytes_in);
        s.traffic.bytes_out = s.traffic.bytes_out.max(b.bytes_out);
        if s.ended {
            return;
        }
        let info = Some(s.info.clone());
        if b.closed == 0 {
            out.push(Event::new(time, info, Body::SessionBytes(s.traffic)));
            return;
        }
        s.ended = true;
        let end = SessionEnd {
            duration_ms: time.saturating_sub(s.start_ns) / 1_000_000,
            logged_in: s.info.uid.is_some(),
        };
        let attempts = std::mem::take(&mut s.attempts);
        let window = s
            .connected_ns
            .filter(|_| !end.logged_in && !s.info.user_server())
            .map(|opened_ns| super::auth::AuthWindow {
                key,
                opened_ns,
                logged_in: false,
                decided: attempts.attempts > 0,
                server_logs: false,
            });
        let closed = Closed {
            traffic: s.traffic,
            end,
            attempts: (!end.logged_in && !attempts.is_empty()).then(|| Box::new(attempts)),
        };
        out.push(Event::new(time, info, Body::SessionEnd(closed)));
        self.close_auth_window(window);
        self.forget_if_done(key);
    }

    fn on_exec(&mut self, e: Exec, time: u64, out: &mut Vec<Event>) {
        let key = e.head.hdr.session;
        let pid = e.head.hdr.tgid;
        let new = e.head.creds;
        let before = self.procs.insert(pid, new);
        let info = {
            let s = self.session(key, time);
            s.processes.insert(pid);
            s.info.clone()
        };
        // A set-user-ID program (sudo, su) changes ids at exec, without a
        // setuid-family call: report it as a user change too.
        if let Some(old) = before.filter(|old| ids(old) != ids(&new)) {
            let change = UserChange {
                syscall: "execve",
                args: CallArgs::default(),
                success: true,
                errno: None,
                old: ids(&old),
                new: ids(&new),
                user: self.names.name(new.uid, time),
                effective_user: self.names.name(new.euid, time),
            };
            let body = Body::UserChange(IdChange {
                process: Pid { pid },
                change,
            });
            out.push(Event::new(time, Some(info.clone()), body));
        }
        let flags = e.head.flags;
        let server = flags & EXEC_FLAG_SERVER_ROLE != 0;
        // A user's own server never switches uid: its session logs in when
        // the first process that is not the server runs.
        let info = if server {
            info
        } else {
            self.login_by_exec(key, new.uid, time, out)
        };
        let role = if server {
            Role::Server
        } else if info.uid.is_some() {
            Role::User
        } else {
            Role::PreLogin
        };
        let process = ProcessExec {
            pid,
            ppid: e.head.ppid,
            uid: new.uid,
            euid: new.euid,
            gid: new.gid,
            egid: new.egid,
            executable: e.executable,
            executable_truncated: flags & EXEC_FLAG_FILENAME_TRUNCATED != 0,
            args: e.args,
            args_truncated: flags & EXEC_FLAG_ARGS_TRUNCATED != 0,
            role: Some(role),
            fileless: flags & EXEC_FLAG_UNLINKED != 0,
        };
        out.push(Event::new(time, Some(info), Body::ProcessExec(process)));
    }

    /// The login of a session served by a user's own server (it runs as
    /// that user and never calls setuid): at its first process that is not
    /// the server. Returns the snapshot for the exec's events.
    fn login_by_exec(
        &mut self,
        key: u64,
        uid: u32,
        time: u64,
        out: &mut Vec<Event>,
    ) -> Arc<SessionInfo> {
        let user = self.names.name(uid, time).map(|n| n.to_string());
        let s = self.session(key, time);
        if s.info.uid.is_some() || !s.info.user_server() {
            return s.info.clone();
        }
        s.change(|i| {
            i.uid = Some(uid);
            i.user = user;
        });
        // A server run by a user logs nothing the kernel takes (not root).
        let login = Login {
            auth: s.accepted.take(),
        };
        let info = s.info.clone();
        out.push(Event::new(
            time,
            Some(info.clone()),
            Body::SessionLogin(login),
        ));
        self.logged_in.push(key);
        info
    }

    fn on_cred(&mut self, c: &CredEvent, time: u64, out: &mut Vec<Event>) {
        let (key, pid) = (c.hdr.session, c.hdr.tgid);
        let Some(syscall) = CredSyscall::from_u32(c.syscall) else {
            return;
        };
        let mut vals = [0i64; 3];
        for (v, &a) in vals.iter_mut().zip(&c.args[..syscall.arg_count()]) {
            *v = if a == u32::MAX { -1 } else { a as i64 };
        }
        let args = CallArgs::new(&vals[..syscall.arg_count()]);
        let success = c.ret == 0;
        self.procs.insert(pid, c.new);
        let login = success && is_login(syscall, args.as_slice(), &c.new, &self.privsep_uids);
        let change = UserChange {
            syscall: syscall.name(),
            args,
            success,
            errno: (!success).then_some(-c.ret as i32),
            old: ids(&c.old),
            new: ids(&c.new),
            user: self.names.name(c.new.uid, time),
            effective_user: self.names.name(c.new.euid, time),
        };
        let lookup = success && key_lookup(syscall, &c.new, &self.privsep_uids);
        let looked_up = lookup.then(|| self.names.name(c.new.euid, time)).flatten();
        let s = self.session(key, time);
        s.processes.insert(pid);
        let body = Body::UserChange(IdChange {
            process: Pid { pid },
            change,
        });
        out.push(Event::new(time, Some(s.info.clone()), body));
        if s.info.uid.is_none() && lookup {
            s.attempts.key_lookups += 1;
            if let Some(name) = &looked_up {
                s.attempts.add_user(name);
            }
        }
        if s.info.uid.is_none() && login {
            let user = self.names.name(c.new.uid, time).map(|n| n.to_string());
            let s = self.session(key, time);
            s.login_pid = Some(pid);
            s.change(|i| {
                i.uid = Some(c.new.uid);
                i.user = user;
            });
            let login = Login {
                auth: s.accepted.take(),
            };
            let window = s.connected_ns.map(|opened_ns| super::auth::AuthWindow {
                key,
                opened_ns,
                logged_in: true,
                decided: login.auth.is_some(),
                server_logs: false,
            });
            out.push(Event::new(
                time,
                Some(s.info.clone()),
                Body::SessionLogin(login),
            ));
            self.close_auth_window(window);
            self.logged_in.push(key);
        }
    }

    /// A server process's log message: a decision becomes a session.auth
    /// (before the login only: a server decides before it lets a user in).
    fn on_auth(&mut self, a: &AuthRecord, time: u64, out: &mut Vec<Event>) {
        let key = a.head.hdr.session;
        let s = self.session(key, time);
        let parsed = match (s.info.uid, s.info.source) {
            (None, Some(client)) => auth::message(&a.text, a.head.dest == AUTH_DEST_SYSLOG)
                .and_then(|m| auth::parse(m, &client)),
            _ => None,
        };
        let decision = match parsed {
            Some(auth::Parsed::Decision(d)) => d,
            Some(auth::Parsed::Summary { user, failures }) => {
                s.attempts.add_user(&Arc::from(user));
                s.attempts.failures = s.attempts.failures.max(failures);
                return;
            }
            None => {
                self.auth_unparsed += 1;
                if a.head.flags & (AUTH_FLAG_TRUNCATED | AUTH_FLAG_UNREADABLE) != 0 {
                    self.auth_cut += 1;
                }
                return;
            }
        };
        s.attempts.attempts += 1;
        if decision.outcome == Outcome::Failed {
            s.attempts.failures += 1;
        }
        if let Some(u) = &decision.user {
            s.attempts.add_user(u);
        }
        if decision.outcome == Outcome::Accepted {
            s.accepted = Accepted::of(&decision).map(Box::new);
        }
        let body = Body::SessionAuth(Box::new(AuthDecision {
            pid: a.head.hdr.tgid,
            auth: Arc::new(decision),
        }));
        let port = s.info.destination.as_ref().map(|d| d.port);
        out.push(Event::new(time, Some(s.info.clone()), body));
        self.logging_servers.extend(port);
    }

    /// Notes an authentication that ended, with whether its server is one
    /// that logs decisions.
    fn close_auth_window(&mut self, window: Option<super::auth::AuthWindow>) {
        let Some(mut w) = window else { return };
        let port = self
            .sessions
            .get(&w.key)
            .and_then(|s| s.info.destination.as_ref().map(|d| d.port));
        w.server_logs = port.is_some_and(|p| self.logging_servers.contains(&p));
        self.auth_windows.push(w);
    }
}

/// A server process reading a user's files as the user (OpenSSH's monitor
/// and dropbear open authorized_keys so): its effective uid switched to
/// a user's that is not root or the privilege-separation user's, its real
/// uid kept.
fn key_lookup(syscall: CredSyscall, new: &Creds, privsep: &HashSet<u32>) -> bool {
    let uid_call = matches!(
        syscall,
        CredSyscall::Setuid | CredSyscall::Setreuid | CredSyscall::Setresuid
    );
    uid_call && new.euid != new.uid && new.euid != 0 && !privsep.contains(&new.euid)
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
