//! Login → event latency while another SSH session runs a fork+exec storm:
//! the time from the kernel timestamp of a session's connect and login
//! (the accept, the uid switch) to the agent's line being read.
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use ssh_trace_tests::{ssh, ssh_base, world, TEST_USER};

use super::cost::Env;

type Lines = Arc<Mutex<Vec<(f64, Value)>>>;

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn time_of(v: &Value) -> f64 {
    humantime::parse_rfc3339(v["time"].as_str().unwrap_or_default())
        .map(|t| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .unwrap_or(0.0)
}

pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The agent as started (`--nice 0`) against its default boost, in
/// alternating rounds of the same storm.
const CONFIGS: [(&str, &[&str]); 2] = [("--nice 0", &["--nice", "0"]), ("default (nice -4)", &[])];
const ROUNDS: usize = 4;

type Samples = (Vec<f64>, Vec<f64>);

pub fn under_storm(bin: &Path, env: &Env, logins: usize) -> Result<()> {
    let per_round = logins.div_ceil(ROUNDS * CONFIGS.len()).max(1);
    let mut samples: Vec<Samples> = vec![Default::default(); CONFIGS.len()];
    for round in 0..ROUNDS {
        for k in 0..CONFIGS.len() {
            let i = (k + round) % CONFIGS.len();
            let (connect, login) = one_round(bin, env, CONFIGS[i].1, per_round)?;
            samples[i].0.extend(connect);
            samples[i].1.extend(login);
        }
    }
    report(&mut samples)
}

/// One agent, one storm, `logins` logins beside it: each login's connect
/// and login latencies in ms.
fn one_round(bin: &Path, env: &Env, extra: &[&str], logins: usize) -> Result<Samples> {
    let lines: Lines = Arc::default();
    let mut agent = Command::new(bin)
        .args(["tail", "--json", "--no-sessions-socket"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = BufReader::new(agent.stdout.take().context("stdout")?);
    let l2 = lines.clone();
    std::thread::spawn(move || {
        // The instrument must not be what waits: a normal thread can wait
        // milliseconds for a CPU while the storm runs (as cyclictest does).
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: this thread (0), a valid parameter.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        for line in out.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                l2.lock().unwrap().push((wall(), v));
            }
        }
    });
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|(_, v)| v["event"] == "agent.start")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let storm_secs = 5.0 + logins as f64 * 0.5;
    let storm = ssh_base(&env.sshd, &world().key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg(format!(
            "{} {storm_secs}",
            env.tools.path("storm").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(2));
    let mut ports = Vec::new();
    for _ in 0..logins {
        let run = ssh(&env.sshd, &[], "echo $SSH_CONNECTION")?;
        ports.extend(run.client_port);
    }
    let mut storm = storm;
    let _ = storm.wait();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let _ = agent.wait();
    let seen = lines.lock().unwrap().clone();
    latencies(&seen, &ports)
}

fn latencies(seen: &[(f64, Value)], ports: &[u16]) -> Result<Samples> {
    let (mut connect, mut login) = (Vec::new(), Vec::new());
    for (read, v) in seen {
        let port = v["session"]["source"]["port"].as_u64().unwrap_or(0) as u16;
        if !ports.contains(&port) {
            continue;
        }
        let ms = (read - time_of(v)) * 1000.0;
        match v["event"].as_str() {
            Some("session.connect") => connect.push(ms),
            Some("session.login") => login.push(ms),
            _ => {}
        }
    }
    if connect.is_empty() || login.is_empty() {
        bail!(
            "latency: no samples ({} connects, {} logins)",
            connect.len(),
            login.len()
        );
    }
    Ok((connect, login))
}

fn report(samples: &mut [Samples]) -> Result<()> {
    println!(
        "\nlogin → event latency while another session runs the exec storm ({ROUNDS} alternating rounds):\n"
    );
    println!("| agent | logins | connect p50 | connect p99 | login p50 | login p99 |\n|---|---|---|---|---|---|");
    for (i, (connect, login)) in samples.iter_mut().enumerate() {
        println!(
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            CONFIGS[i].0,
            login.len(),
            pct(connect, 0.5),
            pct(connect, 0.99),
            pct(login, 0.5),
            pct(login, 0.99)
        );
    }
    Ok(())
}
