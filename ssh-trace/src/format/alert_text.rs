//! An alert's part of a human line: rule, severity, then its evidence.
use std::fmt::Write as _;

use crate::{alert::Alert, text::printable};

pub fn write(a: &Alert, line: &mut String) {
    let sev = serde_json::to_value(a.severity).ok();
    let sev = sev.as_ref().and_then(|v| v.as_str()).unwrap_or("?");
    let _ = write!(line, " rule={} severity={sev}", printable(&a.rule));
    // The evidence's fields in their JSON order, values as they print.
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&a.evidence) {
        for (k, v) in m {
            match v {
                serde_json::Value::String(s) => {
                    let _ = write!(line, " {k}={}", printable(&s));
                }
                v => {
                    let _ = write!(line, " {k}={v}");
                }
            }
        }
    }
}
