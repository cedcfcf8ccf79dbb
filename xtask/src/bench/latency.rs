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

pub fn under_storm(bin: &Path, env: &Env, logins: usize) -> Result<()> {
    let lines: Lines = Arc::default();
    let mut agent = Command::new(bin)
        .args(["tail", "--json", "--no-sessions-socket"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = BufReader::new(agent.stdout.take().context("stdout")?);
    let l2 = lines.clone();
    std::thread::spawn(move || {
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
    report(&seen, &ports)
}

fn report(seen: &[(f64, Value)], ports: &[u16]) -> Result<()> {
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
    println!(
        "\nlogin → event latency while another session runs the exec storm ({} logins):\n",
        login.len()
    );
    println!("| line | p50 | p99 |\n|---|---|---|");
    println!(
        "| session.connect | {:.2} ms | {:.2} ms |",
        pct(&mut connect, 0.5),
        pct(&mut connect, 0.99)
    );
    println!(
        "| session.login | {:.2} ms | {:.2} ms |",
        pct(&mut login, 0.5),
        pct(&mut login, 0.99)
    );
    Ok(())
}
