//! Binary encoding of events inside a capture block. Strings are
//! length-prefixed, integers LEB128 varints, times delta-coded within a
//! block, and session snapshots (id, user, endpoints) are kept in a
//! block-local dictionary: an event names its session by index, so a block
//! decodes on its own. Every read is bounds-checked: corrupt input is an
//! error, never a panic or an unbounded allocation.
use std::collections::HashMap;

use anyhow::{bail, Context, Result};

use crate::event::*;

/// Longest string a decoder accepts (argv is at most 4 KiB from the kernel).
const MAX_STR: usize = 1 << 20;
/// Most array elements a decoder accepts.
const MAX_ITEMS: usize = 1 << 16;

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            out.push(1);
            put_varint(out, v);
        }
        None => out.push(0),
    }
}

/// Reads from a byte slice; every method checks bounds.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).context("record ends early")?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).context("length overflow")?;
        let s = self.buf.get(self.pos..end).context("record ends early")?;
        self.pos = end;
        Ok(s)
    }

    pub fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bail!("varint longer than 64 bits")
    }

    fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint()?).context("value does not fit 32 bits")
    }

    fn len(&mut self, max: usize) -> Result<usize> {
        let n = self.varint()? as usize;
        if n > max {
            bail!("length {n} over the limit {max}");
        }
        Ok(n)
    }

    pub fn string(&mut self) -> Result<String> {
        let n = self.len(MAX_STR)?;
        let b = self.bytes(n)?;
        Ok(std::str::from_utf8(b)
            .context("string is not UTF-8")?
            .to_owned())
    }

    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => bail!("bad boolean {b}"),
        }
    }

    fn opt_str(&mut self) -> Result<Option<String>> {
        Ok(if self.bool()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    fn opt_u64(&mut self) -> Result<Option<u64>> {
        Ok(if self.bool()? {
            Some(self.varint()?)
        } else {
            None
        })
    }
}

/// The part of a session snapshot that rarely changes between events.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Base {
    id: String,
    user: Option<String>,
    uid: Option<u32>,
    source: Option<(String, u16)>,
    destination: Option<(String, u16)>,
    discovered: bool,
}

impl Base {
    fn of(s: &SessionInfo) -> Self {
        Self {
            id: s.id.clone(),
            user: s.user.clone(),
            uid: s.uid,
            source: s.source.as_ref().map(|e| (e.ip.clone(), e.port)),
            destination: s.destination.as_ref().map(|e| (e.ip.clone(), e.port)),
            discovered: s.discovered,
        }
    }

    fn info(&self) -> SessionInfo {
        let ep = |e: &Option<(String, u16)>| {
            e.as_ref().map(|(ip, port)| Endpoint {
                ip: ip.clone(),
                port: *port,
            })
        };
        SessionInfo {
            id: self.id.clone(),
            user: self.user.clone(),
            uid: self.uid,
            source: ep(&self.source),
            destination: ep(&self.destination),
            discovered: self.discovered,
            traffic: None,
            end: None,
        }
    }

    fn put(&self, out: &mut Vec<u8>) {
        put_str(out, &self.id);
        put_opt_str(out, self.user.as_deref());
        put_opt_u64(out, self.uid.map(u64::from));
        for e in [&self.source, &self.destination] {
            match e {
                Some((ip, port)) => {
                    out.push(1);
                    put_str(out, ip);
                    put_varint(out, *port as u64);
                }
                None => out.push(0),
            }
        }
        out.push(self.discovered as u8);
    }

    fn get(c: &mut Cursor) -> Result<Self> {
        let id = c.string()?;
        let user = c.opt_str()?;
        let uid = c
            .opt_u64()?
            .map(u32::try_from)
            .transpose()
            .context("uid over 32 bits")?;
        let mut ep = || -> Result<Option<(String, u16)>> {
            Ok(if c.bool()? {
                let ip = c.string()?;
                let port = u16::try_from(c.varint()?).context("port over 16 bits")?;
                Some((ip, port))
            } else {
                None
            })
        };
        let (source, destination) = (ep()?, ep()?);
        let discovered = c.bool()?;
        Ok(Self {
            id,
            user,
            uid,
            source,
            destination,
            discovered,
        })
    }
}

