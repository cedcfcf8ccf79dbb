//! The session model with the servers' log records: decisions before the
//! login become session.auth, the accepted one rides on session.login, a
//! connection that never logs in ends with what it tried.
use ssh_trace_common::event::*;

use super::tests::*;
use crate::{decode::KernelEvent, event::*};

fn login(t: u64) -> Vec<KernelEvent> {
    vec![
        fork(600, 602, root(), t),
        cred(
            602,
            CredSyscall::Setresuid,
            [USER; 3],
            0,
            root(),
            all(USER),
            t + 1,
        ),
    ]
}

#[test]
fn the_accepted_decision_rides_on_the_login() {
    let mut seq = preauth();
    seq.push(log(600, AUTH_DEST_FILE, ACCEPTED, 9));
    seq.extend(login(10));
    let (mut t, out) = run(&seq);
    let auth = out
        .iter()
        .find_map(|e| match &e.body {
            Body::SessionAuth(a) => Some(a),
            _ => None,
        })
        .expect("a session.auth");
    assert_eq!(auth.pid, 600);
    assert_eq!(auth.auth.outcome, Outcome::Accepted);
    let Some(Body::SessionLogin(l)) = out
        .iter()
        .map(|e| &e.body)
        .find(|b| matches!(b, Body::SessionLogin(_)))
    else {
        panic!("no login: {:?}", kinds(&out))
    };
    let accepted = l.auth.as_deref().expect("the login's method");
    assert_eq!(accepted.method, Method::Publickey);
    assert_eq!(accepted.key.as_ref().unwrap().key_type, "ED25519");
    // The kernel is told to stop reading this session's server log.
    assert_eq!(t.take_logged_in(), [KEY]);
    assert!(t.take_logged_in().is_empty());
}

#[test]
fn after_the_login_no_decision_is_taken() {
    let mut seq = preauth();
    seq.extend(login(10));
    seq.push(log(600, AUTH_DEST_FILE, ACCEPTED, 12));
    let (t, out) = run(&seq);
    assert!(!kinds(&out).contains(&"session.auth"), "{:?}", kinds(&out));
    assert_eq!(t.auth_unparsed, 1);
}

#[test]
fn a_connection_that_never_logs_in_ends_with_what_it_tried() {
    let mut seq = preauth();
    let failed = "Failed password for invalid user admin from 127.0.0.1 port 39286 ssh2\r\n";
    seq.push(log(
        600,
        AUTH_DEST_FILE,
        "Invalid user admin from 127.0.0.1 port 39286\r\n",
        9,
    ));
    seq.push(log(600, AUTH_DEST_FILE, failed, 10));
    // Another client's line, and text that is no decision, make nothing.
    let other = "Failed password for root from 127.0.0.1 port 1 ssh2\r\n";
    seq.push(log(600, AUTH_DEST_FILE, other, 11));
    seq.push(log(
        600,
        AUTH_DEST_FILE,
        "Connection closed by 127.0.0.1\r\n",
        11,
    ));
    seq.push(bytes(10, 20, true, 12));
    let (t, out) = run(&seq);
    assert_eq!(
        kinds(&out).iter().filter(|k| **k == "session.auth").count(),
        2
    );
    assert_eq!(t.auth_unparsed, 2);
    let Some(Body::SessionEnd(c)) = out.last().map(|e| &e.body) else {
        panic!("{:?}", kinds(&out))
    };
    let a = c.attempts.as_deref().expect("attempts on the end");
    assert_eq!((a.attempts, a.failures), (2, 2));
    // "admin" from the log, "alice" from the monitor's seteuid to read her
    // authorized_keys (preauth's temporary switch).
    let users: Vec<&str> = a.users.iter().map(|u| &**u).collect();
    assert_eq!(users, ["alice", "admin"]);
    assert_eq!(a.key_lookups, 1);
}

#[test]
fn without_any_log_the_key_lookups_still_count() {
    let mut seq = preauth();
    seq.push(bytes(10, 20, true, 12));
    let (_, out) = run(&seq);
    let Some(Body::SessionEnd(c)) = out.last().map(|e| &e.body) else {
        panic!()
    };
    let a = c.attempts.as_deref().unwrap();
    assert_eq!((a.attempts, a.key_lookups), (0, 1));
    assert_eq!(a.users.len(), 1);
}

#[test]
fn a_cut_record_that_makes_no_event_is_counted() {
    let mut seq = preauth();
    let KernelEvent::Auth(mut rec) = log(
        600,
        AUTH_DEST_SYSLOG,
        "<38>Dec  1 16:00:00 sshd[1]: Accepted pass",
        9,
    ) else {
        unreachable!()
    };
    rec.head.flags = AUTH_FLAG_TRUNCATED;
    rec.head.len = 5000;
    seq.push(KernelEvent::Auth(rec));
    let (t, _) = run(&seq);
    assert_eq!((t.auth_unparsed, t.auth_cut), (1, 1));
}

#[test]
fn the_log_hook_is_wanted_from_the_connect_to_the_login_or_the_end() {
    let (mut t, _) = run(&preauth());
    assert!(t.take_connected(), "a connect asks for the hook");
    assert!(!t.take_connected(), "once");
    assert!(t.authenticating_keys().next().is_some());
    let mut out = Vec::new();
    for e in login(10) {
        t.handle(e, &mut out);
    }
    assert!(t.authenticating_keys().next().is_none(), "logged in");
    let mut seq = preauth();
    seq.push(bytes(10, 20, true, 12));
    let (t, _) = run(&seq);
    assert!(
        t.authenticating_keys().next().is_none(),
        "ended without a login"
    );
}
