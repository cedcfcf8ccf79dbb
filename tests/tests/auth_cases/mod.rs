//! Issue 13's cases, each against a real server: what the server decided,
//! as the agent reports it, against independent witnesses (the client's
//! exit, `ssh-keygen -lf`, the counting proxy's client port, the server's
//! own log). Every assertion message names the server.
use std::time::Duration;

use serde_json::{json, Value};
use ssh_trace_tests::{
    auth::{certified, fingerprint, password_user, ssh_password, PASSWORD, PASSWORD_USER},
    *,
};

const WAIT: Duration = Duration::from_secs(30);
/// How often the OpenSSH monitor switched to the user for one refused key,
/// as observed: 9.2 once per AuthorizedKeysFile entry (the default's two),
/// 10.0 once more.
fn key_lookups_for_one_key(kind: Kind) -> u64 {
    if kind == Kind::OpenSsh10 {
        3
    } else {
        2
    }
}

/// One client run against `server` through the counting proxy, traced.
pub struct Traced {
    pub run: SshRun,
    /// The session's client port (the proxy's local port).
    pub port: u16,
    /// The session's events.
    pub ev: Vec<Value>,
}

fn trace(kind: Kind, proxy: CountProxy, client: impl FnOnce(&str) -> SshRun) -> Traced {
    let args = kind.agent_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args).unwrap();
    let run = client(&format!("-o{}", proxy.option));
    let port = wait_until(WAIT, || proxy.counted().ok())
        .unwrap_or_else(|| {
            panic!(
                "[{}] the proxy wrote no counts: {}",
                kind.name(),
                run.stderr
            )
        })
        .port;
    let seen = tracer.wait_for(WAIT, ended(port));
    let all = tracer.stop().unwrap();
    assert!(seen, "[{}] no session.end for port {port}", kind.name());
    check_schema(&all);
    Traced {
        run,
        port,
        ev: session_events(&all, port),
    }
}

fn auths(t: &Traced) -> Vec<&Value> {
    of_kind(&t.ev, "session.auth")
}

