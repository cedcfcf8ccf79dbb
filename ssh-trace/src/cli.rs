//! Command line: parses arguments and wires the modules together.
use std::{io::IsTerminal, path::PathBuf, time::Duration};

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ssh_trace_common::maps::DEFAULT_RING_BYTES;

use crate::{
    agent,
    capture::writer::Rotation,
    filter::Filter,
    format::{FormatKind, Formatter},
    operators::cli::OperatorArgs,
    probes::{DEFAULT_SCP_BINARIES, DEFAULT_SERVER_BINARIES, DEFAULT_SFTP_SERVERS},
    replay::{self, Selection},
    report::{Bucket, Report, ReportKind},
    terminal::cli::{ExportArgs, PaceArgs, RecordArgs},
};

#[derive(Parser)]
#[command(
    name = "ssh-trace",
    version,
    about = "Trace SSH sessions from inside the kernel"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stream session events as they happen (Ctrl-C to stop).
    Tail {
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        filter: FilterArg,
        /// Also record everything shown to this capture file.
        #[arg(short = 'w', long = "write", value_name = "FILE")]
        write: Option<PathBuf>,
        #[command(flatten)]
        rotate: RotateArgs,
        #[command(flatten)]
        agent: AgentArgs,
        #[command(flatten)]
        ops: OperatorArgs,
    },
    /// Record session events to a capture file (Ctrl-C to stop).
    Record {
        /// Capture file to write (created 0600).
        #[arg(short = 'w', long = "write", value_name = "FILE")]
        write: PathBuf,
        #[command(flatten)]
        filter: FilterArg,
        #[command(flatten)]
        rotate: RotateArgs,
        #[command(flatten)]
        agent: AgentArgs,
        #[command(flatten)]
        ops: OperatorArgs,
    },
    /// Run as a service: events to the sinks of a TOML config (docs/agent.md).
    Agent {
        /// Configuration file.
        #[arg(
            short = 'c',
            long,
            value_name = "FILE",
            default_value = "/etc/ssh-trace/config.toml"
        )]
        config: PathBuf,
    },
    /// Print the events of capture files as `tail` would have, or send
    /// them to the sinks of an agent configuration (`--to`); with --tty,
    /// play a session's recorded terminal instead.
    Replay {
        /// Capture files (several are merged in time order).
        #[arg(short = 'r', long = "read", value_name = "FILE", required = true, num_args = 1..)]
        read: Vec<PathBuf>,
        #[command(flatten)]
        out: OutputArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Send the events to the sinks of this agent configuration instead
        /// of printing them, each file's under the host that recorded it
        /// (backfill). ClickHouse stores each event once however often this
        /// runs (docs/fleet.md).
        #[arg(long, value_name = "CONFIG", conflicts_with_all = ["format", "json"])]
        to: Option<PathBuf>,
        /// With --to: only the sink named NAME (repeatable).
        #[arg(long = "sink", value_name = "NAME", requires = "to")]
        sinks: Vec<String>,
        /// Play this session's recorded terminal at its pace (its id, or a
        /// unique prefix of it).
        #[arg(long, value_name = "SESSION")]
        tty: Option<String>,
        #[command(flatten)]
        pace: PaceArgs,
    },
    /// Write a recorded terminal in another format.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Open sessions, from the running agent's session socket.
    Sessions {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// The agent's session socket.
        #[arg(long, value_name = "PATH", default_value = crate::operators::socket::DEFAULT_PATH)]
        socket: PathBuf,
    },
    /// Live view of open sessions by traffic (q quits).
    Top {
        /// The agent's session socket.
        #[arg(long, value_name = "PATH", default_value = crate::operators::socket::DEFAULT_PATH)]
        socket: PathBuf,
    },
    /// The agent's helper that attaches the servers' log capture on demand
    /// (started by the agent, not by hand).
    #[command(hide = true)]
    AuthHook,
    /// Detach and remove kernel programs pinned with `--persist NAME`.
    Unload {
        /// The instance name given to --persist.
        name: String,
    },
    /// Reports over capture files: sessions, users, sources, tree, timeline, transfers.
    Report {
        /// Capture file; repeat `-r` for several (merged in time order).
        #[arg(
            short = 'r',
            long = "read",
            value_name = "FILE",
            required = true,
            num_args = 1
        )]
        read: Vec<PathBuf>,
        /// One JSON document instead of tables.
        #[arg(long, global = true)]
        json: bool,
        #[command(flatten)]
        window: WindowArgs,
        #[command(subcommand)]
        name: ReportName,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    /// asciicast v2, for `asciinema play` and `asciinema cat`.
    Asciicast(ExportArgs),
}

