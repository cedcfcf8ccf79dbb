//! `-R` listeners the client cancels while its session goes on (OpenSSH's
//! `ssh -O cancel` through the session's ControlMaster): the listener ends
//! then, not with the session, whether the agent saw it start or found it
//! at its own start, on TCP or on a unix socket.
use std::time::SystemTime;

use super::*;

/// The kernel sees the listener close: its end follows the cancel.
pub fn a_remote_listener_canceled_by_the_client_ends(kind: Kind) {
    if root_or_skip("a_remote_listener_canceled_by_the_client_ends") {
        canceled(kind, false, On::Tcp(free_port().unwrap()))
    }
}

/// A listener found at the agent's start ends the same way, at the
/// agent's next check of its socket (once a second).
pub fn a_discovered_remote_listener_canceled_by_the_client_ends(kind: Kind) {
    if root_or_skip("a_discovered_remote_listener_canceled_by_the_client_ends") {
        canceled(kind, true, On::Tcp(free_port().unwrap()))
    }
}

/// `-R` on a unix socket: the agent's check of unix forwards ends it.
pub fn a_remote_unix_listener_canceled_by_the_client_ends(kind: Kind) {
    if root_or_skip("a_remote_unix_listener_canceled_by_the_client_ends") {
        canceled(kind, false, On::unix(kind, "fwd_cancel_unix"))
    }
}

/// ... and one found at the agent's start, by its check of those.
pub fn a_discovered_remote_unix_listener_canceled_by_the_client_ends(kind: Kind) {
    if root_or_skip("a_discovered_remote_unix_listener_canceled_by_the_client_ends") {
        canceled(kind, true, On::unix(kind, "fwd_cancel_unix_discovered"))
    }
}

/// The cancel's end is seen this soon (a tick, with room for a busy host).
const SOON: Duration = Duration::from_secs(3);

/// Where the `-R` listens: a TCP port on 127.0.0.1, or a unix socket.
enum On {
    Tcp(u16),
    Unix(String),
}

impl On {
    fn unix(kind: Kind, name: &str) -> On {
        let k = kind.name();
        let path = format!("/tmp/ssh-trace-fwd-{}-{k}-{name}.sock", std::process::id());
        let _ = std::fs::remove_file(&path);
        On::Unix(path)
    }

    /// The `-R` argument: nothing connects through it, so its target is
    /// never reached.
    fn spec(&self) -> String {
        match self {
            On::Tcp(p) => format!("127.0.0.1:{p}:127.0.0.1:9"),
            On::Unix(path) => format!("{path}:127.0.0.1:9"),
        }
    }

    fn name(&self, discovered: bool) -> &'static str {
        match (self, discovered) {
            (On::Tcp(_), false) => "fwd_cancel",
            (On::Tcp(_), true) => "fwd_cancel_discovered",
            (On::Unix(_), false) => "fwd_cancel_unix",
            (On::Unix(_), true) => "fwd_cancel_unix_discovered",
        }
    }

    /// The field of a listen event that names where it listens.
    fn field(&self) -> &'static str {
        match self {
            On::Tcp(_) => "listen",
            On::Unix(_) => "path",
        }
    }

    /// Where the host has it listening (/proc/net), as the events show
    /// it, sorted.
    fn listening(&self) -> Vec<Value> {
        match self {
            On::Tcp(p) => listeners_on(*p),
            On::Unix(path) => unix_listeners(path),
        }
    }
}

