//! `tree`: processes of one session, and choosing the session by id.
use serde_json::json;

use super::*;

fn tree(q: &str, events: &[Event]) -> Report {
    report(ReportKind::Tree { session: q.into() }, events)
}

/// D: sshd child 699 logs in (no exec) → -bash 700 → sudo 701
/// (set-user-ID exec) → id 702 (switched to root before its exec).
#[test]
fn text_nests_processes_with_user_changes_under_them() {
    let t = text(&tree(D, &stream()));
    let expected = [
        "session 0f1e2d3c-4b5a-6978-8796-a5b4c3d2f0d4  user alice  source 192.168.1.9:50001",
        "699 [no exec seen]  exit=255",
        "│ 2023-11-14 22:30:00.500 setresuid(1001,1001,1001) ok uid 0->1001 euid 0->1001 (alice)",
        "└─ 700 -bash  uid=1001 exit=0",
        "   └─ 701 sudo id  uid=1001 euid=0 exit=0",
        "      │ 2023-11-14 22:30:02.000 execve() ok uid 1001->1001 euid 1001->0 (alice/root)",
        "      └─ 702 id  uid=0 exit=0",
        "           2023-11-14 22:30:03.000 setresuid(0,0,0) ok uid 1001->0 euid 0->0 (root)",
    ];
    assert_eq!(t, expected.join("\n") + "\n");
}

#[test]
fn json_nests_children() {
    let v = json(&tree(D, &stream()));
    assert_eq!(v["report"], "tree");
    assert_eq!(v["session"]["user"], "alice");
    let roots = v["processes"].as_array().unwrap();
    assert_eq!(roots.len(), 1);
    let sshd = &roots[0];
    assert_eq!((&sshd["pid"], &sshd["ppid"]), (&json!(699), &json!(null)));
    assert_eq!(sshd["first_seen"], "2023-11-14T22:30:00.500000000Z");
    assert_eq!(sshd["execs"], json!([]));
    assert_eq!(
        sshd["exit"],
        json!({"time": "2023-11-14T22:30:59.500000000Z", "exit_code": 255, "signal": null})
    );
    let login = &sshd["user_changes"][0];
    assert_eq!(login["syscall"], "setresuid");
    assert_eq!(login["args"], json!([1001, 1001, 1001]));
    assert_eq!(login["new"]["uid"], 1001);
    assert_eq!(login["user"], "alice");
    let bash = &sshd["children"][0];
    assert_eq!((&bash["pid"], &bash["ppid"]), (&json!(700), &json!(699)));
    let sudo = &bash["children"][0];
    assert_eq!(sudo["pid"], 701);
    assert_eq!(
        sudo["execs"],
        json!([{"time": "2023-11-14T22:30:02.000000000Z", "executable": "/usr/bin/sudo",
                "executable_truncated": false, "args": ["sudo", "id"], "args_truncated": false,
                "uid": 1001, "euid": 0, "gid": 1001, "egid": 1001}])
    );
    assert_eq!(sudo["user_changes"][0]["syscall"], "execve");
    assert_eq!(
        sudo["user_changes"][0]["time"],
        "2023-11-14T22:30:02.000000000Z"
    );
    assert_eq!(sudo["user_changes"][0]["effective_user"], "root");
    let id = &sudo["children"][0];
    assert_eq!((&id["pid"], &id["ppid"]), (&json!(702), &json!(701)));
    assert_eq!(id["exit"]["exit_code"], 0);
    assert_eq!(id["children"], json!([]));
}

/// A: the parent of sshd (the listener, 500) is not in the session; bash
/// execs ls in the same process.
#[test]
fn unknown_parent_shows_ppid_and_later_execs_are_listed() {
    let t = text(&tree("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1a", &stream()));
    let expected = [
        "session 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1a1  user alice  source 10.0.0.5:40000",
        "600 /usr/sbin/sshd -D -R  uid=0 ppid=500",
        "└─ 601 bash -c ls  uid=1001 exit=0",
        "     2023-11-14 22:13:21.200 exec ls  uid=1001",
    ];
    assert_eq!(t, expected.join("\n") + "\n");
}

