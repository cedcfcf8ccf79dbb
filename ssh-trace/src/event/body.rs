//! What each event type carries besides its time and session. JSON field
//! names and shapes are those of docs/schema.md (format/json.rs places them).
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{ser::SerializeSeq, Serialize, Serializer};

use super::Endpoint;

/// argv, escaped once (text.rs) and kept as one string: the arguments are
/// separated by NUL, which an argument never holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    joined: String,
    count: u32,
}

impl Args {
    /// From arguments already split (capture files, tests).
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut a = Self::default();
        for p in parts {
            a.push(p);
        }
        a
    }

    /// From NUL-separated escaped text holding `count` arguments.
    pub fn from_joined(joined: String, count: u32) -> Self {
        Self { joined, count }
    }

    pub fn push(&mut self, arg: &str) {
        if self.count > 0 {
            self.joined.push('\0');
        }
        self.joined.push_str(arg);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of text the arguments hold (their memory, near enough).
    pub fn text_len(&self) -> usize {
        self.joined.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        self.joined.split('\0').take(self.count as usize)
    }

    /// The arguments joined by `sep` (a command line).
    pub fn join(&self, sep: &str) -> String {
        let mut out = String::with_capacity(self.joined.len() + self.len() * sep.len());
        for (i, a) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(a);
        }
        out
    }

    /// Bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.joined.capacity()
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for a in self.iter() {
            seq.serialize_element(a)?;
        }
        seq.end()
    }
}

impl JsonSchema for Args {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Vec<String>>::schema_name()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<String>>::json_schema(g)
    }

    fn inline_schema() -> bool {
        true
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct ProcessExec {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub executable: String,
    pub executable_truncated: bool,
    pub args: Args,
    pub args_truncated: bool,
    /// Whose process it is: the SSH server's own, what ran before login,
    /// or the user's (absent in captures from before ssh-trace knew).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The program has no file on any filesystem (a memfd, or deleted):
    /// `executable` then says `memfd:NAME` or `PATH (deleted)` (the file's
    /// name for PATH when it ran through a descriptor).
    pub fileless: bool,
}

/// Whose a session's process is (docs/schema.md, process.role).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The SSH server's own binaries (privsep monitor, sshd-session,
    /// sshd-auth, dropbear's re-exec): recognised by file identity.
    Server,
    /// Anything else that runs before the session logs in (PAM's scripts).
    PreLogin,
    /// After login: the user's commands.
    User,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::PreLogin => "pre_login",
            Role::User => "user",
        }
    }

    /// Stable capture-file code.
    pub fn code(self) -> u8 {
        match self {
            Role::Server => 1,
            Role::PreLogin => 2,
            Role::User => 3,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => Role::Server,
            2 => Role::PreLogin,
            3 => Role::User,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct ProcessExit {
    pub pid: u32,
    /// Exit status when the process exited normally.
    pub exit_code: Option<u8>,
    /// Signal number when it was killed by a signal.
    pub signal: Option<u8>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
}

/// The arguments of a setuid-family call (at most three), `-1` = unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallArgs {
    vals: [i64; 3],
    len: u8,
}

impl CallArgs {
    /// The first three of `vals` at most.
    pub fn new(vals: &[i64]) -> Self {
        let mut a = Self::default();
        for (slot, v) in a.vals.iter_mut().zip(vals) {
            *slot = *v;
            a.len += 1;
        }
        a
    }

    pub fn as_slice(&self) -> &[i64] {
        &self.vals[..self.len as usize]
    }
}

impl Serialize for CallArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl JsonSchema for CallArgs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Vec<i64>>::schema_name()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<i64>>::json_schema(g)
    }

    fn inline_schema() -> bool {
        true
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct UserChange {
    /// setuid, setreuid, setresuid, setgid, setregid, setresgid, or execve
    /// (a set-user-ID or set-group-ID program).
    pub syscall: &'static str,
    /// Syscall arguments; -1 means "unchanged". Empty for execve.
    pub args: CallArgs,
    pub success: bool,
    /// errno when the syscall failed.
    pub errno: Option<i32>,
    pub old: Ids,
    pub new: Ids,
    /// Names of the new real and effective users.
    pub user: Option<Arc<str>>,
    pub effective_user: Option<Arc<str>>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Pid {
    pub pid: u32,
}

/// `user.change`: the process and its change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdChange {
    pub process: Pid,
    pub change: UserChange,
}

/// Byte counters of a session so far (shown inside `session`).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Traffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct SessionEnd {
    pub duration_ms: u64,
    pub logged_in: bool,
}