/// `ssh -M -S CTL -R …`, the agent started before the session or after it
/// (`discovered`); `ssh -S CTL -O cancel -R …` while the session is held:
/// each of its listeners closes (same id, state `close`, a duration from
/// its `listen`), the session still open.
fn canceled(kind: Kind, discovered: bool, on: On) {
    let k = kind.name();
    let name = on.name(discovered);
    let server = Server::of(kind, name).unwrap();
    let early = (!discovered).then(|| tracer(kind, &[]));
    let ctl = world()
        .dir
        .join(format!("{k}_{name}.ctl"))
        .display()
        .to_string();
    let _ = std::fs::remove_file(&ctl);
    let spec = on.spec();
    let held = HeldSession::open(&server, &["-M", "-S", &ctl, "-R", &spec], "true").unwrap();
    let port = held.port;
    // The server binds before the session's command runs (the client asks
    // for forwards first).
    let bound = on.listening();
    assert!(!bound.is_empty(), "[{k}] no -R listener for {spec}");
    let t = early.unwrap_or_else(|| tracer(kind, &[]));
    let listens = wait_until(WAIT, || {
        let l: Vec<Value> = forwards(&t.events(), port)
            .into_iter()
            .filter(|e| e["forward"]["state"] == "listen")
            .collect();
        (l.len() == bound.len()).then_some(l)
    })
    .unwrap_or_else(|| {
        panic!(
            "[{k}] listeners {bound:?}: {:#?}",
            forwards(&t.events(), port)
        )
    });
    let mut at: Vec<Value> = listens
        .iter()
        .map(|e| e["forward"][on.field()].clone())
        .collect();
    at.sort_by_key(|v| v.to_string());
    assert_eq!(at, bound, "[{k}] the listeners /proc/net shows");
    let canceled_at = SystemTime::now();
    cancel(&ctl, &spec, k);
    let gone = wait_until(WAIT, || on.listening().is_empty().then_some(()));
    assert!(gone.is_some(), "[{k}] still listening after the cancel");
    for listen in &listens {
        let l = &listen["forward"];
        let close = wait_forward(&t, port, |f| f["state"] == "close" && f["id"] == l["id"]);
        assert!(
            !t.events().iter().any(ended(port)),
            "[{k}] the session is still open: {close}"
        );
        let c = &close["forward"];
        assert_eq!(l["kind"], "remote", "[{k}] {l}");
        for key in [
            "kind", "socket", "pid", "listen", "listener", "local", "target", "peer", "path",
        ] {
            assert_eq!(l[key], c[key], "[{k}] {key} differs: {l} {c}");
        }
        // A listener moves no bytes of its own.
        assert!(
            c["bytes_in"].is_null() && c["bytes_out"].is_null(),
            "[{k}] {c}"
        );
        let (opened, closed) = (time_of(listen), time_of(&close));
        let after = closed.duration_since(canceled_at).ok();
        assert!(
            after.is_some_and(|d| d < SOON),
            "[{k}] ended {after:?} after the cancel: {close}"
        );
        let lasted = closed.duration_since(opened).unwrap().as_millis() as u64;
        let ms = c["duration_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("[{k}] {c}"));
        assert!(
            ms.abs_diff(lasted) <= 1,
            "[{k}] {ms} ms, {lasted} between: {c}"
        );
    }
    let ids: Vec<&Value> = listens.iter().map(|e| &e["forward"]["id"]).collect();
    let (_, all) = finish(held, t);
    // Ended once: nothing more of them at the session's end.
    let more: Vec<Value> = forwards(&all, port)
        .into_iter()
        .filter(|e| ids.contains(&&e["forward"]["id"]))
        .collect();
    assert_eq!(
        more.len(),
        2 * ids.len(),
        "[{k}] listen and close only: {more:#?}"
    );
    let _ = std::fs::remove_file(&ctl);
    if let On::Unix(path) = &on {
        let _ = std::fs::remove_file(path);
    }
}

/// `ssh -S CTL -O cancel -R SPEC`: the master asks the server to stop.
fn cancel(ctl: &str, spec: &str, k: &str) {
    let out = Command::new("ssh")
        .args(["-S", ctl, "-O", "cancel", "-R", spec, "x"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "[{k}] ssh -O cancel: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn time_of(e: &Value) -> SystemTime {
    humantime::parse_rfc3339(e["time"].as_str().unwrap()).unwrap()
}

/// The TCP sockets listening on `port` (/proc/net/tcp{,6}), as the
/// events show addresses, sorted.
fn listeners_on(port: u16) -> Vec<Value> {
    let mut found = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some((addr, p)) = f.get(1).and_then(|a| a.split_once(':')) else {
                continue;
            };
            if f.get(3) != Some(&"0A") || u16::from_str_radix(p, 16) != Ok(port) {
                continue;
            }
            found.push(ep(&proc_ip(addr, v6).to_string(), port));
        }
    }
    found.sort_by_key(|v| v.to_string());
    found
}

/// The listening unix sockets at `path` (/proc/net/unix: the accept flag
/// set, the path last).
fn unix_listeners(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = f.get(3).and_then(|x| u32::from_str_radix(x, 16).ok());
            flags.is_some_and(|x| x & 0x1_0000 != 0) && f.get(7) == Some(&path)
        })
        .map(|_| json!(path))
        .collect()
}

/// /proc/net's address: host-order 32-bit words in hex.
fn proc_ip(hex: &str, v6: bool) -> std::net::IpAddr {
    let mut bytes = [0u8; 16];
    for (w, chunk) in bytes.chunks_mut(4).enumerate().take(if v6 { 4 } else { 1 }) {
        let word = u32::from_str_radix(&hex[w * 8..w * 8 + 8], 16).unwrap();
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    if v6 {
        std::net::Ipv6Addr::from(bytes).to_canonical()
    } else {
        std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()
    }
}