/// The session's decisions as (outcome, method, user, invalid).
fn decisions(t: &Traced) -> Vec<(String, Value, Value, bool)> {
    auths(t)
        .iter()
        .map(|e| {
            let a = &e["auth"];
            (
                a["outcome"].as_str().unwrap_or_default().to_owned(),
                a["method"].clone(),
                a["user"].clone(),
                a["invalid"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

fn one_event<'a>(kind: Kind, t: &'a Traced, name: &str) -> &'a Value {
    let found = of_kind(&t.ev, name);
    assert_eq!(found.len(), 1, "[{}] one {name}: {:#?}", kind.name(), t.ev);
    found[0]
}

fn password_server(kind: Kind, name: &str) -> Server {
    password_server_logging(kind, name, false)
}

/// With `syslog`, logging to a syslog socket (read by the kernel hook),
/// else to its -E file (OpenSSH: read from the file) or standard error.
fn password_server_logging(kind: Kind, name: &str, syslog: bool) -> Server {
    let setup = Setup {
        passwords: true,
        users: vec![password_user().to_owned()],
        syslog,
        ..Default::default()
    };
    Server::with(kind, name, setup).unwrap()
}

fn key_login(
    kind: Kind,
    server: &Server,
    name: &str,
    key: &std::path::Path,
    extra: &[&str],
) -> Traced {
    trace(kind, CountProxy::new(server, name), |proxy| {
        key_client(server, key, proxy, extra)
    })
}

/// `echo $SSH_CONNECTION` as the test user with `key`, through `proxy`
/// (its `-o` option).
fn key_client(server: &Server, key: &std::path::Path, proxy: &str, extra: &[&str]) -> SshRun {
    let out = ssh_base(server, key)
        .arg(proxy)
        .args(extra)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("echo $SSH_CONNECTION")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    parse_run(out)
}

pub fn password_login_is_an_accepted_password(kind: Kind) {
    if !root_or_skip("password_login_is_an_accepted_password") {
        return;
    }
    let k = kind.name();
    let server = password_server(kind, "pw");
    let t = trace(kind, CountProxy::new(&server, "pw"), |proxy| {
        ssh_password(
            &server,
            "pw",
            PASSWORD_USER,
            "password",
            &[PASSWORD],
            &[proxy],
        )
        .unwrap()
    });
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    assert_eq!(
        t.run.client_port,
        Some(t.port),
        "[{k}] $SSH_CONNECTION's port"
    );
    assert_eq!(
        decisions(&t),
        [(
            "accepted".into(),
            json!("password"),
            json!(PASSWORD_USER),
            false
        )],
        "[{k}]"
    );
    let auth = auths(&t)[0];
    assert!(
        auth["process"]["pid"].as_u64().is_some_and(|p| p > 0),
        "[{k}] {auth}"
    );
    assert!(
        auth["session"]["user"].is_null(),
        "[{k}] before the login: {auth}"
    );
    let login = one_event(kind, &t, "session.login");
    assert_eq!(
        login["auth"],
        json!({"method": "password"}),
        "[{k}] {login}"
    );
    assert_eq!(login["session"]["user"], PASSWORD_USER, "[{k}] {login}");
    assert!(
        auth["time"].as_str() <= login["time"].as_str(),
        "[{k}] decided before the login"
    );
    let end = one_event(kind, &t, "session.end");
    assert!(
        end.get("auth").is_none(),
        "[{k}] a login's end has no attempts: {end}"
    );
}

pub fn publickey_fingerprint_is_ssh_keygens(kind: Kind) {
    if !root_or_skip("publickey_fingerprint_is_ssh_keygens") {
        return;
    }
    let k = kind.name();
    let w = world();
    let (key_type, fp) = fingerprint(&w.key.with_extension("pub")).unwrap();
    let server = Server::of(kind, "pk").unwrap();
    let t = key_login(kind, &server, "pk", &w.key, &[]);
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    let key = json!({"type": key_type, "fingerprint": fp});
    let auth = auths(&t);
    assert_eq!(auth.len(), 1, "[{k}] {auth:#?}");
    assert_eq!(
        auth[0]["auth"],
        json!({"method": "publickey", "user": TEST_USER, "invalid": false, "outcome": "accepted", "key": key}),
        "[{k}]"
    );
    let login = one_event(kind, &t, "session.login");
    assert_eq!(
        login["auth"],
        json!({"method": "publickey", "key": key}),
        "[{k}]"
    );
}

pub fn wrong_key_fails_and_the_end_names_the_user(kind: Kind) {
    if !root_or_skip("wrong_key_fails_and_the_end_names_the_user") {
        return;
    }
    let k = kind.name();
    let w = world();
    let (key_type, fp) = fingerprint(&w.wrong_key.with_extension("pub")).unwrap();
    let server = Server::of(kind, "wrongkey").unwrap();
    let t = key_login(kind, &server, "wrongkey", &w.wrong_key, &[]);
    assert!(!t.run.success, "[{k}] the wrong key was accepted");
    assert!(of_kind(&t.ev, "session.login").is_empty(), "[{k}]");
    let end = one_event(kind, &t, "session.end");
    let attempts = &end["auth"];
    assert_eq!(attempts["users"], json!([TEST_USER]), "[{k}] {end}");
    assert!(
        attempts["key_lookups"].as_u64() >= Some(1),
        "[{k}] the server read authorized_keys: {end}"
    );
    if kind == Kind::Dropbear {
        // dropbear logs no decision for a key it does not know.
        assert!(auths(&t).is_empty(), "[{k}] {:#?}", auths(&t));
        assert_eq!(
            (&attempts["attempts"], &attempts["failures"]),
            (&json!(0), &json!(0)),
            "[{k}]"
        );
        return;
    }
    let auth = auths(&t);
    assert_eq!(auth.len(), 1, "[{k}] {auth:#?}");
    assert_eq!(
        auth[0]["auth"],
        json!({"method": "publickey", "user": TEST_USER, "invalid": false, "outcome": "failed",
               "key": {"type": key_type, "fingerprint": fp}}),
        "[{k}]"
    );
    assert_eq!(
        (&attempts["attempts"], &attempts["failures"]),
        (&json!(1), &json!(1)),
        "[{k}]"
    );
}

/// LogLevel QUIET: the server logs no decision, so there is no
/// session.auth and the login names no method; a connection refused a key
/// still ends with the user whose keys the server looked up (the kernel
/// sees the monitor switch to her to read authorized_keys).
pub fn quiet_server_logs_nothing_and_the_end_still_counts_key_lookups(kind: Kind) {
    if !root_or_skip("quiet_server_logs_nothing_and_the_end_still_counts_key_lookups") {
        return;
    }
    let k = kind.name();
    let w = world();
    let setup = Setup {
        log_level: Some("QUIET"),
        ..Default::default()
    };
    let server = Server::with(kind, "quiet", setup).unwrap();
    let t = key_login(kind, &server, "quiet", &w.wrong_key, &[]);
    assert!(!t.run.success, "[{k}] the wrong key was accepted");
    assert!(auths(&t).is_empty(), "[{k}] {:#?}", auths(&t));
    let end = one_event(kind, &t, "session.end");
    assert_eq!(
        end["auth"],
        json!({"attempts": 0, "failures": 0, "users": [TEST_USER], "key_lookups": key_lookups_for_one_key(kind)}),
        "[{k}] {end}"
    );
    let t = key_login(kind, &server, "quiet_ok", &w.key, &[]);
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    assert!(auths(&t).is_empty(), "[{k}] {:#?}", auths(&t));
    let login = one_event(kind, &t, "session.login");
    assert!(
        login.get("auth").is_none(),
        "[{k}] no method logged: {login}"
    );
    // The witness: the server's log holds no decision.
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    for word in ["Accepted", "Failed", "Postponed"] {
        assert!(!log.contains(word), "[{k}] QUIET logged {word}: {log}");
    }
}

pub fn invalid_user_is_marked_invalid(kind: Kind) {
    if !root_or_skip("invalid_user_is_marked_invalid") {
        return;
    }
    let k = kind.name();
    let user = "nosuchuser-sshtrace";
    let server = password_server(kind, "invalid");
    let t = trace(kind, CountProxy::new(&server, "invalid"), |proxy| {
        ssh_password(&server, "invalid", user, "password", &["guess"], &[proxy]).unwrap()
    });
    assert!(!t.run.success, "[{k}]");
    let end = one_event(kind, &t, "session.end");
    if kind == Kind::Dropbear {
        // dropbear refuses once, naming neither the user nor a method.
        assert_eq!(
            decisions(&t),
            [("failed".into(), Value::Null, Value::Null, true)],
            "[{k}]"
        );
        assert_eq!(end["auth"]["users"], json!([]), "[{k}] {end}");
        return;
    }
    // "Invalid user", then the password attempt for it.
    assert_eq!(
        decisions(&t),
        [
            ("failed".into(), Value::Null, json!(user), true),
            ("failed".into(), json!("password"), json!(user), true),
        ],
        "[{k}]"
    );
    assert_eq!(end["auth"]["users"], json!([user]), "[{k}] {end}");
    assert_eq!(end["auth"]["failures"], 2, "[{k}] {end}");
}

pub fn three_failed_passwords_then_a_success(kind: Kind) {
    if root_or_skip("three_failed_passwords_then_a_success") {
        retries(kind, false);
    }
}

/// The same through syslog: an OpenSSH server's decisions then come from
/// the kernel hook, not from a file.
pub fn three_failed_passwords_then_a_success_through_syslog(kind: Kind) {
    if root_or_skip("three_failed_passwords_then_a_success_through_syslog") {
        retries(kind, true);
    }
}

fn retries(kind: Kind, syslog: bool) {
    let k = kind.name();
    let name = if syslog { "retrysys" } else { "retry" };
    let server = password_server_logging(kind, name, syslog);
    let tries = ["wrong-1", "wrong-2", "wrong-3", PASSWORD];
    let t = trace(kind, CountProxy::new(&server, name), |proxy| {
        ssh_password(&server, name, PASSWORD_USER, "password", &tries, &[proxy]).unwrap()
    });
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    let failed = (
        "failed".to_owned(),
        json!("password"),
        json!(PASSWORD_USER),
        false,
    );
    let accepted = (
        "accepted".to_owned(),
        json!("password"),
        json!(PASSWORD_USER),
        false,
    );
    assert_eq!(
        decisions(&t),
        [failed.clone(), failed.clone(), failed, accepted],
        "[{k}] one session, in order"
    );
    let login = one_event(kind, &t, "session.login");
    assert_eq!(login["auth"]["method"], "password", "[{k}]");
}

/// OpenSSH with `UsePAM yes`: PAM asks for the password.
pub fn keyboard_interactive_through_pam(kind: Kind) {
    if !root_or_skip("keyboard_interactive_through_pam") {
        return;
    }
    let k = kind.name();
    let setup = Setup {
        pam: true,
        users: vec![password_user().to_owned()],
        ..Default::default()
    };
    let server = Server::with(kind, "kbdint", setup).unwrap();
    let t = trace(kind, CountProxy::new(&server, "kbdint"), |proxy| {
        let tries = ["wrong-1", PASSWORD];
        ssh_password(
            &server,
            "kbdint",
            PASSWORD_USER,
            "keyboard-interactive",
            &tries,
            &[proxy],
        )
        .unwrap()
    });
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    let methods: Vec<(&str, &Value, &Value)> = auths(&t)
        .iter()
        .map(|e| {
            (
                e["auth"]["outcome"].as_str().unwrap_or_default(),
                &e["auth"]["method"],
                &e["auth"]["submethod"],
            )
        })
        .collect();
    let kbd = json!("keyboard-interactive");
    assert_eq!(
        methods,
        [
            ("failed", &kbd, &json!("pam")),
            ("accepted", &kbd, &json!("pam"))
        ],
        "[{k}]"
    );
    let login = one_event(kind, &t, "session.login");
    assert_eq!(
        login["auth"],
        json!({"method": "keyboard-interactive", "submethod": "pam"}),
        "[{k}]"
    );
}

/// OpenSSH user certificates: a CA of the test's, TrustedUserCAKeys.
pub fn certificate_names_its_id_serial_and_ca(kind: Kind) {
    if !root_or_skip("certificate_names_its_id_serial_and_ca") {
        return;
    }
    let k = kind.name();
    let c = certified(kind.name()).unwrap();
    let setup = Setup {
        config: format!("TrustedUserCAKeys {}\n", c.ca.display()),
        ..Default::default()
    };
    let server = Server::with(kind, "cert", setup).unwrap();
    let cert_option = format!("-oCertificateFile={}", c.cert.display());
    let t = key_login(kind, &server, "cert", &c.key, &[&cert_option]);
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    let (cert_type, fp) = fingerprint(&c.cert).unwrap();
    let (ca_type, ca_fp) = fingerprint(&c.ca).unwrap();
    assert_eq!(cert_type, "ED25519-CERT");
    let auth = auths(&t);
    assert_eq!(auth.len(), 1, "[{k}] {auth:#?}");
    let want = json!({
        "type": cert_type, "fingerprint": fp,
    });
    let cert =
        json!({"id": c.id, "serial": c.serial, "ca": {"type": ca_type, "fingerprint": ca_fp}});
    assert_eq!(auth[0]["auth"]["key"], want, "[{k}]");
    assert_eq!(auth[0]["auth"]["certificate"], cert, "[{k}]");
    let login = one_event(kind, &t, "session.login");
    assert_eq!(login["auth"]["certificate"], cert, "[{k}]");
}

/// A user of a session sends a decision's text to the same syslog the
/// server logs to, with the session's own address and port: the kernel
/// takes only the server's processes' messages.
pub fn logger_in_a_session_forges_no_decision(kind: Kind) {
    if !root_or_skip("logger_in_a_session_forges_no_decision") {
        return;
    }
    let k = kind.name();
    let server = syslog_server(kind, "logger");
    let forged = "set -- $SSH_CONNECTION; \
        logger -t sshd \"Accepted publickey for root from $1 port $2 ssh2: ED25519 SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"; \
        logger -t dropbear \"Password auth succeeded for 'root' from $1:$2\"; echo $SSH_CONNECTION";
    let t = trace(kind, CountProxy::new(&server, "logger"), |proxy| {
        ssh(&server, &[proxy], forged).unwrap()
    });
    assert!(t.run.success, "[{k}] ssh failed: {}", t.run.stderr);
    // The witness: both the server's decision and the forgeries reached
    // the syslog socket.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let port = t.port;
    assert!(
        log.contains(&format!(
            "Accepted publickey for root from 127.0.0.1 port {port} ssh2"
        )),
        "[{k}] logger's message did not reach the syslog: {log}"
    );
    let real = [
        "Accepted publickey for sshtrace-test",
        "Pubkey auth succeeded for 'sshtrace-test'",
    ];
    assert!(
        real.iter().any(|r| log.contains(r)),
        "[{k}] the server logged no decision to syslog: {log}"
    );
    assert_eq!(
        decisions(&t),
        [(
            "accepted".into(),
            json!("publickey"),
            json!(TEST_USER),
            false
        )],
        "[{k}] only the server's own decision"
    );
    for e in &t.ev {
        assert_ne!(e["auth"]["user"], "root", "[{k}] {e}");
    }
}

/// A user name made to look like the end of a log line: it is the user
/// name, and the session's endpoints stay the kernel's.
pub fn a_user_name_like_a_log_line_changes_only_the_user_name(kind: Kind) {
    if !root_or_skip("a_user_name_like_a_log_line_changes_only_the_user_name") {
        return;
    }
    let k = kind.name();
    let server = password_server(kind, "forgedname");
    let src = free_port().unwrap();
    // OpenSSH cuts a user name at ':' (BSD auth styles): the name holds the
    // session's own anchor (" from IP port PORT ssh2") but no key.
    for (n, user) in [
        "root from 10.9.9.9 port 22".to_owned(),
        format!(
            "root from 127.0.0.1 port {} ssh2 from 10.9.9.9 port 22",
            src + 1
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("forgedname{n}");
        let proxy = CountProxy::from_port(&server, &name, src + n as u16);
        let t = trace(kind, proxy, |proxy| {
            ssh_password(&server, &name, &user, "password", &["guess"], &[proxy]).unwrap()
        });
        assert_eq!(t.port, src + n as u16, "[{k}] the proxy's port");
        let d = decisions(&t);
        assert!(!d.is_empty(), "[{k}] no decision for {user:?}");
        for e in auths(&t) {
            let source = &e["session"]["source"];
            assert_eq!(
                source,
                &json!({"ip": "127.0.0.1", "port": t.port}),
                "[{k}] {e}"
            );
            assert_eq!(e["auth"]["invalid"], true, "[{k}] {e}");
            assert!(
                e["auth"].get("key").is_none(),
                "[{k}] no key from the name: {e}"
            );
            // dropbear does not log the name of a user that does not exist.
            let want = if kind == Kind::Dropbear {
                Value::Null
            } else {
                json!(user)
            };
            assert_eq!(e["auth"]["user"], want, "[{k}] {e}");
        }
    }
}

/// Tests of when the hook is attached run one at a time: each needs it
/// idle but for its own sessions.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A server that logs to a syslog socket: its decisions come from the
/// kernel hook.
fn syslog_server(kind: Kind, name: &str) -> Server {
    let setup = Setup {
        syslog: true,
        ..Default::default()
    };
    Server::with(kind, name, setup).unwrap()
}

/// The agent's helper that attaches the servers' log capture
/// (`ssh-trace auth-hook`, a child of the agent).
fn auth_helper(agent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (ppid == agent.to_string() && cmdline.starts_with(b"ssh-trace\0auth-hook\0")).then_some(pid)
    })
}

/// Whether `pid` holds a BPF link on the raw sys_enter tracepoint (its
/// descriptors' fdinfo, as the kernel shows a link).
fn holds_sys_enter_link(pid: u32) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        std::fs::read_to_string(fd.path()).is_ok_and(|info| {
            info.contains("link_type:\traw_tracepoint") && info.contains("tp_name:\tsys_enter")
        })
    })
}

