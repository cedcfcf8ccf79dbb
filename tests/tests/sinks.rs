//! Agent mode against real peers: real sshd sessions delivered by
//! `ssh-trace agent --config` to a real rsyslog (TCP octet-counted and UDP)
//! and to a real HTTP server, compared with what `tail --json` saw for the
//! same sessions; then a 60-second outage of both peers. Skipped when not
//! root (the config error test runs anyway).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use ssh_trace_tests::{peers::*, sinks::*, *};

#[test]
fn sessions_reach_rsyslog_and_http_as_tail_saw_them() {
    if !root_or_skip("sessions_reach_rsyslog_and_http_as_tail_saw_them") {
        return;
    }
    let sshd = Sshd::start("sinks_deliver").unwrap();
    let rsyslog = Rsyslog::start("deliver").unwrap();
    let http = HttpReceiver::start("deliver").unwrap();
    let dir = test_dir("sinks_deliver");
    let filter = format!("destination.port = {}", sshd.port);
    let (cfg, file) = write_config(
        &dir,
        &format!(
            "[[sink]]\nname = \"rsyslog-tcp\"\ntype = \"syslog\"\naddress = \"tcp://127.0.0.1:{}\"\nfilter = \"{filter}\"\n\n\
             [[sink]]\nname = \"rsyslog-udp\"\ntype = \"syslog\"\naddress = \"udp://127.0.0.1:{}\"\nfilter = \"{filter}\"\n\n\
             [[sink]]\nname = \"rsyslog-unix\"\ntype = \"syslog\"\naddress = \"unix://{}\"\nfilter = \"{filter}\"\n\n\
             [[sink]]\nname = \"collector\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/ingest\"\ngzip = true\n\
             auth = \"Bearer t0k3n\"\nbatch_wait = \"200ms\"\nfilter = \"{filter}\"\n",
            rsyslog.tcp_port,
            rsyslog.udp_port,
            rsyslog.unix_socket().display(),
            http.port
        ),
    );
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    let ports = sessions(&sshd, 3, Duration::ZERO);
    let want = reference(tracer, &ports);
    assert!(want.len() >= 3 * 5, "too few events: {want:#?}");

    let sinks: [(&str, &dyn Fn() -> Vec<String>); 4] = [
        ("rsyslog tcp", &|| rsyslog.tcp_lines()),
        ("rsyslog udp", &|| rsyslog.udp_lines()),
        ("rsyslog unix", &|| rsyslog.unix_lines()),
        ("http", &|| http.lines()),
    ];
    for (_, lines) in &sinks {
        wait_for_same(&want, || session_lines(&lines()));
    }
    let err = agent.stop().unwrap();
    for (what, lines) in &sinks {
        assert_same(what, &session_lines(&lines()), &want);
    }
    // Every request was gzip'd JSON lines with the configured credentials.
    let requests = http.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        let f: Vec<&str> = r.split(' ').collect();
        assert_eq!(
            (f[0], f[2], &f[3..].join(" ")[..]),
            ("200", "application/x-ndjson", "Bearer t0k3n"),
            "{r}"
        );
    }
    assert!(err.contains("ssh-trace: sink rsyslog-tcp: "), "{err}");
    for name in ["rsyslog-tcp", "rsyslog-udp", "rsyslog-unix", "collector"] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("ssh-trace: sink {name}: "))
                    && l.ends_with(" 0 dropped, 0 left in the spool")),
            "{err}"
        );
    }
}

