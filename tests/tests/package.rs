//! What dist/ ships. The Debian package that `cargo xtask dist` makes is
//! installed on this machine with dpkg, its binary, man pages, completions,
//! unit and configuration are used as installed, and `dpkg -r` / `--purge`
//! must leave nothing behind. The Prometheus rules pass promtool (check and
//! unit tests), and the Grafana dashboard's queries and the rules run on a
//! real Prometheus scraping agents that traced real sessions.
//!
//! The package under test is $SSH_TRACE_DEB (`cargo xtask test` builds it
//! from the same debug build as $SSH_TRACE_BIN: `cargo xtask dist --debug`).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{
    collections::BTreeSet,
    os::{fd::AsRawFd, unix::fs::PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use ops::PtySession;
use serde_json::Value;
use ssh_trace_tests::{peers::Agent, prometheus::Prometheus, *};

const PKG: &str = "ssh-trace";
const BIN: &str = "/usr/bin/ssh-trace";
const CONFIG: &str = "/etc/ssh-trace/config.toml";
const EVENTS: &str = "/var/log/ssh-trace/events.json";
/// What the package or its agent create; purge must remove all of them.
const OWN_DIRS: [&str; 3] = ["/etc/ssh-trace", "/var/log/ssh-trace", "/var/lib/ssh-trace"];
/// Written before `dpkg -i`, removed after the purge: a package found
/// installed with this marker present was left by a killed run of this test.
const MARKER: &str = "/var/tmp/ssh-trace-package-test.installed";

// ---- the Debian package ----

#[test]
fn deb_installs_a_working_agent_with_man_pages_and_completions_and_purges_without_a_trace() {
    let test =
        "deb_installs_a_working_agent_with_man_pages_and_completions_and_purges_without_a_trace";
    if !root_or_skip(test) {
        return;
    }
    let deb = deb_path();
    // Test processes of other checkouts may run this test at the same time.
    let _lock = MachineLock::take("/run/lock/ssh-trace-package-test.lock");
    if let Some(why) = foreign_install() {
        eprintln!("skipped {test}: {why}; not touching it");
        return;
    }
    let installed = Installed::install(&deb);
    let files = installed.files();

    check_control_fields(&deb);
    check_version(&deb);
    check_man_pages();
    check_bash_completion();
    check_zsh_and_fish_completions();
    check_conffile();
    check_unit();
    check_agent_runs_from_packaged_config();

    installed.remove_keeps_only_the_conffile_and_logs(&files);
    installed.purge_leaves_nothing(&files);
}

/// The .deb to test: $SSH_TRACE_DEB, else the one `cargo xtask dist --debug` made.
fn deb_path() -> PathBuf {
    if let Some(deb) = std::env::var_os("SSH_TRACE_DEB") {
        return PathBuf::from(deb);
    }
    let dir = workspace_root().join("target/debug/debian");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap_or_else(|| {
            panic!(
                "no package in {}: run `cargo xtask test` or `cargo xtask dist --debug`",
                dir.display()
            )
        })
}

/// Why this machine's ssh-trace must not be touched, if it must not.
fn foreign_install() -> Option<String> {
    if Path::new(MARKER).exists() {
        // A killed run of this test left its package: take it away.
        let _ = dpkg(&["--purge", PKG]);
        for d in OWN_DIRS {
            let _ = std::fs::remove_dir_all(d);
        }
        let _ = std::fs::remove_file(MARKER);
    }
    if !status().is_empty() {
        return Some(format!("package {PKG} is installed ({})", status()));
    }
    [BIN]
        .into_iter()
        .chain(OWN_DIRS)
        .find(|p| Path::new(p).exists())
        .map(|p| format!("{p} exists"))
}

/// dpkg's status of the package ("" when dpkg does not know it).
fn status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PKG])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if s.ends_with("not-installed") {
        return String::new();
    }
    s
}

