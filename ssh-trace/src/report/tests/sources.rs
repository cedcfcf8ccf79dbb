//! `sources`: per client IP.
use serde_json::json;

use super::*;

#[test]
fn text_counts_connections_failures_users_and_bytes() {
    // 10.0.0.5: A (alice, 4000/10000) and B (failed, 2000/2500).
    // 192.168.1.9: C (bob, still open at 300/700) and D (alice, 5000/6000).
    let r = report(ReportKind::Sources, &stream());
    let expected = [
        "SOURCE       CONNECTIONS  FAILED  USERS  BYTES IN  BYTES OUT  USER NAMES",
        "10.0.0.5               2       1      1      6000      12500  alice",
        "192.168.1.9            2       0      2      5300       6700  alice,bob",
    ];
    assert_eq!(text(&r), expected.join("\n") + "\n");
}

#[test]
fn json_lists_each_source() {
    let v = json(&report(ReportKind::Sources, &stream()));
    assert_eq!(
        v,
        json!({
            "report": "sources",
            "lost_records": 0,
            "sources": [
                {"ip": "10.0.0.5", "connections": 2, "failed": 1, "distinct_users": 1,
                 "users": ["alice"], "bytes_in": 6000, "bytes_out": 12500},
                {"ip": "192.168.1.9", "connections": 2, "failed": 0, "distinct_users": 2,
                 "users": ["alice", "bob"], "bytes_in": 5300, "bytes_out": 6700},
            ]
        })
    );
}

#[test]
fn most_connections_first_and_unknown_source_last() {
    let one = Sess::new(A, "10.9.9.9", 1);
    let two = Sess::new(B, "10.9.9.9", 2);
    let mut lost = Sess::new(C, "0.0.0.0", 3).connect(0);
    std::sync::Arc::make_mut(lost.session.as_mut().unwrap()).source = None;
    let other = Sess::new(D, "10.0.0.1", 4);
    let v = json(&report(
        ReportKind::Sources,
        &[lost, other.connect(1), one.connect(2), two.connect(3)],
    ));
    let ips: Vec<&serde_json::Value> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["ip"])
        .collect();
    assert_eq!(ips, [&json!("10.9.9.9"), &json!("10.0.0.1"), &json!(null)]);
    // Open, not logged in: neither failed nor reaching a user.
    assert_eq!(v["sources"][0]["failed"], 0);
    assert_eq!(v["sources"][0]["distinct_users"], 0);
    assert!(text(&report(
        ReportKind::Sources,
        &[Sess::new(A, "::1", 5).connect(0)]
    ))
    .contains("\n::1 "));
}

/// Who knocked: the servers' decisions per source.
fn knocking() -> Vec<Event> {
    let guess = Sess::new(A, "203.0.113.7", 1);
    let spray = Sess::new(B, "203.0.113.7", 2);
    let mut ok = Sess::new(C, "10.0.0.5", 3);
    vec![
        guess.connect(0),
        guess.auth(10, Some("root"), Outcome::Failed, false),
        guess.auth(20, Some("root"), Outcome::Failed, false),
        guess.end(30, (10, 10), 30, false),
        spray.connect(40),
        spray.auth(50, Some("oracle"), Outcome::Failed, true),
        spray.auth(60, Some("admin"), Outcome::Failed, true),
        spray.auth(70, None, Outcome::Failed, true),
        spray.end(80, (10, 10), 40, false),
        ok.connect(90),
        ok.auth(95, Some("alice"), Outcome::Accepted, false),
        ok.login(100, "alice", 1000),
        ok.end(200, (50, 60), 110, true),
    ]
}

#[test]
fn attempts_failures_and_names_tried_per_source() {
    let v = json(&report(ReportKind::Sources, &knocking()));
    let s = &v["sources"][0];
    assert_eq!(s["ip"], "203.0.113.7");
    assert_eq!(
        (&s["attempts"], &s["auth_failures"]),
        (&json!(5), &json!(5))
    );
    assert_eq!(s["users_tried"], json!(["admin", "oracle", "root"]));
    assert_eq!(s["invalid_users"], json!(["admin", "oracle"]));
    assert_eq!(v["sources"][1]["users_tried"], json!(["alice"]));
    assert_eq!(v["sources"][1]["auth_failures"], 0);
    let expected = [
        "SOURCE       CONNECTIONS  FAILED  USERS  BYTES IN  BYTES OUT  ATTEMPTS  AUTH FAILED  TRIED  INVALID  USER NAMES  NAMES TRIED (INVALID)",
        "203.0.113.7            2       2      0        20         20         5            5      3        2              admin,oracle,root (admin,oracle)",
        "10.0.0.5               1       0      1        50         60         1            0      1        0  alice       alice ()",
    ];
    assert_eq!(
        text(&report(ReportKind::Sources, &knocking())),
        expected.join("\n") + "\n"
    );
}

#[test]
fn without_decisions_the_report_is_as_before() {
    let v = json(&report(ReportKind::Sources, &stream()));
    assert!(v["sources"][0].get("attempts").is_none());
    assert!(!text(&report(ReportKind::Sources, &stream())).contains("ATTEMPTS"));
}
