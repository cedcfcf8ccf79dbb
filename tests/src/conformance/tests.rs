//! The validators on small hand-made documents, against the official
//! definitions: a conforming document passes, and each kind of violation
//! is reported, naming the field.
use serde_json::{json, Value};

use super::{ecs, ocsf};

/// Sets (or with `None` removes) the value at a dotted path.
fn with(mut doc: Value, path: &str, v: Option<Value>) -> Value {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let mut obj = &mut doc;
    for k in parent.split('.').filter(|k| !k.is_empty()) {
        obj = &mut obj[k];
    }
    let m = obj.as_object_mut().expect("an object on the path");
    match v {
        Some(v) => m.insert(key.to_owned(), v),
        None => m.remove(key),
    };
    doc
}

/// Each case must fail with an error that contains its text.
fn assert_rejected(check: impl Fn(&Value) -> Vec<String>, cases: Vec<(&str, Value, &str)>) {
    for (what, doc, needle) in cases {
        let errs = check(&doc);
        assert!(
            errs.iter().any(|e| e.contains(needle)),
            "{what}: expected an error containing {needle:?}, got {errs:#?}\nfor {doc}"
        );
    }
}

fn ecs_doc() -> Value {
    json!({
        "@timestamp": "2025-11-13T02:13:20.123456789Z",
        "ecs": {"version": "8.17.0"},
        "event": {"kind": "event", "category": ["process"], "type": ["start"], "outcome": "success",
                  "duration": 5},
        "process": {"pid": 4242, "args": ["id", "-u"], "entry_leader": {"entry_meta": {"source": {"ip": "::1"}}}},
        "source": {"ip": "192.0.2.10", "port": 50022},
        "labels": {"team": "ops"},
        "network": {"direction": "ingress"},
        "ssh_trace": {"change": {"args": [0, -1], "old": {"uid": 1}}, "flag": true},
    })
}

#[test]
fn a_conforming_ecs_document_passes() {
    let errs = ecs().check(&ecs_doc());
    assert!(errs.is_empty(), "{errs:#?}");
    // Dotted keys are the same fields as nested objects.
    let dotted = json!({"@timestamp": "2025-11-13T02:13:20+01:00", "ecs.version": "8.17.0",
                        "process.pid": 1, "process": {"parent": {"pid": 2}}, "process.parent.name": "sshd"});
    assert!(
        ecs().check(&dotted).is_empty(),
        "{:?}",
        ecs().check(&dotted)
    );
}

#[test]
fn ecs_violations_are_each_reported() {
    let d = ecs_doc;
    let cases = vec![
        (
            "entry_meta.source.port is not ECS",
            with(
                d(),
                "process.entry_leader.entry_meta.source.port",
                Some(json!(50022)),
            ),
            "process.entry_leader.entry_meta.source.port: not an ECS field",
        ),
        (
            "custom field outside ssh_trace",
            with(d(), "sshtrace", Some(json!({"x": 1}))),
            "sshtrace: not an ECS field; custom fields belong under ssh_trace.*",
        ),
        (
            "custom field inside an ECS field set",
            with(d(), "process.mine", Some(json!(1))),
            "the `process` field set has no such field",
        ),
        (
            "string for long",
            with(d(), "process.pid", Some(json!("4242"))),
            "process.pid: ECS type long needs an integer",
        ),
        (
            "u64 beyond long",
            with(d(), "event.duration", Some(json!(u64::MAX))),
            "event.duration: ECS type long",
        ),
        (
            "number for keyword",
            with(d(), "event.outcome", Some(json!(1))),
            "event.outcome: ECS type keyword",
        ),
        (
            "bad ip",
            with(d(), "source.ip", Some(json!("192.0.2"))),
            "source.ip: ECS type ip",
        ),
        (
            "port beyond long? no: string port",
            with(d(), "source.port", Some(json!("22"))),
            "source.port: ECS type long",
        ),
        (
            "date that is not ISO 8601",
            with(d(), "@timestamp", Some(json!("13 Nov 2025"))),
            "@timestamp: ECS type date",
        ),
        (
            "date without a zone",
            with(d(), "@timestamp", Some(json!("2025-11-13T02:13:20"))),
            "@timestamp: ECS type date",
        ),
        (
            "normalised array given a string",
            with(d(), "event.category", Some(json!("process"))),
            "event.category: ECS normalises this field to an array",
        ),
        (
            "array for a single-valued field",
            with(d(), "process.pid", Some(json!([1, 2]))),
            "process.pid: ECS field of one long value, got an array",
        ),
        (
            "object for a leaf",
            with(d(), "source.port", Some(json!({"n": 1}))),
            "source.port: ECS type long needs an integer",
        ),
        (
            "leaf for an object",
            with(d(), "process", Some(json!(1))),
            "process: not an ECS field",
        ),
        (
            "labels leaves are keywords",
            with(d(), "labels", Some(json!({"n": 1}))),
            "labels.n: ECS type keyword",
        ),
        (
            "event.kind not allowed",
            with(d(), "event.kind", Some(json!("finding"))),
            "event.kind: \"finding\" is not an allowed ECS value",
        ),
        (
            "event.type not allowed",
            with(d(), "event.type", Some(json!(["launch"]))),
            "event.type: \"launch\" is not an allowed ECS value",
        ),
        (
            "intrusion_detection with indicator",
            with(
                with(d(), "event.category", Some(json!(["intrusion_detection"]))),
                "event.type",
                Some(json!(["indicator"])),
            ),
            "event.type \"indicator\" is not expected with event.category \"intrusion_detection\"",
        ),
        (
            "every category with every type",
            with(
                with(d(), "event.category", Some(json!(["network", "session"]))),
                "event.type",
                Some(json!(["connection", "start"])),
            ),
            "event.type \"connection\" is not expected with event.category \"session\"",
        ),
        (
            "required ecs.version",
            with(d(), "ecs", None),
            "ecs.version: required by ECS, missing",
        ),
        (
            "expected values",
            with(d(), "network.direction", Some(json!("in"))),
            "network.direction: \"in\" is not one of ECS's",
        ),
        (
            "null in a custom field",
            with(d(), "ssh_trace.flag", Some(Value::Null)),
            "ssh_trace.flag: null value",
        ),
    ];
    assert_rejected(|v| ecs().check(v), cases);
}

