//! `cargo xtask bench compare`: ssh-trace beside the tools people use today,
//! measured in the same run on the same machine, in alternation, as medians
//! and ratios: nothing tracing, ssh-trace, auditd (execve + setuid rules),
//! and an equivalent bpftrace script on the same tracepoints. Writes the
//! table to docs/benchmarks.md.
use std::{
    fmt::Write as _,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::{scp_base, ssh, ssh_base, world, Sshd, TEST_USER};

use super::measure::{median, storm_inside, storm_outside, usage};

#[derive(clap::Args)]
pub struct Args {
    /// Rounds of every workload under every tool.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per exec-storm measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Size of the scp transfer in MiB.
    #[arg(long, default_value_t = 1024)]
    scp_mib: u64,
    /// Logins per measurement of the many-short-sessions workload.
    #[arg(long, default_value_t = 500)]
    logins: usize,
    /// Samples for the login → event latency.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Concurrent sessions for the memory figure.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Tool {
    Nothing,
    SshTrace,
    Auditd,
    Bpftrace,
}

const TOOLS: [Tool; 4] = [Tool::Nothing, Tool::SshTrace, Tool::Auditd, Tool::Bpftrace];

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Nothing => "nothing",
            Tool::SshTrace => "ssh-trace",
            Tool::Auditd => "auditd",
            Tool::Bpftrace => "bpftrace",
        }
    }
}

/// The same tracepoints ssh-trace uses, printing per event (bpftrace cannot
/// follow a session tree cheaply, so it traces every process).
const BPFTRACE: &str = r#"
tracepoint:syscalls:sys_enter_execve { printf("exec %d %d ", pid, uid); join(args->argv); }
tracepoint:sched:sched_process_fork { printf("fork %d %d\n", args->parent_pid, args->child_pid); }
tracepoint:sched:sched_process_exit { printf("exit %d\n", pid); }
tracepoint:syscalls:sys_exit_accept, tracepoint:syscalls:sys_exit_accept4 { printf("accept %d %d\n", pid, args->ret); }
tracepoint:syscalls:sys_exit_setuid, tracepoint:syscalls:sys_exit_setreuid, tracepoint:syscalls:sys_exit_setresuid,
tracepoint:syscalls:sys_exit_setgid, tracepoint:syscalls:sys_exit_setregid, tracepoint:syscalls:sys_exit_setresgid { printf("cred %d %d %d\n", pid, uid, args->ret); }
tracepoint:sock:sock_send_length { @tx[args->sk] = sum(args->ret); }
tracepoint:sock:sock_recv_length { @rx[args->sk] = sum(args->ret); }
"#;

struct Running {
    tool: Tool,
    child: Option<Child>,
    started: Instant,
}

/// Starts a child whose stdout is drained; waits for `ready` on stdout.
fn spawn_drained(cmd: &mut Command, ready: &str) -> Result<Child> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            bail!("{cmd:?} exited before it was ready");
        }
        if line.contains(ready) {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Ok(child)
}

fn start(tool: Tool, bin: &Path) -> Result<Running> {
    let child = match tool {
        Tool::Nothing => None,
        Tool::SshTrace => Some(spawn_drained(
            Command::new(bin).args(["tail", "--json"]),
            "agent.start",
        )?),
        Tool::Bpftrace => Some(spawn_drained(
            Command::new("bpftrace").args(["-e", BPFTRACE]),
            "Attaching",
        )?),
        Tool::Auditd => {
            super::auditd::start(&[super::auditd::EXEC_RULE, super::auditd::UID_RULE])?;
            None
        }
    };
    Ok(Running {
        tool,
        child,
        started: Instant::now(),
    })
}

