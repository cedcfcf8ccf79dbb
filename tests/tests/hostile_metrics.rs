//! The metrics endpoint against a hostile local user (issue 9, finding 2):
//! any user on the box can connect to `--metrics-listen`. Each test starts
//! the real agent, sends what an attacker would, and checks from
//! /proc/PID/status that the agent is alive, its thread count unchanged and
//! its RSS within a bound of its baseline, and that a normal scrape from a
//! fresh connection still returns ssh_trace metrics.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod ops;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use ssh_trace_tests::*;

/// How far the agent's RSS may grow over its baseline under each attack.
/// The old endpoint tried to allocate the announced 93 GB body; the bounded
/// one holds at most 64 connections of a 16 KiB read buffer each.
const RSS_BOUND_KIB: u64 = 16 * 1024;

struct Agent {
    tracer: Tracer,
    addr: String,
    base: Usage,
}

#[derive(Clone, Copy, Debug)]
struct Usage {
    rss_kib: u64,
    threads: u64,
}

impl Agent {
    /// The agent serving metrics on a port of its own (None when not root).
    fn start_as_root(test: &str) -> Option<Agent> {
        root_or_skip(test).then(Agent::start)
    }

    fn start() -> Agent {
        let addr = format!("127.0.0.1:{}", free_port().unwrap());
        let tracer = Tracer::start(&["--metrics-listen", &addr, "--no-sessions-socket"]).unwrap();
        let served = wait_until(Duration::from_secs(20), || scrape(&addr).ok());
        assert!(served.is_some(), "the agent never served {addr}");
        let base = usage(tracer.pid()).expect("agent running");
        Agent { tracer, addr, base }
    }

    /// Alive, no thread more than at its baseline, RSS within the bound, and
    /// a fresh connection gets the metrics.
    fn assert_bounded_and_serving(&self, when: &str) {
        let now = usage(self.tracer.pid())
            .unwrap_or_else(|| panic!("{when}: the agent died: {}", self.stderr()));
        assert_eq!(
            now.threads, self.base.threads,
            "{when}: threads {now:?} vs baseline {:?}",
            self.base
        );
        assert!(
            now.rss_kib < self.base.rss_kib + RSS_BOUND_KIB,
            "{when}: RSS {now:?} vs baseline {:?}",
            self.base
        );
        let text = scrape(&self.addr).unwrap_or_else(|e| panic!("{when}: scrape failed: {e}"));
        assert!(text.contains("ssh_trace_events_total"), "{when}: {text}");
        eprintln!("{when}: baseline {:?}, now {now:?}, scrape ok", self.base);
    }

    /// The old endpoint aborted the agent 1–3 s after the request: watch it
    /// for 5 s.
    fn assert_survives(&self, what: &str) {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            assert!(
                usage(self.tracer.pid()).is_some(),
                "died after {what}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        self.assert_bounded_and_serving(&format!("5 s after {what}"));
    }

    fn stderr(&self) -> String {
        self.tracer.stderr.lock().unwrap().clone()
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }
}

/// VmRSS and Threads of a live (not zombie) process.
fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Usage {
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
    })
}

/// Sockets the process has open.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

/// A plain scrape on a fresh connection: the body of a 200 answer.
fn scrape(addr: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 ") => Ok(body.to_owned()),
        _ => Err(std::io::Error::other(format!(
            "not a 200 answer: {out:.200}"
        ))),
    }
}

/// Everything the agent sends until it closes the connection.
fn read_until_closed(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        // Closing with unread request bytes makes the kernel send a reset.
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the agent neither answered nor closed: {e}"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Head sent, body never read: 413, then the agent closes.
fn assert_refused_unread(agent: &Agent, head: &str, what: &str) {
    let mut s = agent.connect();
    s.write_all(head.as_bytes()).unwrap();
    let answer = read_until_closed(&mut s);
    assert!(
        answer.starts_with("HTTP/1.1 413 ") && answer.contains("connection: close"),
        "{what}: {answer}"
    );
    assert!(
        !answer.contains("ssh_trace_"),
        "{what}: metrics served: {answer}"
    );
    // Body bytes sent after the answer meet a closed connection (the first
    // write may still be buffered before the reset comes back).
    let refused = wait_until(Duration::from_secs(5), || s.write_all(&[b'a'; 65536]).err());
    assert!(refused.is_some(), "{what}: the connection was left open");
    agent.assert_survives(what);
}

#[test]
fn announced_huge_body_is_refused_and_agent_keeps_serving() {
    let Some(agent) =
        Agent::start_as_root("announced_huge_body_is_refused_and_agent_keeps_serving")
    else {
        return;
    };
    let head = "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n";
    assert_refused_unread(&agent, head, "Content-Length: 99999999999");
}

#[test]
fn chunked_body_is_refused_and_agent_keeps_serving() {
    let Some(agent) = Agent::start_as_root("chunked_body_is_refused_and_agent_keeps_serving")
    else {
        return;
    };
    let head = "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_refused_unread(&agent, head, "chunked POST");
    let head = "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_refused_unread(&agent, head, "chunked GET");
}

#[test]
fn megabyte_header_line_is_refused_and_agent_keeps_serving() {
    let Some(agent) =
        Agent::start_as_root("megabyte_header_line_is_refused_and_agent_keeps_serving")
    else {
        return;
    };
    let mut s = agent.connect();
    let mut req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.resize(req.len() + (1 << 20), b'a');
    req.extend_from_slice(b"\r\n\r\n");
    // The agent stops reading at 16 KiB: the rest of the send may fail.
    let sent = s.write_all(&req);
    let answer = read_until_closed(&mut s);
    eprintln!("1 MiB header: send {sent:?}, answer {answer:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431 "),
        "{answer}"
    );
    assert!(!answer.contains("ssh_trace_"), "metrics served: {answer}");
    agent.assert_survives("a 1 MiB header line");
}

