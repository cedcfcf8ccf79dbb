//! Binary encoding of events inside a capture block. Strings are
//! length-prefixed, integers LEB128 varints, times delta-coded within a
//! block, and session snapshots (id, user, endpoints) are kept in a
//! block-local dictionary: an event names its session by index, so a block
//! decodes on its own. Every read is bounds-checked: corrupt input is an
//! error, never a panic or an unbounded allocation.
use std::{collections::HashMap, sync::Arc};

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

pub(super) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

pub(super) fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
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

    /// Whether the record holds more: fields added since a format's first
    /// version are appended at a record's end, read only when present.
    pub fn more(&self) -> bool {
        self.pos < self.buf.len()
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

    /// Whether the record is read to its end (fields added later to a
    /// type are at its end: older records simply lack them).
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn u32(&mut self) -> Result<u32> {
        u32::try_from(self.varint()?).context("value does not fit 32 bits")
    }

    pub(super) fn len(&mut self, max: usize) -> Result<usize> {
        let n = self.varint()? as usize;
        if n > max {
            bail!("length {n} over the limit {max}");
        }
        Ok(n)
    }

    pub fn string(&mut self) -> Result<String> {
        Ok(self.str()?.to_owned())
    }

    /// A string borrowed from the record.
    pub fn str(&mut self) -> Result<&'a str> {
        let n = self.len(MAX_STR)?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b).context("string is not UTF-8")
    }

    pub(super) fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => bail!("bad boolean {b}"),
        }
    }

    pub(super) fn opt_str(&mut self) -> Result<Option<String>> {
        Ok(if self.bool()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    pub(super) fn opt_u64(&mut self) -> Result<Option<u64>> {
        Ok(if self.bool()? {
            Some(self.varint()?)
        } else {
            None
        })
    }
}

/// A session snapshot as stored: id and endpoints as text (the format
/// predates the typed values), read back into the typed snapshot.
fn put_base(out: &mut Vec<u8>, s: &SessionInfo) {
    put_str(out, s.id.text().as_str());
    put_opt_str(out, s.user.as_deref());
    put_opt_u64(out, s.uid.map(u64::from));
    for e in [&s.source, &s.destination] {
        put_opt_endpoint(out, e.as_ref());
    }
    // Flags: 1 discovered, 2 a server follows, 4 a parent session follows
    // (older files hold 0 or 1 here).
    let flags =
        s.discovered as u8 | (s.server.is_some() as u8) << 1 | (s.parent.is_some() as u8) << 2;
    out.push(flags);
    if let Some(sv) = s.server {
        put_varint(out, sv.uid as u64);
        out.push(match sv.mode {
            ServerMode::Accept => 0,
            ServerMode::Inetd => 1,
        });
    }
    if let Some(p) = s.parent {
        put_str(out, p.text().as_str());
    }
}

fn get_base(c: &mut Cursor) -> Result<SessionInfo> {
    let id: SessionId = c.str()?.parse()?;
    let user = c.opt_str()?;
    let uid = c
        .opt_u64()?
        .map(u32::try_from)
        .transpose()
        .context("uid over 32 bits")?;
    let (source, destination) = (get_opt_endpoint(c)?, get_opt_endpoint(c)?);
    let flags = c.u8()?;
    if flags & !7 != 0 {
        bail!("bad session flags {flags}");
    }
    let server = if flags & 2 != 0 {
        let uid = c.u32()?;
        let mode = match c.u8()? {
            0 => ServerMode::Accept,
            1 => ServerMode::Inetd,
            m => bail!("bad server mode {m}"),
        };
        Some(Server { uid, mode })
    } else {
        None
    };
    let parent = if flags & 4 != 0 {
        Some(c.str()?.parse()?)
    } else {
        None
    };
    Ok(SessionInfo {
        id,
        user,
        uid,
        source,
        destination,
        discovered: flags & 1 != 0,
        server,
        parent,
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

/// The counters of the first format; the later ones are in `put_loss_tail`.
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
        ..LossCounts::default()
    })
}

/// Sections at the end of a loss record (agent.loss, agent.stop: after the
/// tails and named sessions), each a tag, a length and its payload. Files
/// without them (all older ones) end before; a reader skips tags it does not
/// know.
const SECTION_OUTPUTS: u8 = 1;
/// Terminal bytes lost (`tty_bytes`) of each count, then each named
/// session's share (agent.loss).
const SECTION_TTY: u8 = 2;
/// Sessions whose authentication was not watched whole (`auth_unwatched`)
/// of each count.
const SECTION_AUTH: u8 = 3;

/// The outputs' failed writes of each of `counts`, when any has some; the
/// terminal bytes lost, when any were.
fn put_sections(out: &mut Vec<u8>, counts: &[&LossCounts], sessions: &[SessionLoss]) {
    if counts.iter().any(|l| !l.outputs.is_empty()) {
        let mut p = Vec::new();
        for l in counts {
            put_varint(&mut p, l.outputs.len() as u64);
            for o in &l.outputs {
                put_str(&mut p, &o.output);
                put_str(&mut p, &o.error);
                put_varint(&mut p, o.failures);
                put_varint(&mut p, o.events);
            }
        }
        put_section(out, SECTION_OUTPUTS, &p);
    }
    if counts.iter().any(|l| l.tty_bytes > 0) {
        let mut p = Vec::new();
        for l in counts {
            put_varint(&mut p, l.tty_bytes);
        }
        put_varint(&mut p, sessions.len() as u64);
        for s in sessions {
            put_varint(&mut p, s.tty_bytes);
        }
        put_section(out, SECTION_TTY, &p);
    }
    if counts.iter().any(|l| l.auth_unwatched > 0) {
        let mut p = Vec::new();
        for l in counts {
            put_varint(&mut p, l.auth_unwatched);
        }
        put_section(out, SECTION_AUTH, &p);
    }
}

fn put_section(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

fn get_sections(
    c: &mut Cursor,
    counts: &mut [&mut LossCounts],
    sessions: &mut [SessionLoss],
) -> Result<()> {
    while c.more() {
        let tag = c.u8()?;
        let len = c.varint()? as usize;
        let mut p = Cursor::new(c.bytes(len)?);
        match tag {
            SECTION_OUTPUTS => {
                for l in counts.iter_mut() {
                    let n = p.len(MAX_ITEMS)?;
                    l.outputs = (0..n).map(|_| get_output(&mut p)).collect::<Result<_>>()?;
                }
            }
            SECTION_TTY => get_tty_section(&mut p, counts, sessions)?,
            SECTION_AUTH => {
                for l in counts.iter_mut() {
                    l.auth_unwatched = p.varint()?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn get_tty_section(
    p: &mut Cursor,
    counts: &mut [&mut LossCounts],
    sessions: &mut [SessionLoss],
) -> Result<()> {
    for l in counts.iter_mut() {
        l.tty_bytes = p.varint()?;
    }
    let n = p.len(LossReport::MAX_NAMED)?;
    for i in 0..n {
        let bytes = p.varint()?;
        if let Some(s) = sessions.get_mut(i) {
            s.tty_bytes = bytes;
        }
    }
    Ok(())
}

fn get_output(c: &mut Cursor) -> Result<OutputLoss> {
    Ok(OutputLoss {
        output: c.string()?,
        error: c.string()?,
        failures: c.varint()?,
        events: c.varint()?,
    })
}

/// Counters added later, at the record's end.
fn put_loss_tail(out: &mut Vec<u8>, l: &LossCounts) {
    for v in [
        l.kernel_milestones,
        l.kernel_listeners_full,
        l.agent_restart,
        l.kernel_rate_limited,
    ] {
        put_varint(out, v);
    }
}

/// The sessions a report names, after both tails.
fn put_named_sessions(out: &mut Vec<u8>, l: &LossReport) {
    put_varint(out, l.sessions.len() as u64);
    for s in &l.sessions {
        put_str(out, s.id.text().as_str());
        put_varint(out, s.records);
        put_varint(out, s.untracked);
    }
    put_varint(out, l.more_sessions);
}

fn get_loss_tail(c: &mut Cursor, l: &mut LossCounts) -> Result<()> {
    if !c.more() {
        return Ok(());
    }
    l.kernel_milestones = c.varint()?;
    l.kernel_listeners_full = c.varint()?;
    l.agent_restart = c.varint()?;
    l.kernel_rate_limited = c.varint()?;
    Ok(())
}

fn get_named_sessions(c: &mut Cursor, l: &mut LossReport) -> Result<()> {
    if !c.more() {
        return Ok(());
    }
    let n = c.len(LossReport::MAX_NAMED)?;
    for _ in 0..n {
        l.sessions.push(SessionLoss {
            id: c.str()?.parse()?,
            records: c.varint()?,
            untracked: c.varint()?,
            tty_bytes: 0,
        });
    }
    l.more_sessions = c.varint()?;
    Ok(())
}

/// Most sinks a heartbeat lists (a configuration has a handful).
const MAX_HEARTBEAT_SINKS: usize = 256;

fn put_heartbeat(out: &mut Vec<u8>, h: &Heartbeat) {
    for v in [
        h.interval_s,
        h.uptime_s,
        h.events,
        h.records,
        h.lost,
        h.sessions_open,
        h.sessions_logged_in,
        h.processes,
        h.queue_batches,
    ] {
        put_varint(out, v);
    }
    put_varint(out, h.sinks.len() as u64);
    for s in &h.sinks {
        put_str(out, &s.sink);
        for v in [s.waiting, s.delivered, s.dropped] {
            put_varint(out, v);
        }
    }
}

fn get_heartbeat(c: &mut Cursor) -> Result<Heartbeat> {
    let mut h = Heartbeat {
        interval_s: c.varint()?,
        uptime_s: c.varint()?,
        events: c.varint()?,
        records: c.varint()?,
        lost: c.varint()?,
        sessions_open: c.varint()?,
        sessions_logged_in: c.varint()?,
        processes: c.varint()?,
        queue_batches: c.varint()?,
        sinks: Vec::new(),
    };
    let n = c.len(MAX_HEARTBEAT_SINKS)?;
    for _ in 0..n {
        h.sinks.push(SinkBacklog {
            sink: c.string()?,
            waiting: c.varint()?,
            delivered: c.varint()?,
            dropped: c.varint()?,
        });
    }
    Ok(h)
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
        previous: None,
    })
}

/// The previous agent (persistent programs), at the record's end.
fn put_agent_tail(out: &mut Vec<u8>, a: &AgentInfo) {
    match &a.previous {
        Some(p) => {
            out.push(1);
            put_str(out, &p.last_alive);
            out.push(p.clean as u8 | (p.programs_kept as u8) << 1);
            put_varint(out, p.lost_in_flight);
        }
        None => out.push(0),
    }
}

fn get_agent_tail(c: &mut Cursor, a: &mut AgentInfo) -> Result<()> {
    if !c.more() || !c.bool()? {
        return Ok(());
    }
    let last_alive = c.string()?;
    let flags = c.u8()?;
    a.previous = Some(PreviousAgent {
        last_alive,
        clean: flags & 1 != 0,
        programs_kept: flags & 2 != 0,
        lost_in_flight: c.varint()?,
    });
    Ok(())
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

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Encoder state for one block.
#[derive(Default)]
pub struct Encoder {
    sessions: HashMap<Arc<SessionInfo>, u64>,
    /// The last snapshot written and its index: most events repeat it.
    last: Option<(Arc<SessionInfo>, u64)>,
    last_time: u64,
}

impl Encoder {
    pub fn encode(&mut self, ev: &Event, out: &mut Vec<u8>) {
        out.push(ev.spec().code);
        // Zig-zag delta: agent events may be a little behind kernel ones.
        put_varint(out, zigzag(ev.time_ns.wrapping_sub(self.last_time) as i64));
        self.last_time = ev.time_ns;
        match &ev.session {
            None => put_varint(out, 0),
            Some(s) => {
                self.session(s, out);
                self.counters(&ev.body, out);
            }
        }
        body(&ev.body, out);
    }

    /// A reference to the block's dictionary, or the snapshot itself.
    fn session(&mut self, s: &Arc<SessionInfo>, out: &mut Vec<u8>) {
        if let Some((last, i)) = &self.last {
            if Arc::ptr_eq(last, s) {
                put_varint(out, i + 2);
                return;
            }
        }
        let i = match self.sessions.get(s) {
            Some(&i) => {
                put_varint(out, i + 2);
                i
            }
            None => {
                put_varint(out, 1);
                put_base(out, s);
                let n = self.sessions.len() as u64;
                self.sessions.insert(s.clone(), n);
                n
            }
        };
        self.last = Some((s.clone(), i));
    }

    /// Byte counters and the end, stored with the session (format v1).
    fn counters(&self, body: &Body, out: &mut Vec<u8>) {
        match body.traffic() {
            Some(t) => {
                out.push(1);
                put_varint(out, t.bytes_in);
                put_varint(out, t.bytes_out);
            }
            None => out.push(0),
        }
        if let Body::SessionEnd(c) = body {
            out.push(1);
            put_varint(out, c.end.duration_ms);
            out.push(c.end.logged_in as u8);
        } else {
            out.push(0);
        }
    }
}

fn body(body: &Body, out: &mut Vec<u8>) {
    match body {
        Body::SessionConnect | Body::SessionBytes(_) => {}
        Body::SessionAuth(a) => {
            put_varint(out, a.pid as u64);
            super::codec_auth::put_auth(out, &a.auth);
        }
        // Added after format v1's first release: at the record's end, and
        // only when there is something (older records end here).
        Body::SessionLogin(l) => {
            if let Some(a) = &l.auth {
                super::codec_auth::put_accepted(out, a);
            }
        }
        Body::SessionEnd(c) => {
            if let Some(a) = &c.attempts {
                super::codec_auth::put_attempts(out, a);
            }
        }
        Body::ProcessExec(p) => {
            for v in [p.pid, p.ppid, p.uid, p.euid, p.gid, p.egid] {
                put_varint(out, v as u64);
            }
            put_str(out, &p.executable);
            // 1, 2: truncations; 4: fileless; bits 3-4: role (0 unknown).
            let role = p.role.map_or(0, Role::code);
            out.push(
                p.executable_truncated as u8
                    | (p.args_truncated as u8) << 1
                    | (p.fileless as u8) << 2
                    | role << 3,
            );
            put_varint(out, p.args.len() as u64);
            for a in p.args.iter() {
                put_str(out, a);
            }
        }
        Body::ProcessExit(p) => {
            put_varint(out, p.pid as u64);
            put_opt_u8(out, p.exit_code);
            put_opt_u8(out, p.signal);
        }
        Body::UserChange(IdChange { process, change: c }) => {
            put_varint(out, process.pid as u64);
            out.push(SYSCALLS.iter().position(|s| *s == c.syscall).unwrap_or(0) as u8);
            put_varint(out, c.args.as_slice().len() as u64);
            for &a in c.args.as_slice() {
                put_varint(out, zigzag(a));
            }
            out.push(c.success as u8);
            put_opt_u64(out, c.errno.map(|e| e as u32 as u64));
            put_ids(out, &c.old);
            put_ids(out, &c.new);
            put_opt_str(out, c.user.as_deref());
            put_opt_str(out, c.effective_user.as_deref());
        }
        Body::FileTransfer(t) => put_transfer(out, t),
        Body::SessionForward(f) => put_forward(out, f),
        Body::AgentStart(agent) => {
            put_agent(out, agent);
            put_agent_tail(out, agent);
        }
        Body::AgentLoss(l) => {
            put_loss(out, &l.loss.counts);
            put_loss(out, &l.total);
            put_loss_tail(out, &l.loss.counts);
            put_loss_tail(out, &l.total);
            put_named_sessions(out, &l.loss);
            put_sections(out, &[&l.loss.counts, &l.total], &l.loss.sessions);
        }
        Body::AgentStop(s) => {
            put_agent(out, &s.agent);
            put_varint(out, s.totals.events);
            put_loss(out, &s.totals.lost);
            put_loss_tail(out, &s.totals.lost);
            put_agent_tail(out, &s.agent);
            put_sections(out, &[&s.totals.lost], &[]);
        }
        Body::AgentHeartbeat(h) => put_heartbeat(out, h),
        // Alerts are rare: their JSON form is compact enough.
        Body::Alert(_, alert) => put_str(out, &serde_json::to_string(alert).unwrap_or_default()),
        Body::SessionTty(t) => put_tty(out, t),
    }
}

const TTY_KINDS: [TtyKind; 5] = [
    TtyKind::Output,
    TtyKind::Input,
    TtyKind::Resize,
    TtyKind::Lost,
    TtyKind::Withheld,
];

/// Terminal data is stored raw (not escaped): replay needs the bytes.
fn put_tty(out: &mut Vec<u8>, t: &Terminal) {
    out.push(TTY_KINDS.iter().position(|k| *k == t.kind).unwrap_or(0) as u8);
    put_varint(out, t.rows as u64);
    put_varint(out, t.cols as u64);
    put_varint(out, t.bytes);
    match &t.data {
        Some(d) => {
            out.push(1);
            put_varint(out, d.0.len() as u64);
            out.extend_from_slice(&d.0);
        }
        None => out.push(0),
    }
}

fn get_tty(c: &mut Cursor) -> Result<Terminal> {
    let kind = *TTY_KINDS
        .get(c.u8()? as usize)
        .context("unknown terminal record type")?;
    let rows = u16::try_from(c.varint()?).context("rows over 16 bits")?;
    let cols = u16::try_from(c.varint()?).context("cols over 16 bits")?;
    let bytes = c.varint()?;
    let data = if c.bool()? {
        let n = c.len(MAX_STR)?;
        Some(TtyBytes(c.bytes(n)?.to_vec()))
    } else {
        None
    };
    Ok(Terminal {
        kind,
        rows,
        cols,
        bytes,
        data,
    })
}

/// What the session part of a record held besides the snapshot.
#[derive(Default)]
struct Counters {
    traffic: Option<Traffic>,
    end: Option<SessionEnd>,
}

/// Decoder state for one block.
#[derive(Default)]
pub struct Decoder {
    sessions: Vec<Arc<SessionInfo>>,
    last_time: u64,
}

impl Decoder {
    pub fn decode(&mut self, c: &mut Cursor) -> Result<Event> {
        let code = c.u8()?;
        let kind = Kind::from_code(code).with_context(|| format!("unknown event code {code}"))?;
        let time_ns = self.last_time.wrapping_add(unzigzag(c.varint()?) as u64);
        self.last_time = time_ns;
        let (session, counters) = match c.varint()? {
            0 => (None, Counters::default()),
            r => (Some(self.session(r, c)?), counters(c)?),
        };
        let body = get_body(kind, counters, c)?;
        Ok(Event {
            time_ns,
            session,
            body,
        })
    }

    /// `r` 1: a new snapshot follows; r ≥ 2: the (r-2)-th of the block.
    fn session(&mut self, r: u64, c: &mut Cursor) -> Result<Arc<SessionInfo>> {
        if r != 1 {
            return self
                .sessions
                .get((r - 2) as usize)
                .cloned()
                .context("reference to an unknown session");
        }
        if self.sessions.len() >= MAX_ITEMS {
            bail!("too many sessions in one block");
        }
        let s = Arc::new(get_base(c)?);
        self.sessions.push(s.clone());
        Ok(s)
    }
}

fn counters(c: &mut Cursor) -> Result<Counters> {
    let mut k = Counters::default();
    if c.bool()? {
        k.traffic = Some(Traffic {
            bytes_in: c.varint()?,
            bytes_out: c.varint()?,
        });
    }
    if c.bool()? {
        k.end = Some(SessionEnd {
            duration_ms: c.varint()?,
            logged_in: c.bool()?,
        });
    }
    Ok(k)
}

fn get_body(kind: Kind, k: Counters, c: &mut Cursor) -> Result<Body> {
    Ok(match kind {
        Kind::SessionConnect => Body::SessionConnect,
        Kind::SessionAuth => Body::SessionAuth(Box::new(AuthDecision {
            pid: c.u32()?,
            auth: Arc::new(super::codec_auth::get_auth(c)?),
        })),
        Kind::SessionLogin => Body::SessionLogin(Login {
            auth: (!c.at_end())
                .then(|| super::codec_auth::get_accepted(c))
                .transpose()?
                .map(Box::new),
        }),
        Kind::SessionBytes => Body::SessionBytes(k.traffic.context("session.bytes without bytes")?),
        Kind::SessionEnd => Body::SessionEnd(Closed {
            traffic: k.traffic.context("session.end without bytes")?,
            end: k.end.context("session.end without its end")?,
            attempts: (!c.at_end())
                .then(|| super::codec_auth::get_attempts(c))
                .transpose()?
                .map(Box::new),
        }),
        Kind::ProcessExec => Body::ProcessExec(get_exec(c)?),
        Kind::ProcessExit => Body::ProcessExit(ProcessExit {
            pid: c.u32()?,
            exit_code: get_opt_u8(c)?,
            signal: get_opt_u8(c)?,
        }),
        Kind::UserChange => Body::UserChange(get_change(c)?),
        Kind::FileTransfer => Body::FileTransfer(Box::new(get_transfer(c)?)),
        Kind::SessionForward => Body::SessionForward(Box::new(get_forward(c)?)),
        Kind::AgentStart => {
            let mut agent = get_agent(c)?;
            get_agent_tail(c, &mut agent)?;
            Body::AgentStart(Box::new(agent))
        }
        Kind::AgentLoss => {
            let (counts, mut total) = (get_loss(c)?, get_loss(c)?);
            let mut loss = LossReport {
                counts,
                ..LossReport::default()
            };
            get_loss_tail(c, &mut loss.counts)?;
            get_loss_tail(c, &mut total)?;
            get_named_sessions(c, &mut loss)?;
            let LossReport {
                counts, sessions, ..
            } = &mut loss;
            get_sections(c, &mut [counts, &mut total], sessions)?;
            Body::AgentLoss(Box::new(AgentLoss { loss, total }))
        }
        Kind::AgentStop => {
            let mut agent = get_agent(c)?;
            let events = c.varint()?;
            let mut lost = get_loss(c)?;
            get_loss_tail(c, &mut lost)?;
            get_agent_tail(c, &mut agent)?;
            get_sections(c, &mut [&mut lost], &mut [])?;
            let totals = AgentTotals { events, lost };
            Body::AgentStop(Box::new(AgentStop { agent, totals }))
        }
        Kind::AgentHeartbeat => Body::AgentHeartbeat(Box::new(get_heartbeat(c)?)),
        Kind::Alert(a) => {
            let alert = serde_json::from_str(c.str()?).context("undecodable alert")?;
            Body::Alert(a, Box::new(alert))
        }
        Kind::SessionTty => Body::SessionTty(get_tty(c)?),
    })
}

fn get_exec(c: &mut Cursor) -> Result<ProcessExec> {
    let (pid, ppid, uid, euid, gid, egid) =
        (c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?);
    let executable = c.string()?;
    let flags = c.u8()?;
    let n = c.len(MAX_ITEMS)?;
    let mut args = Args::default();
    for _ in 0..n {
        let a = c.str()?;
        if a.contains('\0') {
            bail!("an argument holds a NUL byte");
        }
        args.push(a);
    }
    Ok(ProcessExec {
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
        role: Role::from_code(flags >> 3 & 3),
        fileless: flags & 4 != 0,
    })
}

fn get_change(c: &mut Cursor) -> Result<IdChange> {
    let pid = c.u32()?;
    let syscall = *SYSCALLS
        .get(c.u8()? as usize)
        .context("unknown syscall code")?;
    let n = c.len(3)?;
    let mut vals = [0i64; 3];
    for v in vals.iter_mut().take(n) {
        *v = unzigzag(c.varint()?);
    }
    let success = c.bool()?;
    let errno = c.opt_u64()?.map(|e| e as u32 as i32);
    let (old, new) = (get_ids(c)?, get_ids(c)?);
    let user = c.opt_str()?.map(Arc::from);
    let effective_user = c.opt_str()?.map(Arc::from);
    Ok(IdChange {
        process: Pid { pid },
        change: UserChange {
            syscall,
            args: CallArgs::new(&vals[..n]),
            success,
            errno,
            old,
            new,
            user,
            effective_user,
        },
    })
}

/// An enum as its index in `all` (one byte).
fn put_index<T: PartialEq>(out: &mut Vec<u8>, all: &[T], v: &T) {
    out.push(all.iter().position(|a| a == v).unwrap_or(0) as u8);
}

fn get_index<T: Copy>(c: &mut Cursor, all: &[T], what: &str) -> Result<T> {
    let i = c.u8()? as usize;
    all.get(i)
        .copied()
        .with_context(|| format!("unknown {what} code {i}"))
}

fn put_transfer(
    out: &mut Vec<u8>,
    FileTransfer {
        process,
        transfer: t,
    }: &FileTransfer,
) {
    put_varint(out, process.pid as u64);
    put_index(out, TransferServer::ALL, &t.server);
    put_index(out, TransferAction::ALL, &t.action);
    put_index(out, TransferOutcome::ALL, &t.outcome);
    put_str(out, &t.path);
    put_opt_str(out, t.target.as_deref());
    put_opt_str(out, t.chroot.as_deref());
    put_varint(out, t.bytes);
    put_opt_u64(out, t.size);
    put_opt_str(out, t.mode.as_deref());
    match t.file_type {
        Some(ft) => {
            out.push(1);
            put_index(out, FileType::ALL, &ft);
        }
        None => out.push(0),
    }
    put_opt_u64(out, t.errno.map(|e| zigzag(e as i64)));
    put_opt_u64(out, t.duration_ms);
    out.push(t.path_truncated as u8 | (t.late as u8) << 1);
}

fn get_transfer(c: &mut Cursor) -> Result<FileTransfer> {
    let pid = c.u32()?;
    let server = get_index(c, TransferServer::ALL, "transfer server")?;
    let action = get_index(c, TransferAction::ALL, "transfer action")?;
    let outcome = get_index(c, TransferOutcome::ALL, "transfer outcome")?;
    let path = c.string()?;
    let (target, chroot) = (c.opt_str()?, c.opt_str()?);
    let bytes = c.varint()?;
    let size = c.opt_u64()?;
    let mode = c.opt_str()?;
    let file_type = if c.bool()? {
        Some(get_index(c, FileType::ALL, "file type")?)
    } else {
        None
    };
    let errno = c
        .opt_u64()?
        .map(|z| i32::try_from(unzigzag(z)).context("errno over 32 bits"))
        .transpose()?;
    let duration_ms = c.opt_u64()?;
    let flags = c.u8()?;
    Ok(FileTransfer {
        process: Pid { pid },
        transfer: Transfer {
            server,
            action,
            path,
            target,
            chroot,
            bytes,
            size,
            mode,
            file_type,
            outcome,
            errno,
            duration_ms,
            path_truncated: flags & 1 != 0,
            late: flags & 2 != 0,
        },
    })
}

fn put_opt_endpoint(out: &mut Vec<u8>, e: Option<&Endpoint>) {
    match e {
        Some(e) => {
            out.push(1);
            put_str(out, &e.ip.to_string());
            put_varint(out, e.port as u64);
        }
        None => out.push(0),
    }
}

fn get_opt_endpoint(c: &mut Cursor) -> Result<Option<Endpoint>> {
    if !c.bool()? {
        return Ok(None);
    }
    let ip: std::net::IpAddr = c.str()?.parse().context("bad IP address")?;
    let port = u16::try_from(c.varint()?).context("port over 16 bits")?;
    Ok(Some(Endpoint::new(ip, port)))
}

const FORWARD_KINDS: [ForwardKind; 4] = [
    ForwardKind::Local,
    ForwardKind::Remote,
    ForwardKind::Agent,
    ForwardKind::X11,
];
const FORWARD_STATES: [ForwardState; 4] = [
    ForwardState::Listen,
    ForwardState::Open,
    ForwardState::Close,
    ForwardState::Failed,
];
const FORWARD_SOCKETS: [ForwardSocket; 2] = [ForwardSocket::Tcp, ForwardSocket::Unix];

fn put_forward(out: &mut Vec<u8>, f: &Forward) {
    put_varint(out, f.id as u64);
    put_index(out, &FORWARD_KINDS, &f.kind);
    put_index(out, &FORWARD_STATES, &f.state);
    put_index(out, &FORWARD_SOCKETS, &f.socket);
    put_varint(out, f.pid as u64);
    put_opt_u64(out, f.listener.map(u64::from));
    for e in [&f.local, &f.target, &f.listen, &f.peer] {
        put_opt_endpoint(out, e.as_ref());
    }
    put_opt_str(out, f.path.as_deref());
    put_opt_u64(out, f.error.map(|e| zigzag(e as i64)));
    for v in [f.bytes_in, f.bytes_out, f.duration_ms] {
        put_opt_u64(out, v);
    }
}

fn get_forward(c: &mut Cursor) -> Result<Forward> {
    let id = c.u32()?;
    let kind = get_index(c, &FORWARD_KINDS, "forward kind")?;
    let state = get_index(c, &FORWARD_STATES, "forward state")?;
    let socket = get_index(c, &FORWARD_SOCKETS, "forward socket")?;
    let pid = c.u32()?;
    let listener = c.opt_u64()?.map(u32::try_from).transpose()?;
    let (local, target) = (get_opt_endpoint(c)?, get_opt_endpoint(c)?);
    let (listen, peer) = (get_opt_endpoint(c)?, get_opt_endpoint(c)?);
    let path = c.opt_str()?;
    let error = c
        .opt_u64()?
        .map(|z| i32::try_from(unzigzag(z)))
        .transpose()
        .context("errno over 32 bits")?;
    Ok(Forward {
        id,
        kind,
        state,
        socket,
        pid,
        listener,
        local,
        target,
        listen,
        peer,
        path,
        error,
        bytes_in: c.opt_u64()?,
        bytes_out: c.opt_u64()?,
        duration_ms: c.opt_u64()?,
    })
}

/// Encoded form of a session snapshot, for the file header's carried-over
/// open sessions.
pub fn put_session(out: &mut Vec<u8>, s: &SessionInfo) {
    put_base(out, s);
}

pub fn get_session(c: &mut Cursor) -> Result<SessionInfo> {
    get_base(c)
}
