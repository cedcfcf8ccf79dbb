//! The fields a filter can name (the paths of docs/schema.md plus short
//! aliases), their types, and how to read each one straight from an `Event`.
//! Names are resolved once at parse time so matching never touches JSON.
use crate::event::{
    AgentInfo, Body, Event, Ids, Kind, LossCounts, ProcessExec, ProcessExit, SessionInfo,
    UserChange,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdPart {
    Uid,
    Euid,
    Suid,
    Gid,
    Egid,
    Sgid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossPart {
    KernelRingbuf,
    KernelTrackedFull,
    KernelSocksFull,
    Queue,
    Decode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Time,
    Event,
    Host,
    SessionId,
    SessionUser,
    SessionUid,
    Source,
    SourceIp,
    SourcePort,
    Destination,
    DestinationIp,
    DestinationPort,
    Discovered,
    BytesIn,
    BytesOut,
    DurationMs,
    LoggedIn,
    Process,
    Pid,
    Ppid,
    ProcessUid,
    ProcessEuid,
    ProcessGid,
    ProcessEgid,
    Executable,
    ExecutableTruncated,
    Args,
    ArgsTruncated,
    ExitCode,
    Signal,
    Change,
    Syscall,
    ChangeArgs,
    Success,
    Errno,
    Old,
    OldId(IdPart),
    New,
    NewId(IdPart),
    ChangeUser,
    EffectiveUser,
    Agent,
    AgentVersion,
    AgentPid,
    AgentKernel,
    RingBufferBytes,
    ServerBinaries,
    Loss,
    LossCount(LossPart),
    Total,
    TotalCount(LossPart),
    Totals,
    TotalsEvents,
    TotalsLost,
    TotalsLostCount(LossPart),
}

/// What kind of value a field holds; decides which operators and literals
/// the parser accepts for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Int,
    Text,
    Bool,
    Ip,
    Time,
    Event,
    TextList,
    IntList,
    Object,
}

impl Ty {
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Int => "a number",
            Ty::Text => "text",
            Ty::Bool => "a boolean",
            Ty::Ip => "an IP address",
            Ty::Time => "a time",
            Ty::Event => "an event type",
            Ty::TextList => "a list of text",
            Ty::IntList => "a list of numbers",
            Ty::Object => "an object",
        }
    }
}

