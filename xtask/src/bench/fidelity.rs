//! `cargo xtask bench fidelity`: a soak of real logins (commands, uploads,
//! wrong keys) from several client addresses (network namespaces made
//! here), with ssh-trace checked against independent witnesses in the same
//! run: per-connection iptables byte counters (the rule-per-session method),
//! auditd's execve records, and sshd's own log. Prints missed/extra counts
//! and the byte error distribution.
use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use ssh_trace_tests::{parse_run, world, Sshd, TEST_USER};

#[derive(clap::Args)]
pub struct Args {
    /// Logins in the soak.
    #[arg(long, default_value_t = 1000)]
    logins: usize,
    /// Clients at a time.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

const NETNS: usize = 3;

fn sh(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("{args:?}"))?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Client hosts: network namespaces stfidN with a veth pair each
/// (10.77.N.2 in the namespace, 10.77.N.1 on this side). Removed on drop.
struct Hosts;

impl Hosts {
    fn create() -> Result<Self> {
        let _ = Hosts::remove();
        for i in 1..=NETNS {
            let (ns, h, c) = (format!("stfid{i}"), format!("stf{i}h"), format!("stf{i}c"));
            sh(&["ip", "netns", "add", &ns])?;
            sh(&["ip", "link", "add", &h, "type", "veth", "peer", "name", &c])?;
            sh(&["ip", "link", "set", &c, "netns", &ns])?;
            sh(&["ip", "addr", "add", &format!("10.77.{i}.1/24"), "dev", &h])?;
            sh(&["ip", "link", "set", &h, "up"])?;
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("10.77.{i}.2/24"),
                "dev",
                &c,
            ])?;
            sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", &c, "up"])?;
            sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(Hosts)
    }

    fn remove() -> Result<()> {
        for i in 1..=NETNS {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("stfid{i}")])
                .output();
            let _ = Command::new("ip")
                .args(["link", "del", &format!("stf{i}h")])
                .output();
        }
        Ok(())
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Hosts::remove();
    }
}

/// Client ports are fixed in advance (for the iptables rules); a base that
/// changes per run keeps clear of the last run's TIME_WAIT connections.
fn base_port() -> u16 {
    static BASE: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        20000 + (secs % 20) as u16 * 2000
    })
}

/// What one soak login did and what the witnesses saw.
#[derive(Debug, Default)]
struct Login {
    client_ip: String,
    client_port: u16,
    kind: &'static str,
    ok: bool,
    /// iptables payload bytes (client → server, server → client).
    iptables: Option<(u64, u64)>,
}

/// Per-connection rules in their own chains, matched on the 4-tuple fixed
/// in advance (the client binds its source port through `nc -p`).
fn rules(action: &str, c: (&str, u16), s: (&str, u16)) -> Result<()> {
    let (cp, sp) = (c.1.to_string(), s.1.to_string());
    sh(&[
        "iptables", "-w", action, "STFID_IN", "-p", "tcp", "-s", c.0, "--sport", &cp, "-d", s.0,
        "--dport", &sp,
    ])?;
    sh(&[
        "iptables",
        "-w",
        action,
        "STFID_OUT",
        "-p",
        "tcp",
        "-s",
        s.0,
        "--sport",
        &sp,
        "-d",
        c.0,
        "--dport",
        &cp,
    ])?;
    Ok(())
}

/// (packets, bytes) of the rule matching `sport`/`dport` in `chain`.
fn counters(chain: &str, sport: u16, dport: u16) -> Result<(u64, u64)> {
    let text = sh(&["iptables", "-w", "-L", chain, "-v", "-x", "-n"])?;
    for l in text.lines() {
        let words: Vec<&str> = l.split_whitespace().collect();
        let (spt, dpt) = (format!("spt:{sport}"), format!("dpt:{dport}"));
        if words.contains(&spt.as_str()) && words.contains(&dpt.as_str()) {
            return Ok((words[0].parse()?, words[1].parse()?));
        }
    }
    bail!("no rule for {sport}->{dport} in {chain}")
}

/// TCP payload from IP byte counts: every segment carries 20 bytes of IPv4
/// header and 32 of TCP header with timestamps, the SYN (or SYN-ACK) 40 with
/// its options (Linux defaults on loopback and veth).
fn payload(pkts: u64, bytes: u64) -> u64 {
    bytes.saturating_sub(60 + 52 * pkts.saturating_sub(1))
}

