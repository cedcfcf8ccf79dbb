//! Checks JSON events against docs/schema.md, so the document and the code
//! cannot drift apart: every field an event has must be documented for that
//! event with a matching type, and every field documented `always` must be
//! there.
use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use serde_json::Value;

#[derive(Clone, Debug)]
struct Field {
    types: Vec<String>,
    always: bool,
}

#[derive(Debug, Default)]
pub struct Schema {
    common: HashMap<String, Field>,
    session: HashMap<String, Field>,
    events: HashMap<String, (bool, HashMap<String, Field>)>,
}

enum Section {
    None,
    Common,
    Session,
    Event(String),
}

pub fn doc_path() -> std::path::PathBuf {
    crate::workspace_root().join("docs/schema.md")
}

impl Schema {
    pub fn load() -> Result<Self> {
        let p = doc_path();
        Self::parse(
            &std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
        )
    }

    pub fn parse(md: &str) -> Result<Self> {
        let mut s = Schema::default();
        let mut section = Section::None;
        for line in md.lines() {
            if let Some(h) = line.strip_prefix("## ") {
                section = match h.trim() {
                    "Fields of every event" => Section::Common,
                    "The session object" => Section::Session,
                    _ => Section::None,
                };
                continue;
            }
            if let Some(h) = line.strip_prefix("### ") {
                let name = h.trim().trim_matches('`').to_owned();
                s.events.insert(name.clone(), (false, HashMap::new()));
                section = Section::Event(name);
                continue;
            }
            if let Section::Event(name) = &section {
                if line.trim() == "Session object: yes." {
                    if let Some(e) = s.events.get_mut(name) {
                        e.0 = true;
                    }
                }
            }
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 5 || !cells[1].starts_with('`') {
                continue;
            }
            let path = cells[1].trim_matches('`').to_owned();
            let field = Field {
                types: cells[2]
                    .split(" or ")
                    .map(|t| t.trim().to_owned())
                    .collect(),
                always: cells[3] == "always",
            };
            match &section {
                Section::Common => s.common.insert(path, field),
                Section::Session => s.session.insert(path, field),
                Section::Event(name) => {
                    s.events.get_mut(name).and_then(|e| e.1.insert(path, field))
                }
                Section::None => None,
            };
        }
        if s.common.is_empty() || s.session.is_empty() || s.events.is_empty() {
            bail!("docs/schema.md lacks the expected sections");
        }
        Ok(s)
    }

    /// Every field documented for `event` (common and session fields
    /// included) with whether it is documented `always`.
    pub fn documented(&self, event: &str) -> Option<std::collections::BTreeMap<String, bool>> {
        let (has_session, own) = self.events.get(event)?;
        let mut out: std::collections::BTreeMap<String, bool> = self
            .common
            .iter()
            .map(|(k, f)| (k.clone(), f.always))
            .collect();
        if *has_session {
            out.extend(self.session.iter().map(|(k, f)| (k.clone(), f.always)));
        }
        out.extend(own.iter().map(|(k, f)| (k.clone(), f.always)));
        Some(out)
    }

    pub fn event_names(&self) -> Vec<String> {
        self.events.keys().cloned().collect()
    }

    pub fn check(&self, ev: &Value) -> Result<()> {
        let name = ev["event"].as_str().context("no \"event\" string")?;
        let (has_session, own) = self
            .events
            .get(name)
            .with_context(|| format!("event {name} not documented"))?;
        let mut allowed: HashMap<&str, &Field> =
            self.common.iter().map(|(k, v)| (k.as_str(), v)).collect();
        if *has_session {
            allowed.extend(self.session.iter().map(|(k, v)| (k.as_str(), v)));
        }
        allowed.extend(own.iter().map(|(k, v)| (k.as_str(), v)));
        let mut seen = Vec::new();
        let mut nulls = Vec::new();
        walk(ev, "", &mut |path, v| {
            if v.is_null() {
                nulls.push(format!("{path}."));
            }
            let f = allowed
                .get(path)
                .with_context(|| format!("{name}: field {path} not documented"))?;
            let ty = type_of(v);
            // An empty array fits any documented array type.
            let fits = f
                .types
                .iter()
                .any(|t| *t == ty || (ty == "array<>" && t.starts_with("array<")));
            if !fits {
                bail!(
                    "{name}: field {path} is {ty}, documented as {}",
                    f.types.join(" or ")
                );
            }
            seen.push(path.to_owned());
            Ok(())
        })?;
        for (path, f) in &allowed {
            if f.always && !seen.iter().any(|s| s == path) {
                // A field inside a null object, or inside an optional object
                // that is absent, is absent by design.
                let parent_null = nulls.iter().any(|n| path.starts_with(n.as_str()));
                let parent_absent = path
                    .rsplit_once('.')
                    .is_some_and(|(p, _)| allowed.contains_key(p) && !seen.iter().any(|s| s == p));
                if !parent_null && !parent_absent {
                    bail!("{name}: documented field {path} is missing");
                }
            }
        }
        Ok(())
    }
}

fn type_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Object(_) => "object".into(),
        Value::Array(a) => {
            let inner = a.first().map(type_of).unwrap_or_default();
            format!("array<{inner}>")
        }
    }
}

/// Calls `f` on every leaf (scalars, arrays, nulls); objects are entered.
fn walk(v: &Value, prefix: &str, f: &mut dyn FnMut(&str, &Value) -> Result<()>) -> Result<()> {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_object() {
                    walk(v, &path, f)?;
                    f(&path, v)?;
                } else {
                    f(&path, v)?;
                }
            }
            Ok(())
        }
        _ => f(prefix, v),
    }
}