/// Stable on-disk codes: never reorder.
fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::SessionConnect => 1,
        Kind::SessionLogin => 2,
        Kind::ProcessExec => 3,
        Kind::ProcessExit => 4,
        Kind::UserChange => 5,
        Kind::SessionBytes => 6,
        Kind::SessionEnd => 7,
        Kind::AgentStart => 8,
        Kind::AgentLoss => 9,
        Kind::AgentStop => 10,
        // 32 + position in ALL_KINDS (append only).
        Kind::Alert(a) => {
            32 + crate::alert::ALL_KINDS
                .iter()
                .position(|k| *k == a)
                .unwrap_or(0) as u8
        }
    }
}

fn kind_of(code: u8) -> Result<Kind> {
    Ok(match code {
        1 => Kind::SessionConnect,
        2 => Kind::SessionLogin,
        3 => Kind::ProcessExec,
        4 => Kind::ProcessExit,
        5 => Kind::UserChange,
        6 => Kind::SessionBytes,
        7 => Kind::SessionEnd,
        8 => Kind::AgentStart,
        9 => Kind::AgentLoss,
        10 => Kind::AgentStop,
        c @ 32.. if ((c - 32) as usize) < crate::alert::ALL_KINDS.len() => {
            Kind::Alert(crate::alert::ALL_KINDS[(c - 32) as usize])
        }
        c => bail!("unknown event code {c}"),
    })
}

const SYSCALLS: &[&str] = &[
    "setuid",
    "setreuid",
    "setresuid",
    "setgid",
    "setregid",
    "setresgid",
    "execve",
];

fn put_ids(out: &mut Vec<u8>, i: &Ids) {
    for v in [i.uid, i.euid, i.suid, i.gid, i.egid, i.sgid] {
        put_varint(out, v as u64);
    }
}

fn get_ids(c: &mut Cursor) -> Result<Ids> {
    Ok(Ids {
        uid: c.u32()?,
        euid: c.u32()?,
        suid: c.u32()?,
        gid: c.u32()?,
        egid: c.u32()?,
        sgid: c.u32()?,
    })
}

fn put_loss(out: &mut Vec<u8>, l: &LossCounts) {
    for v in [
        l.kernel_ringbuf,
        l.kernel_tracked_full,
        l.kernel_socks_full,
        l.queue,
        l.decode,
    ] {
        put_varint(out, v);
    }
}

fn get_loss(c: &mut Cursor) -> Result<LossCounts> {
    Ok(LossCounts {
        kernel_ringbuf: c.varint()?,
        kernel_tracked_full: c.varint()?,
        kernel_socks_full: c.varint()?,
        queue: c.varint()?,
        decode: c.varint()?,
        // Agent-mode sink losses are not part of the capture format.
        sinks: Vec::new(),
    })
}

fn put_agent(out: &mut Vec<u8>, a: &AgentInfo) {
    put_str(out, &a.version);
    put_varint(out, a.pid as u64);
    put_str(out, &a.kernel);
    put_varint(out, a.ring_buffer_bytes as u64);
    put_varint(out, a.server_binaries.len() as u64);
    for b in &a.server_binaries {
        put_str(out, b);
    }
}

fn get_agent(c: &mut Cursor) -> Result<AgentInfo> {
    let version = c.string()?;
    let pid = c.u32()?;
    let kernel = c.string()?;
    let ring_buffer_bytes = c.u32()?;
    let n = c.len(MAX_ITEMS)?;
    let server_binaries = (0..n).map(|_| c.string()).collect::<Result<_>>()?;
    Ok(AgentInfo {
        version,
        pid,
        kernel,
        ring_buffer_bytes,
        server_binaries,
    })
}

