//! JSON Schema (draft 2020-12) of the native JSON lines, generated from the
//! event types and checked in as docs/schema.json. One `oneOf` branch per
//! event type, keyed by the `event` constant; every object is closed
//! (`additionalProperties: false`) so a new field must reach the schema.
use schemars::{generate::SchemaSettings, JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::event::{
    Accepted, AgentInfo, AgentTotals, AlertKind, Attempts, Auth, Evidence, Forward, Heartbeat,
    Kind, LossCounts, LossReport, Pid, ProcessExec, ProcessExit, SessionEnd, SessionInfo, Severity,
    Terminal, Traffic, Transfer, UserChange,
};

/// The top-level body fields of each event type (json.rs flattens `Body`)
/// and whether each is required. Optional: the accepted authentication of
/// a login (when the server logged it), the attempts of a connection that
/// never logged in.
fn body_fields(kind: Kind, g: &mut SchemaGenerator) -> Vec<(&'static str, Value, bool)> {
    let f = |name, schema: schemars::Schema| (name, schema.to_value(), true);
    let optional = |name, schema: schemars::Schema| (name, schema.to_value(), false);
    match kind {
        Kind::SessionAuth => vec![
            f("process", g.subschema_for::<Pid>()),
            f("auth", g.subschema_for::<Auth>()),
        ],
        Kind::SessionLogin => vec![optional("auth", g.subschema_for::<Accepted>())],
        Kind::SessionEnd => vec![optional("auth", g.subschema_for::<Attempts>())],
        Kind::ProcessExec => vec![f("process", g.subschema_for::<ProcessExec>())],
        Kind::ProcessExit => vec![f("process", g.subschema_for::<ProcessExit>())],
        Kind::UserChange => vec![
            f("process", g.subschema_for::<Pid>()),
            f("change", g.subschema_for::<UserChange>()),
        ],
        Kind::FileTransfer => vec![
            f("process", g.subschema_for::<Pid>()),
            f("transfer", g.subschema_for::<Transfer>()),
        ],
        Kind::AgentStart => vec![f("agent", g.subschema_for::<AgentInfo>())],
        Kind::AgentLoss => vec![
            f("loss", g.subschema_for::<LossReport>()),
            f("total", g.subschema_for::<LossCounts>()),
        ],
        Kind::AgentStop => vec![
            f("agent", g.subschema_for::<AgentInfo>()),
            f("totals", g.subschema_for::<AgentTotals>()),
        ],
        Kind::SessionForward => vec![f("forward", g.subschema_for::<Forward>())],
        Kind::AgentHeartbeat => vec![f("heartbeat", g.subschema_for::<Heartbeat>())],
        Kind::SessionConnect | Kind::SessionBytes => vec![],
        Kind::Alert(k) => vec![("alert", alert_schema(k, g), true)],
        Kind::SessionTty => vec![f("tty", g.subschema_for::<Terminal>())],
    }
}

/// `alert` of one alert kind: the Alert type with its evidence cut to the
/// fields that kind carries.
fn alert_schema(k: AlertKind, g: &mut SchemaGenerator) -> Value {
    let evidence = Evidence::json_schema(g).to_value();
    let (always, known) = k.spec().evidence;
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

/// Which form of the session object an event type carries: the body's
/// counters sit inside it (json.rs).
fn session_def(kind: Kind) -> Option<&'static str> {
    if !kind.spec().session {
        return None;
    }
    Some(match kind {
        Kind::SessionBytes => "SessionWithTraffic",
        Kind::SessionEnd => "SessionWithEnd",
        Kind::SessionConnect
        | Kind::SessionAuth
        | Kind::SessionLogin
        | Kind::ProcessExec
        | Kind::ProcessExit
        | Kind::UserChange
        | Kind::FileTransfer
        | Kind::SessionForward
        | Kind::AgentStart
        | Kind::AgentLoss
        | Kind::AgentStop
        | Kind::AgentHeartbeat
        | Kind::Alert(_)
        | Kind::SessionTty => "Session",
    })
}

/// SessionInfo's schema with the properties of `parts` added, required.
fn session_with(base: &Value, parts: &[&Value]) -> Value {
    let mut v = base.clone();
    for part in parts {
        for (name, prop) in part["properties"].as_object().into_iter().flatten() {
            v["properties"][name] = prop.clone();
            if let Some(req) = v["required"].as_array_mut() {
                req.push(json!(name));
            }
        }
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
        for (name, schema, needed) in body_fields(kind, &mut g) {
            props.insert(name.into(), schema);
            if needed {
                required.push(name);
            }
        }
        branches.push(json!({
            "title": kind.name(),
            "type": "object",
            "properties": props,
            "required": required,
        }));
    }
    let traffic = Traffic::json_schema(&mut g).to_value();
    let end = SessionEnd::json_schema(&mut g).to_value();
    let mut defs: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    defs.insert("Session".into(), session.clone());
    defs.insert(
        "SessionWithTraffic".into(),
        session_with(&session, &[&traffic]),
    );
    defs.insert(
        "SessionWithEnd".into(),
        session_with(&session, &[&traffic, &end]),
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