/// A field's value in one event, borrowed from it.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Int(i128),
    Text(&'a str),
    Bool(bool),
    /// Kept as text: parsed only when an address comparison needs it.
    Ip(&'a str),
    /// Nanoseconds since the Unix epoch.
    Time(i128),
    Event(Kind),
    TextList(&'a [String]),
    IntList(&'a [i64]),
    Object,
}

use Field as F;

/// Every schema path, in docs/schema.md order.
pub const FIELDS: &[(&str, Field)] = &[
    ("time", F::Time),
    ("event", F::Event),
    ("host", F::Host),
    ("session.id", F::SessionId),
    ("session.user", F::SessionUser),
    ("session.uid", F::SessionUid),
    ("session.source", F::Source),
    ("session.source.ip", F::SourceIp),
    ("session.source.port", F::SourcePort),
    ("session.destination", F::Destination),
    ("session.destination.ip", F::DestinationIp),
    ("session.destination.port", F::DestinationPort),
    ("session.discovered", F::Discovered),
    ("session.bytes_in", F::BytesIn),
    ("session.bytes_out", F::BytesOut),
    ("session.duration_ms", F::DurationMs),
    ("session.logged_in", F::LoggedIn),
    ("process", F::Process),
    ("process.pid", F::Pid),
    ("process.ppid", F::Ppid),
    ("process.uid", F::ProcessUid),
    ("process.euid", F::ProcessEuid),
    ("process.gid", F::ProcessGid),
    ("process.egid", F::ProcessEgid),
    ("process.executable", F::Executable),
    ("process.executable_truncated", F::ExecutableTruncated),
    ("process.args", F::Args),
    ("process.args_truncated", F::ArgsTruncated),
    ("process.exit_code", F::ExitCode),
    ("process.signal", F::Signal),
    ("change", F::Change),
    ("change.syscall", F::Syscall),
    ("change.args", F::ChangeArgs),
    ("change.success", F::Success),
    ("change.errno", F::Errno),
    ("change.old", F::Old),
    ("change.old.uid", F::OldId(IdPart::Uid)),
    ("change.old.euid", F::OldId(IdPart::Euid)),
    ("change.old.suid", F::OldId(IdPart::Suid)),
    ("change.old.gid", F::OldId(IdPart::Gid)),
    ("change.old.egid", F::OldId(IdPart::Egid)),
    ("change.old.sgid", F::OldId(IdPart::Sgid)),
    ("change.new", F::New),
    ("change.new.uid", F::NewId(IdPart::Uid)),
    ("change.new.euid", F::NewId(IdPart::Euid)),
    ("change.new.suid", F::NewId(IdPart::Suid)),
    ("change.new.gid", F::NewId(IdPart::Gid)),
    ("change.new.egid", F::NewId(IdPart::Egid)),
    ("change.new.sgid", F::NewId(IdPart::Sgid)),
    ("change.user", F::ChangeUser),
    ("change.effective_user", F::EffectiveUser),
    ("agent", F::Agent),
    ("agent.version", F::AgentVersion),
    ("agent.pid", F::AgentPid),
    ("agent.kernel", F::AgentKernel),
    ("agent.ring_buffer_bytes", F::RingBufferBytes),
    ("agent.server_binaries", F::ServerBinaries),
    ("loss", F::Loss),
    ("loss.kernel_ringbuf", F::LossCount(LossPart::KernelRingbuf)),
    (
        "loss.kernel_tracked_full",
        F::LossCount(LossPart::KernelTrackedFull),
    ),
    (
        "loss.kernel_socks_full",
        F::LossCount(LossPart::KernelSocksFull),
    ),
    ("loss.queue", F::LossCount(LossPart::Queue)),
    ("loss.decode", F::LossCount(LossPart::Decode)),
    ("total", F::Total),
    (
        "total.kernel_ringbuf",
        F::TotalCount(LossPart::KernelRingbuf),
    ),
    (
        "total.kernel_tracked_full",
        F::TotalCount(LossPart::KernelTrackedFull),
    ),
    (
        "total.kernel_socks_full",
        F::TotalCount(LossPart::KernelSocksFull),
    ),
    ("total.queue", F::TotalCount(LossPart::Queue)),
    ("total.decode", F::TotalCount(LossPart::Decode)),
    ("totals", F::Totals),
    ("totals.events", F::TotalsEvents),
    ("totals.lost", F::TotalsLost),
    (
        "totals.lost.kernel_ringbuf",
        F::TotalsLostCount(LossPart::KernelRingbuf),
    ),
    (
        "totals.lost.kernel_tracked_full",
        F::TotalsLostCount(LossPart::KernelTrackedFull),
    ),
    (
        "totals.lost.kernel_socks_full",
        F::TotalsLostCount(LossPart::KernelSocksFull),
    ),
    ("totals.lost.queue", F::TotalsLostCount(LossPart::Queue)),
    ("totals.lost.decode", F::TotalsLostCount(LossPart::Decode)),
];

/// Short names for the session fields most filters use. `session` (the
/// object in the schema) means its id: a session is named by its id.
pub const ALIASES: &[(&str, &str)] = &[
    ("user", "session.user"),
    ("uid", "session.uid"),
    ("source.ip", "session.source.ip"),
    ("source.port", "session.source.port"),
    ("destination.ip", "session.destination.ip"),
    ("destination.port", "session.destination.port"),
    ("session", "session.id"),
];

pub fn lookup(name: &str) -> Option<Field> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, full)| full);
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Every name `lookup` accepts, aliases first.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    ALIASES
        .iter()
        .map(|(a, _)| *a)
        .chain(FIELDS.iter().map(|(n, _)| *n))
}

