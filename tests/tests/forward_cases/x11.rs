//! X11 forwarding: the display's listener and a connection through it.
use super::*;

pub fn x11_forwarding_shows_the_display_and_each_connection(kind: Kind) {
    if !root_or_skip("x11_forwarding_shows_the_display_and_each_connection") {
        return;
    }
    let k = kind.name();
    // The connection setup (48 bytes with the cookie) and 5000 more.
    let x = XServer::start(kind, 5048, 3000);
    let server = Server::with_config(kind, "fwd_x11", "X11Forwarding yes\n").unwrap();
    let t = tracer(kind, &[]);
    let client = user_fixture("x11_client.py");
    let display = format!(":{}", x.display);
    let held = HeldSession::open_env(
        &server,
        &["-Y"],
        &format!("python3 {client} 5000"),
        &[("DISPLAY", &display)],
    )
    .unwrap();
    let port = held.port;
    let (run, all) = finish(held, t);
    let line = run.stdout.lines().find(|l| l.starts_with("X11 "));
    let line = line.unwrap_or_else(|| panic!("[{k}] {} {}", run.stdout, run.stderr));
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let (peer_port, sent, received, display_port) = (v[0], v[1], v[2], v[3]);
    let xc = std::fs::read_to_string(&x.counts).unwrap_or_default();
    assert_eq!(
        xc.trim(),
        format!("{sent} {received}"),
        "[{k}] the X server saw it all"
    );
    let fw = forwards(&all, port);
    let f = |pred: &dyn Fn(&Value) -> bool| {
        fw.iter()
            .map(|e| &e["forward"])
            .find(|f| pred(f))
            .unwrap_or_else(|| panic!("[{k}] {fw:#?}"))
            .clone()
    };
    let l = f(&|f| f["state"] == "listen" && f["listen"] == ep("127.0.0.1", display_port as u16));
    assert_eq!(l["kind"], "x11", "[{k}] {l}");
    let c = f(&|f| f["state"] == "close" && f["peer"]["port"] == peer_port);
    assert_eq!(
        (&c["kind"], &c["listener"]),
        (&json!("x11"), &l["id"]),
        "[{k}] {c}"
    );
    assert_eq!(c["bytes_in"], sent, "[{k}] what the X client sent: {c}");
    assert_eq!(c["bytes_out"], received, "[{k}] what it received: {c}");
}
