//! ECS 8.17.0 conformance: every leaf is an ECS field (or a custom field
//! under `ssh_trace.*`) with a value of its type, categorisation values are
//! allowed and expected together, required fields are present.
use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use super::{at, join, type_of};

/// The one namespace ssh-trace's own fields live in.
pub const CUSTOM: &str = "ssh_trace";

#[derive(Debug)]
struct Field {
    /// ECS type: keyword, long, ip, date, object, …
    t: String,
    /// Normalised to an array: the value must be one even with one element.
    array: bool,
    /// For object fields with free keys (`labels`): their leaves' type.
    object_type: Option<String>,
}

#[derive(Debug)]
pub struct Ecs {
    fields: HashMap<String, Field>,
    /// Paths that are parents of fields (`process`, `process.parent`, …).
    parents: HashSet<String>,
    fieldsets: HashSet<String>,
    allowed: HashMap<String, HashSet<String>>,
    expected_types: HashMap<String, HashSet<String>>,
    expected_values: HashMap<String, HashSet<String>>,
    patterns: Vec<(String, regex::Regex)>,
    required: Vec<String>,
}

fn strings(v: &Value) -> HashSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

fn string_sets(v: &Value) -> HashMap<String, HashSet<String>> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), strings(v)))
        .collect()
}

impl Ecs {
    pub fn from_json(v: &Value) -> Result<Self> {
        let raw = v["fields"]
            .as_object()
            .context("ecs_fields.json: no `fields`")?;
        let mut fields = HashMap::new();
        let mut parents = HashSet::new();
        for (path, f) in raw {
            let t = f["t"]
                .as_str()
                .with_context(|| format!("{path}: no type"))?;
            fields.insert(
                path.clone(),
                Field {
                    t: t.to_owned(),
                    array: f["a"] == 1,
                    object_type: f["ot"].as_str().map(str::to_owned),
                },
            );
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('.') {
                parents.insert(parent.to_owned());
                p = parent;
            }
        }
        let mut patterns = Vec::new();
        for (path, re) in v["patterns"].as_object().into_iter().flatten() {
            let re = re.as_str().unwrap_or_default();
            patterns.push((path.clone(), regex::Regex::new(re)?));
        }
        let ecs = Self {
            fields,
            parents,
            fieldsets: strings(&v["fieldsets"]),
            allowed: string_sets(&v["allowed_values"]),
            expected_types: string_sets(&v["expected_event_types"]),
            expected_values: string_sets(&v["expected_values"]),
            patterns,
            required: strings(&v["required"]).into_iter().collect(),
        };
        if ecs.fieldsets.contains(CUSTOM) || ecs.fields.contains_key(CUSTOM) {
            bail!("ECS now defines `{CUSTOM}`: ssh-trace's custom namespace must move");
        }
        Ok(ecs)
    }

    /// Every violation in one ECS document (empty: it conforms).
    pub fn check(&self, doc: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        if !doc.is_object() {
            return vec![format!("document is {}, not an object", type_of(doc))];
        }
        let doc = &expand(doc);
        self.walk("", doc, &mut errs);
        for r in &self.required {
            if at(doc, r).is_none() {
                errs.push(format!("{r}: required by ECS, missing"));
            }
        }
        self.categorisation(doc, &mut errs);
        self.values(doc, &mut errs);
        errs
    }

    fn walk(&self, path: &str, v: &Value, errs: &mut Vec<String>) {
        if let Some(f) = self.fields.get(path) {
            return self.field(path, f, v, errs);
        }
        if path == CUSTOM || path.starts_with("ssh_trace.") {
            return custom(path, v, errs);
        }
        match v {
            Value::Object(m) if path.is_empty() || self.parents.contains(path) => {
                for (k, child) in m {
                    self.walk(&join(path, k), child, errs);
                }
            }
            _ => errs.push(self.unknown(path)),
        }
    }

    fn unknown(&self, path: &str) -> String {
        let top = path.split('.').next().unwrap_or_default();
        if self.fieldsets.contains(top) || self.parents.contains(top) {
            format!(
                "{path}: not an ECS field (the `{top}` field set has no such field; \
                 ssh-trace's own fields belong under {CUSTOM}.*)"
            )
        } else {
            format!("{path}: not an ECS field; custom fields belong under {CUSTOM}.*")
        }
    }

    fn field(&self, path: &str, f: &Field, v: &Value, errs: &mut Vec<String>) {
        match (v, f.array) {
            (Value::Array(items), true) => {
                for item in items {
                    self.one(path, f, item, errs);
                }
            }
            (_, true) => errs.push(format!(
                "{path}: ECS normalises this field to an array, got {}",
                type_of(v)
            )),
            (Value::Array(_), false) => errs.push(format!(
                "{path}: ECS field of one {} value, got an array",
                f.t
            )),
            _ => self.one(path, f, v, errs),
        }
    }

    /// One value (or array element) of a field.
    fn one(&self, path: &str, f: &Field, v: &Value, errs: &mut Vec<String>) {
        match f.t.as_str() {
            "flattened" => {
                if !v.is_object() {
                    errs.push(format!("{path}: flattened field needs an object"));
                }
            }
            "object" | "nested" => match (v, &f.object_type) {
                (Value::Object(m), Some(ot)) => leaves_of_type(path, ot, m, errs),
                (Value::Object(m), None) => {
                    for (k, child) in m {
                        self.walk(&join(path, k), child, errs);
                    }
                }
                _ => errs.push(format!(
                    "{path}: {} field needs an object, got {}",
                    f.t,
                    type_of(v)
                )),
            },
            t => {
                if let Err(e) = scalar(t, v) {
                    errs.push(format!("{path}: {e}"));
                }
            }
        }
    }

