//! `cargo xtask bench` (the default): what ssh-trace costs the machine.
//! Workloads that are not SSH (iperf3 TCP and UDP, a unix-socket
//! ping-pong, unix datagrams, small writes to /dev/null, TCP and unix
//! connects, a fork+exec storm) and the storm, TCP connects and an scp inside an
//! SSH session, each with the agent off and on, and with no agent but the
//! kernel's syscall tracing switched on (the floor any `syscalls:*` hook
//! pays on every system call of the machine) — and, when asked, another
//! build (`--baseline`, e.g. main's: before and after a change) and the
//! per-syscall tracepoint alternative to the raw sys_enter hook
//! (`--tracepoint-hooks`) or at the log daemon's receive (`--receive-hook`),
//! and this build while a session authenticates
//! (`--authenticating`: the servers' log capture is attached only then,
//! and not for a server whose -E file the agent reads) —
//! in an order that rotates every round: medians and ratios from one run.
//! Then each kernel program's bpf_stats (runs, average ns) per workload,
//! and login → event latency while another session storms.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result};
use ssh_trace_tests::{world, Sshd};

use super::{
    agent::Agent,
    bpf_stats::ProgStats,
    measure::median,
    tools::{Iperf, Tools},
};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Rounds of (off, on); at least 7 for medians on this noisy VM.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Logins for the latency figure.
    #[arg(long, default_value_t = 40)]
    pub logins: usize,
    /// Another agent build to compare with in the same run (before/after).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Also measure this build with a per-syscall tracepoint program on
    /// sys_enter_write and sys_enter_sendto (bpftrace, returning at once):
    /// what the servers' log capture would cost on those tracepoints
    /// instead of the raw sys_enter hook.
    #[arg(long)]
    pub tracepoint_hooks: bool,
    /// Also measure this build with a program on skb:skb_copy_datagram_iovec
    /// (bpftrace, returning at once): what reading the servers' log
    /// datagrams at the log daemon's receive would cost, instead of at
    /// every system call.
    #[arg(long)]
    pub receive_hook: bool,
    /// Also measure this build while a connection to the bench's sshd sits
    /// before authentication: the servers' log capture (auth_sys_enter) is
    /// attached then, and only then.
    #[arg(long)]
    pub authenticating: bool,
    /// Only these workloads (labels' first words, e.g. `dgram,devnull`).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            seconds: 3.0,
            rounds: 7,
            logins: 40,
            baseline: None,
            tracepoint_hooks: false,
            receive_hook: false,
            authenticating: false,
            only: Vec::new(),
        }
    }
}

/// What runs while a workload is measured.
#[derive(Clone, Debug)]
enum Config {
    Off,
    /// No agent; the kernel's syscall tracing switched on by a counter on
    /// a syscall nothing calls: the floor of any `syscalls:*` hook.
    SyscallFloor,
    Agent(PathBuf),
    Baseline(PathBuf),
    /// The agent plus bpftrace on other tracepoints (`Probe`).
    Tracepoints(PathBuf, Probe),
    /// The agent while a connection is open before authentication, to a
    /// server that logs to syslog (true: the kernel hook reads it) or to
    /// its -E file (false: the agent reads the file, no hook).
    Authenticating(PathBuf, bool),
}

impl Config {
    fn label(&self) -> String {
        match self {
            Config::Off => "ssh-trace off".into(),
            Config::SyscallFloor => "no agent, syscall tracing on (the floor)".into(),
            Config::Agent(_) => "this build".into(),
            Config::Baseline(b) => format!("baseline ({})", b.display()),
            Config::Tracepoints(_, Probe::SyscallWrites) => {
                "this build + sys_enter_write/sendto tracepoints".into()
            }
            Config::Tracepoints(_, Probe::DatagramReceive) => {
                "this build + skb_copy_datagram_iovec tracepoint".into()
            }
            Config::Authenticating(_, true) => {
                "this build, a session authenticating (syslog)".into()
            }
            Config::Authenticating(_, false) => {
                "this build, a session authenticating (-E file)".into()
            }
        }
    }

    /// Starts it; what it holds is dropped (stopped) after the workloads.
    fn start(&self, env: &Env) -> Result<Running> {
        Ok(match self {
            Config::Authenticating(bin, syslog) => {
                let agent = Agent::start(bin)?;
                Running::Held(agent, hold_preauth(env.port(*syslog)?)?)
            }
            Config::Off => Running::Nothing,
            Config::SyscallFloor => Running::Floor(super::syscall_floor::SyscallFloor::attach()?),
            Config::Agent(bin) | Config::Baseline(bin) => Running::Agent(Agent::start(bin)?),
            Config::Tracepoints(bin, probe) => {
                Running::Hooked(Agent::start(bin)?, tracepoints(*probe)?)
            }
        })
    }
}

