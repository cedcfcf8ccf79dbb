//! Real peers for the sink tests: an rsyslog with its own config (TCP with
//! octet-counted framing and UDP on loopback, each written to its own file)
//! and a Python HTTP receiver that records what it is sent; plus the agent
//! running `ssh-trace agent --config`.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{agent_bin, free_port, workspace_root, world};

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !ok() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Non-empty lines of a file (missing file: none).
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

pub struct Rsyslog {
    pub tcp_port: u16,
    pub udp_port: u16,
    pub dir: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

impl Rsyslog {
    pub fn start(name: &str) -> Result<Self> {
        if !Path::new("/usr/sbin/rsyslogd").exists() {
            bail!("/usr/sbin/rsyslogd is missing: run `cargo xtask setup` (installs rsyslog)");
        }
        let dir = world().dir.join(format!("rsyslog_{name}"));
        std::fs::create_dir_all(&dir)?;
        let (tcp_port, udp_port) = (free_port()?, free_udp_port()?);
        let conf = dir.join("rsyslog.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{d}\" maxMessageSize=\"64k\")\n\
                 module(load=\"imtcp\")\nmodule(load=\"imudp\")\n\
                 module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 template(name=\"raw\" type=\"string\" string=\"%msg%\\n\")\n\
                 ruleset(name=\"tcp\") {{ action(type=\"omfile\" file=\"{d}/tcp.log\" template=\"raw\") }}\n\
                 ruleset(name=\"udp\") {{ action(type=\"omfile\" file=\"{d}/udp.log\" template=\"raw\") }}\n\
                 ruleset(name=\"unix\") {{ action(type=\"omfile\" file=\"{d}/unix.log\" template=\"raw\") }}\n\
                 input(type=\"imuxsock\" Socket=\"{d}/log.sock\" UseSpecialParser=\"off\" ParseHostname=\"on\" ruleset=\"unix\")\n\
                 input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp_port}\" ruleset=\"tcp\")\n\
                 input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp_port}\" ruleset=\"udp\")\n"
            ),
        )?;
        let mut r = Self {
            tcp_port,
            udp_port,
            dir,
            conf,
            child: None,
        };
        r.resume()?;
        Ok(r)
    }

    /// (Re)starts rsyslogd on the same ports.
    pub fn resume(&mut self) -> Result<()> {
        let child = Command::new("/usr/sbin/rsyslogd")
            .args(["-n", "-f"])
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("rsyslogd.err"))?)
            .spawn()
            .context("starting rsyslogd")?;
        self.child = Some(child);
        let port = self.tcp_port;
        wait_until("rsyslogd to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
    }

    /// SIGTERM and wait: the peer is down.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    pub fn tcp_lines(&self) -> Vec<String> {
        lines_of(&self.dir.join("tcp.log"))
    }

    pub fn udp_lines(&self) -> Vec<String> {
        lines_of(&self.dir.join("udp.log"))
    }

    /// rsyslog's unix datagram socket (imuxsock), like /dev/log.
    pub fn unix_socket(&self) -> PathBuf {
        self.dir.join("log.sock")
    }

    pub fn unix_lines(&self) -> Vec<String> {
        lines_of(&self.dir.join("unix.log"))
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_udp_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// tests/fixtures/http_receiver.py on a loopback port.
pub struct HttpReceiver {
    pub port: u16,
    pub out: PathBuf,
    child: Child,
}

impl HttpReceiver {
    pub fn start(name: &str) -> Result<Self> {
        Self::start_with(name, None)
    }

    /// HTTPS with `(certificate chain, key)` PEM files.
    pub fn start_tls(name: &str, cert: &Path, key: &Path) -> Result<Self> {
        Self::start_with(name, Some((cert, key)))
    }

    fn start_with(name: &str, tls: Option<(&Path, &Path)>) -> Result<Self> {
        let out = world().dir.join(format!("http_{name}.log"));
        for stale in ["", ".requests", ".requests.jsonl", ".fail", ".bulk_errors"] {
            let _ = std::fs::remove_file(format!("{}{stale}", out.display()));
        }
        let mut child = Command::new("python3")
            .arg(workspace_root().join("tests/fixtures/http_receiver.py"))
            .arg(&out)
            .args(tls.map(|(c, k)| [c, k]).into_iter().flatten())
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("starting the HTTP receiver (python3)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let port = line.trim().parse().context("HTTP receiver port")?;
        Ok(Self { port, out, child })
    }

    /// While failing, every request gets 503.
    pub fn set_failing(&self, failing: bool) -> Result<()> {
        let flag = PathBuf::from(format!("{}.fail", self.out.display()));
        if failing {
            std::fs::write(flag, "")?;
        } else {
            let _ = std::fs::remove_file(flag);
        }
        Ok(())
    }

    /// While set, every request gets an HTTP 200 Elasticsearch `_bulk`
    /// reply with `"errors": true` (each item rejected) and nothing is kept.
    pub fn set_bulk_errors(&self, on: bool) -> Result<()> {
        let flag = PathBuf::from(format!("{}.bulk_errors", self.out.display()));
        if on {
            std::fs::write(flag, "")?;
        } else {
            let _ = std::fs::remove_file(flag);
        }
        Ok(())
    }

    pub fn lines(&self) -> Vec<String> {
        lines_of(&self.out)
    }

    /// Each request as the receiver logged it: `status`, `bulk_errors`,
    /// `method`, `path`, `headers` (lower-case names), `body_bytes`,
    /// `body_ends_with_newline`.
    pub fn request_log(&self) -> Vec<serde_json::Value> {
        lines_of(Path::new(&format!("{}.requests.jsonl", self.out.display())))
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// "STATUS BODY_BYTES CONTENT_TYPE AUTHORIZATION" per request.
    pub fn requests(&self) -> Vec<String> {
        lines_of(Path::new(&format!("{}.requests", self.out.display())))
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ssh-trace agent --config FILE`, ready once `ready_file` (a file sink
/// of the config) holds agent.start.
pub struct Agent {
    child: Child,
    pub stderr: PathBuf,
}

impl Agent {
    pub fn start(config: &Path, ready_file: &Path) -> Result<Self> {
        Self::start_bin(
            &agent_bin(),
            config,
            ready_file,
            &config.with_extension("stderr"),
        )
    }

    /// The same with a given binary (e.g. an installed one), its standard
    /// error written to `stderr`.
    pub fn start_bin(bin: &Path, config: &Path, ready_file: &Path, stderr: &Path) -> Result<Self> {
        let stderr = stderr.to_path_buf();
        let child = Command::new(bin)
            .arg("agent")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .context("starting ssh-trace agent")?;
        let mut a = Self { child, stderr };
        let started = wait_until(
            "agent.start in the file sink",
            Duration::from_secs(30),
            || {
                lines_of(ready_file)
                    .iter()
                    .any(|l| l.contains("\"agent.start\""))
            },
        );
        if let Err(e) = started {
            let _ = a.child.kill();
            bail!(
                "{e}: {}",
                std::fs::read_to_string(&a.stderr).unwrap_or_default()
            );
        }
        Ok(a)
    }

    /// SIGTERM; returns its standard error.
    pub fn stop(mut self) -> Result<String> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait()?;
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        if !status.success() {
            bail!("agent exited with {status}: {err}");
        }
        Ok(err)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `count()` reaches `want` (or the time is up).
pub fn wait_for_count(timeout: Duration, want: usize, count: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let n = count();
        if n >= want || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
