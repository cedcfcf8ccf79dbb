//! Odd input must not panic, and losses reported by the agent are shown.
use super::*;

fn all_kinds() -> Vec<ReportKind> {
    vec![
        ReportKind::Sessions,
        ReportKind::Users { by: Bucket::Minute },
        ReportKind::Users { by: Bucket::Hour },
        ReportKind::Sources,
        ReportKind::Tree { session: A.into() },
        ReportKind::Timeline { session: A.into() },
    ]
}

fn loss(n: u64) -> Event {
    let counts = LossCounts {
        kernel_ringbuf: n,
        queue: 1,
        ..Default::default()
    };
    let l = AgentLoss {
        loss: counts.clone().into(),
        total: counts,
    };
    Event::new(0, None, Body::AgentLoss(Box::new(l)))
}

#[test]
fn odd_sequences_do_not_panic() {
    let mut s = Sess::new(A, "10.0.0.5", 1);
    let mut killed = s.exit(3, 77, 0);
    if let Body::ProcessExit(process) = &mut killed.body {
        (process.exit_code, process.signal) = (None, Some(9));
    }
    let mut failed = s.change(4, 78, ("setuid", &[0]), (5, 5), (5, 5), ("", ""));
    if let Body::UserChange(IdChange { change, .. }) = &mut failed.body {
        (change.success, change.errno, change.user) = (false, Some(1), None);
    }
    let events = vec![
        Event::new(
            0,
            None,
            Body::AgentStart(Box::new(AgentInfo {
                version: String::new(),
                pid: 0,
                kernel: String::new(),
                ring_buffer_bytes: 0,
                server_binaries: Vec::new(),
                previous: None,
            })),
        ),
        // End before connect, counters going down, exit of an unknown pid.
        s.end(1, (u64::MAX, u64::MAX), u64::MAX, false),
        s.bytes(2, 5, 5),
        killed,
        failed,
        s.exec(5, 0, 0, (0, 0), &[]),
        s.exec(6, 0, 0, (0, 0), &[]),
        s.login(7, "\u{1b}[2J", 0),
        s.connect(8),
        s.bytes(u64::MAX / 1_000_000 - T0 / 1_000_000, u64::MAX, 0),
    ];
    for kind in all_kinds() {
        let r = report(kind, &events);
        text(&r);
        json(&r);
    }
    let t = text(&report(ReportKind::Timeline { session: A.into() }, &events));
    assert!(t.contains("pid=77 signal=9"), "{t}");
    assert!(t.contains("setuid(0) failed errno=1"), "{t}");
    assert!(
        t.contains("user=\\x1b[2J"),
        "terminal escapes are escaped: {t}"
    );
}

#[test]
fn empty_stream_gives_headers_or_a_clear_error() {
    assert_eq!(
        text(&report(ReportKind::Sessions, &[])),
        "SESSION  USER  SOURCE  START (UTC)  END (UTC)  DURATION  LOGIN  BYTES IN  BYTES OUT  COMMANDS\n"
    );
    assert_eq!(
        json(&report(ReportKind::Sources, &[]))["sources"],
        serde_json::json!([])
    );
    let r = report(ReportKind::Timeline { session: A.into() }, &[]);
    assert!(r.error().unwrap().starts_with("no session id matches"));
}

#[test]
fn agent_losses_are_counted_and_noted() {
    let mut events = stream();
    events.insert(0, loss(2));
    events.push(loss(4));
    for kind in all_kinds() {
        let r = report(kind, &events);
        assert_eq!(json(&r)["lost_records"], 8);
        assert!(text(&r).ends_with(
            "\nnote: the agent lost 8 records during the capture; figures may be incomplete\n"
        ));
    }
}
