//! The HTTP presets' envelopes, without a server.
use super::*;
use crate::{
    event::Kind,
    format::{samples, FormatKind},
};

fn encoded(enc: &mut dyn Encode, kind: Kind) -> String {
    let mut out = Vec::new();
    enc.encode(&samples::event(kind), samples::HOST, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn splunk_hec_wraps_json_as_an_object_and_human_as_a_string() {
    let json = Formatter::new(FormatKind::Json, false);
    let mut hec = SplunkHec::new(json, "ssh", Some("main".into()));
    let text = encoded(&mut hec, Kind::SessionLogin);
    assert!(text.ends_with("}\n"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["time"].as_f64().unwrap(), 1_763_000_000.123);
    assert_eq!(
        (v["host"].as_str(), v["sourcetype"].as_str()),
        (Some(samples::HOST), Some("ssh"))
    );
    assert_eq!(
        (v["index"].as_str(), v["source"].as_str()),
        (Some("main"), Some("ssh-trace"))
    );
    assert_eq!(v["event"]["event"], "session.login");
    let mut hec = SplunkHec::new(Formatter::new(FormatKind::Human, false), "ssh", None);
    let v: serde_json::Value =
        serde_json::from_str(&encoded(&mut hec, Kind::SessionLogin)).unwrap();
    assert!(v["event"].as_str().unwrap().contains("session.login"));
    assert!(v.get("index").is_none());
}

#[test]
fn elasticsearch_bulk_puts_an_action_before_each_document() {
    let mut bulk = ElasticBulk::new(Formatter::new(FormatKind::Ecs, false), Some("ssh-trace"));
    let text = encoded(&mut bulk, Kind::ProcessExec);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"{"create":{"_index":"ssh-trace"}}"#);
    let doc: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(doc["event"]["action"], "process.exec");
    let mut bulk = ElasticBulk::new(Formatter::new(FormatKind::Json, false), None);
    assert!(encoded(&mut bulk, Kind::AgentStart).starts_with("{\"create\":{}}\n{"));
}