enum Running {
    Nothing,
    Floor(super::syscall_floor::SyscallFloor),
    Agent(Agent),
    Hooked(Agent, Child),
    Held(Agent, std::net::TcpStream),
}

impl Running {
    /// Stops what runs; the agent's (CPU %, peak RSS KiB) if one ran.
    fn stop(self) -> Option<(f64, u64)> {
        match self {
            Running::Nothing => None,
            Running::Floor(counters) => {
                drop(counters);
                None
            }
            Running::Agent(a) => Some(a.stop()),
            Running::Held(a, conn) => {
                // Closed after the agent stops: the hook stays to the end.
                let stats = a.stop();
                drop(conn);
                Some(stats)
            }
            Running::Hooked(a, mut b) => {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(b.id() as i32, libc::SIGINT) };
                let _ = b.wait();
                Some(a.stop())
            }
        }
    }
}

/// A connection that sends nothing: its session stays before
/// authentication (sshd's LoginGraceTime, 2 minutes, is longer than a
/// phase), so the agent keeps the log capture attached.
fn hold_preauth(port: u16) -> Result<std::net::TcpStream> {
    let conn = std::net::TcpStream::connect(("127.0.0.1", port))?;
    // The agent attaches it as it reads the connect: let that happen.
    std::thread::sleep(std::time::Duration::from_millis(500));
    Ok(conn)
}

/// Where a log-capture program other than the raw sys_enter hook could run.
#[derive(Clone, Copy, Debug)]
enum Probe {
    /// At the sending system calls (sshd's syslog(3) send, its -e writes).
    SyscallWrites,
    /// Where a log daemon copies a datagram out: the text is in the skb,
    /// and so is the sender's pid (set by the kernel when the receiver has
    /// SO_PASSCRED, as rsyslog does). Every socket receive on
    /// the machine runs it (TCP too), no other system call does.
    DatagramReceive,
}

/// bpftrace with a program on each tracepoint that returns at once for
/// every process (as a log-capture program would after its bitmap check).
fn tracepoints(probe: Probe) -> Result<Child> {
    let on = match probe {
        Probe::SyscallWrites => {
            "tracepoint:syscalls:sys_enter_write, tracepoint:syscalls:sys_enter_sendto"
        }
        Probe::DatagramReceive => "tracepoint:skb:skb_copy_datagram_iovec",
    };
    let prog = format!("{on} /pid == 1/ {{ @n = count(); }}");
    let mut child = Command::new("bpftrace")
        .args(["-e", &prog])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // bpftrace prints "Attaching N probe(s)..." once they are attached.
    let mut out = child.stdout.take().context("bpftrace stdout")?;
    let mut first = [0u8; 9];
    use std::io::Read;
    out.read_exact(&mut first)
        .context("bpftrace did not attach")?;
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    // The line comes as it attaches; give it the time to finish.
    std::thread::sleep(std::time::Duration::from_secs(1));
    Ok(child)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Workload {
    Tcp64,
    Tcp1k,
    Udp64,
    UnixPingPong,
    UnixDgram,
    DevNullWrites,
    TcpConnects,
    TcpConnectsInside,
    UnixConnects,
    StormOutside,
    StormInside,
    Scp,
}

impl Workload {
    pub const ALL: [Workload; 12] = [
        Workload::Tcp64,
        Workload::Tcp1k,
        Workload::Udp64,
        Workload::UnixPingPong,
        Workload::UnixDgram,
        Workload::DevNullWrites,
        Workload::TcpConnects,
        Workload::TcpConnectsInside,
        Workload::UnixConnects,
        Workload::StormOutside,
        Workload::StormInside,
        Workload::Scp,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Workload::Tcp64 => "iperf3 TCP loopback, 64-byte writes (msg/s)",
            Workload::Tcp1k => "iperf3 TCP loopback, 1 KiB writes (msg/s)",
            Workload::Udp64 => "iperf3 UDP loopback, 64-byte datagrams (msg/s)",
            Workload::UnixPingPong => "unix stream ping-pong, 1 byte (round trips/s)",
            Workload::UnixDgram => "unix datagram sender, 64 bytes (sends/s)",
            Workload::DevNullWrites => "64-byte writes to /dev/null (writes/s)",
            // The forward hooks: tcp_set_state's SYN_SENT/ESTABLISHED
            // checks and the connect syscall tracepoints (fwd_conn_*).
            Workload::TcpConnects => "TCP connect + close on loopback (connections/s)",
            // A session that forwards nothing: its user's own connects
            // are not the server's, so they make no session.forward.
            Workload::TcpConnectsInside => {
                "TCP connect + close inside an SSH session (connections/s)"
            }
            Workload::UnixConnects => "unix stream connect + close (connections/s)",
            Workload::StormOutside => "fork+exec storm outside any session (execs/s)",
            Workload::StormInside => "fork+exec storm inside an SSH session (execs/s)",
            Workload::Scp => "scp of 64 MiB to /dev/null over loopback (MiB/s)",
        }
    }
}

