//! `cargo xtask bench transfers`: what the file-transfer hooks cost
//! processes outside sessions. They are attached only while a transfer may
//! be going on, so the figures are file syscalls with the agent off, with
//! it running and the hooks detached (no transfer: the state of every other
//! benchmark), and with them attached (an idle sftp session held open),
//! the three in a rotating order each round; rates are per CPU-second of
//! the measuring process, less sensitive to other load than wall time.
//! Then the programs' own bpf_stats, and an sftp download with the agent
//! off and on.
use std::{
    io::Read,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{ssh, world, Sshd, TEST_USER};

use super::{bpf_stats::ProgStats, measure::median, tools::Tools};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Rounds of (detached, attached); at least 7 for medians on this VM.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Size of the file the sftp download moves, in MiB.
    #[arg(long, default_value_t = 256)]
    pub mib: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Workload {
    DevNull,
    OpenClose,
    CreateUnlink,
    Rename,
}

impl Workload {
    const ALL: [Workload; 4] = [
        Workload::DevNull,
        Workload::OpenClose,
        Workload::CreateUnlink,
        Workload::Rename,
    ];

    fn label(self) -> &'static str {
        match self {
            Workload::DevNull => "64-byte writes to /dev/null",
            Workload::OpenClose => "open + close of /dev/null",
            Workload::CreateUnlink => "create + close + unlink on tmpfs",
            Workload::Rename => "rename on tmpfs",
        }
    }

    fn measure(self, tools: &Tools, seconds: f64) -> Result<f64> {
        let mode = match self {
            Workload::DevNull => "write",
            Workload::OpenClose => "openclose",
            Workload::CreateUnlink => "unlink",
            Workload::Rename => "rename",
        };
        tools.rate("files", &[mode, &format!("{seconds}"), "/dev/shm"])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    AgentOff,
    Detached,
    Attached,
}

const STATES: [State; 3] = [State::AgentOff, State::Detached, State::Attached];

/// The agent with its stderr kept (the hook thread's summary is there).
struct Agent {
    child: Child,
}

impl Agent {
    fn start(bin: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["tail", "--json", "--no-sessions-socket"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut out = child.stdout.take().context("stdout")?;
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte)? == 1 && byte[0] != b'\n' {
            first.push(byte[0]);
        }
        if !String::from_utf8_lossy(&first).contains("agent.start") {
            bail!("agent did not start");
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Ok(Self { child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether its transfer hooks are attached: a raw tracepoint link on
    /// sys_exit among its descriptors.
    fn hooks_attached(&self) -> bool {
        let dir = format!("/proc/{}/fdinfo", self.pid());
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path()).is_ok_and(|t| {
                    t.lines().any(|l| {
                        l.trim() == "tp_name:\tsys_exit" || l.ends_with("tp_name:\tsys_exit")
                    })
                })
            })
    }

    fn wait_hooks(&self, attached: bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.hooks_attached() != attached {
            if Instant::now() > deadline {
                bail!(
                    "the transfer hooks did not get {}",
                    if attached { "attached" } else { "detached" }
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops it; the hook thread's summary line.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = self.child.wait();
        err.lines()
            .find(|l| l.contains("transfer hooks attached"))
            .unwrap_or("no transfer hook summary")
            .to_owned()
    }
}

fn sftp(sshd: &Sshd) -> Command {
    let mut c = Command::new("sftp");
    c.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-o", "BatchMode=yes", "-q", "-i"])
    .arg(&world().key)
    .args(["-P", &sshd.port.to_string(), "-b", "-"])
    .arg(format!("{TEST_USER}@127.0.0.1"));
    c
}

/// An sftp session left idle: its sftp-server keeps the hooks attached.
struct Held(Child);

impl Held {
    fn open(sshd: &Sshd) -> Result<Self> {
        let child = sftp(sshd)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sftp")?;
        Ok(Self(child))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

type Samples = std::collections::BTreeMap<Workload, [Vec<f64>; 3]>;

/// Puts the machine in `state`: the agent stopped or running, an sftp
/// session held open for the hooks to be attached.
fn enter(bin: &Path, sshd: &Sshd, agent: &mut Option<Agent>, state: State) -> Result<Option<Held>> {
    if state == State::AgentOff {
        if let Some(a) = agent.take() {
            a.stop();
        }
        return Ok(None);
    }
    if agent.is_none() {
        *agent = Some(Agent::start(bin)?);
    }
    let held = (state == State::Attached)
        .then(|| Held::open(sshd))
        .transpose()?;
    agent
        .as_ref()
        .map_or(Ok(()), |a| a.wait_hooks(state == State::Attached))?;
    Ok(held)
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    crate::setup::bench_packages()?;
    let _ = world();
    let tools = Tools::build()?;
    let sshd = Sshd::start("bench_xfer")?;
    let mut agent = None;
    let mut samples: Samples = Default::default();
    for round in 0..a.rounds {
        for i in 0..STATES.len() {
            let state = STATES[(round + i) % STATES.len()];
            let held = enter(bin, &sshd, &mut agent, state)?;
            for w in Workload::ALL {
                let v = w.measure(&tools, a.seconds)?;
                samples.entry(w).or_default()[state as usize].push(v);
            }
            drop(held);
        }
        eprintln!("round {} of {} done", round + 1, a.rounds);
    }
    print_table(&mut samples, a.rounds, a.seconds);
    let agent = match agent {
        Some(a) => a,
        None => Agent::start(bin)?,
    };
    programs(&agent, &sshd, &tools, a.seconds)?;
    println!("\n{}", agent.stop());
    plain_logins(bin, &sshd, a.rounds)?;
    download(bin, &sshd, a.mib, a.rounds)
}

/// Sessions that transfer nothing (`ssh host true`, one after the other):
/// how often and how long they had the hooks attached (none: internal-sftp
/// is recognised at its prctl, not suspected in every session child).
fn plain_logins(bin: &Path, sshd: &Sshd, n: usize) -> Result<()> {
    let agent = Agent::start(bin)?;
    agent.wait_hooks(false)?;
    for _ in 0..n {
        let run = ssh(sshd, &[], "true")?;
        if !run.success {
            bail!("ssh true failed: {}", run.stderr);
        }
    }
    agent.wait_hooks(false)?;
    println!(
        "\n{n} sessions without transfers (ssh true, one after the other): {}",
        agent.stop()
    );
    Ok(())
}

fn print_table(samples: &mut Samples, rounds: usize, seconds: f64) {
    println!(
        "\nfile syscalls of a process outside sessions, operations per CPU-second, \
         {rounds} rounds × {seconds} s, the three states in rotating order, medians:\n"
    );
    println!(
        "| workload | agent off | hooks detached | hooks attached | detached/off | attached/off |"
    );
    println!("|---|---|---|---|---|---|");
    for (w, [off, detached, attached]) in samples.iter_mut() {
        let (off, detached, attached) = (median(off), median(detached), median(attached));
        println!(
            "| {} | {off:.0} | {detached:.0} | {attached:.0} | {:.3} | {:.3} |",
            w.label(),
            detached / off,
            attached / off,
        );
    }
}

/// bpf_stats of the transfer programs while attached, over /dev/null writes.
fn programs(agent: &Agent, sshd: &Sshd, tools: &Tools, seconds: f64) -> Result<()> {
    let held = Held::open(sshd)?;
    agent.wait_hooks(true)?;
    let stats = ProgStats::enable(agent.pid())?;
    let before = stats.read()?;
    Workload::DevNull.measure(tools, seconds)?;
    let after = stats.read()?;
    drop(held);
    println!(
        "\ntransfer hooks while attached, over {seconds} s of /dev/null writes (bpf_stats):\n"
    );
    for name in ["xfer_enter", "xfer_exit"] {
        let (a, b) = (
            after.get(name).copied().unwrap_or_default(),
            before.get(name).copied().unwrap_or_default(),
        );
        let runs = a.runs - b.runs;
        let ns = if runs > 0 {
            (a.ns - b.ns) as f64 / runs as f64
        } else {
            0.0
        };
        println!("- {name}: {runs} runs, {ns:.0} ns each");
    }
    Ok(())
}

/// An sftp download from tmpfs, agent off and on (hooks attached for it).
fn download(bin: &Path, sshd: &Sshd, mib: usize, rounds: usize) -> Result<()> {
    let file = Path::new("/dev/shm/ssh-trace-bench-download.bin");
    std::fs::write(file, vec![7u8; mib << 20])?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))?;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for traced in if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        } {
            let agent = traced.then(|| Agent::start(bin)).transpose()?;
            let started = Instant::now();
            let mut c = sftp(sshd)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            if let Some(mut stdin) = c.stdin.take() {
                use std::io::Write;
                writeln!(stdin, "get {} /dev/null", file.display())?;
            }
            if !c.wait()?.success() {
                bail!("sftp get failed");
            }
            let rate = mib as f64 / started.elapsed().as_secs_f64();
            if traced { &mut on } else { &mut off }.push(rate);
            if let Some(a) = agent {
                a.stop();
            }
        }
    }
    let _ = std::fs::remove_file(file);
    let (off, on) = (median(&mut off), median(&mut on));
    println!(
        "\nsftp get of {mib} MiB from tmpfs (session set-up included), {rounds} rounds, medians:\n"
    );
    println!("| agent off | agent on | on/off |");
    println!("|---|---|---|");
    println!("| {off:.1} MiB/s | {on:.1} MiB/s | {:.3} |", on / off);
    Ok(())
}
