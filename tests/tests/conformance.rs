//! `--format ecs` and `--format ocsf` against the official ECS 8.17.0 and
//! OCSF 1.3.0 definitions (../shared/conformance/, or
//! $SSH_TRACE_CONFORMANCE_DIR): the sample of every event kind, and every
//! line the agent printed for real sessions.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use ssh_trace::format::{samples, FormatKind};
use ssh_trace_tests::{conformance, *};

const WAIT: Duration = Duration::from_secs(30);

/// Every violation of every line, each line's violations under its text.
fn violations(lines: &[String], check: impl Fn(&Value) -> Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for line in lines {
        let errs = match serde_json::from_str::<Value>(line) {
            Ok(doc) => check(&doc),
            Err(e) => vec![format!("not JSON: {e}")],
        };
        if !errs.is_empty() {
            out.push(format!("{line}\n  - {}", errs.join("\n  - ")));
        }
    }
    out
}

fn assert_conforms(what: &str, lines: &[String], check: impl Fn(&Value) -> Vec<String>) {
    let bad = violations(lines, check);
    assert!(
        bad.is_empty(),
        "{what}: {} of {} lines violate the official schema:\n{}",
        bad.len(),
        lines.len(),
        bad.join("\n")
    );
}

/// The native event type of each line (event.action / metadata.event_code).
fn kinds(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| event_name(&v).to_owned())
        .collect()
}

/// The samples in `format`: every kind is among them, and every line conforms.
fn samples_conform(format: FormatKind, what: &str, check: impl Fn(&Value) -> Vec<String>) {
    let lines = samples::lines(format);
    let every: BTreeSet<String> = samples::every_kind()
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(kinds(&lines), every, "one sample per kind");
    assert_conforms(what, &lines, check);
}

#[test]
fn the_sample_of_every_event_kind_is_valid_ecs_8_17() {
    samples_conform(FormatKind::Ecs, "ECS samples", |d| {
        conformance::ecs().check(d)
    });
}

#[test]
fn the_sample_of_every_event_kind_is_valid_ocsf_1_3() {
    samples_conform(FormatKind::Ocsf, "OCSF samples", |d| {
        conformance::ocsf().check(d)
    });
}

/// The custom fields of an ECS document: leaves, an array counting as one.
fn custom_fields(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                custom_fields(child, &format!("{path}.{k}"), out);
            }
        }
        _ => {
            out.insert(path.to_owned());
        }
    }
}

#[test]
fn every_custom_ecs_field_is_listed_in_docs_ecs_md() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/ecs.md")).unwrap();
    let (_, listed) = doc
        .split_once("## Custom fields")
        .expect("a Custom fields section");
    let mut fields = BTreeSet::new();
    for line in samples::lines(FormatKind::Ecs) {
        let v: Value = serde_json::from_str(&line).unwrap();
        if let Some(custom) = v.get("ssh_trace") {
            custom_fields(custom, "ssh_trace", &mut fields);
        }
    }
    assert!(fields.len() > 10, "{fields:?}");
    // A field is listed by name, or by its parent as `parent.*`.
    let is_listed = |f: &str| {
        let mut p = f;
        listed.contains(&format!("`{f}`"))
            || std::iter::from_fn(|| {
                let (parent, _) = p.rsplit_once('.')?;
                p = parent;
                Some(parent)
            })
            .any(|parent| listed.contains(&format!("`{parent}.*`")))
    };
    let missing: Vec<&String> = fields.iter().filter(|f| !is_listed(f)).collect();
    assert!(
        missing.is_empty(),
        "custom fields not listed in docs/ecs.md: {missing:?}"
    );
}

/// Rules that fire on the sessions below, with one action that cannot
/// succeed (nothing listens on its port), so alerts and an action failure
/// are among the lines too.
fn alert_rules(name: &str) -> std::path::PathBuf {
    let dir = world().dir.join(format!("conformance_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    let dead = free_port().unwrap();
    std::fs::write(
        &rules,
        format!(
            r#"state_file = "{}"
[[rule]]
type = "new_source"
actions = ["dead"]
[[rule]]
type = "privilege_gain"
[[rule]]
type = "unauthenticated_rate"
max = 0
window = "1m"
[[action]]
name = "dead"
webhook = "http://127.0.0.1:{dead}/nobody-listens"
"#,
            dir.join("state.json").display()
        ),
    )
    .unwrap();
    rules
}

/// A login running a command, a wrong key, and sudo in a pty, traced by an
/// ECS and an OCSF agent; returns every line each printed.
fn real_sessions() -> (Vec<String>, Vec<String>) {
    let w = world();
    let sshd = Sshd::start("conformance").unwrap();
    let only = format!("destination.port = {}", sshd.port);
    let start = |format: &str| {
        let rules = alert_rules(format);
        let args = [
            "--filter",
            &only,
            "--no-sessions-socket",
            "--alerts",
            rules.to_str().unwrap(),
        ];
        Tracer::start_format(format, &args).unwrap()
    };
    let (ecs, ocsf) = (start("ecs"), start("ocsf"));
    let login = ssh(&sshd, &[], "echo $SSH_CONNECTION; id").unwrap();
    assert!(login.success, "{}", login.stderr);
    let refused = ssh_base(&sshd, &w.wrong_key)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("true")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "the wrong key logged in");
    let sudo = ssh(
        &sshd,
        &["-tt"],
        "echo $SSH_CONNECTION; sudo -n -u nobody id",
    )
    .unwrap();
    assert!(
        sudo.stdout.contains("uid=65534(nobody)"),
        "{} {}",
        sudo.stdout,
        sudo.stderr
    );
    for t in [&ecs, &ocsf] {
        let ends = |t: &Tracer| {
            t.events()
                .iter()
                .filter(|e| event_name(e) == "session.end")
                .count()
        };
        assert!(
            t.wait_for(WAIT, |_| ends(t) >= 3),
            "three session.end: {:?}",
            t.raw_lines()
        );
        assert!(
            t.wait_for(WAIT, |e| event_name(e) == "alert.action_failed"),
            "the dead webhook's failure: {:?}",
            t.raw_lines()
        );
    }
    (ecs.stop_raw().unwrap(), ocsf.stop_raw().unwrap())
}

#[test]
fn every_line_of_real_sessions_is_valid_ecs_and_ocsf() {
    if !root_or_skip("every_line_of_real_sessions_is_valid_ecs_and_ocsf") {
        return;
    }
    let (ecs, ocsf) = real_sessions();
    // The sessions produced what they should, in both formats.
    let want = [
        "agent.start",
        "session.connect",
        "session.login",
        "process.exec",
        "process.exit",
        "user.change",
        "session.end",
        "alert.new_source",
        "alert.privilege_gain",
        "alert.unauthenticated_rate",
        "alert.action_failed",
        "agent.stop",
    ];
    for (what, lines) in [("ECS", &ecs), ("OCSF", &ocsf)] {
        let got = kinds(lines);
        for k in want {
            assert!(got.contains(k), "{what}: no {k} in {got:?}");
        }
    }
    assert_conforms("ECS lines of real sessions", &ecs, |d| {
        conformance::ecs().check(d)
    });
    assert_conforms("OCSF lines of real sessions", &ocsf, |d| {
        conformance::ocsf().check(d)
    });
}