#[derive(Subcommand)]
enum ReportName {
    /// One row per session, like `last`.
    Sessions,
    /// Per user: sessions and bytes, and bytes per minute or hour.
    Users {
        #[arg(long, value_enum, default_value = "hour")]
        by: Bucket,
    },
    /// Per source IP: connections, failed ones, users reached, bytes.
    Sources,
    /// Every file transfer (scp, sftp): who, which file, which way, bytes, outcome.
    Transfers,
    /// One row per forward of every session: -L/-D/-W (local), -R
    /// (remote), agent and X11, with targets, peers and bytes.
    Forwards,
    /// The process tree of one session (id, or a unique prefix of it).
    Tree { session: String },
    /// Every event of one session in order.
    Timeline { session: String },
}

#[derive(Args)]
struct FilterArg {
    /// Only events matching EXPR (docs/filters.md), e.g.
    /// 'user = alice and source.ip in 10.0.0.0/8'. Agent events always pass.
    #[arg(long, global = true, value_name = "EXPR")]
    filter: Option<String>,
}

impl FilterArg {
    fn parse(&self) -> Result<Option<Filter>> {
        self.filter
            .as_deref()
            .map(|f| Filter::parse(f).map_err(|e| anyhow!("{e}")))
            .transpose()
    }

    /// Live (`tail`, `record`): sessions are not known ahead, so an id
    /// written in part cannot be resolved (replay and report resolve it).
    fn parse_live(&self) -> Result<Option<Filter>> {
        let f = self.parse()?;
        if let Some(q) = f.as_ref().and_then(|f| f.partial_ids().into_iter().next()) {
            anyhow::bail!(
                "--filter: {q:?} is not a whole session id; live, give the whole id (or session.id startswith \"{q}\"): short ids are resolved by replay and report"
            );
        }
        Ok(f)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Args)]
struct OutputArgs {
    /// Output format [default: human on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<FormatKind>,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Colour for the human format.
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
    /// Human format: every event, also what the quiet view folds: the SSH
    /// server's own work (its execs, what runs before login, its uid
    /// juggling), clean exits, calls that changed no id, byte counts.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
struct RotateArgs {
    /// Start a new file when the current one reaches SIZE (e.g. 100MB, 1GiB).
    #[arg(long, value_name = "SIZE")]
    rotate_size: Option<bytesize::ByteSize>,
    /// Start a new file every DUR (e.g. 1h, 30m).
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    rotate_time: Option<Duration>,
    /// Keep at most N files (the oldest is deleted): FILE, FILE.1, FILE.2, …
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    rotate_count: Option<u64>,
}

#[derive(Args)]
struct WindowArgs {
    #[command(flatten)]
    filter: FilterArg,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-21T10:00:00Z).
    #[arg(long, global = true, value_name = "TIME", value_parser = parse_time)]
    since: Option<u64>,
    /// Only events before this time.
    #[arg(long, global = true, value_name = "TIME", value_parser = parse_time)]
    until: Option<u64>,
}

