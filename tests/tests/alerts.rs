//! Alerts and their actions with real sessions from several client source
//! IPs (a network namespace this test creates, joined by a veth pair, with
//! two addresses in 10.251.77.0/24, a range only this test uses), a real
//! HTTP receiver on loopback and a real command action.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use ssh_trace_tests::*;

const HOST_IP: &str = "10.251.77.1";
const IP_A: &str = "10.251.77.2";
const IP_B: &str = "10.251.77.3";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace with addresses A and B, reaching the host at HOST_IP.
struct Net {
    ns: String,
    veth: String,
}

impl Net {
    fn create() -> Net {
        let id = std::process::id() % 100_000;
        let net = Net {
            ns: format!("sshtr-alerts-{id}"),
            veth: format!("sta{id}"),
        };
        let peer = format!("stb{id}");
        net.remove();
        ip(&["netns", "add", &net.ns]);
        ip(&[
            "link", "add", &net.veth, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["link", "set", &peer, "netns", &net.ns]);
        ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", &net.veth]);
        ip(&["link", "set", &net.veth, "up"]);
        for a in [IP_A, IP_B] {
            ip(&[
                "-n",
                &net.ns,
                "addr",
                "add",
                &format!("{a}/24"),
                "dev",
                &peer,
            ]);
        }
        ip(&["-n", &net.ns, "link", "set", &peer, "up"]);
        ip(&["-n", &net.ns, "link", "set", "lo", "up"]);
        net
    }

    fn remove(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }

    /// ssh from source address `from` as the test user.
    fn ssh(&self, sshd: &Sshd, from: &str, key: &std::path::Path, cmd: &str) -> SshRun {
        let base = ssh_base(sshd, key);
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(base.get_program())
            .args(base.get_args())
            .args(["-b", from])
            .arg(format!("{TEST_USER}@{HOST_IP}"))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        parse_run(out)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}

/// (path, body) of each request received.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A real HTTP server on loopback keeping (path, body) of each POST.
fn receiver() -> (u16, Received) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            g.lock().unwrap().push((req.url().to_owned(), body));
            let _ = req.respond(tiny_http::Response::from_string("ok"));
        }
    });
    (port, got)
}

fn alerts<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

fn schema_ok(events: &[Value]) {
    let schema = schema::Schema::load().unwrap();
    for e in events {
        schema.check(e).unwrap_or_else(|err| panic!("{err:#}: {e}"));
    }
}

