//! An alert's part of a human line: rule, severity, then its evidence.
use std::fmt::Write as _;

use crate::{event::Alert, text::printable};

pub fn write(a: &Alert, line: &mut String) {
    let _ = write!(
        line,
        " rule={} severity={}",
        printable(&a.rule),
        a.severity.name()
    );
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