impl Field {
    pub fn ty(self) -> Ty {
        match self {
            F::Time => Ty::Time,
            F::Event => Ty::Event,
            F::Host
            | F::SessionId
            | F::SessionUser
            | F::Executable
            | F::Syscall
            | F::ChangeUser
            | F::EffectiveUser
            | F::AgentVersion
            | F::AgentKernel => Ty::Text,
            F::SourceIp | F::DestinationIp => Ty::Ip,
            F::Discovered
            | F::LoggedIn
            | F::ExecutableTruncated
            | F::ArgsTruncated
            | F::Success => Ty::Bool,
            F::Args | F::ServerBinaries => Ty::TextList,
            F::ChangeArgs => Ty::IntList,
            F::Source
            | F::Destination
            | F::Process
            | F::Change
            | F::Old
            | F::New
            | F::Agent
            | F::Loss
            | F::Total
            | F::Totals
            | F::TotalsLost => Ty::Object,
            F::SessionUid
            | F::SourcePort
            | F::DestinationPort
            | F::BytesIn
            | F::BytesOut
            | F::DurationMs
            | F::Pid
            | F::Ppid
            | F::ProcessUid
            | F::ProcessEuid
            | F::ProcessGid
            | F::ProcessEgid
            | F::ExitCode
            | F::Signal
            | F::Errno
            | F::OldId(_)
            | F::NewId(_)
            | F::AgentPid
            | F::RingBufferBytes
            | F::LossCount(_)
            | F::TotalCount(_)
            | F::TotalsEvents
            | F::TotalsLostCount(_) => Ty::Int,
        }
    }

    /// The field's schema path (aliases resolved).
    pub fn name(self) -> &'static str {
        FIELDS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    /// The value in `ev`, or None when the event does not have the field
    /// (absent or null in the JSON).
    pub fn get<'a>(self, ev: &'a Event, host: &'a str) -> Option<Val<'a>> {
        let s = ev.session.as_ref();
        match self {
            F::Time => Some(Val::Time(i128::from(ev.time_ns))),
            F::Event => Some(Val::Event(ev.kind)),
            F::Host => Some(Val::Text(host)),
            F::SessionId => s.map(|s| Val::Text(&s.id)),
            F::SessionUser => s?.user.as_deref().map(Val::Text),
            F::SessionUid => s?.uid.map(int),
            F::Source => s?.source.as_ref().map(|_| Val::Object),
            F::SourceIp => s?.source.as_ref().map(|e| Val::Ip(&e.ip)),
            F::SourcePort => s?.source.as_ref().map(|e| int(e.port)),
            F::Destination => s?.destination.as_ref().map(|_| Val::Object),
            F::DestinationIp => s?.destination.as_ref().map(|e| Val::Ip(&e.ip)),
            F::DestinationPort => s?.destination.as_ref().map(|e| int(e.port)),
            // The JSON omits `discovered` when false; the filter still knows
            // it, so `session.discovered = false` selects ordinary sessions.
            F::Discovered => s.map(|s| Val::Bool(s.discovered)),
            F::BytesIn => s?.traffic.map(|t| int(t.bytes_in)),
            F::BytesOut => s?.traffic.map(|t| int(t.bytes_out)),
            F::DurationMs => end(s).map(|e| int(e.duration_ms)),
            F::LoggedIn => end(s).map(|e| Val::Bool(e.logged_in)),
            F::Process => pid(ev).map(|_| Val::Object),
            F::Pid => pid(ev).map(int),
            F::Ppid => exec(ev).map(|p| int(p.ppid)),
            F::ProcessUid => exec(ev).map(|p| int(p.uid)),
            F::ProcessEuid => exec(ev).map(|p| int(p.euid)),
            F::ProcessGid => exec(ev).map(|p| int(p.gid)),
            F::ProcessEgid => exec(ev).map(|p| int(p.egid)),
            F::Executable => exec(ev).map(|p| Val::Text(&p.executable)),
            F::ExecutableTruncated => exec(ev).map(|p| Val::Bool(p.executable_truncated)),
            F::Args => exec(ev).map(|p| Val::TextList(&p.args)),
            F::ArgsTruncated => exec(ev).map(|p| Val::Bool(p.args_truncated)),
            F::ExitCode => exit(ev)?.exit_code.map(int),
            F::Signal => exit(ev)?.signal.map(int),
            F::Change => change(ev).map(|_| Val::Object),
            F::Syscall => change(ev).map(|c| Val::Text(c.syscall)),
            F::ChangeArgs => change(ev).map(|c| Val::IntList(&c.args)),
            F::Success => change(ev).map(|c| Val::Bool(c.success)),
            F::Errno => change(ev)?.errno.map(int),
            F::Old | F::New => change(ev).map(|_| Val::Object),
            F::OldId(part) => change(ev).map(|c| int(id(&c.old, part))),
            F::NewId(part) => change(ev).map(|c| int(id(&c.new, part))),
            F::ChangeUser => change(ev)?.user.as_deref().map(Val::Text),
            F::EffectiveUser => change(ev)?.effective_user.as_deref().map(Val::Text),
            F::Agent => agent(ev).map(|_| Val::Object),
            F::AgentVersion => agent(ev).map(|a| Val::Text(&a.version)),
            F::AgentPid => agent(ev).map(|a| int(a.pid)),
            F::AgentKernel => agent(ev).map(|a| Val::Text(&a.kernel)),
            F::RingBufferBytes => agent(ev).map(|a| int(a.ring_buffer_bytes)),
            F::ServerBinaries => agent(ev).map(|a| Val::TextList(&a.server_binaries)),
            F::Loss | F::Total => loss(ev).map(|_| Val::Object),
            F::LossCount(part) => loss(ev).map(|(l, _)| int(count(l, part))),
            F::TotalCount(part) => loss(ev).map(|(_, t)| int(count(t, part))),
            F::Totals | F::TotalsLost => totals(ev).map(|_| Val::Object),
            F::TotalsEvents => totals(ev).map(|t| int(t.events)),
            F::TotalsLostCount(part) => totals(ev).map(|t| int(count(&t.lost, part))),
        }
    }
}

