//! `sessions`: one row per session, like `last`.
use serde_json::json;

use super::*;

#[test]
fn text_has_one_aligned_row_per_session_in_start_order() {
    let r = report(ReportKind::Sessions, &stream());
    let expected = [
        "SESSION                               USER   SOURCE             START (UTC)          END (UTC)            DURATION  LOGIN  BYTES IN  BYTES OUT  COMMANDS",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1a1  alice  10.0.0.5:40000     2023-11-14 22:13:20  2023-11-14 22:14:10   0:00:50  yes        4000      10000         2",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1b2  -      10.0.0.5:40001     2023-11-14 22:13:30  2023-11-14 22:13:32   0:00:02  no         2000       2500         0",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2f0d4  alice  192.168.1.9:50001  2023-11-14 22:30:00  2023-11-14 22:31:00   0:01:00  yes        5000       6000         3",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1c3  bob    192.168.1.9:50000  2023-11-14 22:59:58  open                        -  yes         300        700         1",
    ];
    assert_eq!(text(&r), expected.join("\n") + "\n");
    assert_eq!(r.error(), None);
}

#[test]
fn json_rows_carry_exact_values() {
    let v = json(&report(ReportKind::Sessions, &stream()));
    assert_eq!(v["report"], "sessions");
    assert_eq!(v["lost_records"], 0);
    let rows = v["sessions"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [A, B, D, C]);
    assert_eq!(
        rows[0],
        json!({
            "id": A,
            "user": "alice",
            "uid": 1001,
            "source": {"ip": "10.0.0.5", "port": 40000},
            "destination": {"ip": "10.0.0.1", "port": 22},
            "discovered": false,
            "start": "2023-11-14T22:13:20.000000000Z",
            "connect_seen": true,
            "end": "2023-11-14T22:14:10.000000000Z",
            "duration_ms": 50000,
            "logged_in": true,
            "bytes_in": 4000,
            "bytes_out": 10000,
            // bash -c ls and ls; sshd's own exec came before the login.
            "commands": 2,
        })
    );
    let failed = &rows[1];
    assert_eq!(failed["user"], json!(null));
    assert_eq!(failed["uid"], json!(null));
    assert_eq!(failed["logged_in"], false);
    assert_eq!(failed["commands"], 0);
    assert_eq!(
        (&failed["bytes_in"], &failed["bytes_out"]),
        (&json!(2000), &json!(2500))
    );
    // -bash, sudo and id.
    assert_eq!(rows[2]["commands"], 3);
    let open = &rows[3];
    assert_eq!(open["end"], json!(null));
    assert_eq!(open["duration_ms"], json!(null));
    assert_eq!(open["logged_in"], true);
    // No session.end: the latest session.bytes.
    assert_eq!(
        (&open["bytes_in"], &open["bytes_out"]),
        (&json!(300), &json!(700))
    );
    assert_eq!(open["commands"], 1);
}

#[test]
fn capture_starting_mid_session_uses_first_event_and_later_source() {
    let mut s = Sess::new(A, "10.0.0.5", 40000);
    let mut first = s.login(5000, "alice", 1001);
    // Connect record lost: the first events have no source yet.
    std::sync::Arc::make_mut(first.session.as_mut().unwrap()).source = None;
    let v = json(&report(
        ReportKind::Sessions,
        &[
            first,
            s.exec(6000, 700, 699, (1001, 1001), &["id"]),
            s.bytes(7000, 10, 20),
        ],
    ));
    let row = &v["sessions"][0];
    assert_eq!(row["start"], "2023-11-14T22:13:25.000000000Z");
    assert_eq!(row["connect_seen"], false);
    assert_eq!(row["source"], json!({"ip": "10.0.0.5", "port": 40000}));
    assert_eq!(row["commands"], 1);
    assert_eq!(row["bytes_out"], 20);
}
