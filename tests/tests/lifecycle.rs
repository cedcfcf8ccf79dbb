//! Server life cycle (issue 12): the listener restarted while a session
//! stays open — SIGHUP (OpenSSH re-execs itself in place) and stop + start
//! on the same port (what `systemctl restart ssh` does: KillMode=process
//! leaves the sessions' processes running). The open session keeps being
//! traced under its id and ends with exact bytes; connections after the
//! restart are sessions. Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::time::Duration;

use serde_json::Value;
use ssh_trace_tests::{held::HeldSession, *};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Restart {
    Hangup,
    StopStart,
}

fn logged_in(port: u16) -> impl Fn(&Value) -> bool {
    move |e: &Value| e["event"] == "session.login" && e["session"]["source"]["port"] == port
}

fn restart_keeps_sessions(kind: Kind, how: Restart) {
    let k = format!("{} {how:?}", kind.name());
    let server_name = format!("{how:?}").to_lowercase();
    let mut server = Server::of(kind, &server_name).unwrap();
    let agent_args = kind.agent_args();
    let args: Vec<&str> = agent_args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args).unwrap();
    let proxy = CountProxy::new(&server, "held");
    let held =
        HeldSession::open(&server, &["-o", &proxy.option], "/bin/echo marker-after").unwrap();
    assert!(
        tracer.wait_for(WAIT, logged_in(held.port)),
        "[{k}] the held session's login"
    );

    match how {
        Restart::Hangup => server.hangup().unwrap(),
        Restart::StopStart => server.restart().unwrap(),
    }
    let fresh = ssh(&server, &[], "echo $SSH_CONNECTION; /bin/echo marker-new").unwrap();
    assert!(
        fresh.success,
        "[{k}] connection after the restart: {}",
        fresh.stderr
    );
    let fresh_port = fresh.client_port.unwrap();
    let fresh_seen = tracer.wait_for(WAIT, ended(fresh_port));

    held.release().unwrap();
    let run = held.finish().unwrap();
    assert!(run.success, "[{k}] the held session: {}", run.stderr);
    let held_port = run.client_port.unwrap();
    let held_seen = tracer.wait_for(WAIT, ended(held_port));
    let all = tracer.stop().unwrap();
    check_schema(&all);
    let dump = |port| format!("{:#?}", session_events(&all, port));
    assert!(
        fresh_seen,
        "[{k}] no session.end for the new connection: {}",
        dump(fresh_port)
    );
    assert!(
        held_seen,
        "[{k}] no session.end for the held session: {}",
        dump(held_port)
    );

    // The session open across the restart: one session, still traced.
    let ev = session_events(&all, held_port);
    let connects = of_kind(&ev, "session.connect");
    assert_eq!(connects.len(), 1, "[{k}] {connects:#?}");
    let id = &connects[0]["session"]["id"];
    let marker = of_kind(&ev, "process.exec")
        .into_iter()
        .find(|e| args_of(e) == ["/bin/echo", "marker-after"])
        .unwrap_or_else(|| {
            panic!("[{k}] the command after the restart is not in the held session: {ev:#?}")
        });
    assert_eq!(&marker["session"]["id"], id, "[{k}] {marker}");
    assert_eq!(marker["session"]["user"], TEST_USER, "[{k}] {marker}");
    let end = of_kind(&ev, "session.end");
    assert_eq!(end.len(), 1, "[{k}] {end:#?}");
    let counted = proxy.counted().unwrap();
    assert_eq!(counted.port, held_port, "[{k}]");
    assert_eq!(
        (
            end[0]["session"]["bytes_in"].as_u64(),
            end[0]["session"]["bytes_out"].as_u64()
        ),
        (Some(counted.sent), Some(counted.received)),
        "[{k}] the held session's bytes vs the counting proxy"
    );

    // A connection after the restart is a session of its own.
    let ev = session_events(&all, fresh_port);
    let login = of_kind(&ev, "session.login");
    assert_eq!(login.len(), 1, "[{k}] {ev:#?}");
    assert_eq!(login[0]["session"]["user"], TEST_USER, "[{k}]");
    assert_ne!(&login[0]["session"]["id"], id, "[{k}] a new session id");
    assert_eq!(
        login[0]["session"]["destination"]["port"], server.port,
        "[{k}]"
    );
    assert!(
        of_kind(&ev, "process.exec")
            .iter()
            .any(|e| args_of(e) == ["/bin/echo", "marker-new"]),
        "[{k}] {ev:#?}"
    );
}

/// The tests, one per server kind and way of restarting.
macro_rules! restart_tests {
    ($($name:ident: $kind:expr, $how:expr $(, #[$attr:meta])?;)*) => {
        $(
            #[test]
            $(#[$attr])?
            fn $name() {
                if root_or_skip(stringify!($name)) {
                    restart_keeps_sessions($kind, $how);
                }
            }
        )*
    };
}

// dropbear has no restart on SIGHUP (the signal ends it), so only its stop
// and start is tested.
restart_tests! {
    openssh92_sighup_keeps_open_sessions_traced: Kind::OpenSsh92, Restart::Hangup;
    openssh92_stop_and_start_keeps_open_sessions_traced: Kind::OpenSsh92, Restart::StopStart;
    openssh10_sighup_keeps_open_sessions_traced: Kind::OpenSsh10, Restart::Hangup;
    openssh10_stop_and_start_keeps_open_sessions_traced: Kind::OpenSsh10, Restart::StopStart;
    dropbear_stop_and_start_keeps_open_sessions_traced: Kind::Dropbear, Restart::StopStart;
    inetd_stop_and_start_keeps_open_sessions_traced: Kind::Inetd, Restart::StopStart;
}
