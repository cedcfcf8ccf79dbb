use std::sync::Arc;

use super::{config::Config, rules::Engine};
use crate::event::*;

/// A session id made from a name, for readable tests.
fn sid(name: &str) -> SessionId {
    SessionId(
        name.bytes()
            .fold(17u128, |h, b| h.wrapping_mul(131).wrapping_add(b as u128)),
    )
}

const S: u64 = 1_000_000_000;

fn session(id: &str, uid: Option<u32>, ip: &str) -> Arc<SessionInfo> {
    Arc::new(SessionInfo {
        id: sid(id),
        user: uid.map(|u| {
            if u == 0 {
                "root".into()
            } else {
                "alice".into()
            }
        }),
        uid,
        source: Some(Endpoint::new(ip.parse().unwrap(), 40000)),
        destination: None,
        discovered: false,
        server: None,
        parent: None,
    })
}

fn engine(toml: &str) -> Engine {
    let cfg = Config::parse(toml).unwrap();
    Engine::new(cfg.rules, None, 0)
}

fn kinds(out: &[Event]) -> Vec<&'static str> {
    out.iter().map(|e| e.kind().name()).collect()
}

#[test]
fn root_login_fires_and_user_login_does_not() {
    let mut e = engine("[[rule]]\ntype = \"root_login\"\nseverity = \"critical\"\n");
    let mut out = Vec::new();
    e.observe(
        &Event::new(
            S,
            Some(session("a", Some(1000), "10.0.0.1")),
            Body::SessionLogin(Login::default()),
        ),
        &mut out,
    );
    assert!(out.is_empty());
    e.observe(
        &Event::new(
            S,
            Some(session("b", Some(0), "10.0.0.1")),
            Body::SessionLogin(Login::default()),
        ),
        &mut out,
    );
    assert_eq!(kinds(&out), ["alert.root_login"]);
    let Body::Alert(_, alert) = &out[0].body else {
        panic!()
    };
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.evidence.user.as_deref(), Some("root"));
}

fn change(old_euid: u32, old_suid: u32, new_euid: u32) -> Body {
    let ids = |euid, suid| Ids {
        uid: 1000,
        euid,
        suid,
        gid: 1000,
        egid: 1000,
        sgid: 1000,
    };
    Body::UserChange(IdChange {
        process: Pid { pid: 42 },
        change: UserChange {
            syscall: "execve",
            args: CallArgs::default(),
            success: true,
            errno: None,
            old: ids(old_euid, old_suid),
            new: ids(new_euid, new_euid),
            user: None,
            effective_user: None,
        },
    })
}

#[test]
fn privilege_gain_needs_no_root_before() {
    let mut e = engine("[[rule]]\ntype = \"privilege_gain\"\n");
    let mut out = Vec::new();
    let s = session("a", Some(1000), "10.0.0.1");
    // sshd's monitor going back to root from a temporary seteuid.
    e.observe(
        &Event::new(S, Some(s.clone()), change(1000, 0, 0)),
        &mut out,
    );
    assert!(out.is_empty());
    e.observe(&Event::new(S, Some(s), change(1000, 1000, 0)), &mut out);
    assert_eq!(kinds(&out), ["alert.privilege_gain"]);
}

#[test]
fn connection_rate_fires_once_per_window() {
    let mut e = engine("[[rule]]\ntype = \"connection_rate\"\nmax = 2\nwindow = \"10s\"\n");
    let mut out = Vec::new();
    for t in 0..5 {
        let s = session(&format!("s{t}"), None, "10.0.0.9");
        e.observe(&Event::new(t * S, Some(s), Body::SessionConnect), &mut out);
    }
    assert_eq!(kinds(&out), ["alert.connection_rate"]);
    // Spread out beyond the window: the count starts over.
    let mut out = Vec::new();
    for t in [30, 50, 70] {
        let s = session(&format!("t{t}"), None, "10.0.0.9");
        e.observe(&Event::new(t * S, Some(s), Body::SessionConnect), &mut out);
    }
    assert!(out.is_empty());
}

#[test]
fn idle_then_login_after_idle() {
    let mut e = engine("[[rule]]\ntype = \"idle\"\nafter = \"5m\"\n[[rule]]\ntype = \"login_after_idle\"\nafter = \"5m\"\n");
    let mut out = Vec::new();
    e.tick(299 * S, &mut out);
    assert!(out.is_empty());
    e.tick(300 * S, &mut out);
    e.tick(301 * S, &mut out);
    assert_eq!(kinds(&out), ["alert.idle"], "once per idle period");
    out.clear();
    e.observe(
        &Event::new(
            400 * S,
            Some(session("a", Some(1000), "10.0.0.1")),
            Body::SessionLogin(Login::default()),
        ),
        &mut out,
    );
    assert_eq!(kinds(&out), ["alert.login_after_idle"]);
    assert_eq!(e.open_sessions(), 1);
}