#[test]
fn alerts_fire_on_real_sessions_and_run_their_actions() {
    if !root_or_skip("alerts_fire_on_real_sessions_and_run_their_actions") {
        return;
    }
    let net = Net::create();
    let sshd = Sshd::start_on("ops_alerts", &[HOST_IP]).unwrap();
    let (hport, got) = receiver();
    let dead = free_port().unwrap();
    let dir = world().dir.join("ops_alerts");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let cmd_out = dir.join("command.out");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            r#"state_file = "{state}"
[[rule]]
type = "new_source"
actions = ["hook"]
[[rule]]
type = "unauthenticated_rate"
max = 2
window = "1m"
severity = "critical"
actions = ["script"]
[[rule]]
type = "connection_rate"
max = 3
window = "1m"
actions = ["dead"]
[[rule]]
type = "privilege_gain"
actions = ["chat"]
rate_limit = {{ max = 1, per = "10m" }}
[[rule]]
type = "session_bytes"
max = 200000
[[rule]]
type = "root_login"
[[rule]]
type = "idle"
after = "2s"
[[rule]]
type = "login_after_idle"
after = "2s"
[[action]]
name = "hook"
webhook = "http://127.0.0.1:{hport}/json"
[[action]]
name = "chat"
webhook = "http://127.0.0.1:{hport}/slack"
preset = "slack"
[[action]]
name = "script"
command = ["/bin/sh", "-c", "cat >> {cmd_out}"]
[[action]]
name = "dead"
webhook = "http://127.0.0.1:{dead}/nobody-listens"
"#,
            state = state.display(),
            cmd_out = cmd_out.display()
        ),
    )
    .unwrap();
    let filter = format!("destination.port = {}", sshd.port);
    let args = [
        "--filter",
        &filter,
        "--no-sessions-socket",
        "--alerts",
        rules.to_str().unwrap(),
    ];
    let tracer = Tracer::start(&args).unwrap();
    let w = world();
    // No session for 2 s since the start.
    assert!(tracer.wait_for(Duration::from_secs(10), |e| e["event"] == "alert.idle"));

    let a1 = net.ssh(&sshd, IP_A, &w.key, "echo $SSH_CONNECTION");
    assert!(a1.success, "{}", a1.stderr);
    let a2 = net.ssh(&sshd, IP_A, &w.key, "echo $SSH_CONNECTION; sudo -n -u nobody /usr/bin/id -un; sudo -n -u nobody /usr/bin/id -un; head -c 300000 /dev/zero");
    assert!(a2.success && a2.stdout.contains("nobody"), "{}", a2.stderr);
    for _ in 0..3 {
        assert!(!net.ssh(&sshd, IP_B, &w.wrong_key, "true").success);
    }
    let b = net.ssh(&sshd, IP_B, &w.key, "echo $SSH_CONNECTION");
    assert!(b.success, "{}", b.stderr);
    assert!(tracer.wait_for(Duration::from_secs(20), |e| e["event"]
        == "alert.action_failed"));
    let events = tracer.stop().unwrap();
    schema_ok(&events);

    // One alert per idle period: the first period (since the start) ends
    // with a1's login. Later ones may come on a loaded machine, where the
    // logins below can be more than the rule's 2 s apart.
    let first_login = events
        .iter()
        .position(|e| e["event"] == "session.login")
        .expect("a login");
    let idle: Vec<&Value> = events[..first_login]
        .iter()
        .filter(|e| e["event"] == "alert.idle")
        .collect();
    assert_eq!(idle.len(), 1, "once in the first idle period");
    assert!(idle[0]["alert"]["evidence"]["idle_s"].as_u64().unwrap() >= 2);
    assert!(idle[0].get("session").is_none());
    let after = alerts(&events, "alert.login_after_idle");
    // One per idle period that a login ended.
    assert!(!after.is_empty() && after.len() <= alerts(&events, "alert.idle").len());
    assert_eq!(
        after[0]["session"]["source"]["port"],
        a1.client_port.unwrap()
    );

    let new = alerts(&events, "alert.new_source");
    let ips: Vec<&str> = new
        .iter()
        .map(|e| e["alert"]["evidence"]["source_ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips, [IP_A, IP_B], "first login from each IP only");
    assert_eq!(new[0]["alert"]["evidence"]["user"], TEST_USER);
    assert_eq!(new[0]["session"]["source"]["port"], a1.client_port.unwrap());

    let unauth = alerts(&events, "alert.unauthenticated_rate");
    assert_eq!(unauth.len(), 1);
    let ev = &unauth[0]["alert"];
    assert_eq!(ev["severity"], "critical");
    assert_eq!(ev["evidence"]["source_ip"], IP_B);
    assert_eq!(ev["evidence"]["count"], 3);
    assert_eq!(ev["evidence"]["limit"], 2);
    assert_eq!(ev["evidence"]["window_s"], 60);

    let rate = alerts(&events, "alert.connection_rate");
    assert_eq!(rate.len(), 1, "once per window");
    assert_eq!(rate[0]["alert"]["evidence"]["source_ip"], IP_B);
    assert_eq!(rate[0]["alert"]["evidence"]["count"], 4);
    assert_eq!(rate[0]["session"]["source"]["port"], b.client_port.unwrap());

    let gain = alerts(&events, "alert.privilege_gain");
    assert_eq!(gain.len(), 2, "one per sudo");
    for g in &gain {
        assert_eq!(g["alert"]["evidence"]["user"], TEST_USER);
        assert_eq!(g["alert"]["evidence"]["source_ip"], IP_A);
        assert_eq!(g["alert"]["evidence"]["syscall"], "execve");
        assert_eq!(g["session"]["source"]["port"], a2.client_port.unwrap());
    }
    let bytes = alerts(&events, "alert.session_bytes");
    assert_eq!(bytes.len(), 1);
    assert_eq!(
        bytes[0]["session"]["source"]["port"],
        a2.client_port.unwrap()
    );
    assert!(bytes[0]["alert"]["evidence"]["count"].as_u64().unwrap() > 300_000);
    assert!(alerts(&events, "alert.root_login").is_empty());

    // Actions: the JSON webhook got the two new_source alerts, the chat
    // preset one text (the second sudo was over the rate limit), the
    // command the unauthenticated_rate alert on stdin.
    let got = got.lock().unwrap().clone();
    let json: Vec<Value> = got
        .iter()
        .filter(|(p, _)| p == "/json")
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["event"], "alert.new_source");
    assert_eq!(json[0]["alert"]["evidence"]["source_ip"], IP_A);
    let chat: Vec<Value> = got
        .iter()
        .filter(|(p, _)| p == "/slack")
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(chat.len(), 1, "{got:?}");
    let text = chat[0]["text"].as_str().unwrap();
    assert!(
        text.contains("alert.privilege_gain") && text.contains(TEST_USER),
        "{text}"
    );
    let cmd: Value =
        serde_json::from_str(std::fs::read_to_string(&cmd_out).unwrap().trim()).unwrap();
    assert_eq!(cmd["event"], "alert.unauthenticated_rate");

    // The dead webhook failed after its retries: an event names it.
    let failed = alerts(&events, "alert.action_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["alert"]["rule"], "connection_rate");
    assert_eq!(failed[0]["alert"]["evidence"]["action"], "dead");
    assert!(failed[0]["alert"]["evidence"]["error"]
        .as_str()
        .unwrap()
        .contains("after 3 attempts"));

    // The known sources survive a restart: no new_source for A again.
    let state_text = std::fs::read_to_string(&state).unwrap();
    assert!(
        state_text.contains(&format!("{TEST_USER}@{IP_A}")),
        "{state_text}"
    );
    let tracer = Tracer::start(&args).unwrap();
    let a3 = net.ssh(&sshd, IP_A, &w.key, "echo $SSH_CONNECTION");
    assert!(a3.success, "{}", a3.stderr);
    let port = a3.client_port.unwrap();
    assert!(
        tracer.wait_for(Duration::from_secs(10), |e| e["event"] == "session.end"
            && e["session"]["source"]["port"] == port)
    );
    let events = tracer.stop().unwrap();
    assert!(alerts(&events, "alert.new_source").is_empty());
}
