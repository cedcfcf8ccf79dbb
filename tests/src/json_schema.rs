//! docs/schema.json (the JSON Schema generated from the event types):
//! loading, validating lines, and listing each event type's field paths so
//! they can be compared with docs/schema.md.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

pub fn path() -> std::path::PathBuf {
    crate::workspace_root().join("docs/schema.json")
}

pub fn load() -> Result<Value> {
    let p = path();
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

pub fn validator() -> Result<jsonschema::Validator> {
    jsonschema::validator_for(&load()?).map_err(|e| anyhow::anyhow!("docs/schema.json: {e}"))
}

/// Errors of one line against the schema, empty when it is valid.
pub fn errors(v: &jsonschema::Validator, line: &Value) -> Vec<String> {
    v.iter_errors(line).map(|e| e.to_string()).collect()
}

/// For each event type: every field path (objects included) and whether it
/// is required in its parent object.
pub fn event_fields(schema: &Value) -> BTreeMap<String, BTreeMap<String, bool>> {
    let defs = &schema["$defs"];
    let mut out = BTreeMap::new();
    for branch in schema["oneOf"].as_array().into_iter().flatten() {
        let Some(name) = branch["properties"]["event"]["const"].as_str() else {
            continue;
        };
        let mut fields = BTreeMap::new();
        walk(defs, branch, "", true, &mut fields);
        out.insert(name.to_owned(), fields);
    }
    out
}

/// Follows `$ref` and the non-null branch of a nullable `anyOf`.
fn resolve<'a>(defs: &'a Value, mut s: &'a Value) -> &'a Value {
    loop {
        if let Some(r) = s["$ref"].as_str() {
            s = &defs[r.trim_start_matches("#/$defs/")];
        } else if let Some(any) = s["anyOf"].as_array() {
            match any.iter().find(|b| b["type"] != "null") {
                Some(b) => s = b,
                None => return s,
            }
        } else {
            return s;
        }
    }
}

fn walk(defs: &Value, s: &Value, prefix: &str, required: bool, out: &mut BTreeMap<String, bool>) {
    let s = resolve(defs, s);
    if !prefix.is_empty() {
        out.insert(prefix.to_owned(), required);
    }
    let req: Vec<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (k, sub) in s["properties"].as_object().into_iter().flatten() {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        walk(defs, sub, &path, req.contains(&k.as_str()), out);
    }
}