#[test]
fn bad_rules_are_clear_errors() {
    for (toml, want) in [
        (
            "[[rule]]\ntype = \"connection_rate\"\n",
            "needs max and window",
        ),
        ("[[rule]]\ntype = \"nope\"\n", "unknown variant"),
        (
            "[[rule]]\ntype = \"idle\"\nafter = \"soon\"\n",
            "is not a duration",
        ),
        (
            "[[rule]]\ntype = \"root_login\"\nactions = [\"x\"]\n",
            "no action named \"x\"",
        ),
        (
            "[[action]]\nname = \"x\"\n",
            "exactly one of webhook or command",
        ),
        (
            "[[action]]\nname = \"x\"\nwebhook = \"ftp://a\"\n",
            "must be an http:// URL",
        ),
        (
            "[[rule]]\ntype = \"root_login\"\n[[rule]]\ntype = \"root_login\"\n",
            "defined twice",
        ),
        (
            "[[rule]]\ntype = \"root_login\"\ncolour = 1\n",
            "unknown field",
        ),
    ] {
        let err = format!("{:#}", Config::parse(toml).unwrap_err());
        assert!(err.contains(want), "{toml:?}: {err}");
    }
    assert_eq!(AlertKind::NewSource.name(), "alert.new_source");
}

/// One event of every alert kind, with the evidence docs/schema.md lists.
pub(crate) fn sample_alerts(session: &Arc<SessionInfo>) -> Vec<Event> {
    AlertKind::all()
        .map(|k| {
            let mut e = Evidence {
                user: Some("alice".into()),
                source_ip: Some([10, 0, 0, 1].into()),
                ..Default::default()
            };
            match k {
                AlertKind::ConnectionRate | AlertKind::UnauthenticatedRate => {
                    e.user = None;
                    (e.count, e.limit, e.window_s) = (Some(3), Some(2), Some(60));
                }
                AlertKind::PrivilegeGain => (e.pid, e.syscall) = (Some(7), Some("execve".into())),
                AlertKind::SessionBytes => (e.count, e.limit) = (Some(9), Some(8)),
                AlertKind::FilelessExec => {
                    (e.pid, e.executable) = (Some(7), Some("memfd:x".into()))
                }
                AlertKind::TransferBytes => {
                    (e.count, e.limit) = (Some(9), Some(8));
                    (e.pid, e.path) = (Some(7), Some("/home/alice/x".into()));
                }
                AlertKind::LoginAfterIdle => e.idle_s = Some(600),
                AlertKind::Idle => {
                    e = Evidence {
                        idle_s: Some(600),
                        ..Default::default()
                    }
                }
                AlertKind::ActionFailed => {
                    e = Evidence {
                        action: Some("hook".into()),
                        error: Some("refused".into()),
                        ..Default::default()
                    }
                }
                AlertKind::ForwardTarget => {
                    e.pid = Some(700);
                    (e.target_ip, e.target_port) = (Some([10, 9, 9, 9].into()), Some(443));
                }
                AlertKind::NewSource | AlertKind::RootLogin => {}
                AlertKind::BruteForce | AlertKind::PasswordSpraying => {
                    e.user = None;
                    (e.count, e.limit, e.window_s) = (Some(3), Some(2), Some(60));
                    e.users = Some(vec!["root".into()]);
                }
                AlertKind::DistributedGuessing => {
                    (e.count, e.limit, e.window_s) = (Some(3), Some(2), Some(60));
                    e.source_ips = Some(vec!["10.0.0.1".into()]);
                }
            }
            let alert = Alert {
                rule: "r".into(),
                severity: Severity::Warning,
                evidence: e,
            };
            let session = k.spec().session.then(|| session.clone());
            Event::new(1, session, Body::Alert(k, Box::new(alert)))
        })
        .collect()
}

#[test]
fn forward_target_fires_once_per_target_outside_the_allowed_networks() {
    let mut e =
        engine("[[rule]]\ntype = \"forward_target\"\nallowed = [\"10.0.0.0/8\", \"192.0.2.1\"]\n");
    let s = session("f", Some(1000), "10.0.0.1");
    let fwd = |ip: [u8; 4], state| {
        let mut f = crate::format::samples::forward();
        f.state = state;
        f.target = Some(Endpoint::new(ip.into(), 443));
        Event::new(S, Some(s.clone()), Body::SessionForward(Box::new(f)))
    };
    let mut out = Vec::new();
    for ev in [
        fwd([10, 1, 2, 3], ForwardState::Open),
        fwd([192, 0, 2, 1], ForwardState::Open),
        fwd([198, 51, 100, 9], ForwardState::Failed),
        fwd([198, 51, 100, 9], ForwardState::Open),
        fwd([198, 51, 100, 9], ForwardState::Close),
    ] {
        e.observe(&ev, &mut out);
    }
    assert_eq!(kinds(&out), ["alert.forward_target"]);
    let Body::Alert(_, a) = &out[0].body else {
        panic!()
    };
    assert_eq!(a.evidence.target_ip, Some([198, 51, 100, 9].into()));
    assert_eq!(
        (a.evidence.target_port, a.evidence.pid),
        (Some(443), Some(4240))
    );
    let err = format!(
        "{:#}",
        Config::parse("[[rule]]\ntype = \"forward_target\"\n").unwrap_err()
    );
    assert!(err.contains("needs allowed"), "{err}");
    let err = format!(
        "{:#}",
        Config::parse("[[rule]]\ntype = \"forward_target\"\nallowed = [\"10.0.0.0/33\"]\n")
            .unwrap_err()
    );
    assert!(err.contains("\"10.0.0.0/33\" is not a network"), "{err}");
}