#[test]
fn session_is_chosen_by_full_id_unique_prefix_or_unique_suffix() {
    let s = stream();
    for (q, id) in [
        (D, D),
        ("0F1E2D3C-4B5A-6978-8796-A5B4C3D2F", D),
        ("f0d4", D),
        (" c3 ", C),
    ] {
        let r = tree(q, &s);
        assert_eq!(r.error(), None, "{q}");
        assert_eq!(json(&r)["session"]["id"], id, "{q}");
    }
}

#[test]
fn ambiguous_or_unknown_id_is_a_clear_error() {
    let s = stream();
    let r = tree("0f1e", &s);
    let msg = format!("\"0f1e\" matches 4 sessions ({A}, {B}, {C}, {D}); give more of the id");
    assert_eq!(r.error(), Some(msg.clone()));
    let err = r.write_text(&mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), msg);
    assert!(r.write_json(&mut Vec::new()).is_err());
    let State::Tree(sel) = &r.state else { panic!() };
    assert!(
        sel.chosen().is_err(),
        "events of ambiguous matches are dropped"
    );

    let r = tree("ffff", &s);
    assert_eq!(r.error().as_deref(), Some("no session id matches \"ffff\""));
    assert_eq!(tree("", &s).error().as_deref(), Some("no session id given"));
}

#[test]
fn full_id_wins_over_ids_sharing_its_start() {
    // Ids are fixed-length UUIDs (SessionId), so a full id never prefixes
    // another; ids of one boot share their start with it.
    let other = Sess::new(B, "10.0.0.1", 1);
    let exact = Sess::new(A, "10.0.0.2", 2);
    let r = tree(A, &[other.connect(0), exact.connect(1), other.connect(2)]);
    assert_eq!(r.error(), None);
    assert_eq!(json(&r)["session"]["source"]["ip"], "10.0.0.2");
}

#[test]
fn reused_pids_and_parent_loops_stay_a_tree() {
    let s = Sess::new(A, "10.0.0.5", 1);
    let change = |ms, pid| s.change(ms, pid, ("setuid", &[0]), (0, 0), (0, 0), ("root", "root"));
    let events = [
        s.exec(0, 900, 1, (0, 0), &["first"]),
        s.exit(1, 900, 0),
        // Same pid again: a new process.
        s.exec(2, 900, 1, (0, 0), &["second"]),
        // 10 and 11 each claim the other as parent.
        change(3, 10),
        change(4, 11),
        s.exec(5, 10, 11, (0, 0), &["ten"]),
        s.exec(6, 11, 10, (0, 0), &["eleven"]),
    ];
    let t = text(&tree(A, &events));
    let expected = [
        "session 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1a1  user -  source 10.0.0.5:1",
        "900 first  uid=0 ppid=1 exit=0",
        "900 second  uid=0 ppid=1",
        "10 ten  uid=0 ppid=11",
        "│ 2023-11-14 22:13:20.003 setuid(0) ok uid 0->0 euid 0->0 (root)",
        "└─ 11 eleven  uid=0",
        "     2023-11-14 22:13:20.004 setuid(0) ok uid 0->0 euid 0->0 (root)",
    ];
    assert_eq!(t, expected.join("\n") + "\n");
}

#[test]
fn deep_chains_do_not_exhaust_the_stack() {
    let s = Sess::new(A, "10.0.0.5", 1);
    let depth = 3000;
    let events: Vec<Event> = (1..=depth)
        .map(|pid| s.exec(u64::from(pid), pid, pid - 1, (0, 0), &["sh"]))
        .collect();
    let r = tree(A, &events);
    let t = text(&r);
    assert_eq!(t.lines().count(), 1 + depth as usize);
    let mut out = Vec::new();
    r.write_json(&mut out).unwrap();
    let opens = out.iter().filter(|&&b| b == b'[').count();
    let closes = out.iter().filter(|&&b| b == b']').count();
    assert_eq!(opens, closes);
    assert_eq!(
        out.iter().filter(|&&b| b == b'{').count(),
        out.iter().filter(|&&b| b == b'}').count()
    );
}

use super::super::State;