/// `session.end`: the last byte counts and how the session went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    pub traffic: Traffic,
    pub end: SessionEnd,
    /// A connection that never logged in: what it tried (None when
    /// nothing was seen, and for logins).
    pub attempts: Option<Box<super::Attempts>>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq, JsonSchema)]
pub struct LossCounts {
    /// Process-tree records the kernel could not put on their full ring buffer.
    pub kernel_ringbuf: u64,
    /// Session milestones (connects, uid changes, ends) the kernel could
    /// not put on their own full ring buffer.
    pub kernel_milestones: u64,
    /// Processes not tracked because the kernel's process table was full.
    pub kernel_tracked_full: u64,
    /// Listeners of servers run by users other than root not tracked: over
    /// the quota that keeps them from crowding out the system's server.
    pub kernel_listeners_full: u64,
    /// Connections not counted because the SESSION_SOCKS map was full,
    /// and forwards not followed because FWD_SOCKS or FWD_CALLS was.
    pub kernel_socks_full: u64,
    /// uid/gid calls that changed nothing (or failed) beyond a session's
    /// 128 per second: counted, not reported. Changes are never limited.
    pub kernel_rate_limited: u64,
    /// Records dropped because the agent's queue was full.
    pub queue: u64,
    /// Records the agent could not decode.
    pub decode: u64,
    /// Records the previous agent of persistent programs had taken from the
    /// kernel and not written out when it died.
    pub agent_restart: u64,
    /// Events each agent-mode sink dropped (absent without such sinks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<SinkLoss>,
    /// Outputs whose writes failed (absent when none did).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputLoss>,
    /// Bytes of recorded terminals not recorded: rate limit, cap, full
    /// buffers (absent while none were lost; each loss is also marked in
    /// the recording, docs/tty.md).
    #[serde(skip_serializing_if = "is_zero")]
    pub tty_bytes: u64,
    /// Sessions whose authentication the servers' log hook did not watch
    /// whole, so that decisions of it may be missing: it ran after the
    /// connect and no login decision was read, or not at all (its helper
    /// is gone). Absent while there were none.
    #[serde(skip_serializing_if = "is_zero")]
    pub auth_unwatched: u64,
}

/// `agent.loss`'s `loss`: what was lost since the previous report, and the
/// sessions it hit (totals name none: a session's share is news once).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq, JsonSchema)]
pub struct LossReport {
    #[serde(flatten)]
    pub counts: LossCounts,
    /// The sessions whose records were lost (absent when none can be named).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionLoss>,
    /// Sessions with losses beyond the first MAX_NAMED named in `sessions`.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_sessions: u64,
}

impl LossReport {
    /// Sessions named in one report at most.
    pub const MAX_NAMED: usize = 64;
}