fn app_start() -> Value {
    json!({
        "class_uid": 6002, "class_name": "Application Lifecycle",
        "category_uid": 6, "category_name": "Application Activity",
        "activity_id": 3, "activity_name": "Start",
        "type_uid": 600203, "type_name": "Application Lifecycle: Start",
        "severity_id": 1, "severity": "Informational",
        "time": 1_763_000_000_123u64,
        "status_id": 1, "status": "Success",
        "metadata": {"version": "1.3.0", "product": {"name": "ssh-trace", "vendor_name": "ssh-trace"}, "profiles": ["host"]},
        "app": {"name": "ssh-trace", "vendor_name": "ssh-trace"},
        "device": {"hostname": "web-1", "type_id": 1, "type": "Server", "os": {"name": "Linux", "type_id": 200}},
        "actor": {"process": {"pid": 777}},
        "unmapped": {"anything": [1, {"x": null}]},
    })
}

fn finding() -> Value {
    json!({
        "class_uid": 2004, "class_name": "Detection Finding",
        "category_uid": 2, "category_name": "Findings",
        "activity_id": 1, "activity_name": "Create",
        "type_uid": 200401, "type_name": "Detection Finding: Create",
        "severity_id": 5, "severity": "Critical",
        "time": 1_763_000_000_123u64,
        "status_id": 1, "status": "New",
        "metadata": {"version": "1.3.0", "product": {"name": "ssh-trace", "vendor_name": "ssh-trace"}},
        "finding_info": {"title": "alert.root_login", "uid": "x-1", "analytic": {"name": "r", "type_id": 1, "type": "Rule"}},
        "evidences": [{"src_endpoint": {"ip": "192.0.2.10", "port": 50022}, "dst_endpoint": {"ip": "2001:db8::1", "port": 22}}],
    })
}

#[test]
fn conforming_ocsf_events_pass() {
    for ev in [app_start(), finding()] {
        let errs = ocsf().check(&ev);
        assert!(errs.is_empty(), "{errs:#?}\n{ev}");
    }
    // 99 (Other): the activity's name is the source's own; type_name is still the schema's.
    let other = with(
        with(
            with(app_start(), "activity_id", Some(json!(99))),
            "activity_name",
            Some(json!("Loss")),
        ),
        "type_uid",
        Some(json!(600299)),
    );
    let other = with(
        other,
        "type_name",
        Some(json!("Application Lifecycle: Other")),
    );
    assert!(
        ocsf().check(&other).is_empty(),
        "{:?}",
        ocsf().check(&other)
    );
}

