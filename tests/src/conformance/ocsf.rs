//! OCSF 1.3.0 conformance, checked the way the OCSF server's validator
//! does: the class from class_uid, every attribute defined by that class
//! (profile attributes only with their profile declared), objects checked
//! recursively against their definitions, required attributes, constraints,
//! enum values and their captions, type_uid, and the dictionary's types
//! (base type, range, regex, length).
use std::collections::HashSet;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::{at, join, type_of};

#[derive(Debug)]
pub struct Ocsf {
    classes: Map<String, Value>,
    objects: Map<String, Value>,
    types: Map<String, Value>,
    profiles: HashSet<String>,
    /// Compiled `regex` of each type that has one.
    regexes: Vec<(String, regex::Regex)>,
}

/// What an event declared and where a value sits, while walking it.
struct Walk<'a> {
    profiles: HashSet<&'a str>,
    errs: Vec<String>,
}

fn object_of<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .with_context(|| format!("ocsf_schema.json: no `{what}` object"))
}

impl Ocsf {
    pub fn from_json(v: &Value) -> Result<Self> {
        let types = object_of(&v["types"], "types")?.clone();
        let mut regexes = Vec::new();
        for (name, t) in &types {
            if let Some(re) = t["regex"].as_str() {
                let re = regex::Regex::new(re).with_context(|| format!("type {name}'s regex"))?;
                regexes.push((name.clone(), re));
            }
        }
        Ok(Self {
            classes: object_of(&v["classes"], "classes")?.clone(),
            objects: object_of(&v["objects"], "objects")?.clone(),
            types,
            profiles: v["profiles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect(),
            regexes,
        })
    }

    /// Every violation in one OCSF event (empty: it conforms).
    pub fn check(&self, ev: &Value) -> Vec<String> {
        let Some(m) = ev.as_object() else {
            return vec![format!("event is {}, not an object", type_of(ev))];
        };
        let Some(uid) = ev["class_uid"].as_u64() else {
            return vec![format!(
                "class_uid: required integer, got {}",
                ev["class_uid"]
            )];
        };
        let Some(class) = self.classes.get(&uid.to_string()) else {
            return vec![format!("class_uid: no OCSF 1.3.0 class {uid}")];
        };
        let mut w = Walk {
            profiles: HashSet::new(),
            errs: Vec::new(),
        };
        self.declared_profiles(ev, class, &mut w);
        self.attributes("", m, class, &mut w);
        let (activity, type_uid) = (ev["activity_id"].as_u64(), ev["type_uid"].as_u64());
        if let (Some(a), Some(t)) = (activity, type_uid) {
            if t != uid * 100 + a {
                w.errs.push(format!(
                    "type_uid: {t}, but class_uid {uid} * 100 + activity_id {a} = {}",
                    uid * 100 + a
                ));
            }
        }
        w.errs
    }

    /// metadata.profiles: each defined by OCSF and offered by the class.
    fn declared_profiles<'a>(&self, ev: &'a Value, class: &Value, w: &mut Walk<'a>) {
        let offered: Vec<&str> = class["profiles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let declared = ev["metadata"]["profiles"].as_array().into_iter().flatten();
        for p in declared.filter_map(Value::as_str) {
            if !self.profiles.contains(p) {
                w.errs
                    .push(format!("metadata.profiles: no OCSF profile {p:?}"));
            } else if !offered.contains(&p) {
                w.errs.push(format!(
                    "metadata.profiles: class {} does not take profile {p:?}",
                    class["name"]
                ));
            }
            w.profiles.insert(p);
        }
    }

    /// An event's or object's attributes against a class or object
    /// definition (`def` has `attrs` and maybe `c` constraints).
    fn attributes(&self, path: &str, m: &Map<String, Value>, def: &Value, w: &mut Walk) {
        let empty = Map::new();
        let attrs = def["attrs"].as_object().unwrap_or(&empty);
        // An object defined with no attributes (`object`, used by
        // `unmapped`) takes any content.
        if attrs.is_empty() {
            return;
        }
        for (k, v) in m {
            let p = join(path, k);
            match attrs.get(k) {
                None => w
                    .errs
                    .push(format!("{p}: not an attribute of {}", def_name(def, path))),
                Some(a) => match a["p"].as_str() {
                    Some(prof) if !w.profiles.contains(prof) => w.errs.push(format!(
                        "{p}: added by profile {prof:?}, which metadata.profiles does not declare"
                    )),
                    _ => self.attribute(&p, a, v, w),
                },
            }
        }
        for (k, a) in attrs {
            let in_force = a["p"].as_str().is_none_or(|p| w.profiles.contains(p));
            if a["r"] == "req" && in_force && !m.contains_key(k) {
                w.errs
                    .push(format!("{}: required attribute missing", join(path, k)));
            }
            if let (Some(v), true) = (m.get(k), a.get("e").is_some()) {
                enumerated(path, k, a, v, m, w);
            }
        }
        constraints(path, m, def, w);
    }

    fn attribute(&self, path: &str, a: &Value, v: &Value, w: &mut Walk) {
        if a.get("d").is_some() {
            w.errs.push(format!("{path}: deprecated ({})", a["d"]));
        }
        match (v, a["a"] == 1) {
            (Value::Array(items), true) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(&format!("{path}[{i}]"), a, item, w);
                }
            }
            (_, true) => w
                .errs
                .push(format!("{path}: needs an array, got {}", type_of(v))),
            _ => self.value(path, a, v, w),
        }
    }

    fn value(&self, path: &str, a: &Value, v: &Value, w: &mut Walk) {
        if let Some(o) = a["o"].as_str() {
            let Some(def) = self.objects.get(o) else {
                return w.errs.push(format!("{path}: object {o} is not defined"));
            };
            match v {
                Value::Object(m) => self.attributes(path, m, def, w),
                _ => w
                    .errs
                    .push(format!("{path}: needs a {o} object, got {}", type_of(v))),
            }
            return;
        }
        let t = a["t"].as_str().unwrap_or("string_t");
        if let Err(e) = self.typed(t, v) {
            w.errs.push(format!("{path}: {e}"));
        }
    }

    /// A value of a dictionary type: its own limits, then its base type's.
    fn typed(&self, t: &str, v: &Value) -> Result<(), String> {
        let Some(def) = self.types.get(t) else {
            return Err(format!("type {t} is not in the OCSF dictionary"));
        };
        if let Some(base) = def["type"].as_str() {
            self.typed(base, v).map_err(|e| format!("{t}: {e}"))?;
        } else {
            primitive(t, v)?;
        }
        if let (Some(max), Some(s)) = (def["max_len"].as_u64(), v.as_str()) {
            if s.chars().count() as u64 > max {
                return Err(format!("{t}: longer than {max} characters"));
            }
        }
        if let Some((_, re)) = self.regexes.iter().find(|(n, _)| n == t) {
            if !v.as_str().is_some_and(|s| re.is_match(s)) {
                return Err(format!("{t}: {v} does not match the type's pattern"));
            }
        }
        if let (Some([lo, hi]), Some(n)) = (def["range"].as_array().map(Vec::as_slice), v.as_i64())
        {
            if lo.as_i64().is_some_and(|lo| n < lo) || hi.as_i64().is_some_and(|hi| n > hi) {
                return Err(format!("{t}: {n} outside {lo}..={hi}"));
            }
        }
        if let Some(values) = def["values"].as_array() {
            if !values.contains(v) {
                return Err(format!("{t}: {v} is not one of {values:?}"));
            }
        }
        Ok(())
    }
}

