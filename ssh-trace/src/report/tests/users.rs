//! `users`: bytes per user, bucketed by the increments of each session's
//! cumulative counters.
use serde_json::json;

use super::*;

/// Increments by hand:
/// A (alice): 1000/2000 at 22:13:20.5 (before login, held for alice),
///   +2000/+3000 at 22:13:50, +500/+4000 at 22:14:05, +500/+1000 at 22:14:10
///   → 22:13: 3000/5000, 22:14: 1000/5000.
/// B (never logged in, "-"): 2000/2500 at 22:13:32.
/// D (alice): 5000/6000 at 22:31:00.
/// C (bob): 100/200 at 22:59:59, +200/+500 at 23:00:01.
#[test]
fn minute_buckets_split_increments_across_a_minute_boundary() {
    let r = report(minute(), &stream());
    let expected = [
        "USER   SESSIONS  BYTES IN  BYTES OUT",
        "alice         2      9000      16000",
        "bob           1       300        700",
        "-             1      2000       2500",
        "",
        "MINUTE (UTC)      USER   BYTES IN  BYTES OUT",
        "2023-11-14 22:13  alice      3000       5000",
        "2023-11-14 22:13  -          2000       2500",
        "2023-11-14 22:14  alice      1000       5000",
        "2023-11-14 22:31  alice      5000       6000",
        "2023-11-14 22:59  bob         100        200",
        "2023-11-14 23:00  bob         200        500",
    ];
    assert_eq!(text(&r), expected.join("\n") + "\n");
}

#[test]
fn hour_buckets_split_increments_across_an_hour_boundary() {
    let r = report(ReportKind::Users { by: Bucket::Hour }, &stream());
    let expected = [
        "HOUR (UTC)        USER   BYTES IN  BYTES OUT",
        "2023-11-14 22:00  alice      9000      16000",
        "2023-11-14 22:00  bob         100        200",
        "2023-11-14 22:00  -          2000       2500",
        "2023-11-14 23:00  bob         200        500",
    ];
    let t = text(&r);
    assert!(t.ends_with(&(expected.join("\n") + "\n")), "{t}");
    let v = json(&r);
    assert_eq!(v["by"], "hour");
    assert_eq!(
        v["users"][1]["buckets"],
        json!([
            {"start": "2023-11-14T22:00:00.000000000Z", "bytes_in": 100, "bytes_out": 200},
            {"start": "2023-11-14T23:00:00.000000000Z", "bytes_in": 200, "bytes_out": 500},
        ])
    );
}

#[test]
fn json_has_totals_and_buckets_per_user() {
    let v = json(&report(minute(), &stream()));
    let b = |start: &str, i: u64, o: u64| json!({"start": format!("2023-11-14T{start}:00.000000000Z"), "bytes_in": i, "bytes_out": o});
    assert_eq!(
        v,
        json!({
            "report": "users",
            "by": "minute",
            "lost_records": 0,
            "users": [
                {"user": "alice", "uid": 1001, "sessions": 2, "bytes_in": 9000, "bytes_out": 16000,
                 "buckets": [b("22:13", 3000, 5000), b("22:14", 1000, 5000), b("22:31", 5000, 6000)]},
                {"user": "bob", "uid": 1002, "sessions": 1, "bytes_in": 300, "bytes_out": 700,
                 "buckets": [b("22:59", 100, 200), b("23:00", 200, 500)]},
                {"user": null, "uid": null, "sessions": 1, "bytes_in": 2000, "bytes_out": 2500,
                 "buckets": [b("22:13", 2000, 2500)]},
            ]
        })
    );
}

#[test]
fn open_session_without_login_counts_under_dash_and_uid_only_users_by_number() {
    let pending = Sess::new(A, "10.0.0.5", 1);
    let mut nameless = Sess::new(B, "10.0.0.6", 2);
    let connect = nameless.connect(900);
    let mut login = nameless.login(1000, "x", 4242);
    // The uid had no name on the traced host.
    std::sync::Arc::make_mut(login.session.as_mut().unwrap()).user = None;
    let mut bytes = nameless.bytes(2000, 7, 8);
    std::sync::Arc::make_mut(bytes.session.as_mut().unwrap()).user = None;
    let r = report(
        minute(),
        &[
            pending.connect(0),
            pending.bytes(500, 30, 40),
            connect,
            login,
            bytes,
        ],
    );
    let v = json(&r);
    assert_eq!(v["users"][0]["user"], json!(null));
    assert_eq!(v["users"][0]["uid"], 4242);
    assert_eq!(v["users"][0]["bytes_in"], 7);
    assert_eq!(v["users"][1]["user"], json!(null));
    assert_eq!(v["users"][1]["uid"], json!(null));
    assert_eq!(v["users"][1]["sessions"], 1);
    assert_eq!(v["users"][1]["bytes_out"], 40);
    let t = text(&r);
    let expected = [
        "USER   SESSIONS  BYTES IN  BYTES OUT",
        "#4242         1         7          8",
        "-             1        30         40",
    ];
    assert!(t.starts_with(&(expected.join("\n") + "\n\n")), "{t}");
}

#[test]
fn totals_equal_the_sum_of_buckets_and_the_final_counters() {
    let v = json(&report(minute(), &stream()));
    let mut all = (0, 0);
    for u in v["users"].as_array().unwrap() {
        let (mut i, mut o) = (0, 0);
        for b in u["buckets"].as_array().unwrap() {
            i += b["bytes_in"].as_u64().unwrap();
            o += b["bytes_out"].as_u64().unwrap();
        }
        assert_eq!(
            (
                u["bytes_in"].as_u64().unwrap(),
                u["bytes_out"].as_u64().unwrap()
            ),
            (i, o)
        );
        all = (all.0 + i, all.1 + o);
    }
    // Final counters: A 4000/10000, B 2000/2500, C 300/700, D 5000/6000.
    assert_eq!(all, (11300, 19200));
}
