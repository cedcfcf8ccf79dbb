//! Command line: parses arguments and wires the modules together.
use std::io::IsTerminal;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ssh_trace_common::maps::DEFAULT_RING_BYTES;

use crate::{
    agent,
    format::{FormatKind, Formatter},
    host,
    probes::DEFAULT_SERVER_BINARIES,
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
    Tail(TailArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Args)]
struct TailArgs {
    /// Output format [default: human on a terminal, json otherwise].
    #[arg(long, value_enum)]
    format: Option<FormatKind>,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Colour for the human format.
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
    /// Kernel ring buffer size in bytes (power of two, at least a page).
    #[arg(long, default_value_t = DEFAULT_RING_BYTES, value_name = "BYTES")]
    ring_buffer_size: u32,
    /// Executables that are SSH servers, recognised by file identity
    /// (repeatable; replaces the default list).
    #[arg(long = "server-binary", value_name = "PATH")]
    server_binaries: Vec<String>,
    /// Privilege-separation users of the SSH servers (their uid is not a login).
    #[arg(long = "privsep-user", value_name = "NAME", default_values_t = ["sshd".to_string(), "_sshd".to_string()])]
    privsep_users: Vec<String>,
}

pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Tail(a) => tail(a),
    }
}

fn tail(a: TailArgs) -> Result<()> {
    let tty = std::io::stdout().is_terminal();
    let kind = match (a.json, a.format) {
        (true, _) => FormatKind::Json,
        (false, Some(k)) => k,
        (false, None) if tty => FormatKind::Human,
        (false, None) => FormatKind::Json,
    };
    let color = match a.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
    };
    let server_binaries = if a.server_binaries.is_empty() {
        DEFAULT_SERVER_BINARIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        a.server_binaries
    };
    let opts = agent::Options {
        ring_bytes: a.ring_buffer_size,
        server_binaries,
        privsep_users: a.privsep_users,
        formatter: Formatter::new(kind, host::hostname(), color),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(agent::run(opts))
}