fn put_opt_u8(out: &mut Vec<u8>, v: Option<u8>) {
    match v {
        Some(v) => out.extend_from_slice(&[1, v]),
        None => out.push(0),
    }
}

fn get_opt_u8(c: &mut Cursor) -> Result<Option<u8>> {
    Ok(if c.bool()? { Some(c.u8()?) } else { None })
}

/// Encoder state for one block.
#[derive(Default)]
pub struct Encoder {
    sessions: HashMap<Base, u64>,
    last_time: u64,
}

impl Encoder {
    pub fn encode(&mut self, ev: &Event, out: &mut Vec<u8>) {
        out.push(kind_code(ev.kind));
        // Zig-zag delta: agent events may be a little behind kernel ones.
        let delta = ev.time_ns.wrapping_sub(self.last_time) as i64;
        put_varint(out, ((delta << 1) ^ (delta >> 63)) as u64);
        self.last_time = ev.time_ns;
        match &ev.session {
            None => put_varint(out, 0),
            Some(s) => {
                let base = Base::of(s);
                match self.sessions.get(&base) {
                    Some(&i) => put_varint(out, i + 2),
                    None => {
                        put_varint(out, 1);
                        base.put(out);
                        let n = self.sessions.len() as u64;
                        self.sessions.insert(base, n);
                    }
                }
                match &s.traffic {
                    Some(t) => {
                        out.push(1);
                        put_varint(out, t.bytes_in);
                        put_varint(out, t.bytes_out);
                    }
                    None => out.push(0),
                }
                match &s.end {
                    Some(e) => {
                        out.push(1);
                        put_varint(out, e.duration_ms);
                        out.push(e.logged_in as u8);
                    }
                    None => out.push(0),
                }
            }
        }
        self.body(&ev.body, out);
    }

    fn body(&mut self, body: &Body, out: &mut Vec<u8>) {
        match body {
            Body::None {} => {}
            Body::ProcessExec { process: p } => {
                for v in [p.pid, p.ppid, p.uid, p.euid, p.gid, p.egid] {
                    put_varint(out, v as u64);
                }
                put_str(out, &p.executable);
                out.push(p.executable_truncated as u8 | (p.args_truncated as u8) << 1);
                put_varint(out, p.args.len() as u64);
                for a in &p.args {
                    put_str(out, a);
                }
            }
            Body::ProcessExit { process: p } => {
                put_varint(out, p.pid as u64);
                put_opt_u8(out, p.exit_code);
                put_opt_u8(out, p.signal);
            }
            Body::UserChange { process, change: c } => {
                put_varint(out, process.pid as u64);
                out.push(SYSCALLS.iter().position(|s| *s == c.syscall).unwrap_or(0) as u8);
                put_varint(out, c.args.len() as u64);
                for &a in &c.args {
                    put_varint(out, ((a << 1) ^ (a >> 63)) as u64);
                }
                out.push(c.success as u8);
                put_opt_u64(out, c.errno.map(|e| e as u32 as u64));
                put_ids(out, &c.old);
                put_ids(out, &c.new);
                put_opt_str(out, c.user.as_deref());
                put_opt_str(out, c.effective_user.as_deref());
            }
            Body::AgentStart { agent } => put_agent(out, agent),
            Body::AgentLoss { loss, total } => {
                put_loss(out, loss);
                put_loss(out, total);
            }
            Body::AgentStop { agent, totals } => {
                put_agent(out, agent);
                put_varint(out, totals.events);
                put_loss(out, &totals.lost);
            }
            // Alerts are rare: their JSON form is compact enough.
            Body::Alert { alert } => {
                put_str(out, &serde_json::to_string(alert).unwrap_or_default())
            }
        }
    }
}

/// Decoder state for one block.
#[derive(Default)]
pub struct Decoder {
    sessions: Vec<Base>,
    last_time: u64,
}