    /// event.kind/category/type/outcome values, and every category with
    /// every type ECS expects alongside it.
    fn categorisation(&self, doc: &Value, errs: &mut Vec<String>) {
        for (path, allowed) in &self.allowed {
            for v in values_at(doc, path) {
                if !allowed.contains(v) {
                    errs.push(format!("{path}: {v:?} is not an allowed ECS value"));
                }
            }
        }
        let types = values_at(doc, "event.type");
        for category in values_at(doc, "event.category") {
            let Some(expected) = self.expected_types.get(category) else {
                continue;
            };
            for t in &types {
                if !expected.contains(*t) {
                    errs.push(format!(
                        "event.type {t:?} is not expected with event.category {category:?} \
                         (ECS expects {:?})",
                        sorted(expected)
                    ));
                }
            }
        }
    }

    /// Expected values and patterns of the fields ECS gives them for.
    fn values(&self, doc: &Value, errs: &mut Vec<String>) {
        for (path, expected) in &self.expected_values {
            for v in values_at(doc, path) {
                if !expected.contains(v) {
                    errs.push(format!(
                        "{path}: {v:?} is not one of ECS's {:?}",
                        sorted(expected)
                    ));
                }
            }
        }
        for (path, re) in &self.patterns {
            for v in values_at(doc, path) {
                if !re.is_match(v) {
                    errs.push(format!("{path}: {v:?} does not match {}", re.as_str()));
                }
            }
        }
    }
}

fn sorted(s: &HashSet<String>) -> Vec<&str> {
    let mut v: Vec<&str> = s.iter().map(String::as_str).collect();
    v.sort_unstable();
    v
}

/// The string values of a keyword field (one string or an array of them).
fn values_at<'a>(doc: &'a Value, path: &str) -> Vec<&'a str> {
    match at(doc, path) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Elasticsearch reads `{"a.b": 1}` as `{"a": {"b": 1}}`: the nested form.
fn expand(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return match v {
            Value::Array(a) => Value::Array(a.iter().map(expand).collect()),
            v => v.clone(),
        };
    };
    let mut out = Value::Object(Map::new());
    for (k, child) in m {
        let mut slot = &mut out;
        for part in k.split('.') {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot = slot
                .as_object_mut()
                .expect("made an object just above")
                .entry(part.to_owned())
                .or_insert(Value::Null);
        }
        merge(slot, expand(child));
    }
    out
}

/// `{"a": {"b": 1}}` and `{"a.c": 2}` are one object `a` with b and c.
fn merge(slot: &mut Value, v: Value) {
    match (slot, v) {
        (Value::Object(have), Value::Object(more)) => {
            for (k, v) in more {
                merge(have.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Leaves of an object field with free keys (e.g. `labels`).
fn leaves_of_type(path: &str, t: &str, m: &Map<String, Value>, errs: &mut Vec<String>) {
    for (k, v) in m {
        if let Err(e) = scalar(t, v) {
            errs.push(format!("{}: {e}", join(path, k)));
        }
    }
}

/// Custom fields: any names under `ssh_trace.*`, but real values (no null).
fn custom(path: &str, v: &Value, errs: &mut Vec<String>) {
    match v {
        Value::Null => errs.push(format!("{path}: null value")),
        Value::Object(m) => {
            for (k, child) in m {
                custom(&join(path, k), child, errs);
            }
        }
        Value::Array(a) => {
            for item in a {
                custom(path, item, errs);
            }
        }
        _ => {}
    }
}

/// A value of an ECS scalar type, as Elasticsearch would index it.
fn scalar(t: &str, v: &Value) -> Result<(), String> {
    let wrong = || Err(format!("ECS type {t} needs {}, got {v}", expected_json(t)));
    let ok = match t {
        "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => v.is_string(),
        "long" => v.is_i64(),
        "integer" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "short" => v.as_i64().is_some_and(|n| i16::try_from(n).is_ok()),
        "byte" => v.as_i64().is_some_and(|n| i8::try_from(n).is_ok()),
        "unsigned_long" => v.is_u64(),
        "float" | "half_float" | "scaled_float" | "double" => v.is_number(),
        "boolean" => v.is_boolean(),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "date" => v.as_str().is_some_and(iso8601),
        "geo_point" => geo_point(v),
        _ => return Err(format!("ECS type {t} is not one this validator knows")),
    };
    if ok {
        Ok(())
    } else {
        wrong()
    }
}

fn expected_json(t: &str) -> &'static str {
    match t {
        "long" | "integer" | "short" | "byte" => "an integer in its range",
        "unsigned_long" => "a non-negative integer",
        "float" | "half_float" | "scaled_float" | "double" => "a number",
        "boolean" => "true or false",
        "ip" => "an IPv4 or IPv6 address string",
        "date" => "an ISO 8601 date-time string with a zone",
        "geo_point" => "{lat, lon}",
        _ => "a string",
    }
}

/// ISO 8601 date and time with its UTC offset (`Z` or `±hh:mm`).
fn iso8601(s: &str) -> bool {
    use time::format_description::well_known::Iso8601;
    time::OffsetDateTime::parse(s, &Iso8601::DEFAULT).is_ok()
}

fn geo_point(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.get("lat").is_some_and(Value::is_number) && m.get("lon").is_some_and(Value::is_number)
        }
        Value::String(_) => true,
        Value::Array(a) => a.len() == 2 && a.iter().all(Value::is_number),
        _ => false,
    }
}