fn failed(ms: u64, id: &str, ip: &str, user: Option<&str>) -> Event {
    let auth = Auth {
        method: Some(Method::Password),
        submethod: None,
        user: user.map(Into::into),
        invalid: false,
        outcome: Outcome::Failed,
        key: None,
        certificate: None,
    };
    let body = Body::SessionAuth(Box::new(AuthDecision {
        pid: 1,
        auth: Arc::new(auth),
    }));
    Event::new(ms * 1_000_000, Some(session(id, None, ip)), body)
}

fn evidence(out: &[Event]) -> Vec<&Evidence> {
    out.iter()
        .filter_map(|e| e.body.alert())
        .map(|a| &a.evidence)
        .collect()
}

#[test]
fn brute_force_fires_once_per_window_with_the_names_tried() {
    let mut e = engine("[[rule]]\ntype = \"brute_force\"\nmax = 3\nwindow = \"1m\"\n");
    let mut out = Vec::new();
    for (i, u) in ["root", "root", "admin", "root", "root"].iter().enumerate() {
        e.observe(
            &failed(i as u64 * 1000, "a", "203.0.113.7", Some(u)),
            &mut out,
        );
    }
    // Another source, and an accepted decision, count for nothing.
    e.observe(&failed(6000, "b", "198.51.100.2", Some("root")), &mut out);
    assert_eq!(kinds(&out), ["alert.brute_force"]);
    let ev = evidence(&out)[0];
    assert_eq!(ev.source_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(
        (ev.count, ev.limit, ev.window_s),
        (Some(4), Some(3), Some(60))
    );
    assert_eq!(
        ev.users.as_deref(),
        Some(&["root".into(), "admin".into()][..])
    );
    // A window later it may fire again.
    out.clear();
    for i in 0..4 {
        e.observe(&failed(70_000 + i, "c", "203.0.113.7", Some("x")), &mut out);
    }
    assert_eq!(kinds(&out), ["alert.brute_force"]);
}

#[test]
fn password_spraying_counts_distinct_names_from_one_source() {
    let mut e = engine("[[rule]]\ntype = \"password_spraying\"\nmax = 2\nwindow = \"10m\"\n");
    let mut out = Vec::new();
    for (i, u) in [Some("root"), Some("root"), None, Some("admin")]
        .iter()
        .enumerate()
    {
        e.observe(&failed(i as u64, "a", "203.0.113.7", *u), &mut out);
    }
    assert!(out.is_empty(), "two names, a repeat and an unnamed one");
    e.observe(&failed(9, "b", "203.0.113.7", Some("oracle")), &mut out);
    assert_eq!(kinds(&out), ["alert.password_spraying"]);
    let ev = evidence(&out)[0];
    assert_eq!(ev.count, Some(3));
    assert_eq!(
        ev.users.as_deref(),
        Some(&["root".into(), "admin".into(), "oracle".into()][..])
    );
}

#[test]
fn distributed_guessing_counts_sources_for_one_user() {
    let mut e = engine("[[rule]]\ntype = \"distributed_guessing\"\nmax = 2\nwindow = \"1h\"\n");
    let mut out = Vec::new();
    for (i, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.1"].iter().enumerate() {
        e.observe(
            &failed(i as u64, &i.to_string(), ip, Some("root")),
            &mut out,
        );
    }
    e.observe(&failed(5, "x", "10.0.0.9", Some("admin")), &mut out);
    assert!(out.is_empty());
    e.observe(&failed(6, "y", "10.0.0.3", Some("root")), &mut out);
    assert_eq!(kinds(&out), ["alert.distributed_guessing"]);
    let ev = evidence(&out)[0];
    assert_eq!(ev.user.as_deref(), Some("root"));
    assert_eq!(ev.source_ip, Some("10.0.0.3".parse().unwrap()));
    assert_eq!(ev.count, Some(3));
    assert_eq!(
        ev.source_ips.as_deref(),
        Some(&["10.0.0.1".into(), "10.0.0.2".into(), "10.0.0.3".into()][..])
    );
    // The session is the one whose decision crossed the limit.
    assert_eq!(out[0].session.as_ref().unwrap().id, sid("y"));
}

#[test]
fn authentication_rules_need_max_and_window() {
    for t in ["brute_force", "password_spraying", "distributed_guessing"] {
        let err = Config::parse(&format!("[[rule]]\ntype = \"{t}\"\nmax = 3\n")).unwrap_err();
        assert!(
            err.to_string().contains("needs max and window"),
            "{t}: {err}"
        );
    }
}
