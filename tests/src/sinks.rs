//! What the agent-mode sink tests share: sessions run against a test
//! sshd, the events `tail --json` saw of them (the reference), the same
//! events as a sink delivered them compared with it, an agent
//! configuration with a file sink to wait on, a test CA.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;

use crate::{schema::Schema, ssh, world, Sshd, Tracer, TEST_USER};

pub const WAIT: Duration = Duration::from_secs(30);

pub fn test_dir(name: &str) -> PathBuf {
    let d = world().dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Session events (agent events left out) as canonical JSON without their
/// time and a session's duration, sorted, each with its time in ns. Each
/// agent numbers sessions its own way and converts kernel clocks with its own offset, so the id is
/// replaced by the client port (one port must keep one id) and times are
/// compared separately (`assert_same`).
pub fn session_lines(lines: &[String]) -> Vec<(String, i128)> {
    let mut ids = std::collections::HashMap::new();
    let mut v: Vec<(String, i128)> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|e| !e["event"].as_str().unwrap_or("").starts_with("agent."))
        // session.bytes are samples each agent takes on its own one-second
        // clock (sock_diag), so two agents' samples differ; session.end's
        // totals are the kernel's and the same in both.
        .filter(|e| e["event"] != "session.bytes")
        .map(|mut e| {
            let port = e["session"]["source"]["port"].clone();
            let id = e["session"]["id"].take();
            let first = ids.entry(port.to_string()).or_insert_with(|| id.clone());
            assert_eq!(*first, id, "two ids for client port {port}");
            e["session"]["id"] = Value::from(format!("session from port {port}"));
            // Each agent's programs read the kernel clock themselves, µs
            // apart: a duration can straddle a millisecond differently.
            // The end's time is compared (assert_same) instead.
            if let Some(d) = e["session"].get_mut("duration_ms") {
                assert!(d.is_u64(), "duration_ms {d}");
                *d = Value::from("compared through the time");
            }
            let time = e["time"].take();
            let t = humantime::parse_rfc3339(time.as_str().unwrap()).unwrap();
            let ns = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
            (e.to_string(), ns)
        })
        .collect();
    v.sort();
    v
}

/// Runs `n` sessions, `pause` apart; returns their client ports.
pub fn sessions(sshd: &Sshd, n: usize, pause: Duration) -> Vec<u16> {
    (0..n)
        .map(|i| {
            if i > 0 {
                std::thread::sleep(pause);
            }
            session(sshd, "echo $SSH_CONNECTION; id -u; ls /")
        })
        .collect()
}

/// Runs one session with `cmd` (which must print $SSH_CONNECTION first);
/// returns its client port.
pub fn session(sshd: &Sshd, cmd: &str) -> u16 {
    // Test processes of other suites rewrite the test user's
    // authorized_keys with their own key (world()): retry once.
    let mut r = ssh(sshd, &[], cmd).unwrap();
    if !r.success && r.stderr.contains("Permission denied") {
        std::thread::sleep(Duration::from_secs(1));
        let _ = std::fs::copy(
            world().key.with_extension("pub"),
            format!("/home/{TEST_USER}/.ssh/authorized_keys"),
        );
        r = ssh(sshd, &[], cmd).unwrap();
    }
    assert!(r.success, "{}", r.stderr);
    r.client_port.unwrap()
}

/// What `tail --json` saw, once every session in `ports` has ended.
pub fn reference(tracer: Tracer, ports: &[u16]) -> Vec<(String, i128)> {
    for &p in ports {
        assert!(tracer.wait_for(WAIT, |e| e["event"] == "session.end"
            && e["session"]["source"]["port"] == p));
    }
    let events = tracer.stop().unwrap();
    let schema = Schema::load().unwrap();
    // The tracer and the sinks share one filter (this sshd's port): every
    // session it saw counts, a refused attempt included.
    let mut lines = Vec::new();
    for e in &events {
        schema.check(e).unwrap();
        lines.push(e.to_string());
    }
    session_lines(&lines)
}