impl Decoder {
    pub fn decode(&mut self, c: &mut Cursor) -> Result<Event> {
        let kind = kind_of(c.u8()?)?;
        let z = c.varint()?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let time_ns = self.last_time.wrapping_add(delta as u64);
        self.last_time = time_ns;
        let session = match c.varint()? {
            0 => None,
            r => {
                let base = if r == 1 {
                    if self.sessions.len() >= MAX_ITEMS {
                        bail!("too many sessions in one block");
                    }
                    let b = Base::get(c)?;
                    self.sessions.push(b.clone());
                    b
                } else {
                    self.sessions
                        .get((r - 2) as usize)
                        .cloned()
                        .context("reference to an unknown session")?
                };
                let mut info = base.info();
                if c.bool()? {
                    info.traffic = Some(Traffic {
                        bytes_in: c.varint()?,
                        bytes_out: c.varint()?,
                    });
                }
                if c.bool()? {
                    info.end = Some(SessionEnd {
                        duration_ms: c.varint()?,
                        logged_in: c.bool()?,
                    });
                }
                Some(info)
            }
        };
        let body = self.body(kind, c)?;
        Ok(Event {
            time_ns,
            kind,
            session,
            body,
        })
    }

    fn body(&mut self, kind: Kind, c: &mut Cursor) -> Result<Body> {
        Ok(match kind {
            Kind::SessionConnect | Kind::SessionLogin | Kind::SessionBytes | Kind::SessionEnd => {
                Body::None {}
            }
            Kind::ProcessExec => {
                let (pid, ppid, uid, euid, gid, egid) =
                    (c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?);
                let executable = c.string()?;
                let flags = c.u8()?;
                let n = c.len(MAX_ITEMS)?;
                let args = (0..n).map(|_| c.string()).collect::<Result<_>>()?;
                Body::ProcessExec {
                    process: ProcessExec {
                        pid,
                        ppid,
                        uid,
                        euid,
                        gid,
                        egid,
                        executable,
                        executable_truncated: flags & 1 != 0,
                        args,
                        args_truncated: flags & 2 != 0,
                    },
                }
            }
            Kind::ProcessExit => Body::ProcessExit {
                process: ProcessExit {
                    pid: c.u32()?,
                    exit_code: get_opt_u8(c)?,
                    signal: get_opt_u8(c)?,
                },
            },
            Kind::UserChange => {
                let pid = c.u32()?;
                let syscall = *SYSCALLS
                    .get(c.u8()? as usize)
                    .context("unknown syscall code")?;
                let n = c.len(3)?;
                let args = (0..n)
                    .map(|_| c.varint().map(|z| ((z >> 1) as i64) ^ -((z & 1) as i64)))
                    .collect::<Result<_>>()?;
                let success = c.bool()?;
                let errno = c.opt_u64()?.map(|e| e as u32 as i32);
                let (old, new) = (get_ids(c)?, get_ids(c)?);
                let (user, effective_user) = (c.opt_str()?, c.opt_str()?);
                Body::UserChange {
                    process: Pid { pid },
                    change: UserChange {
                        syscall,
                        args,
                        success,
                        errno,
                        old,
                        new,
                        user,
                        effective_user,
                    },
                }
            }
            Kind::AgentStart => Body::AgentStart {
                agent: get_agent(c)?,
            },
            Kind::AgentLoss => Body::AgentLoss {
                loss: get_loss(c)?,
                total: get_loss(c)?,
            },
            Kind::AgentStop => {
                let agent = get_agent(c)?;
                let totals = AgentTotals {
                    events: c.varint()?,
                    lost: get_loss(c)?,
                };
                Body::AgentStop { agent, totals }
            }
            Kind::Alert(_) => Body::Alert {
                alert: serde_json::from_str(&c.string()?).context("undecodable alert")?,
            },
        })
    }
}

/// Encoded form of a session snapshot, for the file header's carried-over
/// open sessions.
pub fn put_session(out: &mut Vec<u8>, s: &SessionInfo) {
    Base::of(s).put(out);
}

pub fn get_session(c: &mut Cursor) -> Result<SessionInfo> {
    Ok(Base::get(c)?.info())
}