#[test]
fn ocsf_violations_are_each_reported() {
    let (a, f) = (app_start, finding);
    let cases = vec![
        (
            "unknown class",
            with(a(), "class_uid", Some(json!(6099))),
            "class_uid: no OCSF 1.3.0 class 6099",
        ),
        (
            "attribute the class lacks",
            with(a(), "finding_info", Some(json!({"title": "t", "uid": "u"}))),
            "finding_info: not an attribute of class Application Lifecycle",
        ),
        (
            "required attribute missing",
            with(a(), "app", None),
            "app: required attribute missing",
        ),
        (
            "unknown attribute of a nested object",
            with(a(), "app.colour", Some(json!("red"))),
            "app.colour: not an attribute of the object at app",
        ),
        (
            "nested required attribute",
            with(a(), "metadata.product.vendor_name", None),
            "metadata.product.vendor_name: required attribute missing",
        ),
        (
            "profile attribute without the profile",
            with(a(), "metadata.profiles", Some(json!([]))),
            "actor: added by profile \"host\"",
        ),
        (
            "undefined profile",
            with(a(), "metadata.profiles", Some(json!(["host", "hots"]))),
            "no OCSF profile \"hots\"",
        ),
        (
            "profile the class does not take",
            with(
                a(),
                "metadata.profiles",
                Some(json!(["host", "network_proxy"])),
            ),
            "does not take profile \"network_proxy\"",
        ),
        (
            "enum value not defined",
            with(a(), "severity_id", Some(json!(7))),
            "severity_id: 7 is not a value of the enum",
        ),
        (
            "caption of another value",
            with(a(), "severity", Some(json!("Low"))),
            "severity: \"Low\" does not match severity_id=1",
        ),
        (
            "class caption",
            with(a(), "class_name", Some(json!("App Lifecycle"))),
            "class_name: \"App Lifecycle\" does not match class_uid=6002",
        ),
        (
            "category of another class",
            with(a(), "category_uid", Some(json!(1))),
            "category_uid: 1 is not a value of the enum",
        ),
        (
            "type_uid from another activity",
            with(
                with(a(), "type_uid", Some(json!(600204))),
                "type_name",
                Some(json!("Application Lifecycle: Stop")),
            ),
            "type_uid: 600204, but class_uid 6002 * 100 + activity_id 3 = 600203",
        ),
        (
            "type_name of 99 is the schema's",
            with(
                with(
                    with(a(), "activity_id", Some(json!(99))),
                    "type_uid",
                    Some(json!(600299)),
                ),
                "type_name",
                Some(json!("Application Lifecycle: Loss")),
            ),
            "type_name: \"Application Lifecycle: Loss\" does not match type_uid=600299",
        ),
        (
            "timestamp as a string",
            with(a(), "time", Some(json!("2025-11-13T02:13:20Z"))),
            "time: timestamp_t: long_t needs a 64-bit integer",
        ),
        (
            "integer_t beyond 32 bits",
            with(a(), "actor.process.pid", Some(json!(1u64 << 40))),
            "actor.process.pid: integer_t needs a 32-bit integer",
        ),
        (
            "hostname_t pattern",
            with(a(), "device.hostname", Some(json!("web 1!"))),
            "device.hostname: hostname_t",
        ),
        (
            "ip_t pattern",
            with(a(), "device.ip", Some(json!("300.1.2.3"))),
            "device.ip: ip_t",
        ),
        (
            "object given a string",
            with(a(), "app", Some(json!("ssh-trace"))),
            "app: needs a product object, got string",
        ),
        (
            "constraint of an object",
            with(a(), "app.name", None),
            "app: constraint at_least_one of [\"name\", \"uid\"] not met",
        ),
        (
            "finding status redefined",
            with(f(), "status", Some(json!("Success"))),
            "status: \"Success\" does not match status_id=1, whose caption is \"New\"",
        ),
        (
            "endpoints at the top of a finding",
            with(f(), "src_endpoint", Some(json!({"ip": "192.0.2.10"}))),
            "src_endpoint: not an attribute of class Detection Finding",
        ),
        (
            "finding_info.uid required",
            with(f(), "finding_info.uid", None),
            "finding_info.uid: required attribute missing",
        ),
        (
            "array attribute given an object",
            with(
                f(),
                "evidences",
                Some(json!({"src_endpoint": {"ip": "192.0.2.10"}})),
            ),
            "evidences: needs an array, got object",
        ),
        (
            "port_t range",
            with(
                f(),
                "evidences",
                Some(json!([{"src_endpoint": {"ip": "192.0.2.10", "port": 70000}}])),
            ),
            "evidences[0].src_endpoint.port: port_t: 70000 outside 0..=65535",
        ),
        (
            "evidence with nothing in it",
            with(f(), "evidences", Some(json!([{}]))),
            "evidences[0]: constraint at_least_one",
        ),
        (
            "boolean_t",
            with(f(), "is_remote", Some(json!(true))),
            "is_remote: not an attribute of class Detection Finding",
        ),
    ];
    assert_rejected(|v| ocsf().check(v), cases);
}

#[test]
fn missing_definitions_fail_naming_the_path() {
    let dir = std::env::temp_dir().join(format!("no-conformance-{}", std::process::id()));
    let msg = format!(
        "{:#}",
        super::read_from(&dir, "ecs_fields.json").unwrap_err()
    );
    assert!(
        msg.contains(&dir.join("ecs_fields.json").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains(super::DIR_ENV), "{msg}");
}