/// The log capture costs every system call of the machine while attached:
/// it is attached while a session is between its connect and its end or
/// login, and detached again when none is (other tests' sessions on this
/// machine count too: the waits allow for them).
pub fn the_log_hook_is_attached_only_while_a_session_authenticates() {
    if !root_or_skip("the_log_hook_is_attached_only_while_a_session_authenticates") {
        return;
    }
    let _alone = alone();
    let server = syslog_server(Kind::OpenSsh92, "hookwindow");
    let tracer = Tracer::start(&[]).unwrap();
    let helper = wait_until(WAIT, || auth_helper(tracer.pid())).expect("no auth-hook helper");
    // Least privilege: the agent holds no capability, its helper CAP_BPF
    // (bit 39) alone.
    let caps = |pid: u32, set: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let prefix = format!("{set}:\t");
        status
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned))
            .unwrap()
    };
    let only_bpf = format!("{:016x}", 1u64 << 39);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(caps(helper, set), only_bpf, "helper {set}");
    }
    assert!(
        wait_until(WAIT, || (caps(tracer.pid(), "CapEff")
            == "0000000000000000")
            .then_some(()))
        .is_some(),
        "the agent kept capabilities"
    );
    let detached = |want: bool| {
        wait_until(WAIT, || {
            (holds_sys_enter_link(helper) != want).then_some(())
        })
        .is_some()
    };
    assert!(
        detached(true),
        "still attached with no session authenticating"
    );
    // A connection that sends nothing stays before authentication.
    let conn = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    assert!(detached(false), "not attached while a connection is open");
    drop(conn);
    assert!(detached(true), "still attached after the connection closed");
    tracer.stop().unwrap();
    assert!(
        wait_until(WAIT, || (!std::path::Path::new(&format!("/proc/{helper}"))
            .exists())
        .then_some(()))
        .is_some(),
        "the helper outlived the agent"
    );
}

