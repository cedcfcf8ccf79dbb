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

/// The client of login `k`: ssh from namespace `ns` (or this host) with
/// source port `cport`, to `target` (user@ip, port).
fn login_command(
    k: usize,
    ns: Option<&str>,
    cport: u16,
    kind: &str,
    target: &(String, u16),
) -> Result<Command> {
    let w = world();
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ssh"]);
            c
        }
        None => Command::new("ssh"),
    };
    cmd.args(["-v", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"])
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["-o", &format!("ProxyCommand=nc -p {cport} %h %p")])
        .arg("-i")
        .arg(if kind == "wrong key" {
            &w.wrong_key
        } else {
            &w.key
        })
        .args(["-p", &target.1.to_string(), &target.0]);
    let remote = match kind {
        "upload" => "cat > /dev/null".to_string(),
        _ => format!(
            "echo $SSH_CONNECTION; /bin/echo soak-{k}; ls /usr/bin | head -{}",
            k % 7
        ),
    };
    cmd.arg(remote).stdin(Stdio::null());
    Ok(cmd)
}

fn one_login(k: usize, sshd: &Sshd, upload: &Path) -> Result<Login> {
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
    let target = (format!("{TEST_USER}@{sip}"), sshd.port);
    let mut cmd = login_command(k, ns.as_deref(), cport, kind, &target)?;
    if kind == "upload" {
        cmd.stdin(std::fs::File::open(upload)?);
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

/// The per-connection byte rules' chains, hooked in (or out).
fn iptables_chains(hook: bool) {
    let ipt = |args: &[&str]| {
        let _ = Command::new("iptables").arg("-w").args(args).output();
    };
    if hook {
        for chain in ["STFID_IN", "STFID_OUT"] {
            ipt(&["-F", chain]);
            ipt(&["-N", chain]);
        }
    }
    let op = if hook { "-I" } else { "-D" };
    ipt(&[op, "INPUT", "-j", "STFID_IN"]);
    ipt(&[op, "OUTPUT", "-j", "STFID_OUT"]);
}

/// ssh-trace, every line kept.
struct Agent {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<Value>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Agent {
    fn start(bin: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["tail", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (l2, out) = (
            lines.clone(),
            BufReader::new(child.stdout.take().context("stdout")?),
        );
        let reader = std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&l) {
                    l2.lock().unwrap().push(v);
                }
            }
        });
        let started = || {
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|v| v["event"] == "agent.start")
        };
        while !started() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            lines,
            reader,
        })
    }

    /// Stops it (SIGTERM) and returns every event it printed.
    fn stop(mut self) -> Vec<Value> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = self.reader.join();
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

