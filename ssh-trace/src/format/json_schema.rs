//! JSON Schema (draft 2020-12) of the native JSON lines, generated from the
//! event types and checked in as docs/schema.json. One `oneOf` branch per
//! event type, keyed by the `event` constant; every object is closed
//! (`additionalProperties: false`) so a new field must reach the schema.
use crate::alert::{AlertKind, Evidence, Severity};
use schemars::{generate::SchemaSettings, JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::event::{
    AgentInfo, AgentTotals, Kind, LossCounts, Pid, ProcessExec, ProcessExit, SessionInfo,
    UserChange,
};

/// The top-level body fields of each event type (json.rs flattens `Body`).
fn body_fields(kind: Kind, g: &mut SchemaGenerator) -> Vec<(&'static str, Value)> {
    let f = |name, schema: schemars::Schema| (name, schema.to_value());
    match kind {
        Kind::ProcessExec => vec![f("process", g.subschema_for::<ProcessExec>())],
        Kind::ProcessExit => vec![f("process", g.subschema_for::<ProcessExit>())],
        Kind::UserChange => vec![
            f("process", g.subschema_for::<Pid>()),
            f("change", g.subschema_for::<UserChange>()),
        ],
        Kind::AgentStart => vec![f("agent", g.subschema_for::<AgentInfo>())],
        Kind::AgentLoss => vec![
            f("loss", g.subschema_for::<LossCounts>()),
            f("total", g.subschema_for::<LossCounts>()),
        ],
        Kind::AgentStop => vec![
            f("agent", g.subschema_for::<AgentInfo>()),
            f("totals", g.subschema_for::<AgentTotals>()),
        ],
        Kind::SessionConnect | Kind::SessionLogin | Kind::SessionBytes | Kind::SessionEnd => vec![],
        Kind::Alert(k) => vec![("alert", alert_schema(k, g))],
    }
}

/// Evidence fields of each alert kind: (always there, there when known).
fn evidence_fields(k: AlertKind) -> (&'static [&'static str], &'static [&'static str]) {
    match k {
        AlertKind::NewSource => (&["user", "source_ip"], &[]),
        AlertKind::ConnectionRate | AlertKind::UnauthenticatedRate => {
            (&["source_ip", "count", "limit", "window_s"], &[])
        }
        AlertKind::RootLogin => (&[], &["user", "source_ip"]),
        AlertKind::PrivilegeGain => (&["pid", "syscall"], &["user", "source_ip"]),
        AlertKind::SessionBytes => (&["count", "limit"], &["user", "source_ip"]),
        AlertKind::Idle => (&["idle_s"], &[]),
        AlertKind::LoginAfterIdle => (&["idle_s"], &["user", "source_ip"]),
        AlertKind::ActionFailed => (&["action", "error"], &[]),
    }
}

/// `alert` of one alert kind: the Alert type with its evidence cut to the
/// fields that kind carries.
fn alert_schema(k: AlertKind, g: &mut SchemaGenerator) -> Value {
    let evidence = Evidence::json_schema(g).to_value();
    let (always, known) = evidence_fields(k);
    let mut props = Map::new();
    for f in always.iter().chain(known) {
        if let Some(p) = evidence["properties"].get(*f) {
            props.insert((*f).into(), p.clone());
        }
    }
    json!({
        "type": "object",
        "properties": {
            "rule": {"type": "string"},
            "severity": g.subschema_for::<Severity>().to_value(),
            "evidence": {"type": "object", "properties": props, "required": always},
        },
        "required": ["rule", "severity", "evidence"],
    })
}

/// Which flattened parts of `SessionInfo` an event type carries.
fn session_def(kind: Kind) -> Option<&'static str> {
    match kind {
        _ if kind.is_agent() => None,
        Kind::Alert(AlertKind::Idle | AlertKind::ActionFailed) => None,
        Kind::SessionBytes => Some("SessionWithTraffic"),
        Kind::SessionEnd => Some("SessionWithEnd"),
        _ => Some("Session"),
    }
}

const TRAFFIC: [&str; 2] = ["bytes_in", "bytes_out"];
const END: [&str; 2] = ["duration_ms", "logged_in"];

/// SessionInfo's schema with its flattened optional parts made exact:
/// `required` of them present, the others absent.
fn session_variant(base: &Value, required: &[&str], absent: &[&str]) -> Value {
    let mut v = base.clone();
    if let Some(props) = v["properties"].as_object_mut() {
        for a in absent {
            props.remove(*a);
        }
    }
    if let Some(req) = v["required"].as_array_mut() {
        req.extend(required.iter().map(|r| json!(r)));
    }
    v
}

fn close_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("properties") {
                m.insert("additionalProperties".into(), json!(false));
            }
            m.values_mut().for_each(close_objects);
        }
        Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}

pub fn native() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let session = SessionInfo::json_schema(&mut g).to_value();
    let mut branches = Vec::new();
    for kind in Kind::all() {
        let mut props = Map::new();
        props.insert(
            "time".into(),
            json!({"type": "string", "format": "date-time"}),
        );
        props.insert("event".into(), json!({"const": kind.name()}));
        props.insert("host".into(), json!({"type": "string"}));
        let mut required = vec!["time", "event", "host"];
        if let Some(def) = session_def(kind) {
            props.insert("session".into(), json!({"$ref": format!("#/$defs/{def}")}));
            required.push("session");
        }
        for (name, schema) in body_fields(kind, &mut g) {
            props.insert(name.into(), schema);
            required.push(name);
        }
        branches.push(json!({
            "title": kind.name(),
            "type": "object",
            "properties": props,
            "required": required,
        }));
    }
    let mut defs: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    let all: Vec<&str> = TRAFFIC.iter().chain(&END).copied().collect();
    defs.insert("Session".into(), session_variant(&session, &[], &all));
    defs.insert(
        "SessionWithTraffic".into(),
        session_variant(&session, &TRAFFIC, &END),
    );
    defs.insert(
        "SessionWithEnd".into(),
        session_variant(&session, &all, &[]),
    );
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ssh-trace event (one line of `ssh-trace tail --json`)",
        "oneOf": branches,
        "$defs": defs,
    });
    close_objects(&mut schema);
    schema
}

/// docs/schema.json's text: the schema, pretty-printed, with a final newline.
pub fn native_text() -> String {
    let mut s = serde_json::to_string_pretty(&native()).unwrap_or_default();
    s.push('\n');
    s
}