/// Counters that name no session.
impl From<LossCounts> for LossReport {
    fn from(counts: LossCounts) -> Self {
        Self {
            counts,
            ..Self::default()
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SinkLoss {
    /// The sink's configured name.
    pub sink: String,
    /// Events its queue and spool could not hold.
    pub dropped: u64,
}

/// An output that could not write: a full disk, an I/O error.
#[derive(Clone, Debug, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct OutputLoss {
    /// `capture` (the capture file), `sink NAME` (an agent-mode sink) or
    /// `stdout`.
    pub output: String,
    /// The last error, with the file it was writing.
    pub error: String,
    /// Failed writes; each is retried (the capture with its next block, a
    /// sink with the same data after a backoff).
    pub failures: u64,
    /// Events lost by them: in the capture's blocks or standard output's
    /// lines that could not be written. A sink's events wait in its queue
    /// and spool instead (what those cannot hold is counted in `sinks`).
    pub events: u64,
}

/// What one session lost: its records that did not reach the agent, and
/// its processes the kernel could not track.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SessionLoss {
    pub id: super::SessionId,
    pub records: u64,
    pub untracked: u64,
    /// Bytes of its recorded terminal not recorded (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub tty_bytes: u64,
}

impl LossCounts {
    /// The counters by name, in their JSON order (sinks apart).
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("kernel_ringbuf", self.kernel_ringbuf),
            ("kernel_milestones", self.kernel_milestones),
            ("kernel_tracked_full", self.kernel_tracked_full),
            ("kernel_listeners_full", self.kernel_listeners_full),
            ("kernel_socks_full", self.kernel_socks_full),
            ("kernel_rate_limited", self.kernel_rate_limited),
            ("queue", self.queue),
            ("decode", self.decode),
            ("agent_restart", self.agent_restart),
        ]
    }

    pub fn total(&self) -> u64 {
        self.named().iter().map(|(_, n)| n).sum::<u64>()
            + self.sinks.iter().map(|s| s.dropped).sum::<u64>()
            + self.outputs.iter().map(|o| o.events).sum::<u64>()
            + self.tty_bytes
            + self.auth_unwatched
    }

    /// Failed writes of every output.
    pub fn failed_writes(&self) -> u64 {
        self.outputs.iter().map(|o| o.failures).sum()
    }

    /// The outputs that failed more since `earlier`, with what is new.
    fn outputs_since(&self, earlier: &LossCounts) -> Vec<OutputLoss> {
        self.outputs
            .iter()
            .filter_map(|o| {
                let before = earlier.outputs.iter().find(|e| e.output == o.output);
                let (failures, events) = before.map_or((0, 0), |e| (e.failures, e.events));
                (o.failures > failures || o.events > events).then(|| OutputLoss {
                    failures: o.failures - failures,
                    events: o.events - events,
                    ..o.clone()
                })
            })
            .collect()
    }

    /// The losses since `earlier`.
    pub fn since(&self, earlier: &LossCounts) -> LossCounts {
        LossCounts {
            kernel_ringbuf: self.kernel_ringbuf - earlier.kernel_ringbuf,
            kernel_milestones: self.kernel_milestones - earlier.kernel_milestones,
            kernel_tracked_full: self.kernel_tracked_full - earlier.kernel_tracked_full,
            kernel_listeners_full: self.kernel_listeners_full - earlier.kernel_listeners_full,
            kernel_socks_full: self.kernel_socks_full - earlier.kernel_socks_full,
            kernel_rate_limited: self.kernel_rate_limited - earlier.kernel_rate_limited,
            queue: self.queue - earlier.queue,
            decode: self.decode - earlier.decode,
            agent_restart: self.agent_restart - earlier.agent_restart,
            tty_bytes: self.tty_bytes - earlier.tty_bytes,
            auth_unwatched: self.auth_unwatched - earlier.auth_unwatched,
            // Sinks never go away, so they line up with the earlier counts.
            sinks: self
                .sinks
                .iter()
                .map(|s| SinkLoss {
                    sink: s.sink.clone(),
                    dropped: s.dropped
                        - earlier
                            .sinks
                            .iter()
                            .find(|e| e.sink == s.sink)
                            .map_or(0, |e| e.dropped),
                })
                .collect(),
            outputs: self.outputs_since(earlier),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct AgentInfo {
    pub version: String,
    pub pid: u32,
    pub kernel: String,
    pub ring_buffer_bytes: u32,
    pub server_binaries: Vec<String>,
    /// The previous agent of the same persistent programs (`--persist`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousAgent>,
}

/// What the agent before this one of a persistent instance left behind:
/// how long nobody read the kernel, and whether it saw everything.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct PreviousAgent {
    /// When it was last alive (RFC 3339).
    pub last_alive: String,
    /// It stopped on a signal (SIGTERM/SIGINT), else it died (kill -9, a crash).
    pub clean: bool,
    /// Its kernel programs kept running until now, so the kernel recorded
    /// the gap (else they were replaced: another build or other settings,
    /// and what happened in between was not seen).
    pub programs_kept: bool,
    /// Records it had taken from the kernel and not written out (counted as
    /// `agent_restart` loss).
    pub lost_in_flight: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct AgentTotals {
    pub events: u64,
    pub lost: LossCounts,
}

/// `agent.heartbeat`: the agent is alive and how it is doing, every
/// `heartbeat` interval in agent mode, so a SIEM can alert on its absence.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Heartbeat {
    /// Seconds between heartbeats.
    pub interval_s: u64,
    /// Seconds since this agent started.
    pub uptime_s: u64,
    /// Events written so far (this one excluded).
    pub events: u64,
    /// Kernel records handled so far.
    pub records: u64,
    /// Everything lost so far, summed as agent.loss counts it (the details
    /// are in agent.loss).
    pub lost: u64,
    /// Sessions open now.
    pub sessions_open: u64,
    /// Of those, the sessions logged in.
    pub sessions_logged_in: u64,
    /// Processes of the open sessions.
    pub processes: u64,
    /// Batches of kernel records waiting for the agent's loop.
    pub queue_batches: u64,
    /// Each agent-mode sink's backlog (absent without such sinks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sinks: Vec<SinkBacklog>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema, PartialEq, Eq)]
pub struct SinkBacklog {
    /// The sink's configured name.
    pub sink: String,
    /// Events taken and not yet delivered (in memory or in its spool).
    pub waiting: u64,
    /// Events delivered so far.
    pub delivered: u64,
    /// Events dropped so far.
    pub dropped: u64,
}

/// `agent.loss`: losses since the previous report, and in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentLoss {
    pub loss: LossReport,
    pub total: LossCounts,
}

/// `agent.stop`: the agent and its run's totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStop {
    pub agent: AgentInfo,
    pub totals: AgentTotals,
}