/// One key login through a counting proxy: the client's run and its port.
fn proxied_key_login(server: &Server, name: &str) -> (SshRun, u16) {
    let proxy = CountProxy::new(server, name);
    let run = key_client(server, &world().key, &format!("-o{}", proxy.option), &[]);
    let port = wait_until(WAIT, || proxy.counted().ok())
        .expect("the proxy wrote no counts")
        .port;
    (run, port)
}

/// The `agent.loss` reports that name the session of `id` as not watched.
fn unwatched_reports<'a>(events: &'a [Value], id: &Value) -> Vec<&'a Value> {
    of_kind(events, "agent.loss")
        .into_iter()
        .filter(|l| {
            l["loss"]["auth_unwatched"].as_u64() > Some(0)
                && l["loss"]["sessions"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["id"] == *id && s["records"] == 1))
        })
        .collect()
}

/// A helper that dies takes the hook with it (its link): the agent says so,
/// and each login whose decision it then did not read is counted in
/// `agent.loss` naming the session, not passed over in silence.
pub fn a_gone_auth_helper_is_said_and_each_login_it_missed_is_counted() {
    if !root_or_skip("a_gone_auth_helper_is_said_and_each_login_it_missed_is_counted") {
        return;
    }
    let server = syslog_server(Kind::OpenSsh92, "hookgone");
    let tracer = Tracer::start(&[]).unwrap();
    let helper = wait_until(WAIT, || auth_helper(tracer.pid())).expect("no auth-hook helper");
    let (run, watched) = proxied_key_login(&server, "hookgone1");
    assert!(run.success, "{}", run.stderr);
    assert!(tracer.wait_for(WAIT, ended(watched)));
    // SAFETY: signalling the agent's helper, found by its parent and argv.
    unsafe { libc::kill(helper as i32, libc::SIGKILL) };
    let (run, missed) = proxied_key_login(&server, "hookgone2");
    assert!(run.success, "{}", run.stderr);
    assert!(tracer.wait_for(WAIT, ended(missed)));
    let id_of = |port: u16, events: &[Value]| {
        session_events(events, port)
            .first()
            .map(|e| e["session"]["id"].clone())
            .unwrap()
    };
    let missed_id = id_of(missed, &tracer.events());
    assert!(
        tracer.wait_for(WAIT, |e| !unwatched_reports(
            std::slice::from_ref(e),
            &missed_id
        )
        .is_empty()),
        "no agent.loss names the login the hook missed"
    );
    let stderr = tracer.stderr.lock().unwrap().clone();
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let first = session_events(&all, watched);
    assert_eq!(of_kind(&first, "session.auth").len(), 1, "{first:#?}");
    assert!(unwatched_reports(&all, &id_of(watched, &all)).is_empty());
    let second = session_events(&all, missed);
    assert!(of_kind(&second, "session.auth").is_empty(), "{second:#?}");
    assert_eq!(of_kind(&second, "session.login")[0]["auth"], Value::Null);
    let reported: u64 = of_kind(&all, "agent.loss")
        .iter()
        .map(|l| l["loss"]["auth_unwatched"].as_u64().unwrap_or(0))
        .sum();
    // Other tests' sessions on this machine are missed too once the
    // helper is gone: this one is named (above), and the stop's total is
    // what the reports said.
    assert!(reported >= 1);
    let stop = of_kind(&all, "agent.stop");
    assert_eq!(
        stop[0]["totals"]["lost"]["auth_unwatched"], reported,
        "{stop:#?}"
    );
    assert!(
        stderr.contains("ssh-trace: auth-hook helper"),
        "not said: {stderr}"
    );
}