/// dpkg, retried while another dpkg or apt holds its lock.
fn dpkg(args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let out = Command::new("dpkg")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let locked = String::from_utf8_lossy(&out.stderr).contains("lock");
        if out.status.success() || !locked || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn dpkg_ok(args: &[&str]) {
    let out = dpkg(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dpkg {args:?}: {err}");
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An exclusive flock held until dropped.
struct MachineLock {
    _held: std::fs::File,
}

impl MachineLock {
    fn take(path: &str) -> MachineLock {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap();
        // SAFETY: flock on a file descriptor we own.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        MachineLock { _held: f }
    }
}

/// The package installed by this test; purged on drop, so a failing
/// assertion leaves the machine as it was.
struct Installed;

impl Installed {
    fn install(deb: &Path) -> Installed {
        std::fs::write(MARKER, "").unwrap();
        let installed = Installed;
        dpkg_ok(&["-i", deb.to_str().unwrap()]);
        assert_eq!(status(), "install ok installed");
        installed
    }

    /// Every path dpkg installed.
    fn files(&self) -> Vec<String> {
        run_ok(Command::new("dpkg-query").args(["-L", PKG]))
            .lines()
            .filter(|l| l.starts_with('/') && *l != "/.")
            .map(str::to_owned)
            .collect()
    }

    fn remove_keeps_only_the_conffile_and_logs(&self, files: &[String]) {
        dpkg_ok(&["-r", PKG]);
        assert_eq!(status(), "deinstall ok config-files");
        let left: Vec<&String> = files
            .iter()
            .filter(|f| !Path::new(f).is_dir() && Path::new(f).exists())
            .collect();
        assert_eq!(left, [CONFIG], "dpkg -r keeps only the conffile");
        assert!(Path::new(EVENTS).exists(), "logs stay until purge");
    }

    fn purge_leaves_nothing(&self, files: &[String]) {
        dpkg_ok(&["--purge", PKG]);
        assert_eq!(status(), "", "dpkg forgot the package");
        let left: Vec<&String> = files
            .iter()
            .filter(|f| Path::new(f).exists())
            // Shared directories (/usr/bin, /usr/share/man/man1, …) stay.
            .filter(|f| !Path::new(f).is_dir() || f.contains("ssh-trace"))
            .collect();
        assert!(left.is_empty(), "left after purge: {left:?}");
        for d in OWN_DIRS {
            assert!(!Path::new(d).exists(), "{d} left after purge");
        }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !status().is_empty() {
            let _ = dpkg(&["--purge", PKG]);
        }
        for d in OWN_DIRS {
            let _ = std::fs::remove_dir_all(d);
        }
        let _ = std::fs::remove_file(MARKER);
    }
}

fn check_control_fields(deb: &Path) {
    let field = |f: &str| run_ok(Command::new("dpkg-deb").arg("-f").arg(deb).arg(f));
    assert!(
        field("Depends").contains("libc6 (>="),
        "{}",
        field("Depends")
    );
    assert_eq!(field("Package").trim(), PKG);
    assert!(field("Description").starts_with("Trace SSH sessions from inside the kernel\n"));
}

/// The installed binary is the build under test, at the package's version,
/// which the Debian changelog's latest entry names.
fn check_version(deb: &Path) {
    let version = |bin: &Path| run_ok(Command::new(bin).arg("--version")).trim().to_owned();
    let pkg_version = run_ok(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"));
    let upstream = pkg_version.trim().rsplit_once('-').unwrap().0;
    assert_eq!(version(Path::new(BIN)), format!("ssh-trace {upstream}"));
    assert_eq!(version(Path::new(BIN)), version(&agent_bin()));
    let changelog =
        run_ok(Command::new("zcat").arg("/usr/share/doc/ssh-trace/changelog.Debian.gz"));
    let top = format!("ssh-trace ({}) ", pkg_version.trim());
    assert!(
        changelog.starts_with(&top),
        "dist/debian/changelog starts with {top}"
    );
}

/// The subcommands `ssh-trace --help` lists.
fn subcommands() -> Vec<String> {
    let help = run_ok(Command::new(BIN).arg("--help"));
    let list = help.split("Commands:\n").nth(1).unwrap();
    let names: Vec<String> = list
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 7, "{help}");
    names
}

fn man(page: &str) -> String {
    let text = run_ok(
        Command::new("man")
            .args(["-P", "cat", page])
            .env("MANWIDTH", "300")
            .env("LC_ALL", "C"),
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `man ssh-trace` names every subcommand, and each has its own page
/// whose NAME line is the subcommand's `--help` summary.
fn check_man_pages() {
    let top = man("ssh-trace");
    assert!(
        top.contains("ssh-trace - Trace SSH sessions from inside the kernel"),
        "{top}"
    );
    for sub in subcommands() {
        assert!(
            top.contains(&format!("ssh-trace-{sub}(1)")),
            "{sub} missing: {top}"
        );
        let help = run_ok(Command::new(BIN).args([&sub, "--help"]));
        let summary = help.lines().next().unwrap().trim();
        let page = man(&format!("ssh-trace-{sub}"));
        assert!(
            page.contains(&format!("ssh-trace-{sub} - {summary}")),
            "man ssh-trace-{sub}: {page}"
        );
    }
    let report = man("ssh-trace-report-tree");
    assert!(
        report.contains("SYNOPSIS ssh-trace report tree"),
        "{report}"
    );
}

/// bash, with the installed completion loaded, completes `ssh-trace t`
/// to the subcommands starting with t.
fn check_bash_completion() {
    let file = "/usr/share/bash-completion/completions/ssh-trace";
    let script = format!(
        "source {file}; f=$(complete -p ssh-trace | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p'); \
         COMP_WORDS=(ssh-trace t); COMP_CWORD=1; COMP_LINE='ssh-trace t'; COMP_POINT=11; \
         $f ssh-trace t ssh-trace; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let got: BTreeSet<String> = run_ok(Command::new("bash").args(["-c", &script]))
        .lines()
        .map(str::to_owned)
        .collect();
    let want: BTreeSet<String> = subcommands()
        .into_iter()
        .filter(|s| s.starts_with('t'))
        .collect();
    assert_eq!(got, want);
}

fn check_zsh_and_fish_completions() {
    let zsh = std::fs::read_to_string("/usr/share/zsh/vendor-completions/_ssh-trace").unwrap();
    assert!(zsh.starts_with("#compdef ssh-trace\n"));
    let fish =
        std::fs::read_to_string("/usr/share/fish/vendor_completions.d/ssh-trace.fish").unwrap();
    for sub in subcommands() {
        assert!(zsh.contains(&format!("'{sub}:")), "zsh: {sub}");
        assert!(fish.contains(&format!("-a \"{sub}\"")), "fish: {sub}");
    }
}

/// The example configuration is /etc/ssh-trace/config.toml, a conffile,
/// readable by root only (sinks may carry tokens).
fn check_conffile() {
    let conffiles = run_ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", PKG]));
    assert!(conffiles.contains(&format!(" {CONFIG} ")), "{conffiles}");
    assert_eq!(
        std::fs::read_to_string(CONFIG).unwrap(),
        std::fs::read_to_string(workspace_root().join("dist/config.example.toml")).unwrap()
    );
    let mode = std::fs::metadata(CONFIG).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// systemd accepts the installed unit (its ExecStart exists, its
/// Documentation= man page resolves).
fn check_unit() {
    let unit = "/usr/lib/systemd/system/ssh-trace.service";
    let text = std::fs::read_to_string(unit).unwrap();
    assert!(text.contains(&format!("ExecStart={BIN} agent --config {CONFIG}\n")));
    run_ok(Command::new("systemd-analyze").args(["verify", unit]));
}

/// `ssh-trace agent --config /etc/ssh-trace/config.toml` as the unit runs
/// it: starts with the shipped configuration (no other service needed),
/// writes a real session to the archive sink, stops cleanly on SIGTERM.
fn check_agent_runs_from_packaged_config() {
    let sshd = Sshd::start("package").unwrap();
    let stderr = world().dir.join("package_agent.stderr");
    let agent = Agent::start_bin(
        Path::new(BIN),
        Path::new(CONFIG),
        Path::new(EVENTS),
        &stderr,
    )
    .unwrap();
    let run = ssh(&sshd, &[], "echo $SSH_CONNECTION").unwrap();
    assert!(run.success, "{}", run.stderr);
    let port = run.client_port.unwrap();
    let events = || -> Vec<Value> {
        peers::lines_of(Path::new(EVENTS))
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let ended = wait_until(Duration::from_secs(20), || {
        let ev = session_events(&events(), port);
        (!of_kind(&ev, "session.end").is_empty()).then_some(ev)
    })
    .expect("the session's events in /var/log/ssh-trace/events.json");
    let login = of_kind(&ended, "session.login");
    assert_eq!(login.len(), 1);
    assert_eq!(login[0]["session"]["user"], TEST_USER);
    agent.stop().unwrap();
    let all = events();
    assert_eq!(event_name(&all[0]), "agent.start");
    assert_eq!(event_name(all.last().unwrap()), "agent.stop");
}

// ---- Prometheus rules and the Grafana dashboard ----

fn rules_file() -> PathBuf {
    workspace_root().join("dist/prometheus/ssh-trace.rules.yml")
}

#[test]
fn prometheus_rules_pass_promtool_check_and_their_unit_tests() {
    let out = run_ok(
        Command::new("promtool")
            .arg("check")
            .arg("rules")
            .arg(rules_file()),
    );
    assert!(out.contains("SUCCESS: 8 rules found"), "{out}");
    // When each alert fires, on series shaped like the agent's (first
    // login after an agent start, a Prometheus restart, root, loss, down,
    // a stalled loop).
    let cases = workspace_root().join("tests/fixtures/prometheus-rules.test.yml");
    let out = run_ok(Command::new("promtool").args(["test", "rules"]).arg(cases));
    assert!(out.contains("SUCCESS"), "{out}");
}

fn dashboard() -> Value {
    let text =
        std::fs::read_to_string(workspace_root().join("dist/grafana/ssh-trace.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// (panel title, PromQL) of every query of every panel.
fn panel_queries(d: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            out.push((
                p["title"].as_str().unwrap().to_owned(),
                t["expr"].as_str().unwrap().to_owned(),
                t["legendFormat"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

#[test]
fn dashboard_panels_query_the_datasource_variable_and_fit_the_grid() {
    let d = dashboard();
    let panels = d["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        assert!(
            !p["targets"].as_array().unwrap().is_empty(),
            "{}",
            p["title"]
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{}",
            p["title"]
        );
    }
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "job", "instance"]);
    assert_eq!(panel_queries(&d).len(), 10);
}

/// What Grafana sends for a query with every variable at "All".
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", ".+")
        .replace("$instance", ".+")
}

/// Two agents traced `sshd`'s sessions, both scraped by one Prometheus
/// that loaded the rules: `a` with the source_ip label, `b` with a ring
/// smaller than one exec record with a full argv, so that those records are
/// lost and counted (ssh_trace_events_lost_total{where="kernel_ringbuf"}).
struct Scene {
    sshd: Sshd,
    a: Tracer,
    b: Tracer,
    addr_a: String,
    addr_b: String,
    prom: Prometheus,
}

impl Scene {
    fn start() -> Scene {
        let sshd = Sshd::start("dist_dashboard").unwrap();
        let filter = format!("destination.port = {}", sshd.port);
        let addr = || format!("127.0.0.1:{}", free_port().unwrap());
        let (addr_a, addr_b) = (addr(), addr());
        let agent = |extra: &[&str]| {
            let base = [
                "--filter",
                &filter,
                "--no-sessions-socket",
                "--metrics-listen",
            ];
            Tracer::start(&[&base[..], extra].concat()).unwrap()
        };
        let a = agent(&[&addr_a, "--metrics-source-ip"]);
        let b = agent(&[&addr_b, "--ring-buffer-size", "4096"]);
        let prom = Prometheus::start_with("dist_dashboard", &[&addr_a, &addr_b], &[&rules_file()]);
        assert_eq!(prom.wait_for("count(up == 1)", 2.0), Some(2.0));
        Scene {
            sshd,
            a,
            b,
            addr_a,
            addr_b,
            prom,
        }
    }

    /// One session left open, two that run oversized execs, one that never
    /// logs in; the second burst comes once Prometheus holds the counters
    /// the first made, so that increase() sees them grow.
    fn sessions(&self) -> PtySession {
        let (sshd, prom) = (&self.sshd, &self.prom);
        let open = PtySession::start(sshd, 120);
        let burst = "for i in $(seq 20); do /bin/true $(seq 2000); done";
        assert!(ssh(sshd, &[], burst).unwrap().success);
        ssh_wrong_key(sshd);
        let (a, b) = (&self.addr_a, &self.addr_b);
        let logins = format!("ssh_trace_logins_total{{instance=\"{a}\",user=\"{TEST_USER}\"}}");
        assert_eq!(prom.wait_for(&logins, 2.0), Some(2.0));
        let failed = format!(
            "ssh_trace_connections_total{{instance=\"{a}\",outcome=\"never_authenticated\"}}"
        );
        assert_eq!(prom.wait_for(&failed, 1.0), Some(1.0));
        let lost =
            format!("ssh_trace_events_lost_total{{instance=\"{b}\",where=\"kernel_ringbuf\"}}");
        let more_than = |n: f64| {
            wait_until(Duration::from_secs(20), || {
                prom.value(&lost).filter(|v| *v > n)
            })
            .expect("the small-ring agent's loss in Prometheus")
        };
        let first_loss = more_than(0.0);
        assert!(ssh(sshd, &[], burst).unwrap().success);
        assert_eq!(prom.wait_for(&logins, 3.0), Some(3.0));
        more_than(first_loss);
        open
    }
}

#[test]
fn dashboard_queries_and_alert_rules_work_on_a_real_prometheus_scraping_real_sessions() {
    if !root_or_skip(
        "dashboard_queries_and_alert_rules_work_on_a_real_prometheus_scraping_real_sessions",
    ) {
        return;
    }
    let scene = Scene::start();
    let open = scene.sessions();
    let (prom, a, b) = (&scene.prom, scene.addr_a.as_str(), scene.addr_b.as_str());

    check_panels_return_data(prom, a, b);
    check_rules_evaluate(prom);
    let by = [("user", TEST_USER), ("instance", a)];
    assert!(wait_alert(prom, "SSHTraceLogin", &by, "firing"));
    let by = [("where", "kernel_ringbuf"), ("instance", b)];
    assert!(wait_alert(prom, "SSHTraceEventsLost", &by, "firing"));
    assert!(
        alerts(prom, "SSHTraceRootLogin").is_empty(),
        "nobody logged in as root"
    );

    // An agent that stops is seen at the next scrape (firing after `for: 2m`,
    // as the promtool cases check).
    drop(open);
    scene.a.stop().unwrap();
    assert!(wait_alert(
        prom,
        "SSHTraceAgentDown",
        &[("instance", a)],
        "pending"
    ));
    let down = alerts(prom, "SSHTraceAgentDown");
    assert!(
        down.iter().all(|al| al["labels"]["instance"] == a),
        "{down:?}"
    );
    scene.b.stop().unwrap();
}

/// Every query of every panel returns series over the last two minutes,
/// and series of the label its legend shows for what happened (the test
/// user, the client address, both agents, the ring buffer loss).
fn check_panels_return_data(prom: &Prometheus, addr_a: &str, addr_b: &str) {
    // To the millisecond: the last scrape may be less than a second old.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (start, end) = (format!("{:.3}", now - 120.0), format!("{now:.3}"));
    for (title, expr, legend) in panel_queries(&dashboard()) {
        let q = substitute(&expr);
        let answer = prom
            .api(
                "query_range",
                &[
                    ("query", &q),
                    ("start", &start),
                    ("end", &end),
                    ("step", "1"),
                ],
            )
            .unwrap();
        assert_eq!(answer["status"], "success", "{title}: {q}: {answer}");
        let series = answer["data"]["result"].as_array().unwrap();
        assert!(!series.is_empty(), "{title}: no data for {q}");
        let has = |label: &str, value: &str| series.iter().any(|s| s["metric"][label] == value);
        let expected: &[(&str, &str)] = &[
            ("{{user}}", TEST_USER),
            ("{{source_ip}}", "127.0.0.1"),
            ("{{where}}", "kernel_ringbuf"),
        ];
        for (placeholder, value) in expected {
            if legend.contains(placeholder) {
                let label = placeholder.trim_matches(['{', '}']);
                assert!(
                    has(label, value),
                    "{title}: no {label}={value} in {series:?}"
                );
            }
        }
        if legend.contains("{{instance}}") && !legend.contains("{{where}}") {
            let any = has("instance", addr_a) || has("instance", addr_b);
            assert!(any, "{title}: neither agent in {series:?}");
        }
    }
}

/// Every rule evaluates without error, and each expression runs as a query.
fn check_rules_evaluate(prom: &Prometheus) {
    let evaluated = wait_until(Duration::from_secs(20), || {
        let r = prom.api("rules", &[])?;
        let rules: Vec<Value> = r["data"]["groups"][0]["rules"].as_array()?.clone();
        (rules.len() == 8 && rules.iter().all(|r| r["health"] != "unknown")).then_some(rules)
    })
    .expect("Prometheus evaluated the 8 rules");
    for r in &evaluated {
        assert_eq!(r["health"], "ok", "{r}");
        let q = prom
            .api("query", &[("query", r["query"].as_str().unwrap())])
            .unwrap();
        assert_eq!(q["status"], "success", "{r}: {q}");
    }
}

/// Active alerts named `name`.
fn alerts(prom: &Prometheus, name: &str) -> Vec<Value> {
    let a = prom.api("alerts", &[]).unwrap();
    a["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|al| al["labels"]["alertname"] == name)
        .cloned()
        .collect()
}

/// Waits until an alert `name` with these labels is in `state`.
fn wait_alert(prom: &Prometheus, name: &str, labels: &[(&str, &str)], state: &str) -> bool {
    wait_until(Duration::from_secs(30), || {
        alerts(prom, name)
            .iter()
            .any(|al| al["state"] == state && labels.iter().all(|(k, v)| al["labels"][k] == *v))
            .then_some(())
    })
    .is_some()
}
