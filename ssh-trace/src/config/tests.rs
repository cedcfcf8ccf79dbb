//! Configuration errors read `LINE: KEY: problem`, exactly.
use super::*;
use crate::sinks::{http, syslog, SinkKind};

fn err(text: &str) -> String {
    parse(text).expect_err("should fail").0
}

const SINK: &str = "[[sink]]\nname = \"a\"\n";

const EXAMPLE: &str = include_str!("../../../dist/config.example.toml");

#[test]
fn example_config_as_shipped_has_only_the_local_file_sink() {
    let cfg = parse(EXAMPLE).unwrap();
    let names: Vec<&str> = cfg.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["archive"]);
}

#[test]
fn example_config_parses_with_its_example_sinks_enabled() {
    // Lines starting with `#` and no space are the examples to uncomment.
    let enabled: String = EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = parse(&enabled).unwrap();
    let names: Vec<&str> = cfg.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["archive", "siem-syslog", "splunk", "clickhouse"]);
    assert!(matches!(
        &cfg.sinks[1].kind,
        SinkKind::Syslog(syslog::Spec { address: syslog::Address::Tcp(a), facility: 10, .. }) if a == "127.0.0.1:514"
    ));
    assert_eq!(
        cfg.sinks[1].limits.spool.as_ref().map(|s| s.1),
        Some(256 << 20)
    );
    assert!(matches!(
        cfg.sinks[2].kind,
        SinkKind::Http(http::Spec {
            preset: http::Preset::SplunkHec,
            gzip: true,
            ..
        })
    ));
    assert!(matches!(
        &cfg.sinks[3].kind,
        SinkKind::ClickHouse(c) if c.url == "https://clickhouse.example.com:8443" && c.gzip
    ));
    assert_eq!(cfg.drain_timeout, Duration::from_secs(5));
}

#[test]
fn heartbeat_is_every_minute_unless_set_and_zero_means_none() {
    let with =
        |agent: &str| parse(&format!("[agent]\n{agent}\n{SINK}type = \"stdout\"\n")).unwrap();
    assert_eq!(with("").heartbeat, Some(Duration::from_secs(60)));
    assert_eq!(
        with("heartbeat = \"15s\"").heartbeat,
        Some(Duration::from_secs(15))
    );
    assert_eq!(with("heartbeat = \"0s\"").heartbeat, None);
    assert_eq!(with("").persist, None);
    assert_eq!(with("persist = \"main\"").persist.as_deref(), Some("main"));
    assert_eq!(with("").nice, None);
    assert_eq!(with("nice = -10").nice, Some(-10));
}

#[test]
fn errors_name_line_and_key() {
    let cases: &[(String, &str)] = &[
        (format!("{SINK}type = \"kafka\"\n"), "3: type: unknown sink type \"kafka\" (expected stdout, file, syslog, http or clickhouse)"),
        (format!("{SINK}type = \"stdout\"\nfromat = \"json\"\n"), "4: unknown field `fromat`, expected one of `name`, `type`, `format`, `filter`, `queue_size`, `spool_size`, `tty`, `retry_max`, `timeout`, `path`, `rotate_size`, `rotate_time`, `rotate_count`, `compress`, `address`, `facility`, `app_name`, `url`, `preset`, `auth`, `ca_file`, `index`, `sourcetype`, `gzip`, `batch_size`, `batch_wait`, `database`, `table`, `user`, `password`"),
        (format!("{SINK}type = \"file\"\npath = \"/x\"\nrotate_count = \"ten\"\n"), "5: rotate_count: invalid type: string \"ten\", expected u64"),
        (format!("{SINK}type = \"file\"\npath = \"/x\"\nrotate_count = 0\n"), "5: rotate_count: must be at least 1"),
        (format!("{SINK}type = \"file\"\npath = \"/x\"\nrotate_size = \"huge\"\n"), "5: rotate_size: \"huge\" is not a size (e.g. \"64MiB\", \"1GB\")"),
        (format!("{SINK}type = \"file\"\n"), "3: path: a file sink needs path"),
        (format!("{SINK}type = \"syslog\"\naddress = \"tcp://h:1\"\nfacility = \"mail\"\n"), "5: facility: unknown facility \"mail\" (expected one of kern, user, daemon, auth, syslog, authpriv, local0, local1, local2, local3, local4, local5, local6, local7)"),
        (format!("{SINK}type = \"syslog\"\naddress = \"tcp://h\"\n"), "4: address: \"tcp://h\" lacks host:port"),
        (format!("{SINK}type = \"http\"\nurl = \"ftp://x\"\n"), "4: url: \"ftp://x\" is not an http:// or https:// URL"),
        (format!("{SINK}type = \"http\"\nurl = \"http://x\"\npreset = \"loki\"\n"), "5: preset: unknown preset \"loki\" (expected json_lines, splunk_hec or elasticsearch_bulk)"),
        (format!("{SINK}type = \"http\"\nurl = \"http://x\"\npreset = \"elasticsearch_bulk\"\nformat = \"human\"\n"), "6: format: elasticsearch_bulk needs a JSON format, not human"),
        (format!("{SINK}type = \"http\"\nurl = \"http://x\"\ntimeout = \"soon\"\n"), "5: timeout: expected number at 0 (e.g. \"30s\", \"5m\", \"1h\")"),
        (format!("{SINK}type = \"clickhouse\"\n"), "3: url: a clickhouse sink needs url"),
        (format!("{SINK}type = \"clickhouse\"\nurl = \"http://x:8123\"\nformat = \"human\"\n"), "5: format: a clickhouse sink keeps events as JSON (json, ecs or ocsf), not human"),
        (format!("{SINK}type = \"clickhouse\"\nurl = \"http://x:8123\"\ntable = \"events; DROP TABLE x\"\n"), "5: table: \"events; DROP TABLE x\": use letters, digits and _ (not first)"),
        (format!("{SINK}type = \"clickhouse\"\nurl = \"http://x:8123\"\npreset = \"splunk_hec\"\n"), "5: preset: does not apply to a clickhouse sink"),
        (format!("{SINK}type = \"stdout\"\nfilter = \"user ==\"\n"), "4: filter: filter error at column 8: expected a value after `=`, found end of input\n  user ==\n         ^"),
        (format!("{SINK}type = \"stdout\"\ngzip = true\n"), "4: gzip: does not apply to a stdout sink"),
        (format!("{SINK}type = \"stdout\"\n{SINK}type = \"stdout\"\n"), "5: name: sink name \"a\" is used twice"),
        ("[[sink]]\nname = \"a b\"\ntype = \"stdout\"\n".into(), "2: name: \"a b\": use letters, digits, - and _"),
        ("[agent]\ndrain_timeout = \"5 parsecs\"\n[[sink]]\nname = \"a\"\ntype = \"stdout\"\n".into(), "2: drain_timeout: unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations) (e.g. \"30s\", \"5m\", \"1h\")"),
        ("[agent]\nheartbeat = \"1500ms\"\n[[sink]]\nname = \"a\"\ntype = \"stdout\"\n".into(), "2: heartbeat: 1s 500ms is not a whole number of seconds (e.g. \"30s\", \"5m\"; \"0s\" for none)"),
        ("[agent]\npersist = \"../x\"\n[[sink]]\nname = \"a\"\ntype = \"stdout\"\n".into(), "2: persist: persist name \"../x\": 1 to 64 letters, digits, '-', '_' or '.'"),
        ("[agent]\nnice = 25\n[[sink]]\nname = \"a\"\ntype = \"stdout\"\n".into(), "2: nice: 25 is not a nice value (-20 to 19)"),
        ("[agent]\nring_buffer_size = 1\n".into(), "1: sink: no [[sink]] configured"),
        ("[agent\n".into(), "1: unclosed table, expected `]`"),
    ];
    for (text, want) in cases {
        assert_eq!(&err(text), want, "for:\n{text}");
    }
}

