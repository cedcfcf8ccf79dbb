//! docs/schema.json is what the types generate, and the native JSON of
//! every event type validates against it.
use std::path::PathBuf;

use serde_json::Value;

use crate::format::{
    json::Json,
    json_schema::{native, native_text},
    samples::{event, HOST},
};

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schema.json")
}

/// `SSH_TRACE_WRITE_SCHEMA=1 cargo test -p ssh-trace schema_json` rewrites
/// docs/schema.json from the types.
#[test]
fn docs_schema_json_matches_the_types() {
    let generated = native_text();
    let path = checked_in();
    if std::env::var_os("SSH_TRACE_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/schema.json differs from the event types; regenerate it with \
         `SSH_TRACE_WRITE_SCHEMA=1 cargo test -p ssh-trace docs_schema_json`"
    );
}

fn line(ev: &crate::event::Event) -> Value {
    let mut out = Vec::new();
    Json.write(ev, HOST, &mut out);
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn every_event_type_validates_against_the_schema() {
    let validator = jsonschema::validator_for(&native()).unwrap();
    for kind in crate::format::samples::every_kind() {
        let ev = event(kind);
        let v = line(&ev);
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}\n{v}", kind.name());
    }
}

#[test]
fn schema_rejects_lines_that_break_it() {
    let validator = jsonschema::validator_for(&native()).unwrap();
    let mut cases = Vec::new();
    // A field no type has.
    let mut v = line(&event(crate::event::Kind::ProcessExec));
    v["process"]["cwd"] = "/".into();
    cases.push(("unknown process field", v));
    // session.end without its byte counts.
    let mut v = line(&event(crate::event::Kind::SessionEnd));
    v["session"].as_object_mut().unwrap().remove("bytes_in");
    cases.push(("session.end without bytes_in", v));
    // Byte counts on an event that has none.
    let mut v = line(&event(crate::event::Kind::SessionLogin));
    v["session"]["bytes_in"] = 1.into();
    cases.push(("session.login with bytes_in", v));
    // An unknown event type.
    let mut v = line(&event(crate::event::Kind::SessionLogin));
    v["event"] = "session.foo".into();
    cases.push(("unknown event", v));
    // A wrong type.
    let mut v = line(&event(crate::event::Kind::UserChange));
    v["change"]["success"] = "yes".into();
    cases.push(("string for boolean", v));
    for (what, v) in cases {
        assert!(!validator.is_valid(&v), "{what} was accepted: {v}");
    }
}