/// An enum attribute: a defined value, and its caption sibling (when
/// present) equal to the value's caption — except for 99 (Other), whose
/// sibling carries the source's own name.
fn enumerated(path: &str, k: &str, a: &Value, v: &Value, m: &Map<String, Value>, w: &mut Walk) {
    let e = &a["e"];
    let values: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    for v in values {
        let key = match v {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let Some(caption) = e.get(&key) else {
            let mut defined: Vec<&String> = e
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
                .collect();
            defined.sort();
            w.errs.push(format!(
                "{}: {key} is not a value of the enum ({defined:?})",
                join(path, k)
            ));
            continue;
        };
        let (Some(s), false) = (a["s"].as_str(), v.is_array()) else {
            continue;
        };
        if let Some(sibling) = m.get(s) {
            if key != "99" && sibling != caption {
                w.errs.push(format!(
                    "{}: {sibling} does not match {}={key}, whose caption is {caption}",
                    join(path, s),
                    join(path, k)
                ));
            }
        }
    }
}

fn def_name(def: &Value, path: &str) -> String {
    match def["caption"].as_str() {
        Some(c) => format!("class {c}"),
        None => format!(
            "the object at {}",
            if path.is_empty() { "top" } else { path }
        ),
    }
}

/// `at_least_one` / `just_one` constraints of a class or object.
fn constraints(path: &str, m: &Map<String, Value>, def: &Value, w: &mut Walk) {
    // A key may be a path (`device.os.version`).
    let has = |k: &str| match k.split_once('.') {
        Some((first, rest)) => m.get(first).and_then(|v| at(v, rest)).is_some(),
        None => m.contains_key(k),
    };
    for (kind, keys) in def["c"].as_object().into_iter().flatten() {
        let keys: Vec<&str> = keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let present = keys.iter().filter(|k| has(k)).count();
        let ok = match kind.as_str() {
            "at_least_one" => present >= 1,
            "just_one" => present == 1,
            _ => false,
        };
        if !ok {
            let here = if path.is_empty() { "event" } else { path };
            w.errs.push(format!(
                "{here}: constraint {kind} of {keys:?} not met ({present} present)"
            ));
        }
    }
}

/// The JSON shape of OCSF's primitive types.
fn primitive(t: &str, v: &Value) -> Result<(), String> {
    let ok = match t {
        "boolean_t" => v.is_boolean(),
        "integer_t" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "long_t" => v.is_i64(),
        "float_t" => v.is_number(),
        "string_t" => v.is_string(),
        "json_t" => true,
        _ => return Err(format!("type {t} has no base type this validator knows")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{t} needs {}, got {v}",
            match t {
                "boolean_t" => "true or false",
                "integer_t" => "a 32-bit integer",
                "long_t" => "a 64-bit integer",
                "float_t" => "a number",
                _ => "a string",
            }
        ))
    }
}