/// What a `session.tty` event is (`tty.type`).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TtyKind {
    /// Bytes the terminal showed (the server read them from the pty master).
    Output,
    /// Bytes typed (the server wrote them to the pty master).
    Input,
    /// The window changed to `rows` × `cols`.
    Resize,
    /// `bytes` of the terminal were not recorded here (rate limit, cap, a
    /// full buffer).
    Lost,
    /// `bytes` were typed while the terminal did not echo (a password
    /// prompt): never recorded.
    Withheld,
}

/// Terminal bytes as recorded; in JSON, text escaped as argv is (text.rs).
#[derive(Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[schemars(transparent, inline)]
pub struct TtyBytes(#[schemars(with = "String")] pub Vec<u8>);

impl Serialize for TtyBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::text::escape_bytes(&self.0))
    }
}

/// `session.tty`: a piece of a recorded terminal (docs/tty.md).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Terminal {
    #[serde(rename = "type")]
    pub kind: TtyKind,
    /// The window size at the time.
    pub rows: u16,
    pub cols: u16,
    /// Bytes of `data`, or bytes lost or withheld.
    pub bytes: u64,
    /// The bytes (output and input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<TtyBytes>,
}

impl Terminal {
    /// Output or input bytes.
    pub fn data(kind: TtyKind, rows: u16, cols: u16, data: Vec<u8>) -> Self {
        Self {
            kind,
            rows,
            cols,
            bytes: data.len() as u64,
            data: Some(TtyBytes(data)),
        }
    }

    /// A resize, a loss or withheld input: no data.
    pub fn mark(kind: TtyKind, rows: u16, cols: u16, bytes: u64) -> Self {
        Self {
            kind,
            rows,
            cols,
            bytes,
            data: None,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| &d.0)
    }
}

