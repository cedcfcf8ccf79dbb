//! Builds nested JSON documents from dotted paths, so the ECS and OCSF
//! mappings read like their tables in docs/ecs.md and docs/ocsf.md.
use serde_json::{Map, Value};

use crate::event::{Endpoint, Evidence, Ids, LossCounts, LossReport};

#[derive(Default)]
pub struct Doc(pub Map<String, Value>);

impl Doc {
    /// Sets `a.b.c`, creating the objects on the way.
    pub fn put(&mut self, path: &str, v: impl Into<Value>) {
        let mut obj = &mut self.0;
        let mut parts = path.split('.').peekable();
        while let Some(key) = parts.next() {
            if parts.peek().is_none() {
                obj.insert(key.to_owned(), v.into());
                return;
            }
            let slot = obj
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(next) = slot else {
                unreachable!("made an object just above")
            };
            obj = next;
        }
    }

    /// Sets `path` only when there is a value.
    pub fn put_opt<T: Into<Value>>(&mut self, path: &str, v: Option<T>) {
        if let Some(v) = v {
            self.put(path, v);
        }
    }

    /// An alert's evidence under `prefix` (only the fields it has).
    pub fn put_evidence(&mut self, prefix: &str, e: &Evidence) {
        let mut put = |k: &str, v: Option<Value>| self.put_opt(&format!("{prefix}.{k}"), v);
        put("user", e.user.clone().map(Value::from));
        put(
            "source_ip",
            e.source_ip.map(|ip| Value::from(ip.to_string())),
        );
        put("count", e.count.map(Value::from));
        put("limit", e.limit.map(Value::from));
        put("window_s", e.window_s.map(Value::from));
        put("idle_s", e.idle_s.map(Value::from));
        put("pid", e.pid.map(Value::from));
        put("syscall", e.syscall.clone().map(Value::from));
        put("executable", e.executable.clone().map(Value::from));
        put("path", e.path.clone().map(Value::from));
        put("action", e.action.clone().map(Value::from));
        put("error", e.error.clone().map(Value::from));
        put(
            "target_ip",
            e.target_ip.map(|ip| Value::from(ip.to_string())),
        );
        put("target_port", e.target_port.map(Value::from));
        put("users", e.users.clone().map(Value::from));
        put("source_ips", e.source_ips.clone().map(Value::from));
    }

    /// A serializable struct's top-level fields under `prefix`.
    pub fn put_fields(&mut self, prefix: &str, v: &impl serde::Serialize) {
        if let Ok(Value::Object(fields)) = serde_json::to_value(v) {
            for (k, v) in fields {
                self.put(&format!("{prefix}.{k}"), v);
            }
        }
    }

    pub fn put_endpoint(&mut self, prefix: &str, e: &Endpoint) {
        self.put(&format!("{prefix}.ip"), e.ip.to_string());
        self.put(&format!("{prefix}.port"), e.port);
    }

    pub fn put_ids(&mut self, prefix: &str, ids: &Ids) {
        for (k, v) in [
            ("uid", ids.uid),
            ("euid", ids.euid),
            ("suid", ids.suid),
            ("gid", ids.gid),
            ("egid", ids.egid),
            ("sgid", ids.sgid),
        ] {
            self.put(&format!("{prefix}.{k}"), v);
        }
    }

    pub fn put_loss(&mut self, prefix: &str, l: &LossCounts) {
        for (k, v) in l.named() {
            self.put(&format!("{prefix}.{k}"), v);
        }
        if !l.sinks.is_empty() {
            let sinks: Vec<Value> = l
                .sinks
                .iter()
                .map(|s| serde_json::json!({"sink": s.sink, "dropped": s.dropped}))
                .collect();
            self.put(&format!("{prefix}.sinks"), sinks);
        }
        if l.tty_bytes > 0 {
            self.put(&format!("{prefix}.tty_bytes"), l.tty_bytes);
        }
        if l.auth_unwatched > 0 {
            self.put(&format!("{prefix}.auth_unwatched"), l.auth_unwatched);
        }
        if !l.outputs.is_empty() {
            let outputs = serde_json::to_value(&l.outputs).unwrap_or_default();
            self.put(&format!("{prefix}.outputs"), outputs);
        }
    }

    /// A report's counters and the sessions it names.
    pub fn put_loss_report(&mut self, prefix: &str, l: &LossReport) {
        self.put_loss(prefix, &l.counts);
        if !l.sessions.is_empty() {
            let sessions: Vec<Value> = l
                .sessions
                .iter()
                .map(|s| {
                    let mut v = serde_json::json!({"id": s.id.to_string(), "records": s.records, "untracked": s.untracked});
                    if s.tty_bytes > 0 {
                        v["tty_bytes"] = s.tty_bytes.into();
                    }
                    v
                })
                .collect();
            self.put(&format!("{prefix}.sessions"), sessions);
        }
        if l.more_sessions > 0 {
            self.put(&format!("{prefix}.more_sessions"), l.more_sessions);
        }
    }

    /// Appends the document as one JSON line.
    pub fn write_line(self, out: &mut Vec<u8>) {
        // Serialising a Value to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &Value::Object(self.0));
        out.push(b'\n');
    }
}

/// Last path component: `/usr/bin/id` → `id`.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