#[test]
fn sixty_second_outage_is_reported_and_loses_nothing() {
    if !root_or_skip("sixty_second_outage_is_reported_and_loses_nothing") {
        return;
    }
    let sshd = Sshd::start("sinks_outage").unwrap();
    let mut rsyslog = Rsyslog::start("outage").unwrap();
    let http = HttpReceiver::start("outage").unwrap();
    let dir = test_dir("sinks_outage");
    let filter = format!("destination.port = {}", sshd.port);
    // The HTTP sink holds at most 1 KiB in memory: the outage goes to its spool.
    let (cfg, file) = write_config(
        &dir,
        &format!(
            "[[sink]]\nname = \"rsyslog\"\ntype = \"syslog\"\naddress = \"tcp://127.0.0.1:{}\"\n\
             spool_size = \"10MiB\"\nretry_max = \"2s\"\nfilter = \"{filter}\"\n\n\
             [[sink]]\nname = \"collector\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/ingest\"\n\
             queue_size = \"1KiB\"\nspool_size = \"10MiB\"\nretry_max = \"2s\"\nbatch_wait = \"200ms\"\n\
             filter = \"{filter}\"\n",
            rsyslog.tcp_port, http.port
        ),
    );
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    let before = sessions(&sshd, 1, Duration::ZERO);
    // Its server's processes exit after session.end: rsyslog must hold
    // those too before it stops, since a syslog peer that stops with
    // received bytes unread loses them (no acknowledgement in RFC 6587).
    wait_until_delivered(&tracer, before[0], || session_lines(&rsyslog.tcp_lines()));
    let down = Instant::now();
    rsyslog.stop();
    http.set_failing(true).unwrap();
    let during = sessions(&sshd, 4, Duration::from_secs(14));
    std::thread::sleep(Duration::from_secs(60).saturating_sub(down.elapsed()));
    let spooled = std::fs::metadata(dir.join("spool/collector.spool")).map_or(0, |m| m.len());
    assert!(spooled > 8, "the HTTP sink's spool stayed empty");
    rsyslog.resume().unwrap();
    http.set_failing(false).unwrap();

    let ports: Vec<u16> = before.iter().chain(&during).copied().collect();
    let want = reference(tracer, &ports);
    wait_for_same(&want, || session_lines(&rsyslog.tcp_lines()));
    wait_for_same(&want, || session_lines(&http.lines()));
    let err = agent.stop().unwrap();
    assert_same(
        "rsyslog after outage",
        &session_lines(&rsyslog.tcp_lines()),
        &want,
    );
    assert_same("http after outage", &session_lines(&http.lines()), &want);
    assert!(http.requests().iter().any(|r| r.starts_with("503 ")));
    assert!(
        err.contains("ssh-trace: sink rsyslog: delivering again"),
        "{err}"
    );
    assert!(
        err.contains("ssh-trace: sink collector: delivering again"),
        "{err}"
    );
    // The outage is reported (issue 9: a failing output shows in
    // agent.loss, naming it and its error), and nothing was lost by it.
    let reports: Vec<Value> = lines_of(&file)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "agent.loss")
        .collect();
    let failing = [
        (
            "sink rsyslog",
            format!("connecting to tcp://127.0.0.1:{}", rsyslog.tcp_port),
        ),
        (
            "sink collector",
            format!("POST http://127.0.0.1:{}/ingest: 503", http.port),
        ),
    ];
    for (output, error) in &failing {
        assert!(
            reports.iter().any(
                |r| r["loss"]["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["output"] == *output
                        && o["error"].as_str().unwrap().starts_with(error.as_str())
                        && o["failures"].as_u64() > Some(0))
            ),
            "no agent.loss names {output} ({error}): {reports:#?}"
        );
    }
    let names = failing.map(|f| f.0);
    for r in &reports {
        assert_nothing_lost(&r["loss"], &names);
    }
}

/// Waits until `got` holds every event `tracer` saw of the session from
/// `port`, a second after its end (its server's exits come later).
fn wait_until_delivered(tracer: &Tracer, port: u16, got: impl Fn() -> Vec<(String, i128)>) {
    assert!(tracer.wait_for(WAIT, |e| e["event"] == "session.end"
        && e["session"]["source"]["port"] == port));
    std::thread::sleep(Duration::from_secs(1));
    let seen: Vec<String> = tracer.events().iter().map(|e| e.to_string()).collect();
    let want = session_lines(&seen);
    assert!(
        texts(&wait_for_same(&want, got)) == texts(&want),
        "rsyslog never held the first session's {} events",
        want.len()
    );
}

/// A loss report whose every counter is 0, whose sinks dropped nothing and
/// whose failing outputs (only `outputs`) lost no event.
fn assert_nothing_lost(loss: &Value, outputs: &[&str]) {
    for (name, v) in loss.as_object().unwrap() {
        match name.as_str() {
            "sinks" => {
                for s in v.as_array().unwrap() {
                    assert_eq!(s["dropped"], 0, "{loss:#}");
                }
            }
            "outputs" => {
                for o in v.as_array().unwrap() {
                    assert!(outputs.contains(&o["output"].as_str().unwrap()), "{loss:#}");
                    assert_eq!(o["events"], 0, "{loss:#}");
                }
            }
            _ => assert_eq!(*v, 0, "{name}: {loss:#}"),
        }
    }
}

/// Each request as the receiver logged it: POST to `path` with these
/// headers, answered `status`, body newline-terminated.
fn assert_requests(http: &HttpReceiver, path: &str, content_type: &str, auth: &str) {
    let log = http.request_log();
    assert!(!log.is_empty());
    for r in &log {
        assert_eq!(
            (
                &r["method"],
                &r["path"],
                &r["headers"]["content-type"],
                &r["headers"]["authorization"],
                &r["body_ends_with_newline"]
            ),
            (
                &Value::from("POST"),
                &Value::from(path),
                &Value::from(content_type),
                &Value::from(auth),
                &Value::from(true)
            ),
            "{r}"
        );
    }
}