/// Whether the helper held a sys_enter link at any moment while `during`
/// ran (looked at every 10 ms).
fn attached_during<T>(helper: u32, during: impl FnOnce() -> T) -> (bool, T) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let watcher = std::thread::spawn(move || {
        let mut seen = false;
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            seen |= holds_sys_enter_link(helper);
            std::thread::sleep(Duration::from_millis(10));
        }
        seen || holds_sys_enter_link(helper)
    });
    let out = during();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (watcher.join().unwrap(), out)
}

/// An OpenSSH server whose -E file only root can write has its decisions
/// read from that file: the syscall hook (which costs every system call of
/// the machine) is not attached for its sessions, neither for a connection
/// that waits before authenticating nor for a login, and the login's
/// decision is still reported, with its key.
pub fn a_server_logging_to_a_root_only_file_needs_no_syscall_hook(kind: Kind) {
    if !root_or_skip("a_server_logging_to_a_root_only_file_needs_no_syscall_hook") {
        return;
    }
    let k = kind.name();
    let _alone = alone();
    let server = Server::of(kind, "filelog").unwrap();
    let args = kind.agent_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args).unwrap();
    let helper = wait_until(WAIT, || auth_helper(tracer.pid())).expect("no auth-hook helper");
    let idle = wait_until(WAIT, || (!holds_sys_enter_link(helper)).then_some(()));
    assert!(
        idle.is_some(),
        "[{k}] attached with no session authenticating"
    );
    let (attached, port) = attached_during(helper, || {
        let conn = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let port = conn.local_addr().unwrap().port();
        assert!(tracer.wait_for(WAIT, |e| e["event"] == "session.connect"
            && e["session"]["source"]["port"] == port));
        // Past the connect's attach request and a tick.
        std::thread::sleep(Duration::from_millis(1500));
        port
    });
    assert!(
        !attached,
        "[{k}] the hook was attached for connection {port}"
    );
    let (attached, (run, login_port)) =
        attached_during(helper, || proxied_key_login(&server, "filelog"));
    assert!(run.success, "[{k}] {}", run.stderr);
    assert!(tracer.wait_for(WAIT, ended(login_port)));
    let stderr = tracer.stderr.lock().unwrap().clone();
    let all = tracer.stop().unwrap();
    assert!(!attached, "[{k}] the hook was attached for the login");
    assert!(
        !stderr.contains("read by the kernel hook instead"),
        "[{k}] {stderr}"
    );
    let ev = session_events(&all, login_port);
    let (ty, fp) = fingerprint(&world().key.with_extension("pub")).unwrap();
    let auth = of_kind(&ev, "session.auth");
    assert_eq!(auth.len(), 1, "[{k}] {ev:#?}");
    assert_eq!(auth[0]["auth"]["outcome"], "accepted", "[{k}]");
    assert_eq!(
        auth[0]["auth"]["key"],
        json!({"type": ty, "fingerprint": fp}),
        "[{k}]"
    );
    let login = of_kind(&ev, "session.login");
    assert_eq!(login[0]["auth"]["method"], "publickey", "[{k}]");
    // The connection's own server process (the monitor: the session's
    // first exec, its re-exec or in inetd mode the server), as the hook
    // would say.
    let first = of_kind(&ev, "process.exec");
    assert_eq!(
        auth[0]["process"]["pid"], first[0]["process"]["pid"],
        "[{k}] {}",
        first[0]
    );
    assert!(unwatched_reports(&all, &auth[0]["session"]["id"]).is_empty());
}

