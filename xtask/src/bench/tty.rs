//! `cargo xtask bench tty`: what terminal recording costs. Pty throughput
//! (`cat` of a 100 MB file in an `ssh -tt` session) and small reads and
//! writes of processes that are not SSH, with the agent off, on without
//! recording, recording output (`--tty`), input too (`--tty-input`), and
//! input without limits (every byte recorded), alternating over rounds:
//! medians and ratios from one run. The non-SSH rows are measured while an
//! idle SSH session is open, so the terminal hooks are attached; the last
//! row without one (hooks detached). Then the agent's CPU during the cat,
//! and bpf_stats of the terminal programs.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Instant,
};

use anyhow::{bail, Result};
use ssh_trace_tests::{ssh_base, world, Sshd, TEST_USER};

use super::{agent::Agent, bpf_stats::ProgStats, measure::median, tools::Tools};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per non-SSH measurement.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Rounds over the modes (their order rotates each round).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Size of the file the session cats, MB.
    #[arg(long, default_value_t = 100)]
    pub mb: usize,
}

/// The agent's flags per mode; the programs detach at once when the last
/// session ends (not 30 s later), for the row without a session.
const MODES: [(&str, Option<&[&str]>); 5] = [
    ("off", None),
    ("on, no --tty", Some(&[])),
    ("--tty", Some(&["--tty", "--tty-detach-after", "0s"])),
    (
        "--tty-input",
        Some(&["--tty-input", "--tty-detach-after", "0s"]),
    ),
    (
        "--tty-input, no limits",
        Some(&[
            "--tty-input",
            "--tty-detach-after",
            "0s",
            "--tty-rate",
            "16GiB",
            "--tty-burst",
            "16GiB",
            "--tty-cap",
            "1000TiB",
        ]),
    ),
];

const ROWS: [&str; 4] = [
    "pty: cat in ssh -tt (MB/s)",
    "64-byte read()s of /dev/zero, SSH session open (reads/s)",
    "64-byte write()s to /dev/null, SSH session open (writes/s)",
    "64-byte write()s to /dev/null, no SSH session (writes/s)",
];

struct Env {
    tools: Tools,
    sshd: Sshd,
    file: PathBuf,
}

/// An idle `ssh -tt` session: while it is open the terminal hooks are on.
struct Idle(Child);

