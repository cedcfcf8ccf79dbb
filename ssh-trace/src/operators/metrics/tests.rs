use super::{classic, Metrics, SourceIpLabel};
use crate::event::*;

fn login(id: &str, ip: &str) -> Event {
    let s = SessionInfo {
        id: SessionId(id.bytes().fold(0, |h, b| h * 256 + b as u128)),
        user: Some("alice".into()),
        uid: Some(1000),
        source: Some(Endpoint::new(ip.parse().unwrap(), 1)),
        destination: None,
        discovered: false,
        server: None,
        parent: None,
    };
    Event::new(
        0,
        Some(std::sync::Arc::new(s)),
        Body::SessionLogin(Login::default()),
    )
}

#[test]
fn source_ip_label_is_capped() {
    let mut m = Metrics::new(SourceIpLabel {
        enabled: true,
        limit: 2,
    });
    for (i, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        .iter()
        .enumerate()
    {
        m.observe(&login(&i.to_string(), ip));
    }
    let text = m.encode();
    assert!(
        text.contains(r#"ssh_trace_sessions_active{user="alice",source_ip="10.0.0.1"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ssh_trace_sessions_active{user="alice",source_ip="other"} 2"#),
        "{text}"
    );
    assert!(!text.contains("10.0.0.3"));
}

#[test]
fn classic_text_names_counters_with_total() {
    let m = Metrics::new(SourceIpLabel {
        enabled: false,
        limit: 0,
    });
    let mut m = m;
    m.observe(&login("a", "10.0.0.1"));
    let c = classic::from_openmetrics(&m.encode());
    assert!(c.contains("# TYPE ssh_trace_logins_total counter"), "{c}");
    assert!(c.contains("# HELP ssh_trace_logins_total "));
    assert!(!c.contains("# EOF"));
}

#[test]
fn losses_are_counted_by_place_and_sink() {
    let mut m = Metrics::new(SourceIpLabel {
        enabled: false,
        limit: 0,
    });
    let loss = LossCounts {
        kernel_ringbuf: 3,
        sinks: vec![
            SinkLoss {
                sink: "siem".into(),
                dropped: 5,
            },
            SinkLoss {
                sink: "file".into(),
                dropped: 0,
            },
        ],
        outputs: vec![
            OutputLoss {
                output: "capture".into(),
                error: "No space left on device".into(),
                failures: 1,
                events: 7,
            },
            OutputLoss {
                output: "sink file".into(),
                error: "No space left on device".into(),
                failures: 3,
                events: 0,
            },
        ],
        ..Default::default()
    };
    let body = Body::AgentLoss(Box::new(AgentLoss {
        loss: loss.clone().into(),
        total: loss,
    }));
    m.observe(&Event::new(1, None, body));
    let text = classic::from_openmetrics(&m.encode());
    assert!(
        text.contains("ssh_trace_events_lost_total{where=\"kernel_ringbuf\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("ssh_trace_events_lost_total{where=\"sink\",sink=\"siem\"} 5"),
        "{text}"
    );
    assert!(!text.contains("sink=\"file\""), "{text}");
    assert!(
        text.contains("ssh_trace_events_lost_total{where=\"output\",output=\"capture\"} 7"),
        "{text}"
    );
    assert!(
        !text.contains("output=\"sink file\""),
        "retried, not lost: {text}"
    );
}

#[test]
fn forwards_are_counted_by_kind_and_state_and_their_bytes_by_kind() {
    let mut m = Metrics::new(SourceIpLabel {
        enabled: false,
        limit: 0,
    });
    for ev in crate::format::samples::events() {
        if matches!(ev.body, Body::SessionForward(_)) {
            m.observe(&ev);
        }
    }
    let text = m.encode();
    for want in [
        r#"ssh_trace_forwards_total{kind="local",state="close"} 1"#,
        r#"ssh_trace_forwards_total{kind="remote",state="listen"} 1"#,
        r#"ssh_trace_forwards_total{kind="local",state="failed"} 1"#,
        r#"ssh_trace_forward_bytes_total{kind="local",direction="in"} 5321"#,
        r#"ssh_trace_forward_bytes_total{kind="local",direction="out"} 187"#,
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
}

fn decision(user: Option<&str>, method: Option<Method>, outcome: Outcome) -> Event {
    let auth = Auth {
        method,
        submethod: None,
        user: user.map(Into::into),
        invalid: false,
        outcome,
        key: None,
        certificate: None,
    };
    let body = Body::SessionAuth(Box::new(AuthDecision {
        pid: 1,
        auth: std::sync::Arc::new(auth),
    }));
    Event::new(0, None, body)
}

#[test]
fn auth_attempts_count_methods_and_outcomes_without_users() {
    let off = SourceIpLabel {
        enabled: false,
        limit: 0,
    };
    let mut m = Metrics::new(off);
    for u in ["root", "admin", "root"] {
        m.observe(&decision(Some(u), Some(Method::Password), Outcome::Failed));
    }
    m.observe(&decision(
        Some("alice"),
        Some(Method::Publickey),
        Outcome::Accepted,
    ));
    m.observe(&decision(None, None, Outcome::Failed));
    let text = classic::from_openmetrics(&m.encode());
    for line in [
        r#"ssh_trace_auth_attempts_total{method="password",outcome="failed"} 3"#,
        r#"ssh_trace_auth_attempts_total{method="publickey",outcome="accepted"} 1"#,
        r#"ssh_trace_auth_attempts_total{method="unknown",outcome="failed"} 1"#,
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(!text.contains("root"), "no user label unless asked: {text}");
}

#[test]
fn auth_user_label_is_opt_in_and_capped() {
    let off = SourceIpLabel {
        enabled: false,
        limit: 0,
    };
    let users = SourceIpLabel {
        enabled: true,
        limit: 2,
    };
    let mut m = Metrics::with_auth_user(off, users);
    for u in ["root", "admin", "oracle", "test", "root"] {
        m.observe(&decision(Some(u), Some(Method::Password), Outcome::Failed));
    }
    let text = classic::from_openmetrics(&m.encode());
    let series = |u: &str, n: u32| {
        format!(
            r#"ssh_trace_auth_attempts_total{{method="password",outcome="failed",user="{u}"}} {n}"#
        )
    };
    for line in [series("root", 2), series("admin", 1), series("other", 2)] {
        assert!(text.contains(&line), "{line}\n{text}");
    }
    assert!(!text.contains("oracle"), "{text}");
}

#[test]
fn transfers_count_their_bytes_by_server_and_action() {
    let mut m = Metrics::new(SourceIpLabel {
        enabled: false,
        limit: 0,
    });
    let ev = crate::format::samples::event(Kind::FileTransfer);
    m.observe(&ev);
    m.observe(&ev);
    for shape in crate::format::samples::transfer_shapes() {
        m.observe(&shape);
    }
    let text = m.encode();
    for line in [
        r#"ssh_trace_transfer_bytes_total{user="alice",server="internal-sftp",action="upload"} 2162688"#,
        r#"ssh_trace_transfers_total{server="internal-sftp",action="upload",outcome="complete"} 2"#,
        r#"ssh_trace_transfers_total{server="internal-sftp",action="upload",outcome="partial"} 1"#,
        r#"ssh_trace_transfers_total{server="sftp-server",action="rename",outcome="complete"} 1"#,
        r#"ssh_trace_transfers_total{server="scp",action="download",outcome="error"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}