fn int<'a>(n: impl Into<i128>) -> Val<'a> {
    Val::Int(n.into())
}

fn end(s: Option<&SessionInfo>) -> Option<&crate::event::SessionEnd> {
    s?.end.as_ref()
}

fn pid(ev: &Event) -> Option<u32> {
    match &ev.body {
        Body::ProcessExec { process } => Some(process.pid),
        Body::ProcessExit { process } => Some(process.pid),
        Body::UserChange { process, .. } => Some(process.pid),
        _ => None,
    }
}

fn exec(ev: &Event) -> Option<&ProcessExec> {
    match &ev.body {
        Body::ProcessExec { process } => Some(process),
        _ => None,
    }
}

fn exit(ev: &Event) -> Option<&ProcessExit> {
    match &ev.body {
        Body::ProcessExit { process } => Some(process),
        _ => None,
    }
}

fn change(ev: &Event) -> Option<&UserChange> {
    match &ev.body {
        Body::UserChange { change, .. } => Some(change),
        _ => None,
    }
}

fn agent(ev: &Event) -> Option<&AgentInfo> {
    match &ev.body {
        Body::AgentStart { agent } | Body::AgentStop { agent, .. } => Some(agent),
        _ => None,
    }
}

fn loss(ev: &Event) -> Option<(&LossCounts, &LossCounts)> {
    match &ev.body {
        Body::AgentLoss { loss, total } => Some((loss, total)),
        _ => None,
    }
}

fn totals(ev: &Event) -> Option<&crate::event::AgentTotals> {
    match &ev.body {
        Body::AgentStop { totals, .. } => Some(totals),
        _ => None,
    }
}

fn id(ids: &Ids, part: IdPart) -> u32 {
    match part {
        IdPart::Uid => ids.uid,
        IdPart::Euid => ids.euid,
        IdPart::Suid => ids.suid,
        IdPart::Gid => ids.gid,
        IdPart::Egid => ids.egid,
        IdPart::Sgid => ids.sgid,
    }
}

fn count(c: &LossCounts, part: LossPart) -> u64 {
    match part {
        LossPart::KernelRingbuf => c.kernel_ringbuf,
        LossPart::KernelTrackedFull => c.kernel_tracked_full,
        LossPart::KernelSocksFull => c.kernel_socks_full,
        LossPart::Queue => c.queue,
        LossPart::Decode => c.decode,
    }
}