/// Waits until `got` holds exactly the events of `want` (a count alone
/// returns early when one event is there twice or differs: the last batch,
/// maybe still in a retry's backoff, would then be missed); returns what it
/// holds last, for `assert_same` to name what is missing or extra.
pub fn wait_for_same(
    want: &[(String, i128)],
    got: impl Fn() -> Vec<(String, i128)>,
) -> Vec<(String, i128)> {
    crate::wait_until(WAIT, || {
        let g = got();
        (texts(&g) == texts(want)).then_some(g)
    })
    .unwrap_or_else(got)
}

/// The events of `session_lines` without their times.
pub fn texts(v: &[(String, i128)]) -> Vec<String> {
    v.iter().map(|e| e.0.clone()).collect()
}

/// Same events, none missing, none twice; times within 50 ms (each agent
/// converts kernel clocks to wall time with its own reading).
pub fn assert_same(what: &str, got: &[(String, i128)], want: &[(String, i128)]) {
    let (g, w) = (texts(got), texts(want));
    let missing: Vec<&String> = w.iter().filter(|x| !g.contains(x)).collect();
    let extra: Vec<&String> = g.iter().filter(|x| !w.contains(x)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}:\n{}",
        explain_difference(&missing, &extra)
    );
    assert_eq!(g, w, "{what}: duplicates");
    let offsets: Vec<i128> = got.iter().zip(want).map(|(a, b)| a.1 - b.1).collect();
    let worst = offsets.iter().map(|o| o.abs()).max().unwrap_or(0);
    assert!(
        worst < 50_000_000,
        "{what}: times differ by up to {worst} ns"
    );
}

/// One short line per missing or unexpected event: its type and port, and
/// the fields where it differs from the other side's event of the same type
/// and port, if there is one (whole lines are too long for a CI log).
fn explain_difference(missing: &[&String], extra: &[&String]) -> String {
    let parse = |l: &&String| serde_json::from_str::<Value>(l).unwrap();
    let (m, x): (Vec<Value>, Vec<Value>) = (
        missing.iter().map(parse).collect(),
        extra.iter().map(parse).collect(),
    );
    let same_kind = |a: &Value, b: &Value| {
        a["event"] == b["event"] && a["session"]["source"]["port"] == b["session"]["source"]["port"]
    };
    let mut out = Vec::new();
    for (label, side, other) in [("missing", &m, &x), ("unexpected", &x, &m)] {
        for e in side {
            let head = format!(
                "{label} {} port {}",
                e["event"], e["session"]["source"]["port"]
            );
            out.push(match other.iter().find(|o| same_kind(e, o)) {
                Some(o) => format!(
                    "{head}; differs at {}",
                    differing_paths(e, o, "").join(", ")
                ),
                None => format!("{head}: {}", short(&e.to_string())),
            });
        }
    }
    out.join("\n")
}

/// Paths where `a` and `b` differ, each with both values, shortened.
fn differing_paths(a: &Value, b: &Value, at: &str) -> Vec<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let (va, vb) = (
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    );
                    differing_paths(va, vb, &format!("{at}.{k}"))
                })
                .collect()
        }
        _ if a == b => Vec::new(),
        _ => vec![format!(
            "{at}: {} vs {}",
            short(&a.to_string()),
            short(&b.to_string())
        )],
    }
}

fn short(s: &str) -> String {
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub fn write_config(dir: &Path, body: &str) -> (PathBuf, PathBuf) {
    let file = dir.join("events.json");
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nspool_dir = \"{}\"\n\n[[sink]]\nname = \"file\"\ntype = \"file\"\npath = \"{}\"\n\n{body}",
            dir.join("spool").display(),
            file.display()
        ),
    )
    .unwrap();
    (cfg, file)
}

/// The time of an event line, in ns since the epoch.
pub fn time_ns(event: &Value) -> i128 {
    let t = humantime::parse_rfc3339(event["time"].as_str().unwrap()).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128
}

/// A test CA and a certificate for 127.0.0.1 signed by it (openssl).
pub fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ssh-trace test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// The agent's exit summary says `sink` dropped nothing and spooled nothing.
pub fn assert_all_delivered(stderr: &str, sink: &str) {
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!("ssh-trace: sink {sink}: "))
                && l.ends_with(" 0 dropped, 0 left in the spool")),
        "{stderr}"
    );
}
