//! Benchmark helper (used by `cargo xtask bench operators`; an example of
//! the tests crate, not part of the product): N simulated
//! open sessions fed as events through the operators' view (live table,
//! metrics, alert rules); prints one JSON line of figures: agent RSS growth,
//! metrics scrape time over HTTP, session listing time, and the cost of
//! alert evaluation per event.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::Arc,
    time::Instant,
};

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;

use ssh_trace::{
    event::*,
    operators::{
        alert::{config::Config, rules::Engine},
        live::Live,
        metrics::{agent_self, server, Metrics, SourceIpLabel},
    },
};

const RULES: &str = r#"
[[rule]]
type = "connection_rate"
max = 100
window = "1m"
[[rule]]
type = "unauthenticated_rate"
max = 100
window = "1m"
[[rule]]
type = "root_login"
[[rule]]
type = "privilege_gain"
[[rule]]
type = "session_bytes"
max = 1000000000000
[[rule]]
type = "idle"
after = "10m"
[[rule]]
type = "login_after_idle"
after = "10m"
"#;

/// connect, login, an exec, a bytes update of session `n`.
fn events(n: u64, t: u64) -> Vec<Arc<Event>> {
    let mut s = SessionInfo::new(SessionId(
        0x5bed_c86c_1cdc_4597_0000_0000_0000_0000 | n as u128,
    ));
    let ip = [
        10,
        (n % 7) as u8,
        (n / 250 % 250) as u8,
        (n % 250 + 1) as u8,
    ];
    s.source = Some(Endpoint::new(ip.into(), 30000 + (n % 30000) as u16));
    let connect = Event::new(t, Some(Arc::new(s.clone())), Body::SessionConnect);
    s.user = Some(format!("user{}", n % 20));
    s.uid = Some(1000 + (n % 20) as u32);
    let s = Some(Arc::new(s));
    let login = Event::new(t + 1, s.clone(), Body::SessionLogin(Login::default()));
    let exec = Body::ProcessExec(ProcessExec {
        pid: n as u32 + 1000,
        ppid: 1,
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
        executable: "/usr/bin/bash".into(),
        executable_truncated: false,
        args: Args::from_parts(["-bash"]),
        args_truncated: false,
        role: Some(Role::User),
        fileless: false,
    });
    let exec = Event::new(t + 2, s.clone(), exec);
    let traffic = Traffic {
        bytes_in: 4000 + n,
        bytes_out: 9000 + n,
    };
    let bytes = Event::new(t + 3, s, Body::SessionBytes(traffic));
    [connect, login, exec, bytes]
        .into_iter()
        .map(Arc::new)
        .collect()
}

fn scrape(addr: &str) -> Result<(f64, usize)> {
    let t0 = Instant::now();
    let mut c = TcpStream::connect(addr)?;
    c.write_all(b"GET /metrics HTTP/1.0\r\nAccept: application/openmetrics-text\r\n\r\n")?;
    let mut body = Vec::new();
    c.read_to_end(&mut body)?;
    Ok((t0.elapsed().as_secs_f64() * 1e3, body.len()))
}

/// The endpoint on a current-thread runtime of its own, as in the agent; the
/// bench itself stays synchronous.
fn serve_in_background(listener: TcpListener, registry: Arc<Registry>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        rt.block_on(async {
            server::serve(listener, registry)?;
            std::future::pending::<Result<()>>().await
        })
    });
    Ok(())
}

/// The n-th argument, or `default`.
fn arg<T: std::str::FromStr>(n: usize, default: T) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(std::env::args()
        .nth(n)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(default))
}

/// `n` sessions through the live table and the metrics, then the rules
/// (timed): nanoseconds per event and the alerts fired.
fn feed(n: u64, live: &mut Live, metrics: &mut Metrics, engine: &mut Engine) -> (f64, usize) {
    let mut all = Vec::with_capacity(n as usize * 4);
    for i in 0..n {
        all.extend(events(i, i * 1_000_000));
    }
    for e in &all {
        live.observe(e);
        metrics.observe(e);
    }
    let mut out = Vec::new();
    let t0 = Instant::now();
    for e in &all {
        engine.observe(e, &mut out);
    }
    (t0.elapsed().as_nanos() as f64 / all.len() as f64, out.len())
}

fn main() -> Result<()> {
    let n: u64 = arg(1, 10_000)?;
    let ip_limit: usize = arg(2, 100)?;
    let (_, rss0) = agent_self::usage();
    let listener = server::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let mut metrics = Metrics::new(SourceIpLabel {
        enabled: true,
        limit: ip_limit,
    });
    serve_in_background(listener, metrics.registry.clone())?;
    let mut live = Live::new();
    let cfg = Config::parse(RULES).context("bench rules")?;
    let mut engine = Engine::new(cfg.rules, None, 0);
    let (alert_ns, alerts_fired) = feed(n, &mut live, &mut metrics, &mut engine);
    let (_, rss1) = agent_self::usage();
    let mut scrapes: Vec<(f64, usize)> = (0..5).map(|_| scrape(&addr)).collect::<Result<_>>()?;
    scrapes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let t0 = Instant::now();
    let rows = live.rows(0, &|_| None);
    let json = serde_json::to_string(&rows)?;
    let list_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!(
        "{}",
        serde_json::json!({
            "sessions": n,
            "source_ip_limit": ip_limit,
            "rss_before_kib": rss0 / 1024,
            "rss_after_kib": rss1 / 1024,
            "rss_per_session_bytes": (rss1 - rss0) as f64 / n as f64,
            "scrape_ms_median": scrapes[2].0,
            "scrape_bytes": scrapes[2].1,
            "list_ms": list_ms,
            "list_bytes": json.len(),
            "alert_ns_per_event": alert_ns,
            "alerts_fired": alerts_fired,
        })
    );
    Ok(())
}
