//! Checks ssh-trace's ECS and OCSF lines against the official definitions
//! (ECS 8.17.0's ecs_flat.yml, OCSF 1.3.0 compiled with its includes and
//! profiles), which live outside the project in `../shared/conformance/`
//! (README.md there describes the two files). Each check returns every
//! violation it finds, each naming the field path and what is wrong.
mod ecs;
mod ocsf;
#[cfg(test)]
mod tests;

use std::{
    path::PathBuf,
    sync::{Mutex, OnceLock},
};

use anyhow::{Context, Result};
use serde_json::Value;

pub use ecs::Ecs;
pub use ocsf::Ocsf;

/// Overrides where the definitions are read from.
pub const DIR_ENV: &str = "SSH_TRACE_CONFORMANCE_DIR";

/// `$SSH_TRACE_CONFORMANCE_DIR`, else `../shared/conformance` beside the
/// workspace root (where CI and the worktrees have it).
pub fn definitions_dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("../shared/conformance"))
}

fn read(file: &str) -> Result<Value> {
    read_from(&definitions_dir(), file)
}

fn read_from(dir: &std::path::Path, file: &str) -> Result<Value> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "the official schema definitions are missing: cannot read {} \
             (expected in ../shared/conformance/ beside the workspace, or set {DIR_ENV})",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Loads a definition once per test process; panics with the reason when
/// it cannot (a conformance test without the definitions must fail).
fn load_once<T>(cell: &'static OnceLock<T>, make: impl FnOnce() -> Result<T>) -> &'static T {
    // One loader at a time, so a failure is reported once, not raced.
    static LOADING: Mutex<()> = Mutex::new(());
    if let Some(v) = cell.get() {
        return v;
    }
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if cell.get().is_none() {
        match make() {
            Ok(v) => {
                let _ = cell.set(v);
            }
            Err(e) => panic!("{e:#}"),
        }
    }
    cell.get().expect("set just above")
}

/// The official ECS 8.17.0 definitions.
pub fn ecs() -> &'static Ecs {
    static CELL: OnceLock<Ecs> = OnceLock::new();
    load_once(&CELL, || Ecs::from_json(&read("ecs_fields.json")?))
}

/// The official OCSF 1.3.0 definitions.
pub fn ocsf() -> &'static Ocsf {
    static CELL: OnceLock<Ocsf> = OnceLock::new();
    load_once(&CELL, || Ocsf::from_json(&read("ocsf_schema.json")?))
}

/// `a.b` for a child `b` of `a` (the root has the empty path).
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The value at a dotted path of nested objects.
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, k| v.get(k))
}

/// JSON's name for the type of a value, for messages.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
