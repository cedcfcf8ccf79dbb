//! The pipeline on recorded kernel events (an OpenSSH 9.2 login, as the
//! session-model tests replay it), no root needed: what each consumer gets.
use std::{cell::RefCell, io::Write, rc::Rc, sync::Arc};

use anyhow::Result;

use super::*;
use crate::{
    event::{Alert, AlertKind, Body, Evidence, Severity},
    format::{FormatKind, Formatter},
    session::tests::{self as rec, all, root, USER},
};

/// Standard output stand-in: what was written, shared with the test.
#[derive(Clone, Default)]
struct Written(Rc<RefCell<Vec<u8>>>);

impl Write for Written {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps what it is handed; fires an alert on every login (as alert rules
/// do, from the operators' place in the pipeline).
#[derive(Clone, Default)]
struct Keep(Rc<RefCell<Vec<Shared>>>, bool);

impl Consumer for Keep {
    fn take(&mut self, ev: &Shared, more: &mut Vec<Event>) -> Result<()> {
        self.0.borrow_mut().push(ev.clone());
        if let (Body::SessionLogin(_), true) = (&ev.body, self.1) {
            let alert = Alert {
                rule: "login".into(),
                severity: Severity::Info,
                evidence: Evidence::default(),
            };
            let body = Body::Alert(AlertKind::RootLogin, Box::new(alert));
            more.push(Event::new(ev.time_ns, ev.session.clone(), body));
        }
        Ok(())
    }
}

/// A login running `id`: connect, privsep, login, exec, exits, close.
fn login() -> Vec<crate::decode::KernelEvent> {
    let mut seq = rec::preauth();
    seq.extend([
        rec::fork(600, 602, root(), 10),
        rec::cred(
            602,
            ssh_trace_common::event::CredSyscall::Setresuid,
            [USER; 3],
            0,
            root(),
            all(USER),
            11,
        ),
        rec::exec(603, 602, all(USER), "/usr/bin/id", &[b"id"], 13),
        rec::exit(603, 0, 15),
        rec::exit(602, 255 << 8, 16),
        rec::exit(600, 255 << 8, 17),
        rec::bytes(3765, 3941, true, 18),
    ]);
    seq
}

fn run(filter: Option<&str>) -> (Vec<Shared>, Vec<Shared>, String, u64) {
    let (ops, other) = (Keep(Default::default(), true), Keep::default());
    let written = Written::default();
    let lines = Lines::to(
        Formatter::new(FormatKind::Json, false),
        "h",
        Box::new(written.clone()),
    );
    let filter = filter.map(|f| Filter::parse(f).unwrap());
    let outputs: Vec<Box<dyn Consumer>> = vec![Box::new(lines), Box::new(other.clone())];
    let mut p = Pipeline::new("h", filter, ops.clone(), outputs);
    let mut table = rec::table();
    let mut events = Vec::new();
    for rec in login() {
        table.handle(rec, &mut events);
        for ev in events.drain(..) {
            p.push(ev).unwrap();
        }
    }
    p.flush().unwrap();
    let selected = p.selected;
    p.finish().unwrap();
    let text = String::from_utf8(written.0.borrow().clone()).unwrap();
    let a = ops.0.borrow().clone();
    let b = other.0.borrow().clone();
    (a, b, text, selected)
}

fn names(evs: &[Shared]) -> Vec<&'static str> {
    evs.iter().map(|e| e.kind().name()).collect()
}

#[test]
fn every_consumer_gets_the_same_shared_events_in_order() {
    let (ops, other, text, selected) = run(None);
    assert_eq!(ops.len(), other.len());
    assert!(
        ops.iter().zip(&other).all(|(a, b)| Arc::ptr_eq(a, b)),
        "one Arc per event, not copies"
    );
    assert_eq!(selected, ops.len() as u64);
    let n = names(&ops);
    let login = n.iter().position(|k| *k == "session.login").unwrap();
    assert_eq!(
        n[login + 1],
        "alert.root_login",
        "an alert follows its trigger"
    );
    assert_eq!(n.first(), Some(&"session.connect"));
    assert_eq!(n.last(), Some(&"session.end"));
    // The JSON lines are the same events, one line each.
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), ops.len());
    for (l, ev) in lines.iter().zip(&ops) {
        assert_eq!(l["event"], ev.kind().name());
        assert_eq!(l["host"], "h");
    }
    let end = lines.last().unwrap();
    assert_eq!(end["session"]["bytes_in"], 3765);
    assert_eq!(end["session"]["logged_in"], true);
    let exec = lines
        .iter()
        .find(|l| l["process"]["executable"] == "/usr/bin/id")
        .unwrap();
    assert_eq!(exec["process"]["args"], serde_json::json!(["id"]));
    assert_eq!(exec["session"]["user"], "alice");
}

#[test]
fn the_filter_selects_once_and_alerts_always_pass() {
    let (ops, other, text, selected) = run(Some("event in (process.exec, session.login)"));
    // sshd's monitor exec before the login, then the user's `id`.
    let want = [
        "process.exec",
        "session.login",
        "alert.root_login",
        "process.exec",
    ];
    assert_eq!(names(&ops), want);
    assert_eq!(
        names(&other),
        names(&ops),
        "outputs see what the operators see"
    );
    assert_eq!(text.lines().count(), 4);
    assert_eq!(selected, 4);
}

#[test]
fn a_closed_output_stops_the_pipeline() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::to(
        Formatter::new(FormatKind::Human, false),
        "h",
        Box::new(Closed),
    );
    let mut p = Pipeline::new("h", None, NoOps, vec![Box::new(lines)]);
    let ev = Event::new(1, None, Body::SessionConnect);
    p.push(ev).unwrap();
    assert!(!p.closed());
    p.flush().unwrap();
    assert!(p.closed(), "`| head` went away");
}