impl Running {
    /// Stops the tool; (CPU % of one core over its life, peak RSS KiB).
    fn stop(mut self) -> (f64, u64) {
        if self.tool == Tool::Auditd {
            let (cpu_ns, hwm) = usage(super::auditd::pid());
            let wall = self.started.elapsed().as_secs_f64();
            super::auditd::stop();
            return (super::measure::cpu_pct(cpu_ns, wall), hwm);
        }
        let Some(mut child) = self.child.take() else {
            return (0.0, 0);
        };
        let (ticks, hwm) = usage(child.id());
        let wall = self.started.elapsed().as_secs_f64();
        if self.tool == Tool::Auditd {
            let _ = Command::new("auditctl").arg("-D").output();
            let _ = Command::new("auditctl").args(["-e", "0"]).output();
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = child.wait();
        (super::measure::cpu_pct(ticks, wall), hwm)
    }
}

/// A file of `mib` MiB for scp to send, made once (fallocate: no data to
/// write).
pub(super) fn payload(name: &str, mib: u64) -> Result<PathBuf> {
    let path = world().dir.join(name);
    if std::fs::metadata(&path).ok().map(|m| m.len()) != Some(mib << 20) {
        let ok = Command::new("fallocate")
            .args(["-l", &format!("{mib}M")])
            .arg(&path)
            .status()?
            .success();
        anyhow::ensure!(ok, "fallocate {} failed", path.display());
    }
    Ok(path)
}

/// Median of three transfers: one scp alone varies by ±40 % on this VM.
pub(super) fn scp_rate(sshd: &Sshd, file: &Path, mib: u64) -> Result<f64> {
    let mut v = vec![
        scp_once(sshd, file, mib)?,
        scp_once(sshd, file, mib)?,
        scp_once(sshd, file, mib)?,
    ];
    Ok(median(&mut v))
}

pub(super) fn scp_once(sshd: &Sshd, file: &Path, mib: u64) -> Result<f64> {
    let t0 = Instant::now();
    let out = scp_base(sshd)
        .arg("-q")
        .arg(file)
        .arg(format!("{TEST_USER}@127.0.0.1:/dev/null"))
        .output()?;
    if !out.status.success() {
        bail!("scp failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(mib as f64 / t0.elapsed().as_secs_f64())
}

/// `n` logins running `true`, four clients at a time; logins per second.
fn login_rate(sshd: &Sshd, n: usize) -> Result<f64> {
    let t0 = Instant::now();
    let next = Arc::new(Mutex::new(0usize));
    let failed = Arc::new(Mutex::new(0usize));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (next, failed) = (next.clone(), failed.clone());
            s.spawn(move || loop {
                {
                    let mut i = next.lock().unwrap();
                    if *i >= n {
                        break;
                    }
                    *i += 1;
                }
                if !ssh(sshd, &[], "true").map(|r| r.success).unwrap_or(false) {
                    *failed.lock().unwrap() += 1;
                }
            });
        }
    });
    let failed = *failed.lock().unwrap();
    if failed > 0 {
        bail!("{failed} of {n} logins failed");
    }
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Latency of ssh-trace's session.connect / session.login lines (read time
/// minus the event's kernel timestamp) and of the baselines: sshd's log
/// polled every second for "Accepted", `w` polled every 5 s (pty sessions).
type Lines = Arc<Mutex<Vec<(f64, serde_json::Value)>>>;

/// `tail --json`, each line stamped with the wall time it was read.
fn timed_agent(bin: &Path) -> Result<(std::process::Child, Lines)> {
    let lines: Lines = Arc::default();
    let mut agent = Command::new(bin)
        .args(["tail", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = BufReader::new(agent.stdout.take().context("stdout")?);
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let now = wall();
            if let Ok(v) = serde_json::from_str(&line) {
                l2.lock().unwrap().push((now, v));
            }
        }
    });
    let started = || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|(_, v)| v["event"] == "agent.start")
    };
    while !started() {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((agent, lines))
}

/// The auth-log poller: reads sshd's log once a second until `stop`;
/// (poll time, client port) of each "Accepted" line when first seen.
fn poll_log(
    log: std::path::PathBuf,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<(f64, u16)>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let now = wall();
            let accepted: Vec<u16> = text
                .lines()
                .filter(|l| l.contains("Accepted publickey"))
                .filter_map(|l| {
                    l.split(" port ")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
                .collect();
            let done = seen.len();
            seen.extend(
                accepted[done.min(accepted.len())..]
                    .iter()
                    .map(|p| (now, *p)),
            );
        }
        seen
    })
}

fn event_time(v: &serde_json::Value) -> f64 {
    humantime::parse_rfc3339(v["time"].as_str().unwrap_or_default())
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .unwrap_or(0.0)
}

/// Read time − kernel time of connects and logins on `port`'s sshd (ms),
/// and each connect's kernel time by client port.
fn event_latencies(
    seen: &[(f64, serde_json::Value)],
    port: u16,
) -> (std::collections::HashMap<u16, f64>, Vec<f64>, Vec<f64>) {
    let mut connect_at = std::collections::HashMap::new();
    let (mut c_lat, mut l_lat) = (Vec::new(), Vec::new());
    for (read, v) in seen {
        if v["session"]["destination"]["port"] != port {
            continue;
        }
        let client = v["session"]["source"]["port"].as_u64().unwrap_or(0) as u16;
        if v["event"] == "session.connect" {
            connect_at.insert(client, event_time(v));
            c_lat.push((read - event_time(v)) * 1000.0);
        } else if v["event"] == "session.login" {
            l_lat.push((read - event_time(v)) * 1000.0);
        }
    }
    (connect_at, c_lat, l_lat)
}