pub struct Env {
    pub tools: Tools,
    pub iperf: Iperf,
    /// Logs to its -E file.
    pub sshd: Sshd,
    /// Logs to a syslog socket of its own (`with_syslog`).
    pub syslog_sshd: Option<Sshd>,
}

impl Env {
    pub fn new(name: &str) -> Result<Self> {
        let _ = world();
        Ok(Self {
            tools: Tools::build()?,
            iperf: Iperf::start()?,
            sshd: Sshd::start(name)?,
            syslog_sshd: None,
        })
    }

    /// Also a server that logs to syslog (the hook reads it).
    fn with_syslog(mut self, name: &str) -> Result<Self> {
        let setup = ssh_trace_tests::Setup {
            syslog: true,
            ..Default::default()
        };
        let kind = ssh_trace_tests::Kind::OpenSsh92;
        self.syslog_sshd = Some(Sshd::with(kind, &format!("{name}_syslog"), setup)?);
        Ok(self)
    }

    /// The port of the server that logs to syslog (true) or its -E file.
    fn port(&self, syslog: bool) -> Result<u16> {
        if !syslog {
            return Ok(self.sshd.port);
        }
        let s = self.syslog_sshd.as_ref();
        s.map(|s| s.port)
            .context("the syslog server was not started (Env::with_syslog)")
    }

    pub fn measure(&self, w: Workload, seconds: f64) -> Result<f64> {
        let s = format!("{seconds}");
        match w {
            Workload::Tcp64 => self.iperf.rate(false, 64, seconds),
            Workload::Tcp1k => self.iperf.rate(false, 1024, seconds),
            Workload::Udp64 => self.iperf.rate(true, 64, seconds),
            Workload::UnixPingPong => self.tools.rate("unixpp", &[&s]),
            Workload::UnixDgram => self.tools.rate("writes", &["dgram", &s]),
            Workload::DevNullWrites => self.tools.rate("writes", &["devnull", &s]),
            Workload::TcpConnects => self.tools.rate("connects", &["tcp", &s]),
            Workload::TcpConnectsInside => {
                self.tools
                    .rate_in_session(&self.sshd, "connects", &["tcp", &s])
            }
            Workload::UnixConnects => self.tools.rate("connects", &["unix", &s]),
            Workload::StormOutside => self.tools.rate("storm", &[&s]),
            Workload::StormInside => self.tools.rate_in_session(&self.sshd, "storm", &[&s]),
            // Its own length: a transfer takes what it takes.
            Workload::Scp => super::compare::scp_rate(
                &self.sshd,
                &super::compare::payload("scp-payload-cost", SCP_MIB)?,
                SCP_MIB,
            ),
        }
    }
}

/// The scp workload's size: about 0.2 s a transfer here, three a figure.
const SCP_MIB: u64 = 64;

/// Per workload, per configuration (in `configs` order): the rates.
type Samples = BTreeMap<Workload, Vec<Vec<f64>>>;

fn configs(bin: &Path, a: &Args) -> Vec<Config> {
    let mut c = vec![Config::Off, Config::SyscallFloor];
    if let Some(b) = &a.baseline {
        c.push(Config::Baseline(b.clone()));
    }
    c.push(Config::Agent(bin.to_owned()));
    if a.tracepoint_hooks {
        c.push(Config::Tracepoints(bin.to_owned(), Probe::SyscallWrites));
    }
    if a.receive_hook {
        c.push(Config::Tracepoints(bin.to_owned(), Probe::DatagramReceive));
    }
    if a.authenticating {
        c.push(Config::Authenticating(bin.to_owned(), false));
        c.push(Config::Authenticating(bin.to_owned(), true));
    }
    c
}