/// Which file-transfer server did it.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransferServer {
    /// The sftp-server program (the sftp subsystem; scp's default since
    /// OpenSSH 9.0 uses it too).
    SftpServer,
    /// The SSH server itself (`Subsystem sftp internal-sftp`), maybe chrooted.
    InternalSftp,
    /// Legacy scp (`scp -O`): `scp -t` receiving or `scp -f` sending.
    Scp,
}

/// What was done to the path.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransferAction {
    /// The client wrote the file (opened for writing).
    Upload,
    /// The client read the file.
    Download,
    Rename,
    /// A file removed (unlink).
    Remove,
    Mkdir,
    Rmdir,
    /// A hard link made (sftp's hardlink; its plain rename of a file is a
    /// link and a remove).
    Link,
}

/// How it ended.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransferOutcome {
    /// A download read to the end of the file; an upload was closed by the
    /// client; an operation succeeded.
    Complete,
    /// A download stopped before the end of the file, or an upload's server
    /// exited with the file still open (a dropped connection).
    Partial,
    /// The open, a read or write, or the operation failed (`errno`).
    Error,
}

/// The kind of file, from its mode.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    File,
    Directory,
    BlockDevice,
    CharDevice,
    Other,
}

/// A file moved or an operation done by a file-transfer server.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Transfer {
    pub server: TransferServer,
    pub action: TransferAction,
    /// The file as the client named it: the path the server process sees,
    /// inside its chroot when it has one. For files the kernel's own path
    /// of the file opened (symlinks resolved).
    pub path: String,
    /// The new path of a rename or link.
    pub target: Option<String>,
    /// The server process's root directory when it is not "/"
    /// (ChrootDirectory): the file is `chroot` + `path` on the host.
    pub chroot: Option<String>,
    /// Bytes of the file read (download) or written (upload); 0 for operations.
    pub bytes: u64,
    /// The file's size when it was closed.
    pub size: Option<u64>,
    /// Its permission bits in octal, e.g. "0644", when it was closed.
    pub mode: Option<String>,
    #[serde(rename = "type")]
    pub file_type: Option<FileType>,
    pub outcome: TransferOutcome,
    /// errno of what failed.
    pub errno: Option<i32>,
    /// From open to close.
    pub duration_ms: Option<u64>,
    /// The path is cut (deeper than the kernel programs follow, or a longer argument).
    pub path_truncated: bool,
    /// The file was open before the agent's transfer hooks were attached:
    /// the bytes moved until then are taken from its position.
    pub late: bool,
}

/// `file.transfer`: the server process and what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTransfer {
    pub process: Pid,
    pub transfer: Transfer,
}

/// Names as in the JSON (serde's renames; a test checks they agree).
macro_rules! names {
    ($t:ty { $($v:ident => $n:literal),+ $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$(<$t>::$v),+];

            pub fn name(self) -> &'static str {
                match self {
                    $(<$t>::$v => $n),+
                }
            }

            /// The value named `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }
    };
}

names!(TransferServer {
    SftpServer => "sftp-server",
    InternalSftp => "internal-sftp",
    Scp => "scp",
});
names!(TransferAction {
    Upload => "upload",
    Download => "download",
    Rename => "rename",
    Remove => "remove",
    Mkdir => "mkdir",
    Rmdir => "rmdir",
    Link => "link",
});
names!(TransferOutcome {
    Complete => "complete",
    Partial => "partial",
    Error => "error",
});
names!(FileType {
    File => "file",
    Directory => "directory",
    BlockDevice => "block-device",
    CharDevice => "char-device",
    Other => "other",
});

impl Transfer {
    /// The file's path on the host: `chroot` + `path`.
    pub fn host_path(&self) -> String {
        match &self.chroot {
            Some(root) if self.path == "/" => root.clone(),
            Some(root) => format!("{}{}", root.trim_end_matches('/'), self.path),
            None => self.path.clone(),
        }
    }

