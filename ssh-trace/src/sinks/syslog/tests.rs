//! Syslog framing and addresses, without a peer.
use std::sync::Arc;

use super::*;
use crate::{
    event::{Body, Endpoint, Event, SessionId, SessionInfo},
    format::FormatKind,
    sinks::queue::Encode,
};

fn login() -> Event {
    let mut s = SessionInfo::new(SessionId(0x5bed));
    s.user = Some("alice".into());
    s.source = Some(Endpoint::new([10, 0, 0, 1].into(), 5000));
    Event::new(
        1_700_000_000_000_000_000,
        Some(Arc::new(s)),
        Body::SessionLogin(crate::event::Login::default()),
    )
}

#[test]
fn messages_are_rfc5424_and_octet_counted() {
    let mut enc = Syslog::new(Formatter::new(FormatKind::Json, false), 10, "ssh-trace");
    let mut out = Vec::new();
    enc.encode(&login(), "web-1", &mut out);
    let text = String::from_utf8(out).unwrap();
    let (len, msg) = text.split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), msg.len(), "octet count");
    let pid = std::process::id();
    let time = crate::host::rfc3339(1_700_000_000_000_000_000);
    let head = format!("<86>1 {time} web-1 ssh-trace {pid} session.login - {{");
    assert!(msg.starts_with(&head), "{msg}");
    assert!(
        !msg.ends_with('\n'),
        "the line's newline is not part of the message"
    );
}

#[test]
fn loss_is_a_warning_and_an_empty_host_is_a_dash() {
    let mut enc = Syslog::new(Formatter::new(FormatKind::Human, false), 4, "st");
    let loss = crate::format::samples::event(crate::event::Kind::AgentLoss);
    let mut out = Vec::new();
    enc.encode(&loss, "", &mut out);
    let text = String::from_utf8(out).unwrap();
    let msg = text.split_once(' ').unwrap().1;
    assert!(
        msg.starts_with("<36>1 "),
        "auth (4) * 8 + warning (4): {msg}"
    );
    assert!(msg.contains(" - st "), "{msg}");
}

#[test]
fn addresses_parse_or_say_why_not() {
    assert_eq!(
        Address::parse("tcp://h:514"),
        Ok(Address::Tcp("h:514".into()))
    );
    assert_eq!(
        Address::parse("udp://[::1]:514"),
        Ok(Address::Udp("[::1]:514".into()))
    );
    assert_eq!(
        Address::parse("unix:///dev/log"),
        Ok(Address::Unix("/dev/log".into()))
    );
    assert_eq!(
        Address::parse("tcp://h").unwrap_err().to_string(),
        "\"tcp://h\" lacks host:port"
    );
    assert!(Address::parse("ftp://h:1").is_err());
}
