//! The direct JSON writer against serde_json on the same structs: same
//! escaping byte for byte, same documents for every event type.
use serde_json::{json, Value};

use crate::{
    event::{Body, Kind},
    format::{json::Json, samples},
};

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    let mut all: String = (0u8..0x80).map(char::from).collect();
    all.push_str("é\u{2028}\u{7f}𝄞\\\"");
    for s in [all.as_str(), "", "plain", "\u{1b}[2J", "a\\xffb"] {
        let mut ours = Vec::new();
        super::super::json::string(s, &mut ours);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(s).unwrap()
        );
    }
}

#[test]
fn times_are_rfc3339_with_nanoseconds() {
    for ns in [
        0,
        1,
        999_999_999,
        1_700_000_000_000_000_000,
        samples::TIME_NS,
        u64::MAX / 2,
    ] {
        let ev = crate::event::Event::new(ns, None, Body::SessionConnect);
        let mut out = Vec::new();
        Json.write(&ev, "h", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], crate::host::rfc3339(ns), "{ns}");
    }
}

/// The document serde_json makes of the event's structs.
fn reference(ev: &crate::event::Event) -> Value {
    let mut v =
        json!({"time": crate::host::rfc3339(ev.time_ns), "event": ev.kind().name(), "host": "h"});
    if let Some(s) = &ev.session {
        let mut s = serde_json::to_value(&**s).unwrap();
        if let Some(t) = ev.body.traffic() {
            s["bytes_in"] = json!(t.bytes_in);
            s["bytes_out"] = json!(t.bytes_out);
        }
        if let Body::SessionEnd(c) = &ev.body {
            s["duration_ms"] = json!(c.end.duration_ms);
            s["logged_in"] = json!(c.end.logged_in);
        }
        v["session"] = s;
    }
    let to = |x: &dyn AsValue| x.value();
    match &ev.body {
        Body::SessionConnect | Body::SessionBytes(_) => {}
        Body::SessionAuth(a) => {
            v["process"] = json!({"pid": a.pid});
            v["auth"] = to(&*a.auth);
        }
        Body::SessionLogin(l) => {
            if let Some(a) = &l.auth {
                v["auth"] = to(&**a);
            }
        }
        Body::SessionEnd(c) => {
            if let Some(a) = &c.attempts {
                v["auth"] = to(&**a);
            }
        }
        Body::ProcessExec(p) => v["process"] = to(p),
        Body::ProcessExit(p) => v["process"] = to(p),
        Body::UserChange(c) => {
            v["process"] = to(&c.process);
            v["change"] = to(&c.change);
        }
        Body::FileTransfer(t) => {
            v["process"] = to(&t.process);
            v["transfer"] = to(&t.transfer);
        }
        Body::SessionForward(f) => v["forward"] = to(&**f),
        Body::AgentStart(a) => v["agent"] = to(&**a),
        Body::AgentLoss(l) => {
            v["loss"] = to(&l.loss);
            v["total"] = to(&l.total);
        }
        Body::AgentStop(s) => {
            v["agent"] = to(&s.agent);
            v["totals"] = to(&s.totals);
        }
        Body::AgentHeartbeat(h) => v["heartbeat"] = to(&**h),
        Body::Alert(_, a) => v["alert"] = to(&**a),
        Body::SessionTty(t) => v["tty"] = to(t),
    }
    v
}

trait AsValue {
    fn value(&self) -> Value;
}

impl<T: serde::Serialize> AsValue for T {
    fn value(&self) -> Value {
        serde_json::to_value(self).unwrap()
    }
}

#[test]
fn every_event_type_is_the_document_serde_makes() {
    let mut events = samples::events();
    // Hostile text where the events carry text from the machine.
    let mut exec = samples::event(Kind::ProcessExec);
    if let Body::ProcessExec(p) = &mut exec.body {
        p.executable = "/tmp/\"x\"\\\u{1}\n".into();
        p.args = crate::event::Args::from_parts(["a\"b", "", "\u{1b}[2J", "é"]);
    }
    events.push(exec);
    for ev in &events {
        let mut out = Vec::new();
        Json.write(ev, "h", &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let ours: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(ours, reference(ev), "{}", ev.kind().name());
    }
}