    /// The target's path on the host.
    pub fn host_target(&self) -> Option<String> {
        let t = self.target.as_ref()?;
        Some(match &self.chroot {
            Some(root) => format!("{}{t}", root.trim_end_matches('/')),
            None => t.clone(),
        })
    }
}

#[cfg(test)]
mod transfer_tests {
    use super::*;

    fn serde_names<T: Serialize + Copy>(all: &[T], name: fn(T) -> &'static str) {
        for &v in all {
            assert_eq!(serde_json::to_value(v).unwrap(), name(v));
        }
    }

    #[test]
    fn transfer_names_are_the_json_values() {
        serde_names(TransferServer::ALL, TransferServer::name);
        serde_names(TransferAction::ALL, TransferAction::name);
        serde_names(TransferOutcome::ALL, TransferOutcome::name);
        serde_names(FileType::ALL, FileType::name);
    }
}

/// What a forward is, in sshd's own terms (AllowTcpForwarding
/// local/remote): the server cannot tell `-L`, `-D` and `-W` (ProxyJump)
/// apart, all three reach it as the same request to connect.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ForwardKind {
    /// The server connected on the client's behalf (-L, -D, -W, ProxyJump).
    Local,
    /// The server listens on the client's behalf (-R), and what connects.
    Remote,
    /// The forwarded agent's socket (-A), and what connects to it.
    Agent,
    /// An X11 display (-X, -Y), and what connects to it.
    X11,
}

/// Where a forward is in its life.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ForwardState {
    /// The server listens (remote, agent, x11).
    Listen,
    /// A connection through the forward started.
    Open,
    /// It ended, or the listener closed.
    Close,
    /// The server's connection to the target failed.
    Failed,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ForwardSocket {
    Tcp,
    Unix,
}

/// `session.forward`: one forward of a session at one point of its life.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Forward {
    /// Numbers the session's forwards from 1; a forward's events share it.
    pub id: u32,
    pub kind: ForwardKind,
    pub state: ForwardState,
    pub socket: ForwardSocket,
    /// The server process that forwards.
    pub pid: u32,
    /// The listener a connection came through (its id), if seen.
    pub listener: Option<u32>,
    /// This host's end of a local forward's connection.
    pub local: Option<Endpoint>,
    /// Where the server connected (local forwards).
    pub target: Option<Endpoint>,
    /// Where the server listens (remote, x11) or was connected to.
    pub listen: Option<Endpoint>,
    /// Who connected through a listener.
    pub peer: Option<Endpoint>,
    /// Unix sockets: the path (the target, or the listener's).
    pub path: Option<String>,
    /// errno of a failed connect.
    pub error: Option<i32>,
    /// At the close of a TCP connection: bytes received from its peer and
    /// sent to it (null for listeners and unix sockets).
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// At the close: since the open (or the listen).
    pub duration_ms: Option<u64>,
}

impl Forward {
    pub fn kind_name(&self) -> &'static str {
        self.kind.into()
    }

    pub fn state_name(&self) -> &'static str {
        self.state.into()
    }

    pub fn socket_name(&self) -> &'static str {
        self.socket.into()
    }

    /// (source, destination) of the forwarded connection, as the network
    /// sees it: this host to the target for a local forward, the peer to
    /// the listen address for an accepted one; a listener has no source.
    pub fn ends(&self) -> (Option<Endpoint>, Option<Endpoint>) {
        match self.kind {
            ForwardKind::Local => (self.local, self.target),
            ForwardKind::Remote | ForwardKind::Agent | ForwardKind::X11 => (self.peer, self.listen),
        }
    }

    /// (bytes the source sent, bytes the destination sent), at a close.
    pub fn sent(&self) -> Option<(u64, u64)> {
        let (i, o) = (self.bytes_in?, self.bytes_out?);
        Some(match self.kind {
            ForwardKind::Local => (o, i),
            ForwardKind::Remote | ForwardKind::Agent | ForwardKind::X11 => (i, o),
        })
    }

    /// Outbound from this host (the server connected), or inbound.
    pub fn outbound(&self) -> bool {
        self.kind == ForwardKind::Local
    }
}
