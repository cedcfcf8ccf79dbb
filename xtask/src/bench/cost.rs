//! `cargo xtask bench` (the default): what ssh-trace costs the machine.
//! Workloads that are not SSH (iperf3 TCP and UDP, a unix-socket
//! ping-pong, unix datagrams, small writes to /dev/null, TCP and unix
//! connects, a fork+exec storm)
//! and the storm and TCP connects inside an SSH session, each with the agent off and
//! on, alternating (ABBA) over several rounds: medians and ratios from one
//! run. Then each kernel program's bpf_stats (runs, average ns) per
//! workload, and login → event latency while another session storms.
use std::{collections::BTreeMap, path::Path};

use anyhow::Result;
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
}

impl Default for Args {
    fn default() -> Self {
        Self {
            seconds: 3.0,
            rounds: 7,
            logins: 40,
        }
    }
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
}

impl Workload {
    pub const ALL: [Workload; 11] = [
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
        }
    }
}

pub struct Env {
    pub tools: Tools,
    pub iperf: Iperf,
    pub sshd: Sshd,
}

impl Env {
    pub fn new(name: &str) -> Result<Self> {
        let _ = world();
        Ok(Self {
            tools: Tools::build()?,
            iperf: Iperf::start()?,
            sshd: Sshd::start(name)?,
        })
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
        }
    }
}

type Samples = BTreeMap<Workload, (Vec<f64>, Vec<f64>)>;

pub fn run(bin: &Path, a: Args) -> Result<()> {
    crate::setup::bench_packages()?;
    let env = Env::new("bench")?;
    let mut samples: Samples = BTreeMap::new();
    let (mut cpu, mut rss) = (Vec::new(), 0u64);
    for round in 0..a.rounds {
        // ABBA: the order alternates so drift hits both sides alike.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            let agent = on.then(|| Agent::start(bin)).transpose()?;
            for w in Workload::ALL {
                let v = env.measure(w, a.seconds)?;
                let e = samples.entry(w).or_default();
                if on { &mut e.1 } else { &mut e.0 }.push(v);
            }
            if let Some(agent) = agent {
                let (c, r) = agent.stop();
                cpu.push(c);
                rss = rss.max(r);
            }
        }
        eprintln!("round {} of {} done", round + 1, a.rounds);
    }
    print_table(&mut samples, a.rounds, a.seconds);
    println!(
        "\nagent: median CPU {:.2} % of one core over each traced phase (workloads included); peak RSS {:.1} MiB",
        median(&mut cpu),
        rss as f64 / 1024.0
    );
    profile(bin, &env, a.seconds)?;
    super::latency::under_storm(bin, &env, a.logins)
}

fn print_table(samples: &mut Samples, rounds: usize, seconds: f64) {
    println!("\nworkloads, agent off vs on, {rounds} rounds × {seconds} s alternating, medians:\n");
    println!("| workload | ssh-trace off | ssh-trace on | on/off | cost |");
    println!("|---|---|---|---|---|");
    for (w, (off, on)) in samples.iter_mut() {
        let (off, on) = (median(off), median(on));
        println!(
            "| {} | {off:.0} | {on:.0} | {:.3} | {:+.1} % |",
            w.label(),
            on / off,
            (1.0 - on / off) * 100.0
        );
    }
}

/// One more run of each workload with bpf_stats on (it adds ~20 ns a run,
/// so it is kept out of the throughput figures): runs and average ns of
/// each of the agent's programs.
fn profile(bin: &Path, env: &Env, seconds: f64) -> Result<()> {
    let agent = Agent::start(bin)?;
    let stats = ProgStats::enable(agent.pid())?;
    println!("\nkernel programs per workload (bpf_stats; runs, average ns per run):\n");
    for w in Workload::ALL {
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
    agent.stop();
    Ok(())
}