/// The soak: `a.logins` logins, `a.concurrency` at a time.
fn soak(a: &Args, sshd: &Sshd, upload: &Path) -> (Vec<Login>, Vec<String>) {
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Login>> = Mutex::default();
    let errors: Mutex<Vec<String>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..a.concurrency {
            s.spawn(|| loop {
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
    (results.into_inner().unwrap(), errors.into_inner().unwrap())
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
    iptables_chains(true);
    // auditd with the classic execve rule.
    super::auditd::start(&[super::auditd::EXEC_RULE])?;
    let agent = Agent::start(bin)?;
    let upload = world().dir.join("soak-upload");
    std::fs::write(&upload, vec![0x5au8; 200_000])?;
    let (results, errors) = soak(&a, &sshd, &upload);
    std::thread::sleep(Duration::from_secs(2));
    let events = agent.stop();
    let audit_lost = super::auditd::stop();
    iptables_chains(false);
    let by_client = by_client(&events, sshd.port);
    let sessions = Sessions::check(&sshd, &by_client, &results)?;
    let bytes = Bytes::check(&results, &by_client);
    let execs = Execs::check(&by_client, &super::auditd::read_log());
    execs.print_differences();
    print_summary(&a, &results, &errors);
    sessions.print();
    execs.print_table_row();
    bytes.print(results.len());
    println!("auditd status at the end: {audit_lost} (records the audit subsystem itself dropped)");
    let ok = results.iter().filter(|r| r.ok).count();
    println!("clients that succeeded: {ok} (wrong-key logins fail by design)");
    Ok(())
}

type Client = (String, u16);

/// ssh-trace's events by client endpoint, on this sshd only.
fn by_client(events: &[Value], port: u16) -> HashMap<Client, Vec<&Value>> {
    let mut by: HashMap<Client, Vec<&Value>> = HashMap::new();
    for e in events {
        if e["session"]["destination"]["port"] != port {
            continue;
        }
        let ip = e["session"]["source"]["ip"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let port = e["session"]["source"]["port"].as_u64().unwrap_or(0) as u16;
        by.entry((ip, port)).or_default().push(e);
    }
    by
}

fn kinds(evs: &[&Value], k: &str) -> usize {
    evs.iter().filter(|e| e["event"] == k).count()
}

/// Sessions and logins against sshd's log.
struct Sessions {
    logged: usize,
    accepted: usize,
    missed: usize,
    extra: usize,
    logins_missed: usize,
    logins_extra: usize,
}

/// Client endpoints of sshd log lines after `marker` (ip and port at the
/// given word positions).
fn log_clients(log: &str, marker: &str, ip_at: usize, port_at: usize) -> HashSet<Client> {
    log.lines()
        .filter_map(|l| {
            let r = l.split(marker).nth(1)?;
            let f: Vec<&str> = r.split_whitespace().collect();
            Some((f.get(ip_at)?.to_string(), f.get(port_at)?.parse().ok()?))
        })
        .collect()
}

impl Sessions {
    fn check(sshd: &Sshd, by: &HashMap<Client, Vec<&Value>>, results: &[Login]) -> Result<Self> {
        let log = std::fs::read_to_string(&sshd.log)?;
        let logged = log_clients(&log, "Connection from ", 0, 2);
        let accepted = log_clients(&log, "Accepted publickey for ", 2, 4);
        let with = |k: &str| -> HashSet<Client> {
            by.iter()
                .filter(|(_, v)| kinds(v, k) == 1)
                .map(|(c, _)| c.clone())
                .collect()
        };
        let (seen, logins_seen) = (with("session.connect"), with("session.login"));
        // Only the soak's own connections (the harness probes the port once).
        let soak: HashSet<Client> = results
            .iter()
            .map(|r| (r.client_ip.clone(), r.client_port))
            .collect();
        let logged: HashSet<Client> = logged.intersection(&soak).cloned().collect();
        let seen: HashSet<Client> = seen.intersection(&soak).cloned().collect();
        Ok(Self {
            logged: logged.len(),
            accepted: accepted.len(),
            missed: logged.difference(&seen).count(),
            extra: seen.difference(&logged).count(),
            logins_missed: accepted.difference(&logins_seen).count(),
            logins_extra: logins_seen.difference(&accepted).count(),
        })
    }

    fn print(&self) {
        println!("| check | witness | witness count | ssh-trace missed | ssh-trace extra |\n|---|---|---|---|---|");
        println!(
            "| sessions | sshd log \"Connection from\" | {} | {} | {} |",
            self.logged, self.missed, self.extra
        );
        println!(
            "| logins | sshd log \"Accepted publickey\" | {} | {} | {} |",
            self.accepted, self.logins_missed, self.logins_extra
        );
    }
}

/// Bytes against the iptables rule of each connection.
struct Bytes {
    err_in: Vec<f64>,
    err_out: Vec<f64>,
    missing: usize,
    worst: Vec<(f64, String)>,
}

impl Bytes {
    fn check(results: &[Login], by: &HashMap<Client, Vec<&Value>>) -> Self {
        let mut b = Bytes {
            err_in: Vec::new(),
            err_out: Vec::new(),
            missing: 0,
            worst: Vec::new(),
        };
        for r in results {
            let Some((ii, io)) = r.iptables else { continue };
            let evs = by.get(&(r.client_ip.clone(), r.client_port));
            let end = evs.and_then(|v| v.iter().find(|e| e["event"] == "session.end"));
            let Some(end) = end else {
                b.missing += 1;
                continue;
            };
            let (bi, bo) = (
                end["session"]["bytes_in"].as_u64().unwrap_or(0),
                end["session"]["bytes_out"].as_u64().unwrap_or(0),
            );
            let err = |got: u64, want: u64| {
                (got as f64 - want as f64).abs() / (want.max(1) as f64) * 100.0
            };
            let (ei, eo) = (err(bi, ii), err(bo, io));
            b.err_in.push(ei);
            b.err_out.push(eo);
            if ei > 1.0 || eo > 1.0 {
                let what = format!(
                    "{} {}:{} in {bi} vs {ii}, out {bo} vs {io}",
                    r.kind, r.client_ip, r.client_port
                );
                b.worst.push((ei.max(eo), what));
            }
        }
        b
    }

    fn print(mut self, logins: usize) {
        println!(
            "| session bytes | iptables per-connection rules | {logins} | {} | - |",
            self.missing
        );
        let (i, o) = (&mut self.err_in, &mut self.err_out);
        let within = i
            .iter()
            .zip(o.iter())
            .filter(|(i, o)| **i <= 1.0 && **o <= 1.0)
            .count();
        println!(
            "byte error vs iptables payload: in p50 {:.3} % p99 {:.3} % max {:.3} %; out p50 {:.3} % p99 {:.3} % max {:.3} %; within 1 %: {within}/{}",
            pct(i, 0.5), pct(i, 0.99), pct(i, 1.0),
            pct(o, 0.5), pct(o, 0.99), pct(o, 1.0),
            i.len()
        );
        for (_, w) in self.worst.iter().take(5) {
            println!("over 1 %: {w}");
        }
    }
}

/// Execs against auditd: every execve of a session process (its pid or
/// parent pid is one ssh-trace attributed to a soak session).
struct Execs {
    audited: HashSet<(u64, String)>,
    traced: HashSet<(u64, String)>,
}

impl Execs {
    fn check(by: &HashMap<Client, Vec<&Value>>, audit: &str) -> Self {
        let execs = || {
            by.values()
                .flatten()
                .filter(|e| e["event"] == "process.exec")
        };
        let pid = |e: &Value, k: &str| e["process"][k].as_u64().unwrap_or(0);
        let session_pids: HashSet<u64> = execs()
            .flat_map(|e| [pid(e, "pid"), pid(e, "ppid")])
            .collect();
        let traced = execs()
            .map(|e| (pid(e, "pid"), e["process"]["args"].to_string()))
            .collect();
        Self {
            audited: audited_execs(audit, &session_pids),
            traced,
        }
    }

    /// A few of the execs one side has and the other does not.
    fn print_differences(&self) {
        let (a, t) = (&self.audited, &self.traced);
        for (what, x, y) in [("missed", a, t), ("extra", t, a)] {
            for (pid, args) in x.difference(y).take(3) {
                println!("exec {what}: pid {pid} {args}");
            }
        }
    }

    fn print_table_row(&self) {
        let (a, t) = (&self.audited, &self.traced);
        println!(
            "| execs in sessions | auditd EXECVE records | {} | {} | {} |",
            a.len(),
            a.difference(t).count(),
            t.difference(a).count()
        );
    }
}

/// (pid, argv as JSON) of the successful execves of `pids` or their
/// children in auditd's log.
fn audited_execs(audit: &str, pids: &HashSet<u64>) -> HashSet<(u64, String)> {
    let mut audited = HashSet::new();
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
        let num = |name: &str| field(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        if l.starts_with("type=SYSCALL")
            && field("syscall") == Some("59")
            && field("success") == Some("yes")
        {
            pending.insert(serial, (num("pid"), num("ppid")));
        } else if l.starts_with("type=EXECVE") {
            let Some(&(pid, ppid)) = pending.get(&serial) else {
                continue;
            };
            if pids.contains(&pid) || pids.contains(&ppid) {
                let args: Vec<String> = (0..num("argc") as usize)
                    .filter_map(|i| field(&format!("a{i}")).map(decode_audit))
                    .collect();
                audited.insert((pid, serde_json::to_string(&args).unwrap_or_default()));
            }
        }
    }
    audited
}

fn print_summary(a: &Args, results: &[Login], errors: &[String]) {
    let of = |k: &str| results.iter().filter(|r| r.kind == k).count();
    println!(
        "fidelity soak: {} logins ({} command, {} upload, {} wrong key) from {} client addresses, {} clients at a time",
        results.len(),
        of("command"),
        of("upload"),
        of("wrong key"),
        NETNS + 1,
        a.concurrency
    );
    if !errors.is_empty() {
        let first: Vec<String> = errors.iter().take(3).cloned().collect();
        println!("harness errors ({}): {}", errors.len(), first.join("; "));
    }
}

fn decode_audit(v: &str) -> String {
    if let Some(q) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return q.to_owned();
    }
    let bytes: Vec<u8> = (0..v.len() / 2)
        .filter_map(|i| u8::from_str_radix(v.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