#[test]
fn slowloris_header_is_cut_off_and_agent_keeps_serving() {
    let Some(agent) = Agent::start_as_root("slowloris_header_is_cut_off_and_agent_keeps_serving")
    else {
        return;
    };
    let mut s = agent.connect();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    // Two minutes' worth at a byte a second; the agent must not wait for it.
    let head = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(80)
    );
    let t0 = Instant::now();
    let mut closed_after = None;
    for (i, b) in head.bytes().enumerate() {
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => closed_after = Some(i),
            Ok(n) => panic!(
                "answered a partial head: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
            Err(_) => closed_after = Some(i),
        }
        if closed_after.is_some() || s.write_all(&[b]).is_err() {
            closed_after = closed_after.or(Some(i));
            break;
        }
        if i == 3 {
            // While the slow head holds its connection, others are served.
            agent.assert_bounded_and_serving("during a slowloris head");
        }
        std::thread::sleep(Duration::from_millis(950));
    }
    let sent = closed_after.expect("the agent waited for a head sent a byte a second");
    eprintln!(
        "slowloris: closed after {sent} of {} bytes, {:.1} s",
        head.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(sent < head.len());
    agent.assert_survives("a slowloris head");
}

/// Raises the open-file limit to its maximum: a test process may start
/// with a soft limit of 1024.
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn thousand_idle_connections_keep_threads_and_memory_bounded() {
    raise_nofile();
    let Some(agent) =
        Agent::start_as_root("thousand_idle_connections_keep_threads_and_memory_bounded")
    else {
        return;
    };
    let pid = agent.tracer.pid();
    let base_sockets = sockets(pid);
    let mut held: Vec<TcpStream> = (0..1000)
        .map(|i| TcpStream::connect(&agent.addr).unwrap_or_else(|e| panic!("connect {i}: {e}")))
        .collect();
    // A fresh connection is served while they are held (it takes the slot
    // of the oldest); being accepted after them, it also shows all 1000 were.
    agent.assert_bounded_and_serving("1000 idle connections held");
    // The agent keeps at most 64 connections (the newest); older ones are
    // closed at once.
    let capped = wait_until(Duration::from_secs(10), || {
        let n = sockets(pid);
        (n <= base_sockets + 64).then_some(n)
    });
    assert!(
        capped.is_some(),
        "agent sockets: {} (baseline {base_sockets})",
        sockets(pid)
    );
    eprintln!("agent sockets: baseline {base_sockets}, with 1000 held {capped:?}");

    // Every idle connection is closed by the agent: the evicted ones at
    // once, the last 64 after the 5 s header timeout.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut open = 0;
    for s in &mut held {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.read(&mut [0u8; 64]) {
            Ok(0) => {}
            Ok(n) => panic!("an idle connection got {n} bytes"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(_) => open += 1,
        }
    }
    assert_eq!(open, 0, "idle connections the agent left open after 30 s");
    agent.assert_bounded_and_serving("1000 idle connections closed by the agent");
}

#[test]
fn keep_alive_connection_is_closed_after_its_request_limit() {
    let Some(agent) =
        Agent::start_as_root("keep_alive_connection_is_closed_after_its_request_limit")
    else {
        return;
    };
    let mut s = agent.connect();
    // 100 keep-alive requests at once (pipelined): the agent answers them
    // all, says `connection: close` on the last and closes, though the
    // client asked for none of that.
    let req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100);
    s.write_all(req.as_bytes()).unwrap();
    let answers = read_until_closed(&mut s);
    assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 100);
    assert_eq!(answers.matches("connection: close").count(), 1);
    let last = answers.rfind("HTTP/1.1 200 OK").unwrap();
    assert!(answers[last..].contains("connection: close"));
    agent.assert_bounded_and_serving("after 100 pipelined requests");
}