impl Idle {
    fn open(sshd: &Sshd) -> Result<Self> {
        let child = ssh_base(sshd, &world().key)
            .args(["-q", "-tt", &format!("{TEST_USER}@127.0.0.1"), "sleep 600"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Logged in and the pty up (the agent attaches on the connect).
        std::thread::sleep(std::time::Duration::from_millis(1500));
        Ok(Self(child))
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// MB/s of `cat` of the file through an `ssh -tt` session; the agent's CPU
/// (% of one core) meanwhile, if `agent` is given.
fn pty_cat(env: &Env, agent: Option<u32>) -> Result<(f64, Option<f64>)> {
    let before = agent.map(cpu_ticks);
    let t = Instant::now();
    let out = ssh_base(&env.sshd, &world().key)
        .args(["-q", "-tt", &format!("{TEST_USER}@127.0.0.1")])
        .arg(format!("cat {}", env.file.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    if (out.stdout.len() as u64) < std::fs::metadata(&env.file)?.len() {
        bail!("the session showed {} bytes only", out.stdout.len());
    }
    let cpu = agent
        .zip(before)
        .map(|(pid, b)| (cpu_ticks(pid) - b) as f64 / ticks_per_sec() / secs * 100.0);
    Ok((out.stdout.len() as f64 / 1e6 / secs, cpu))
}

/// utime + stime of every thread of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // After the state field: utime and stime are fields 14 and 15.
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

type Samples = BTreeMap<(usize, usize), Vec<f64>>;

/// One mode's measurements in one round.
fn measure(
    env: &Env,
    bin: &Path,
    mode: usize,
    a: &Args,
    s: &mut Samples,
    cpu: &mut Vec<f64>,
) -> Result<()> {
    let secs = a.seconds.to_string();
    let agent = MODES[mode]
        .1
        .map(|extra| Agent::start_with(bin, extra))
        .transpose()?;
    let (mbs, agent_cpu) = pty_cat(env, agent.as_ref().map(Agent::pid))?;
    s.entry((0, mode)).or_default().push(mbs);
    cpu.extend(agent_cpu.filter(|_| mode == 2));
    {
        let _idle = Idle::open(&env.sshd)?;
        let reads = env.tools.rate("writes", &["devzero", &secs])?;
        let writes = env.tools.rate("writes", &["devnull", &secs])?;
        s.entry((1, mode)).or_default().push(reads);
        s.entry((2, mode)).or_default().push(writes);
    }
    // The session's end detaches the hooks (the agent's next tick, and the
    // kernel's half second).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let alone = env.tools.rate("writes", &["devnull", &secs])?;
    s.entry((3, mode)).or_default().push(alone);
    if let Some(agent) = agent {
        agent.stop();
    }
    Ok(())
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    let _ = world();
    let file = std::env::temp_dir().join("ssh-trace-bench-tty.txt");
    let line = "0123456789 the quick brown fox jumps over the lazy dog 0123456789\n";
    std::fs::write(&file, line.repeat(a.mb * 1_000_000 / line.len()))?;
    let env = Env {
        tools: Tools::build()?,
        sshd: Sshd::start("bench_tty")?,
        file,
    };
    std::fs::set_permissions(
        &env.file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    let (mut samples, mut cpu) = (Samples::new(), Vec::new());
    for round in 0..a.rounds {
        for k in 0..MODES.len() {
            measure(
                &env,
                bin,
                (k + round) % MODES.len(),
                &a,
                &mut samples,
                &mut cpu,
            )?;
        }
        eprintln!("round {} of {} done", round + 1, a.rounds);
    }
    print_table(&mut samples, &a);
    println!(
        "\nagent CPU while the session cats {} MB with --tty (default limits): median {:.1} % of one core",
        a.mb,
        median(&mut cpu)
    );
    profile(bin, &env, &a)
}

fn print_table(s: &mut Samples, a: &Args) {
    println!(
        "\nterminal recording, {} rounds alternating, medians (ratio to off):\n",
        a.rounds
    );
    let head: Vec<&str> = MODES.iter().map(|m| m.0).collect();
    println!("| workload | {} |", head.join(" | "));
    println!("|---{}|", "|---".repeat(MODES.len()));
    for (r, label) in ROWS.iter().enumerate() {
        let off = median(s.entry((r, 0)).or_default());
        let cells: Vec<String> = (0..MODES.len())
            .map(|m| {
                let v = median(s.entry((r, m)).or_default());
                if m == 0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.0} ({:.3})", v / off)
                }
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}

/// bpf_stats of the terminal programs for each workload, recording input.
fn profile(bin: &Path, env: &Env, a: &Args) -> Result<()> {
    let agent = Agent::start_with(bin, &["--tty-input"])?;
    let idle = Idle::open(&env.sshd)?;
    let stats = ProgStats::enable(agent.pid())?;
    println!("\nterminal programs (bpf_stats, --tty-input; runs, average ns per run):\n");
    let secs = a.seconds.to_string();
    let work: [(&str, &dyn Fn() -> Result<()>); 3] = [
        ("pty cat", &|| pty_cat(env, None).map(drop)),
        ("64-byte reads of /dev/zero", &|| {
            env.tools.rate("writes", &["devzero", &secs]).map(drop)
        }),
        ("64-byte writes to /dev/null", &|| {
            env.tools.rate("writes", &["devnull", &secs]).map(drop)
        }),
    ];
    for (label, run) in work {
        let before = stats.read()?;
        run()?;
        let after = stats.read()?;
        let cells: Vec<String> = after
            .iter()
            .filter(|(name, _)| name.starts_with("tty_"))
            .map(|(name, c)| {
                let b = before.get(name).copied().unwrap_or_default();
                let runs = c.runs - b.runs;
                let ns = (c.ns - b.ns) as f64 / runs.max(1) as f64;
                format!("{name} {runs} × {ns:.0} ns")
            })
            .collect();
        println!("- {label}: {}", cells.join("; "));
    }
    drop((stats, idle));
    agent.stop();
    Ok(())
}