#[derive(Args)]
struct AgentArgs {
    /// Kernel ring buffer size in bytes (power of two, at least a page).
    #[arg(long, default_value_t = DEFAULT_RING_BYTES, value_name = "BYTES")]
    ring_buffer_size: u32,
    /// Executables that are SSH servers, recognised by file identity
    /// (repeatable; replaces the default list).
    #[arg(long = "server-binary", value_name = "PATH")]
    server_binaries: Vec<String>,
    /// sftp-server executables, by file identity: their processes' files
    /// are file.transfer events (repeatable; replaces the default list).
    #[arg(long = "sftp-server", value_name = "PATH")]
    sftp_servers: Vec<String>,
    /// scp executables: run with -t or -f (legacy scp), file.transfer
    /// events (repeatable; replaces the default list).
    #[arg(long = "scp-binary", value_name = "PATH")]
    scp_binaries: Vec<String>,
    /// Pin the kernel programs under NAME (/sys/fs/bpf/ssh-trace/NAME): they
    /// keep recording when the agent stops or dies, and the next agent with
    /// the same NAME continues from there. `ssh-trace unload NAME` removes them.
    #[arg(long, value_name = "NAME")]
    persist: Option<String>,
    /// Entries of the kernel's process table (sessions' processes and
    /// listeners); a full table is counted and named per session.
    #[arg(long, value_name = "N", default_value_t = ssh_trace_common::maps::PROCS_MAX,
          value_parser = clap::value_parser!(u32).range(16..), hide = true)]
    procs_max: u32,
    /// The kernel programs explain on stderr why an exec was or was not
    /// taken for an SSH server, a listener or an inetd-mode session.
    #[arg(long)]
    debug_kernel: bool,
    /// Privilege-separation users of the SSH servers (their uid is not a login).
    #[arg(long = "privsep-user", value_name = "NAME", default_values_t = ["sshd".to_string(), "_sshd".to_string()])]
    privsep_users: Vec<String>,
    #[command(flatten)]
    tty: RecordArgs,
    /// Write agent.heartbeat every DUR (whole seconds, e.g. 30s, 1m): the
    /// agent's counts, open sessions and queues, so its silence shows.
    #[arg(long, value_name = "DUR", value_parser = parse_heartbeat)]
    heartbeat: Option<Duration>,
    /// The agent's nice value, -20 to 19 (like auditd's priority_boost:
    /// under a storm of new processes its events keep their pace; 0 leaves
    /// the priority it was started with).
    #[arg(long, value_name = "N", default_value_t = crate::host::DEFAULT_NICE,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-20..=19))]
    nice: i32,
}

fn parse_heartbeat(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    agent::run_loop::heartbeat_interval(d)?;
    Ok(d)
}

/// A `--since`/`--until` value that is no time.
#[derive(Debug, thiserror::Error)]
enum BadTime {
    #[error("{0} (expected RFC 3339, e.g. 2026-11-21T10:00:00Z)")]
    Syntax(humantime::TimestampError),
    #[error("{0}")]
    BeforeEpoch(std::time::SystemTimeError),
}

fn parse_time(s: &str) -> Result<u64, BadTime> {
    let t = humantime::parse_rfc3339_weak(s).map_err(BadTime::Syntax)?;
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .map_err(BadTime::BeforeEpoch)
}

impl OutputArgs {
    fn formatter(&self) -> Formatter {
        let tty = std::io::stdout().is_terminal();
        let kind = match (self.json, self.format) {
            (true, _) => FormatKind::Json,
            (false, Some(k)) => k,
            (false, None) if tty => FormatKind::Human,
            (false, None) => FormatKind::Json,
        };
        let color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        };
        Formatter::for_person(kind, color, self.verbose)
    }
}

impl RotateArgs {
    fn rotation(&self) -> Rotation {
        Rotation {
            size: self.rotate_size.map(|s| s.as_u64()),
            age: self.rotate_time,
            count: self.rotate_count.map(|c| c as usize),
        }
    }
}

