//! How a forward (`session.forward`) is written: its one-line summary
//! (human format, timeline), and its ECS and OCSF network connection. In
//! ECS and OCSF a forward's endpoints are the forwarded connection's, not
//! the SSH session's (whose client stays named: ECS
//! `process.entry_leader.entry_meta.source.ip`, OCSF `actor.session`, and
//! `*.session.source` beside the forward).
use std::fmt::Write as _;

use super::doc::Doc;
use crate::{
    event::{Endpoint, Forward, ForwardKind, ForwardSocket, ForwardState, SessionInfo},
    text::printable,
};

/// `#1 local open 127.0.0.1:41000 -> 10.1.2.3:80`, `#3 remote open
/// 127.0.0.1:8022 <- 127.0.0.1:51234 via #2`, then bytes and duration at
/// the close, errno of a failure.
pub fn summary(f: &Forward) -> String {
    let mut s = format!("#{} {} {}", f.id, f.kind_name(), f.state_name());
    let ep = |e: Option<Endpoint>| e.map(|e| endpoint(&e));
    match (ep(f.local), ep(f.target), ep(f.listen), ep(f.peer)) {
        (local, Some(t), _, _) => {
            let _ = write!(s, " {}-> {t}", local.map(|l| l + " ").unwrap_or_default());
        }
        (_, _, Some(l), Some(p)) => {
            let _ = write!(s, " {l} <- {p}");
        }
        (_, _, Some(l), None) => {
            let _ = write!(s, " {l}");
        }
        _ => {}
    }
    if let Some(p) = &f.path {
        let arrow = if f.kind == ForwardKind::Local {
            "-> "
        } else {
            ""
        };
        let _ = write!(s, " {arrow}{}", printable(p));
    }
    if let Some(l) = f.listener {
        let _ = write!(s, " via #{l}");
    }
    if let (Some(i), Some(o)) = (f.bytes_in, f.bytes_out) {
        let _ = write!(s, " in={i} out={o}");
    }
    if let Some(d) = f.duration_ms {
        let _ = write!(s, " duration={d}ms");
    }
    if let Some(e) = f.error {
        let _ = write!(s, " error={e}");
    }
    s
}

/// `ip:port`, `[ip]:port` for IPv6.
fn endpoint(e: &Endpoint) -> String {
    if e.ip.is_ipv6() {
        format!("[{}]:{}", e.ip, e.port)
    } else {
        format!("{}:{}", e.ip, e.port)
    }
}

fn own_fields(d: &mut Doc, prefix: &str, f: &Forward) {
    d.put(&format!("{prefix}.id"), f.id);
    d.put(&format!("{prefix}.kind"), f.kind_name());
    d.put(&format!("{prefix}.state"), f.state_name());
    d.put(&format!("{prefix}.socket"), f.socket_name());
    d.put_opt(&format!("{prefix}.listener"), f.listener);
    d.put_opt(&format!("{prefix}.path"), f.path.as_deref());
}

fn ssh_client(d: &mut Doc, prefix: &str, s: Option<&SessionInfo>) {
    if let Some(src) = s.and_then(|s| s.source.as_ref()) {
        d.put_endpoint(prefix, src);
    }
}

/// ECS: `source`/`destination` and `network` are the forward's.
pub fn ecs(d: &mut Doc, f: &Forward, s: Option<&SessionInfo>) {
    for k in ["source", "destination", "network"] {
        d.0.remove(k);
    }
    let (src, dst) = f.ends();
    if let Some(e) = &src {
        d.put_endpoint("source", e);
    }
    if let Some(e) = &dst {
        d.put_endpoint("destination", e);
    }
    if f.socket == ForwardSocket::Tcp {
        d.put("network.transport", "tcp");
    }
    if f.state != ForwardState::Listen {
        d.put(
            "network.direction",
            if f.outbound() { "egress" } else { "ingress" },
        );
    }
    if let Some((from_src, from_dst)) = f.sent() {
        d.put("source.bytes", from_src);
        d.put("destination.bytes", from_dst);
        d.put("network.bytes", from_src + from_dst);
    }
    if let Some(ms) = f.duration_ms {
        d.put("event.duration", ms.saturating_mul(1_000_000));
    }
    d.put("process.pid", f.pid);
    d.put_opt("error.code", f.error.map(|e| e.to_string()));
    own_fields(d, "ssh_trace.forward", f);
    ssh_client(d, "ssh_trace.session.source", s);
}

/// OCSF Network Activity: `src_endpoint`/`dst_endpoint`, `connection_info`
/// and `traffic` are the forward's; a unix socket's destination is this
/// machine (the class requires one).
pub fn ocsf(d: &mut Doc, f: &Forward, s: Option<&SessionInfo>) {
    let host = d.0["device"]["hostname"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for k in ["src_endpoint", "dst_endpoint", "connection_info"] {
        d.0.remove(k);
    }
    let (src, dst) = f.ends();
    if let Some(e) = &src {
        d.put_endpoint("src_endpoint", e);
    }
    match &dst {
        Some(e) => d.put_endpoint("dst_endpoint", e),
        None => d.put("dst_endpoint.hostname", host),
    }
    if f.socket == ForwardSocket::Tcp {
        d.put("connection_info.protocol_name", "tcp");
        d.put("connection_info.protocol_num", 6);
    }
    let (id, name) = if f.outbound() {
        (2, "Outbound")
    } else {
        (1, "Inbound")
    };
    d.put("connection_info.direction_id", id);
    d.put("connection_info.direction", name);
    if let Some((from_src, from_dst)) = f.sent() {
        d.put("traffic.bytes_out", from_src);
        d.put("traffic.bytes_in", from_dst);
        d.put("traffic.bytes", from_src + from_dst);
    }
    d.put_opt("duration", f.duration_ms);
    d.put("actor.process.pid", f.pid);
    let ok = f.state != ForwardState::Failed;
    d.put("status_id", if ok { 1 } else { 2 });
    d.put("status", if ok { "Success" } else { "Failure" });
    d.put_opt("status_code", f.error.map(|e| e.to_string()));
    own_fields(d, "unmapped.forward", f);
    ssh_client(d, "unmapped.session.source", s);
}

#[cfg(test)]
mod tests {
    use crate::event::Body;

    #[test]
    fn summaries_name_the_forward_its_ends_and_its_figures() {
        let got: Vec<String> = crate::format::samples::events()
            .iter()
            .filter_map(|e| match &e.body {
                Body::SessionForward(f) => Some(super::summary(f)),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            [
                "#3 local close 192.0.2.1:41000 -> 198.51.100.7:8080 in=5321 out=187 duration=42ms",
                "#4 remote listen 127.0.0.1:8022",
                "#5 remote open 127.0.0.1:8022 <- 127.0.0.1:51234 via #4",
                "#6 agent listen /tmp/ssh-XXXXabcdef/agent.4240",
                "#7 local failed 192.0.2.1:41000 -> 198.51.100.7:8080 error=111",
                "#8 local open -> /run/docker.sock",
            ]
        );
    }
}