/// `splunk_hec`: one `{"time","host","source","sourcetype","index","event"}`
/// object per event, POSTed as application/json with the Splunk token; the
/// events inside are what `tail --json` saw.
#[test]
fn splunk_hec_preset_wraps_each_event_as_tail_saw_it() {
    if !root_or_skip("splunk_hec_preset_wraps_each_event_as_tail_saw_it") {
        return;
    }
    let sshd = Sshd::start("sinks_hec").unwrap();
    let http = HttpReceiver::start("hec").unwrap();
    let dir = test_dir("sinks_hec");
    let filter = format!("destination.port = {}", sshd.port);
    let (cfg, file) = write_config(
        &dir,
        &format!(
            "[[sink]]\nname = \"splunk\"\ntype = \"http\"\npreset = \"splunk_hec\"\n\
             url = \"http://127.0.0.1:{}/services/collector/event\"\nauth = \"Splunk 5e3b-hec-token\"\n\
             index = \"ssh\"\nsourcetype = \"ssh-trace:json\"\nbatch_wait = \"200ms\"\nfilter = \"{filter}\"\n",
            http.port
        ),
    );
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    let ports = sessions(&sshd, 2, Duration::ZERO);
    let want = reference(tracer, &ports);
    assert!(want.len() >= 2 * 5, "too few events: {want:#?}");

    let envelopes = || -> Vec<Value> {
        http.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let events = || -> Vec<String> { envelopes().iter().map(|e| e["event"].to_string()).collect() };
    wait_for_same(&want, || session_lines(&events()));
    let err = agent.stop().unwrap();
    assert_same("splunk_hec events", &session_lines(&events()), &want);

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for env in envelopes() {
        let mut keys: Vec<&String> = env.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["event", "host", "index", "source", "sourcetype", "time"],
            "{env}"
        );
        let event = &env["event"];
        assert!(event["event"].is_string(), "{env}");
        assert_eq!(env["host"], host.trim(), "{env}");
        assert_eq!(env["host"], event["host"], "{env}");
        assert_eq!(
            (&env["source"], &env["sourcetype"], &env["index"]),
            (
                &Value::from("ssh-trace"),
                &Value::from("ssh-trace:json"),
                &Value::from("ssh")
            ),
            "{env}"
        );
        // HEC time: epoch seconds with milliseconds, the event's own time.
        let secs = env["time"].as_f64().unwrap();
        assert_eq!(
            (secs * 1000.0).round() as i128,
            time_ns(event) / 1_000_000,
            "{env}"
        );
    }
    assert_requests(
        &http,
        "/services/collector/event",
        "application/json",
        "Splunk 5e3b-hec-token",
    );
    assert!(http.request_log().iter().all(|r| r["status"] == 200));
    assert!(
        err.lines()
            .any(|l| l.starts_with("ssh-trace: sink splunk: ")
                && l.ends_with(" 0 dropped, 0 left in the spool")),
        "{err}"
    );
}