impl WindowArgs {
    fn selection(&self) -> Result<Selection> {
        Ok(Selection {
            since: self.since,
            until: self.until,
            filter: self.filter.parse()?,
        })
    }
}

impl AgentArgs {
    fn options(
        self,
        formatter: Option<Formatter>,
        capture: Option<(PathBuf, Rotation)>,
        filter: Option<Filter>,
    ) -> agent::Options {
        let or_default = |given: Vec<String>, default: &[&str]| {
            if given.is_empty() {
                default.iter().map(|s| s.to_string()).collect()
            } else {
                given
            }
        };
        let server_binaries = or_default(self.server_binaries, DEFAULT_SERVER_BINARIES);
        agent::Options {
            ring_bytes: self.ring_buffer_size,
            persist: self.persist,
            procs_max: self.procs_max,
            debug_kernel: self.debug_kernel,
            server_binaries,
            sftp_servers: or_default(self.sftp_servers, DEFAULT_SFTP_SERVERS),
            scp_binaries: or_default(self.scp_binaries, DEFAULT_SCP_BINARIES),
            privsep_users: self.privsep_users,
            formatter,
            capture,
            filter,
            queued: Default::default(),
            operators: Default::default(),
            tty: self.tty.options(),
            heartbeat: self
                .heartbeat
                .and_then(|d| agent::run_loop::heartbeat_interval(d).ok().flatten()),
            nice: self.nice,
        }
    }
}

fn run_agent(opts: agent::Options) -> Result<()> {
    // Before the runtime's and the agent's threads: they inherit it.
    crate::host::set_nice(opts.nice);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(agent::run(opts))
}

pub fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Tail {
            out,
            filter,
            write,
            rotate,
            agent,
            ops,
        } => {
            let capture = write.map(|w| (w, rotate.rotation()));
            let mut o = agent.options(Some(out.formatter()), capture, filter.parse_live()?);
            o.operators = ops.options();
            run_agent(o)
        }
        Command::Record {
            write,
            filter,
            rotate,
            agent,
            ops,
        } => {
            let mut o = agent.options(None, Some((write, rotate.rotation())), filter.parse_live()?);
            o.operators = ops.options();
            run_agent(o)
        }
        Command::Agent { config } => run_agent(crate::agent::options_from_config(&config)?),
        Command::Sessions { json, socket } => crate::operators::cli::sessions(&socket, json),
        Command::Top { socket } => crate::operators::top::run(&socket),
        Command::AuthHook => crate::probes::auth_hook::serve(),
        Command::Unload { name } => {
            crate::probes::check_environment()?;
            let pins = crate::probes::PinDir::new(&name)?;
            if !pins.root().exists() {
                anyhow::bail!("nothing pinned under {}", pins.root().display());
            }
            pins.clear()
        }
        Command::Replay {
            read,
            out,
            window,
            tty: Some(session),
            pace,
            ..
        } => {
            let _ = (out, window);
            crate::terminal::cli::replay(&read, &session, &pace)
        }
        Command::Replay {
            read,
            out,
            window,
            to,
            sinks,
            ..
        } => match to {
            Some(config) => crate::backfill::run(&read, &config, &sinks, &window.selection()?),
            None => replay::run(&read, out.formatter(), &window.selection()?),
        },
        Command::Export {
            what: ExportWhat::Asciicast(a),
        } => crate::terminal::cli::export(&a),
        Command::Report {
            read,
            json,
            window,
            name,
        } => {
            let kind = match name {
                ReportName::Sessions => ReportKind::Sessions,
                ReportName::Users { by } => ReportKind::Users { by },
                ReportName::Sources => ReportKind::Sources,
                ReportName::Transfers => ReportKind::Transfers,
                ReportName::Forwards => ReportKind::Forwards,
                ReportName::Tree { session } => ReportKind::Tree { session },
                ReportName::Timeline { session } => ReportKind::Timeline { session },
            };
            replay::report(&read, Report::new(kind), &window.selection()?, json)
        }
    }
}