#[test]
fn unknown_format_lists_the_formats() {
    let e = err(&format!("{SINK}type = \"stdout\"\nformat = \"xml\"\n"));
    assert!(
        e.starts_with("4: format: unknown format \"xml\" (expected human, json"),
        "{e}"
    );
}

#[test]
fn terminal_recording_and_its_capture_file() {
    let cfg = parse(
        "[tty]\ninput = true\nusers = [\"alice\"]\ngroups = [\"admins\"]\nrate = \"64KiB\"\n\
         [capture]\npath = \"/var/lib/ssh-trace/capture\"\nrotate_size = \"100MB\"\nrotate_count = 5\n\
         [[sink]]\nname = \"a\"\ntype = \"stdout\"\n",
    )
    .unwrap();
    let tty = cfg.tty.unwrap();
    assert!(tty.input);
    assert!(tty.selection.users.contains("alice") && tty.selection.groups.contains("admins"));
    assert_eq!(tty.limits.rate, 64 << 10);
    assert_eq!(tty.limits.cap, 256 << 20, "default cap");
    let (path, rotation) = cfg.capture.unwrap();
    assert_eq!(path, std::path::Path::new("/var/lib/ssh-trace/capture"));
    assert_eq!(
        (rotation.size, rotation.count),
        (Some(100_000_000), Some(5))
    );
    assert!(
        !cfg.sinks[0].tty,
        "sinks take no terminal data unless they ask"
    );
}

#[test]
fn terminal_recording_needs_a_place_to_go_and_sane_limits() {
    let stdout = "[[sink]]\nname = \"a\"\ntype = \"stdout\"\n";
    assert!(err(&format!("[tty]\n{stdout}")).contains("a [capture] file or a sink with tty = true"));
    let cfg = parse(&format!("[tty]\n{stdout}tty = true\n")).unwrap();
    assert!(cfg.sinks[0].tty);
    let e = err(&format!("[tty]\nrate = \"0\"\n{stdout}tty = true\n"));
    assert!(e.starts_with("2: rate:"), "{e}");
    let e = err(&format!("[tty]\nspeed = 1\n{stdout}"));
    assert!(e.contains("unknown field `speed`"), "{e}");
}

#[test]
fn sessions_group_is_read_for_the_session_socket() {
    let with =
        |agent: &str| parse(&format!("[agent]\n{agent}\n{SINK}type = \"stdout\"\n")).unwrap();
    assert_eq!(with("").operators.sessions_group, None);
    let cfg = with("sessions_group = \"adm\"");
    assert_eq!(cfg.operators.sessions_group.as_deref(), Some("adm"));
}