/// `w` every 5 s sees pty sessions only; a few sessions that each stay 7 s.
fn w_latency(sshd: &Sshd) -> Result<Vec<f64>> {
    let mut w_lat = Vec::new();
    for _ in 0..4 {
        let t0 = wall();
        let mut client = ssh_base(sshd, &world().key)
            .args(["-tt", &format!("{TEST_USER}@127.0.0.1"), "sleep 7"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Poll phase relative to the login is random in real life.
        std::thread::sleep(Duration::from_millis(1237 * (w_lat.len() as u64 % 4)));
        loop {
            let w = Command::new("w").args(["-h", TEST_USER]).output()?;
            if !w.stdout.is_empty() {
                w_lat.push((wall() - t0) * 1000.0);
                break;
            }
            if wall() - t0 > 7.0 {
                break;
            }
            std::thread::sleep(Duration::from_secs(5));
        }
        let _ = client.wait();
    }
    Ok(w_lat)
}

fn latency(bin: &Path, sshd: &Sshd, samples: usize, report: &mut String) -> Result<()> {
    let (mut agent, lines) = timed_agent(bin)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = poll_log(sshd.log.clone(), stop.clone());
    for _ in 0..samples {
        ssh(sshd, &[], "true")?;
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let log_seen = poller.join().unwrap_or_default();
    let seen = lines.lock().unwrap().clone();
    let (connect_at, mut c_lat, mut l_lat) = event_latencies(&seen, sshd.port);
    let mut log_lat: Vec<f64> = log_seen
        .iter()
        .filter_map(|(t, p)| connect_at.get(p).map(|c| (t - c) * 1000.0))
        .collect();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let _ = agent.wait();
    let mut w_lat = w_latency(sshd)?;
    if c_lat.is_empty() || l_lat.is_empty() || log_lat.is_empty() {
        bail!(
            "latency: no samples (connect {}, login {}, log {})",
            c_lat.len(),
            l_lat.len(),
            log_lat.len()
        );
    }
    writeln!(
        report,
        "\n### Login → event latency ({} logins)\n",
        c_lat.len()
    )?;
    writeln!(
        report,
        "| method | p50 | p99 | how measured |\n|---|---|---|---|"
    )?;
    writeln!(report, "| ssh-trace `session.connect` line | {:.2} ms | {:.2} ms | stdout read time − the event's kernel timestamp (accept) |", pct(&mut c_lat, 0.5), pct(&mut c_lat, 0.99))?;
    writeln!(report, "| ssh-trace `session.login` line | {:.2} ms | {:.2} ms | stdout read time − kernel timestamp of the uid switch |", pct(&mut l_lat, 0.5), pct(&mut l_lat, 0.99))?;
    writeln!(report, "| sshd log polled every 1 s (auth.log tail) | {:.0} ms | {:.0} ms | poll time the \"Accepted\" line was first seen − ssh-trace's connect timestamp |", pct(&mut log_lat, 0.5), pct(&mut log_lat, 0.99))?;
    if !w_lat.is_empty() {
        writeln!(report, "| `w` polled every 5 s (pty sessions only; `ssh host cmd` never shows) | {:.0} ms | {:.0} ms (max of {}) | poll time the session first showed − client start |", pct(&mut w_lat, 0.5), pct(&mut w_lat, 1.0), w_lat.len())?;
    }
    Ok(())
}

type Results = std::collections::HashMap<(Tool, &'static str), Vec<f64>>;

fn med(res: &Results, t: Tool, k: &'static str) -> f64 {
    let mut v = res.get(&(t, k)).cloned().unwrap_or_else(|| vec![0.0]);
    median(&mut v)
}

fn wall() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// ssh-trace's memory with `n` sessions open at once, and its idle CPU.
fn memory_and_idle(bin: &Path, sshd: &Sshd, n: usize, report: &mut String) -> Result<()> {
    let run = start(Tool::SshTrace, bin)?;
    std::thread::sleep(Duration::from_secs(10));
    let pid = run.child.as_ref().map(|c| c.id()).unwrap_or(0);
    let (ticks0, _) = usage(pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(20));
    let (ticks1, _) = usage(pid);
    let idle = super::measure::cpu_pct(ticks1 - ticks0, t0.elapsed().as_secs_f64());
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(
            ssh_base(sshd, &world().key)
                .args([&format!("{TEST_USER}@127.0.0.1"), "sleep 300"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // Wait until every session runs its command (or a minute has passed).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut open = 0;
    while Instant::now() < deadline {
        let out = Command::new("pgrep")
            .args(["-c", "-u", TEST_USER, "-x", "sleep"])
            .output()?;
        open = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if open >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, rss) = usage(pid);
    for mut c in clients {
        let _ = c.kill();
        let _ = c.wait();
    }
    let (cpu, peak) = run.stop();
    writeln!(report, "\n### Agent cost\n")?;
    writeln!(
        report,
        "- idle CPU (20 s, no session activity): {idle:.3} % of one core"
    )?;
    writeln!(report, "- RSS with {open} sessions open at once: {:.1} MiB (peak over the run {:.1} MiB; CPU over the run {cpu:.1} %)", rss as f64 / 1024.0, peak as f64 / 1024.0)?;
    Ok(())
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    crate::setup::bench_packages()?;
    // `w` reads utmp, which sshd only writes when the file exists (a fresh
    // container has none).
    if !Path::new("/run/utmp").exists() {
        std::fs::write("/run/utmp", b"")?;
    }
    let env = super::cost::Env::new("compare")?;
    let sshd = &env.sshd;
    let big = payload("scp-payload", a.scp_mib)?;
    // Warm-up: the payload's pages and sshd's binaries in the page cache.
    scp_once(sshd, &big, a.scp_mib)?;
    let (res, mut cpu) = rounds(bin, &a, &env, &big)?;
    let mut report = String::new();
    header(&a, &mut report)?;
    workload_table(&a, &res, &mut cpu, &mut report)?;
    other_traffic_table(&res, &mut report)?;
    latency(bin, sshd, a.latency_samples, &mut report)?;
    memory_and_idle(bin, sshd, a.sessions, &mut report)?;
    notes(&a, &mut report)?;
    let _ = std::fs::remove_file(&big);
    print!("{report}");
    write_section(&report)
}

/// How the figures were taken (written with them, so they stay true).
fn notes(a: &Args, report: &mut String) -> Result<()> {
    writeln!(report, "\n### Notes on these figures\n")?;
    writeln!(report, "- Every workload runs under every tool in each round, in the same order; the tables show medians of the rounds. With few, short rounds the ratios move by several per cent from run to run on this VM: `cargo xtask bench cost` (7 ABBA rounds, with bpf_stats) is the measure of ssh-trace's own cost.")?;
    writeln!(report, "- scp: {} MiB from a file to `/dev/null` on the same host, median of three transfers per measurement after one warm-up; single transfers vary by about ±20 % here.", a.scp_mib)?;
    writeln!(report, "- Exec storm: `python3` fork+exec of `/bin/true` for {} s, in a session (over ssh) and outside any session; ssh-trace records only the former (every exec of the session is an event), bpftrace and auditd trace both alike.", a.seconds)?;
    writeln!(report, "- Latency of `w` is from the client's start, so it includes the login itself (about 50 ms); `w` only ever sees sessions with a pty.")?;
    Ok(())
}

/// Replaces docs/benchmarks.md up to its first section this bench does not
/// write ("## Fidelity" and after are other benches' figures).
fn write_section(report: &str) -> Result<()> {
    let path: PathBuf = crate::workspace_root().join("docs/benchmarks.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let rest = old.find("\n## Fidelity").map_or("", |i| &old[i..]);
    std::fs::write(
        &path,
        format!("{}{rest}", report.trim_end()) + if rest.is_empty() { "\n" } else { "" },
    )?;
    eprintln!("written to {}", path.display());
    Ok(())
}

/// Workloads that are not SSH, under each tool: what tracing SSH costs the
/// machine's real job (docs/benchmarks.md).
const OTHER_TRAFFIC: [super::cost::Workload; 4] = [
    super::cost::Workload::Tcp64,
    super::cost::Workload::Tcp1k,
    super::cost::Workload::Udp64,
    super::cost::Workload::UnixPingPong,
];

fn other_traffic_table(res: &Results, report: &mut String) -> Result<()> {
    writeln!(report, "\n### Traffic that is not SSH\n")?;
    writeln!(
        report,
        "| tool | {} |",
        OTHER_TRAFFIC.map(|w| w.label()).join(" | ")
    )?;
    writeln!(report, "|---|{}", "---|".repeat(OTHER_TRAFFIC.len()))?;
    for tool in TOOLS {
        let cells: Vec<String> = OTHER_TRAFFIC
            .iter()
            .map(|w| {
                let (v, base) = (
                    med(res, tool, w.label()),
                    med(res, Tool::Nothing, w.label()),
                );
                format!("{:.0} ({:.3})", v, v / base)
            })
            .collect();
        writeln!(report, "| {} | {} |", tool.name(), cells.join(" | "))?;
    }
    writeln!(report, "\nThe bpftrace script counts bytes per send and receive (`sock_send_length`/`sock_recv_length`, as ssh-trace did before); auditd counts no bytes; ssh-trace reads TCP's own counters (sock_diag once a second, the tcp_sock at close) for session sockets only.")?;
    Ok(())
}

type Cpu = std::collections::HashMap<Tool, Vec<f64>>;

/// Every workload under each tool in turn, `a.rounds` times.
fn rounds(bin: &Path, a: &Args, env: &super::cost::Env, big: &Path) -> Result<(Results, Cpu)> {
    let sshd = &env.sshd;
    let mut res: Results = Default::default();
    let mut cpu: Cpu = Default::default();
    for round in 1..=a.rounds {
        for tool in TOOLS {
            let run = start(tool, bin)?;
            let out = storm_outside(a.seconds)?;
            let inside = storm_inside(sshd, a.seconds)?;
            let scp = scp_rate(sshd, big, a.scp_mib)?;
            let logins = login_rate(sshd, a.logins)?;
            for w in OTHER_TRAFFIC {
                let v = env.measure(w, a.seconds)?;
                res.entry((tool, w.label())).or_default().push(v);
            }
            let (c, _) = run.stop();
            eprintln!("round {round} {:9}: storm out {out:.0}/s in {inside:.0}/s, scp {scp:.0} MiB/s, {logins:.1} logins/s, tool CPU {c:.1} %", tool.name());
            for (k, v) in [
                ("out", out),
                ("in", inside),
                ("scp", scp),
                ("logins", logins),
            ] {
                res.entry((tool, k)).or_default().push(v);
            }
            cpu.entry(tool).or_default().push(c);
        }
    }
    Ok((res, cpu))
}

fn machine() -> String {
    let ram = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .map(|k| format!("{} GiB RAM", k.parse::<u64>().unwrap_or(0) / 1024 / 1024))
        .unwrap_or_default();
    format!(
        "{} cores, {ram} , kernel {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    )
}

fn header(a: &Args, report: &mut String) -> Result<()> {
    writeln!(
        report,
        "# Benchmarks\n\nMeasured by `cargo xtask bench compare --rounds {} --seconds {} --scp-mib {} --logins {} \
         --latency-samples {} --sessions {}` on this machine ({}), {}.\n",
        a.rounds,
        a.seconds,
        a.scp_mib,
        a.logins,
        a.latency_samples,
        a.sessions,
        machine(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    )?;
    writeln!(report, "Each round runs every workload under each tool in turn (nothing, ssh-trace, auditd with execve and setuid-family rules, bpftrace on the same tracepoints); figures are medians over rounds, ratios against \"nothing\" from the same run.\n")?;
    Ok(())
}

/// Medians per tool and workload, ratios against nothing tracing.
fn workload_table(a: &Args, res: &Results, cpu: &mut Cpu, report: &mut String) -> Result<()> {
    writeln!(report, "| tool | exec storm outside a session | in a session | scp {} MiB | logins/s (4 clients) | tool CPU |\n|---|---|---|---|---|---|", a.scp_mib)?;
    let keys = ["out", "in", "scp", "logins"];
    let base: Vec<f64> = keys.iter().map(|k| med(res, Tool::Nothing, k)).collect();
    for tool in TOOLS {
        let v: Vec<f64> = keys.iter().map(|k| med(res, tool, k)).collect();
        let c = median(
            cpu.get_mut(&tool)
                .map(Vec::as_mut_slice)
                .unwrap_or(&mut [0.0]),
        );
        writeln!(
            report,
            "| {} | {:.0}/s ({:.3}) | {:.0}/s ({:.3}) | {:.0} MiB/s ({:.3}) | {:.1} ({:.3}) | {c:.1} % |",
            tool.name(), v[0], v[0] / base[0], v[1], v[1] / base[1], v[2], v[2] / base[2], v[3], v[3] / base[3]
        )?;
    }
    let overhead = |t: Tool, k: &'static str| 1.0 - med(res, t, k) / med(res, Tool::Nothing, k);
    let (st_in, au_in) = (overhead(Tool::SshTrace, "in"), overhead(Tool::Auditd, "in"));
    writeln!(report, "\nRatios are against nothing tracing. Exec-storm overhead in a session: ssh-trace {:.1} %, auditd {:.1} % (target: ≤ 2 % and ≤ ⅓ of auditd's). scp throughput loss with ssh-trace: {:.1} % (target ≤ 1 %).", st_in * 100.0, au_in * 100.0, overhead(Tool::SshTrace, "scp") * 100.0)?;
    Ok(())
}