/// `elasticsearch_bulk`: NDJSON of `{"create":{"_index":…}}` + the event
/// per event. A reply of HTTP 200 with `"errors": true` is a failure: the
/// batch is sent again until accepted, and every event arrives once.
#[test]
fn elasticsearch_bulk_preset_retries_rejected_batches() {
    if !root_or_skip("elasticsearch_bulk_preset_retries_rejected_batches") {
        return;
    }
    let sshd = Sshd::start("sinks_bulk").unwrap();
    let http = HttpReceiver::start("bulk").unwrap();
    let dir = test_dir("sinks_bulk");
    let filter = format!("destination.port = {}", sshd.port);
    let (cfg, file) = write_config(
        &dir,
        &format!(
            "[[sink]]\nname = \"elastic\"\ntype = \"http\"\npreset = \"elasticsearch_bulk\"\n\
             url = \"http://127.0.0.1:{}/_bulk\"\nauth = \"ApiKey c3NoLXRyYWNl\"\nindex = \"ssh-trace-events\"\n\
             retry_max = \"1s\"\nbatch_wait = \"200ms\"\nfilter = \"{filter}\"\n",
            http.port
        ),
    );
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    // agent.start accepted; from now on every batch is rejected item by item.
    wait_for_count(WAIT, 2, || http.lines().len());
    http.set_bulk_errors(true).unwrap();
    let ports = sessions(&sshd, 2, Duration::ZERO);
    let want = reference(tracer, &ports);
    assert!(want.len() >= 2 * 5, "too few events: {want:#?}");
    let lines = || http.lines();
    let documents = || -> Vec<String> { lines().iter().skip(1).step_by(2).cloned().collect() };
    let rejected = || {
        http.request_log()
            .iter()
            .filter(|r| r["bulk_errors"] == true)
            .count()
    };
    assert!(wait_for_count(WAIT, 2, rejected) >= 2, "no rejected retry");
    let kept_while_rejecting = session_lines(&documents());
    http.set_bulk_errors(false).unwrap();

    wait_for_same(&want, || session_lines(&documents()));
    let err = agent.stop().unwrap();
    assert!(
        kept_while_rejecting.is_empty(),
        "the receiver kept a rejected batch: {kept_while_rejecting:#?}"
    );
    assert_same(
        "elasticsearch_bulk documents",
        &session_lines(&documents()),
        &want,
    );

    let all = lines();
    assert_eq!(all.len() % 2, 0, "{all:#?}");
    for pair in all.chunks(2) {
        assert_eq!(pair[0], r#"{"create":{"_index":"ssh-trace-events"}}"#);
        let doc: Value = serde_json::from_str(&pair[1]).unwrap();
        assert!(doc["event"].is_string(), "{}", pair[1]);
    }
    assert_requests(
        &http,
        "/_bulk",
        "application/x-ndjson",
        "ApiKey c3NoLXRyYWNl",
    );
    let failure = format!(
        "ssh-trace: sink elastic: POST http://127.0.0.1:{}/_bulk: 200 OK but the _bulk reply has \"errors\": true (",
        http.port
    );
    assert!(
        err.lines().any(|l| l.starts_with(&failure)
            && l.ends_with(
                " actions rejected, first: 429 rejected execution (test receiver)); retrying"
            )),
        "{err}"
    );
    assert!(
        err.contains("ssh-trace: sink elastic: delivering again"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("ssh-trace: sink elastic: ")
                && l.ends_with(" 0 dropped, 0 left in the spool")),
        "{err}"
    );
}

/// Bad configurations stop the agent before it loads anything, with the
/// file, line and key in the message.
#[test]
fn bad_configs_name_the_key_and_line() {
    let bin = agent_bin();
    if !bin.exists() {
        panic!("{} not built", bin.display());
    }
    let dir = std::env::temp_dir().join(format!("ssh-trace-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (
            "[[sink]]\nname = \"a\"\ntype = \"kafka\"\n",
            "3: type: unknown sink type \"kafka\" (expected stdout, file, syslog, http or clickhouse)",
        ),
        (
            "[[sink]]\nname = \"a\"\ntype = \"file\"\npath = \"/tmp/x\"\nurl = \"http://x\"\n",
            "5: url: does not apply to a file sink",
        ),
        (
            "[[sink]]\nname = \"s\"\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\n",
            "4: address: \"127.0.0.1:514\" is not tcp://HOST:PORT, udp://HOST:PORT or unix:///PATH",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let p = dir.join(format!("bad{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let out = Command::new(&bin)
            .arg("agent")
            .arg("--config")
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("ssh-trace: error: {}:{want}\n", p.display())
        );
    }
    let missing = dir.join("absent.toml");
    let out = Command::new(&bin)
        .arg("agent")
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ssh-trace: error: reading config {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

#[test]
fn https_sink_trusts_the_configured_ca() {
    if !root_or_skip("https_sink_trusts_the_configured_ca") {
        return;
    }
    let sshd = Sshd::start("sinks_tls").unwrap();
    let dir = test_dir("sinks_tls");
    let (ca, cert, key) = test_pki(&dir);
    let https = HttpReceiver::start_tls("tls", &cert, &key).unwrap();
    let filter = format!("destination.port = {}", sshd.port);
    let (cfg, file) = write_config(
        &dir,
        &format!(
            "[[sink]]\nname = \"tls\"\ntype = \"http\"\nurl = \"https://127.0.0.1:{}/ingest\"\n\
             ca_file = \"{}\"\nbatch_wait = \"200ms\"\nfilter = \"{filter}\"\n",
            https.port,
            ca.display()
        ),
    );
    let tracer = Tracer::start(&["--filter", &filter]).unwrap();
    let agent = Agent::start(&cfg, &file).unwrap();
    let ports = sessions(&sshd, 2, Duration::ZERO);
    let want = reference(tracer, &ports);
    wait_for_same(&want, || session_lines(&https.lines()));
    agent.stop().unwrap();
    assert_same("https", &session_lines(&https.lines()), &want);
}