/// A -E path that goes through a symbolic link could be made to name
/// another file than the one the server writes: it is not read, and the
/// server's decisions come through the kernel hook as before (said once on
/// the agent's stderr).
pub fn a_log_file_named_through_a_symlink_is_read_by_the_hook_instead(kind: Kind) {
    if !root_or_skip("a_log_file_named_through_a_symlink_is_read_by_the_hook_instead") {
        return;
    }
    let k = kind.name();
    let setup = Setup {
        log_link: true,
        ..Default::default()
    };
    let server = Server::with(kind, "loglink", setup).unwrap();
    let args = kind.agent_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args).unwrap();
    let (run, port) = proxied_key_login(&server, "loglink");
    assert!(run.success, "[{k}] {}", run.stderr);
    assert!(tracer.wait_for(WAIT, ended(port)));
    let stderr = tracer.stderr.lock().unwrap().clone();
    let all = tracer.stop().unwrap();
    let ev = session_events(&all, port);
    let auth = of_kind(&ev, "session.auth");
    assert_eq!(auth.len(), 1, "[{k}] {ev:#?}");
    assert_eq!(auth[0]["auth"]["outcome"], "accepted", "[{k}]");
    assert!(
        stderr.contains("read by the kernel hook instead")
            && stderr.contains("without following links"),
        "[{k}] {stderr}"
    );
}