fn workloads(only: &[String]) -> Vec<Workload> {
    Workload::ALL
        .into_iter()
        .filter(|w| only.is_empty() || only.iter().any(|o| w.label().contains(o.as_str())))
        .collect()
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    crate::setup::bench_packages()?;
    let mut env = Env::new("bench")?;
    if a.authenticating {
        env = env.with_syslog("bench")?;
    }
    let configs = configs(bin, &a);
    let chosen = workloads(&a.only);
    let mut samples: Samples = BTreeMap::new();
    let (mut cpu, mut rss) = (Vec::new(), 0u64);
    for round in 0..a.rounds {
        // The order rotates so that drift hits every configuration alike.
        for k in 0..configs.len() {
            let i = (k + round) % configs.len();
            let running = configs[i].start(&env)?;
            for &w in &chosen {
                let v = env.measure(w, a.seconds)?;
                let e = samples
                    .entry(w)
                    .or_insert_with(|| vec![Vec::new(); configs.len()]);
                e[i].push(v);
            }
            if let (Some((c, r)), Config::Agent(_)) = (running.stop(), &configs[i]) {
                cpu.push(c);
                rss = rss.max(r);
            }
        }
        eprintln!("round {} of {} done", round + 1, a.rounds);
    }
    print_table(&mut samples, &configs, a.rounds, a.seconds);
    println!(
        "\nagent (this build): median CPU {:.2} % of one core over each traced phase (workloads included); peak RSS {:.1} MiB",
        median(&mut cpu),
        rss as f64 / 1024.0
    );
    profile(bin, &env, &chosen, a.seconds, None)?;
    if a.authenticating {
        profile(bin, &env, &chosen, a.seconds, Some(false))?;
        profile(bin, &env, &chosen, a.seconds, Some(true))?;
    }
    super::latency::under_storm(bin, &env, a.logins)
}

/// Medians per configuration, and each one's cost against ssh-trace off.
fn print_table(samples: &mut Samples, configs: &[Config], rounds: usize, seconds: f64) {
    println!(
        "\nworkloads, {rounds} rounds × {seconds} s, configurations in rotating order, medians (cost: against ssh-trace off):\n"
    );
    let heads: Vec<String> = configs.iter().map(Config::label).collect();
    println!("| workload | {} |", heads.join(" | "));
    println!("|---|{}", "---|".repeat(configs.len()));
    for (w, per) in samples.iter_mut() {
        let off = median(&mut per[0]);
        let cells: Vec<String> = per
            .iter_mut()
            .enumerate()
            .map(|(i, v)| {
                let m = median(v);
                if i == 0 {
                    format!("{m:.0}")
                } else {
                    format!("{m:.0} ({:+.1} %)", (1.0 - m / off) * 100.0)
                }
            })
            .collect();
        println!("| {} | {} |", w.label(), cells.join(" | "));
    }
}

/// One more run of each workload with bpf_stats on (it adds ~20 ns a run,
/// so it is kept out of the throughput figures): runs and average ns of
/// each of the agent's programs.
fn profile(
    bin: &Path,
    env: &Env,
    chosen: &[Workload],
    seconds: f64,
    held: Option<bool>,
) -> Result<()> {
    let agent = Agent::start(bin)?;
    let floor = super::floor::Floor::attach()?;
    let stats = ProgStats::enable(agent.pid())?.with(floor.progs.iter().map(|p| p.1));
    let _conn = held
        .map(|syslog| hold_preauth(env.port(syslog)?))
        .transpose()?;
    let when = match held {
        Some(true) => ", a session authenticating on a server logging to syslog",
        Some(false) => ", a session authenticating on a server logging to its -E file",
        None => "",
    };
    println!("\nkernel programs per workload (bpf_stats{when}; runs, average ns per run):\n");
    println!(
        "(empty_fork/exec/exit: an empty program on the same tracepoint, the floor of any hook there)\n"
    );
    for &w in chosen {
        let before = stats.read()?;
        env.measure(w, seconds)?;
        let after = stats.read()?;
        let cells: Vec<String> = after
            .iter()
            .filter_map(|(name, a)| {
                let b = before.get(name).copied().unwrap_or_default();
                let runs = a.runs - b.runs;
                (runs > 0).then(|| {
                    format!(
                        "{name} {runs} × {:.0} ns",
                        (a.ns - b.ns) as f64 / runs as f64
                    )
                })
            })
            .collect();
        println!("- {}: {}", w.label(), cells.join("; "));
    }
    drop(stats);
    drop(floor);
    agent.stop();
    Ok(())
}
