//! Forwards of a session that was open before the agent started.
use super::*;

/// `ssh -L` and `-R` set up before the agent starts: connections made
/// through them afterwards are the discovered session's forwards, with the
/// bytes their peers counted.
pub fn forwards_set_up_before_the_agent_starts_trace_new_connections(kind: Kind) {
    if root_or_skip("forwards_set_up_before_the_agent_starts_trace_new_connections") {
        set_up_before_the_agent(kind, false)
    }
}

/// ... and the -R listener made before the agent could see it is
/// reported, its connections naming it.
pub fn a_remote_listener_made_before_the_agent_starts_is_reported(kind: Kind) {
    if root_or_skip("a_remote_listener_made_before_the_agent_starts_is_reported") {
        set_up_before_the_agent(kind, true)
    }
}

fn set_up_before_the_agent(kind: Kind, listener: bool) {
    let k = kind.name();
    let target = Target::in_namespace();
    // Each case its own server: both run side by side.
    let name = if listener {
        "fwd_discover_l"
    } else {
        "fwd_discover"
    };
    let server = Server::of(kind, name).unwrap();
    let (lport, rport) = (free_port().unwrap(), free_port().unwrap());
    let l = format!("{lport}:{}:{TARGET_PORT}", target.ip);
    let r = format!("127.0.0.1:{rport}:{}:{TARGET_PORT}", target.ip);
    let held = HeldSession::open(&server, &["-L", &l, "-R", &r], "true").unwrap();
    let port = held.port;
    let listening = wait_until(WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", rport))
            .err()
            .is_none()
            .then_some(())
    });
    // That probe was one connection through -R already; forget it.
    assert!(listening.is_some(), "[{k}] no -R listener");
    let probe = wait_until(WAIT, || target.connections().pop());
    assert!(probe.is_some(), "[{k}] the probe did not reach the target");
    let t = tracer(kind, &[]);
    http_get("127.0.0.1", lport, 30_000, None);
    let local = wait_until(WAIT, || (target.connections().len() == 2).then_some(()))
        .map(|_| target.connections()[1].clone())
        .unwrap();
    let (_, close) = open_and_close(&t, port, &ep(&target.ip, TARGET_PORT));
    assert_local_bytes(k, &close, &target, &local);
    let (peer_port, sent, received) = http_get("127.0.0.1", rport, 20_000, None);
    let peer = ep("127.0.0.1", peer_port);
    let rclose = wait_forward(&t, port, |f| f["state"] == "close" && f["peer"] == peer);
    let c = &rclose["forward"];
    assert_eq!(
        (&c["kind"], &c["bytes_in"], &c["bytes_out"]),
        (&json!("remote"), &json!(sent), &json!(received)),
        "[{k}] {c}"
    );
    if !listener {
        finish(held, t);
        return;
    }
    let listen = ep("127.0.0.1", rport);
    let l = wait_forward(&t, port, |f| f["listen"] == listen && f["peer"].is_null());
    assert_eq!(c["listener"], l["forward"]["id"], "[{k}] {c}");
    finish(held, t);
}