fn one_login(k: usize, sshd: &Sshd, upload: &Path) -> Result<Login> {
    let w = world();
    let src = k % (NETNS + 1);
    let (ns, cip, sip) = if src == 0 {
        (None, "127.0.0.1".to_string(), "127.0.0.1".to_string())
    } else {
        (
            Some(format!("stfid{src}")),
            format!("10.77.{src}.2"),
            format!("10.77.{src}.1"),
        )
    };
    let cport = base_port() + k as u16;
    let kind = match k % 10 {
        0..=6 => "command",
        7 | 8 => "upload",
        _ => "wrong key",
    };
    rules("-A", (&cip, cport), (&sip, sshd.port))?;
    let mut cmd = match &ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ssh"]);
            c
        }
        None => Command::new("ssh"),
    };
    cmd.args([
        "-v",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
    ])
    .args([
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        &format!("ProxyCommand=nc -p {cport} %h %p"),
    ])
    .arg("-i")
    .arg(if kind == "wrong key" {
        &w.wrong_key
    } else {
        &w.key
    })
    .args(["-p", &sshd.port.to_string(), &format!("{TEST_USER}@{sip}")]);
    let remote = match kind {
        "upload" => "cat > /dev/null".to_string(),
        _ => format!(
            "echo $SSH_CONNECTION; /bin/echo soak-{k}; ls /usr/bin | head -{}",
            k % 7
        ),
    };
    cmd.arg(remote);
    if kind == "upload" {
        cmd.stdin(std::fs::File::open(upload)?);
    } else {
        cmd.stdin(Stdio::null());
    }
    let run = parse_run(cmd.output()?);
    // Connections linger briefly after the client exits; let them close.
    std::thread::sleep(Duration::from_millis(300));
    let (ip, ib) = counters("STFID_IN", cport, sshd.port)?;
    let (op, ob) = counters("STFID_OUT", sshd.port, cport)?;
    rules("-D", (&cip, cport), (&sip, sshd.port))?;
    Ok(Login {
        client_ip: cip,
        client_port: cport,
        kind,
        ok: run.success,
        iptables: Some((payload(ip, ib), payload(op, ob))),
    })
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(bin: &Path, a: Args) -> Result<()> {
    if a.logins > 2000 {
        bail!("at most 2000 logins: client ports come from a 2000-port range");
    }
    crate::setup::bench_packages()?;
    let _hosts = Hosts::create()?;
    let addrs: Vec<String> = (1..=NETNS).map(|i| format!("10.77.{i}.1")).collect();
    let mut listen = vec!["127.0.0.1"];
    listen.extend(addrs.iter().map(String::as_str));
    let sshd = Sshd::start_on("fidelity", &listen)?;
    for chain in ["STFID_IN", "STFID_OUT"] {
        let _ = Command::new("iptables").args(["-w", "-F", chain]).output();
        let _ = Command::new("iptables").args(["-w", "-N", chain]).output();
    }
    let _ = Command::new("iptables")
        .args(["-w", "-I", "INPUT", "-j", "STFID_IN"])
        .output();
    let _ = Command::new("iptables")
        .args(["-w", "-I", "OUTPUT", "-j", "STFID_OUT"])
        .output();
    // auditd with the classic execve rule.
    super::auditd::start(&[super::auditd::EXEC_RULE])?;
    // ssh-trace, every line kept.
    let mut agent = Command::new(bin)
        .args(["tail", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (l2, out) = (
        lines.clone(),
        BufReader::new(agent.stdout.take().context("stdout")?),
    );
    let reader = std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&l) {
                l2.lock().unwrap().push(v);
            }
        }
    });
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|v| v["event"] == "agent.start")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let upload = world().dir.join("soak-upload");
    std::fs::write(&upload, vec![0x5au8; 200_000])?;
    let next = Arc::new(Mutex::new(0usize));
    let results: Arc<Mutex<Vec<Login>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    std::thread::scope(|s| {
        for _ in 0..a.concurrency {
            let (next, results, errors, sshd, upload) = (
                next.clone(),
                results.clone(),
                errors.clone(),
                &sshd,
                &upload,
            );
            s.spawn(move || loop {
                let k = {
                    let mut n = next.lock().unwrap();
                    if *n >= a.logins {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                match one_login(k, sshd, upload) {
                    Ok(l) => results.lock().unwrap().push(l),
                    Err(e) => errors.lock().unwrap().push(format!("login {k}: {e:#}")),
                }
            });
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own children.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let _ = agent.wait();
    let _ = reader.join();
    let audit_lost = super::auditd::stop();
    let _ = Command::new("iptables")
        .args(["-w", "-D", "INPUT", "-j", "STFID_IN"])
        .output();
    let _ = Command::new("iptables")
        .args(["-w", "-D", "OUTPUT", "-j", "STFID_OUT"])
        .output();

    let events = lines.lock().unwrap().clone();
    let results = results.lock().unwrap();
    let errors = errors.lock().unwrap();
    // Index ssh-trace's view by client endpoint, on this sshd only.
    let mut by_client: HashMap<(String, u16), Vec<&Value>> = HashMap::new();
    for e in &events {
        if e["session"]["destination"]["port"] != sshd.port {
            continue;
        }
        let ip = e["session"]["source"]["ip"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let port = e["session"]["source"]["port"].as_u64().unwrap_or(0) as u16;
        by_client.entry((ip, port)).or_default().push(e);
    }
    let kinds = |evs: &[&Value], k: &str| evs.iter().filter(|e| e["event"] == k).count();
    // Sessions and logins against sshd's log.
    let log = std::fs::read_to_string(&sshd.log)?;
    let logged: HashSet<(String, u16)> = log
        .lines()
        .filter_map(|l| {
            let r = l.split("Connection from ").nth(1)?;
            let f: Vec<&str> = r.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect();
    let accepted: HashSet<(String, u16)> = log
        .lines()
        .filter_map(|l| {
            let r = l.split("Accepted publickey for ").nth(1)?;
            let f: Vec<&str> = r.split_whitespace().collect();
            Some((f.get(2)?.to_string(), f.get(4)?.parse().ok()?))
        })
        .collect();
    let seen: HashSet<(String, u16)> = by_client
        .iter()
        .filter(|(_, v)| kinds(v, "session.connect") == 1)
        .map(|(k, _)| k.clone())
        .collect();
    let logins_seen: HashSet<(String, u16)> = by_client
        .iter()
        .filter(|(_, v)| kinds(v, "session.login") == 1)
        .map(|(k, _)| k.clone())
        .collect();
    // Only the soak's own connections (the harness probes the port once).
    let soak: HashSet<(String, u16)> = results
        .iter()
        .map(|r| (r.client_ip.clone(), r.client_port))
        .collect();
    let logged: HashSet<(String, u16)> = logged.intersection(&soak).cloned().collect();
    let seen: HashSet<(String, u16)> = seen.intersection(&soak).cloned().collect();
    let sessions_missed = logged.difference(&seen).count();
    let sessions_extra = seen.difference(&logged).count();
    let logins_missed = accepted.difference(&logins_seen).count();
    let logins_extra = logins_seen.difference(&accepted).count();
    // Bytes against the iptables rule of each connection.
    let (mut err_in, mut err_out, mut bytes_missing) = (Vec::new(), Vec::new(), 0);
    let mut worst: Vec<(f64, String)> = Vec::new();
    for r in results.iter() {
        let Some((ii, io)) = r.iptables else { continue };
        let evs = by_client.get(&(r.client_ip.clone(), r.client_port));
        let end = evs.and_then(|v| v.iter().find(|e| e["event"] == "session.end"));
        let Some(end) = end else {
            bytes_missing += 1;
            continue;
        };
        let (bi, bo) = (
            end["session"]["bytes_in"].as_u64().unwrap_or(0),
            end["session"]["bytes_out"].as_u64().unwrap_or(0),
        );
        let (ei, eo) = (
            (bi as f64 - ii as f64).abs() / (ii.max(1) as f64) * 100.0,
            (bo as f64 - io as f64).abs() / (io.max(1) as f64) * 100.0,
        );
        err_in.push(ei);
        err_out.push(eo);
        if ei > 1.0 || eo > 1.0 {
            worst.push((
                ei.max(eo),
                format!(
                    "{} {}:{} in {bi} vs {ii}, out {bo} vs {io}",
                    r.kind, r.client_ip, r.client_port
                ),
            ));
        }
    }
    // Execs against auditd: every execve of a session process (its pid or
    // parent pid is one ssh-trace attributed to a soak session).
    let session_pids: HashSet<u64> = by_client
        .values()
        .flatten()
        .filter(|e| e["event"] == "process.exec")
        .flat_map(|e| {
            [
                e["process"]["pid"].as_u64().unwrap_or(0),
                e["process"]["ppid"].as_u64().unwrap_or(0),
            ]
        })
        .collect();
    let traced: HashSet<(u64, String)> = by_client
        .values()
        .flatten()
        .filter(|e| e["event"] == "process.exec")
        .map(|e| {
            (
                e["process"]["pid"].as_u64().unwrap_or(0),
                e["process"]["args"].to_string(),
            )
        })
        .collect();
    let audit = super::auditd::read_log();
    let mut audited: HashSet<(u64, String)> = HashSet::new();
    let mut pending: HashMap<String, (u64, u64)> = HashMap::new();
    for l in audit.lines() {
        let serial = l
            .split("msg=audit(")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .unwrap_or_default()
            .to_owned();
        let field = |name: &str| {
            l.split(&format!(" {name}="))
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
        };
        if l.starts_with("type=SYSCALL")
            && field("syscall") == Some("59")
            && field("success") == Some("yes")
        {
            let pid = field("pid").and_then(|v| v.parse().ok()).unwrap_or(0);
            let ppid = field("ppid").and_then(|v| v.parse().ok()).unwrap_or(0);
            pending.insert(serial, (pid, ppid));
        } else if l.starts_with("type=EXECVE") {
            if let Some(&(pid, ppid)) = pending.get(&serial) {
                if session_pids.contains(&pid) || session_pids.contains(&ppid) {
                    let argc: usize = field("argc").and_then(|v| v.parse().ok()).unwrap_or(0);
                    let args: Vec<String> = (0..argc)
                        .filter_map(|i| field(&format!("a{i}")).map(decode_audit))
                        .collect();
                    audited.insert((pid, serde_json::to_string(&args).unwrap_or_default()));
                }
            }
        }
    }
    let execs_missed = audited.difference(&traced).count();
    let execs_extra = traced.difference(&audited).count();
    for (what, a, b) in [("missed", &audited, &traced), ("extra", &traced, &audited)] {
        for (pid, args) in a.difference(b).take(3) {
            println!("exec {what}: pid {pid} {args}");
        }
    }
    println!("fidelity soak: {} logins ({} command, {} upload, {} wrong key) from {} client addresses, {} clients at a time",
        results.len(),
        results.iter().filter(|r| r.kind == "command").count(),
        results.iter().filter(|r| r.kind == "upload").count(),
        results.iter().filter(|r| r.kind == "wrong key").count(),
        NETNS + 1,
        a.concurrency);
    if !errors.is_empty() {
        println!(
            "harness errors ({}): {}",
            errors.len(),
            errors
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    println!("| check | witness | witness count | ssh-trace missed | ssh-trace extra |\n|---|---|---|---|---|");
    println!(
        "| sessions | sshd log \"Connection from\" | {} | {sessions_missed} | {sessions_extra} |",
        logged.len()
    );
    println!(
        "| logins | sshd log \"Accepted publickey\" | {} | {logins_missed} | {logins_extra} |",
        accepted.len()
    );
    println!(
        "| execs in sessions | auditd EXECVE records | {} | {execs_missed} | {execs_extra} |",
        audited.len()
    );
    println!(
        "| session bytes | iptables per-connection rules | {} | {bytes_missing} | - |",
        results.len()
    );
    println!(
        "byte error vs iptables payload: in p50 {:.3} % p99 {:.3} % max {:.3} %; out p50 {:.3} % p99 {:.3} % max {:.3} %; within 1 %: {}/{}",
        pct(&mut err_in, 0.5), pct(&mut err_in, 0.99), pct(&mut err_in, 1.0),
        pct(&mut err_out, 0.5), pct(&mut err_out, 0.99), pct(&mut err_out, 1.0),
        err_in.iter().zip(&err_out).filter(|(i, o)| **i <= 1.0 && **o <= 1.0).count(),
        err_in.len()
    );
    for (_, w) in worst.iter().take(5) {
        println!("over 1 %: {w}");
    }
    println!("auditd status at the end: {audit_lost} (records the audit subsystem itself dropped)");
    let ok = results.iter().filter(|r| r.ok).count();
    println!("clients that succeeded: {ok} (wrong-key logins fail by design)");
    Ok(())
}

/// auditd writes argv as "quoted" text or, when it has special bytes, hex.
fn decode_audit(v: &str) -> String {
    if let Some(q) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return q.to_owned();
    }
    let bytes: Vec<u8> = (0..v.len() / 2)
        .filter_map(|i| u8::from_str_radix(v.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
