//! The SSH servers the end-to-end tests run, each a private instance on
//! loopback with its own port, config, log and host key: the system's
//! OpenSSH (Debian 12: 9.2), OpenSSH 10 unpacked from Debian's backports by
//! `cargo xtask setup`, dropbear, and the system's sshd in inetd mode under
//! systemd-socket-activate (as Debian's ssh.socket + ssh@.service run it).
use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::{free_port, run, world, TEST_USER};

/// Paths inside the OpenSSH 10 tree that setup unpacks.
pub const OPENSSH10_BINARIES: &[&str] = &[
    "usr/sbin/sshd",
    "usr/lib/openssh/sshd-session",
    "usr/lib/openssh/sshd-auth",
    "usr/lib/openssh/sftp-server",
    "usr/bin/scp",
];
const SYSTEM_SSHD: &str = "/usr/sbin/sshd";
const DROPBEAR: &str = "/usr/sbin/dropbear";
const SOCKET_ACTIVATE: &str = "/usr/bin/systemd-socket-activate";
const READY: Duration = Duration::from_secs(20);

/// Where `cargo xtask setup` unpacks OpenSSH 10 ($SSH_TRACE_OPENSSH10
/// overrides): shared by every checkout on the machine, never on the
/// system's paths.
pub fn openssh10_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SSH_TRACE_OPENSSH10") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/ssh-trace/openssh-10")
}

fn openssh10(path: &str) -> String {
    openssh10_dir().join(path).display().to_string()
}

/// OpenSSH 10's programs that run as the test user (sftp-server, scp): a
/// copy in the tests' world-readable directory, since the tree is in
/// root's home, which the user cannot enter.
pub fn openssh10_user_binary(path: &str) -> String {
    static COPIED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let dest = world().dir.join("openssh10-bin").join(path);
    let mut copied = COPIED.lock().unwrap_or_else(|e| e.into_inner());
    if !copied.iter().any(|p| p == path) {
        let _ = std::fs::create_dir_all(dest.parent().unwrap_or(&dest));
        if std::fs::copy(openssh10(path), &dest).is_ok() {
            copied.push(path.to_owned());
        }
    }
    dest.display().to_string()
}

/// Which SSH server a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The system's /usr/sbin/sshd (Debian 12: OpenSSH 9.2p1).
    OpenSsh92,
    /// OpenSSH 10.0 from bookworm-backports: sshd → sshd-session → sshd-auth.
    OpenSsh10,
    /// dropbear 2022.83 (Debian dropbear-bin).
    Dropbear,
    /// The system's `sshd -i`, exec'd per connection by systemd-socket-activate.
    Inetd,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::OpenSsh92,
        Kind::OpenSsh10,
        Kind::Dropbear,
        Kind::Inetd,
    ];

    /// Short name for file names and assertion messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::OpenSsh92 => "openssh92",
            Kind::OpenSsh10 => "openssh10",
            Kind::Dropbear => "dropbear",
            Kind::Inetd => "inetd",
        }
    }

    /// The executables this server runs for itself in a session (what a
    /// connection that never logs in may exec).
    pub fn own_executables(self) -> Vec<String> {
        match self {
            Kind::OpenSsh92 | Kind::Inetd => vec![SYSTEM_SSHD.into()],
            Kind::OpenSsh10 => [
                "usr/sbin/sshd",
                "usr/lib/openssh/sshd-session",
                "usr/lib/openssh/sshd-auth",
            ]
            .map(openssh10)
            .to_vec(),
            // The per-connection child re-execs itself with fexecve.
            Kind::Dropbear => vec![DROPBEAR.into(), "/dev/fd/4".into()],
        }
    }

    /// The executable the server is started as (for inetd mode: the
    /// sshd that systemd-socket-activate execs).
    pub fn server_binary(self) -> String {
        match self {
            Kind::OpenSsh10 => openssh10("usr/sbin/sshd"),
            Kind::Dropbear => DROPBEAR.into(),
            Kind::OpenSsh92 | Kind::Inetd => SYSTEM_SSHD.into(),
        }
    }

    /// The call that makes the session's process the user for good, with
    /// its arguments: OpenSSH's setresuid(uid, uid, uid), dropbear's setuid(uid).
    pub fn user_switch(self, uid: u32) -> (&'static str, Value) {
        match self {
            Kind::Dropbear => ("setuid", json!([uid])),
            _ => ("setresuid", json!([uid, uid, uid])),
        }
    }

    /// Agent arguments that make it recognise this server. The system's
    /// servers are on the agent's default list; OpenSSH 10 lives in a
    /// private tree, so the agent gets every server binary these tests
    /// run (`--server-binary` replaces the default list).
    pub fn agent_args(self) -> Vec<String> {
        if self != Kind::OpenSsh10 {
            return Vec::new();
        }
        let mut paths: Vec<String> = vec![SYSTEM_SSHD.into(), DROPBEAR.into()];
        paths.extend(Kind::OpenSsh10.own_executables());
        let mut args: Vec<String> = paths
            .into_iter()
            .flat_map(|p| ["--server-binary".to_string(), p])
            .collect();
        // Its sftp-server and scp, and the system's (the lists replace the defaults).
        for (opt, path) in [
            ("--sftp-server", Kind::OpenSsh10.sftp_server()),
            ("--sftp-server", "/usr/lib/openssh/sftp-server".into()),
            ("--scp-binary", Kind::OpenSsh10.scp_binary()),
            ("--scp-binary", "/usr/bin/scp".into()),
        ] {
            args.extend([opt.to_string(), path]);
        }
        args
    }

    /// The sshd_config lines that make a session's `scp -t`/`-f` (legacy
    /// scp) this server's own scp: OpenSSH 10's is in its private tree.
    pub fn scp_path_config(self) -> String {
        match self {
            Kind::OpenSsh10 => {
                let scp = Kind::OpenSsh10.scp_binary();
                let dir = Path::new(&scp).parent().map(Path::to_path_buf);
                format!(
                    "SetEnv PATH={}:/usr/bin:/bin\n",
                    dir.unwrap_or_default().display()
                )
            }
            _ => String::new(),
        }
    }

    /// The scp a session of this server runs for legacy scp.
    pub fn scp_binary(self) -> String {
        match self {
            Kind::OpenSsh10 => openssh10_user_binary("usr/bin/scp"),
            _ => "/usr/bin/scp".into(),
        }
    }

    /// The sftp-server this server runs for the sftp subsystem.
    pub fn sftp_server(self) -> String {
        match self {
            Kind::OpenSsh10 => openssh10_user_binary("usr/lib/openssh/sftp-server"),
            // Debian's dropbear runs /usr/lib/sftp-server, a link to the system's.
            Kind::Dropbear => "/usr/lib/sftp-server".into(),
            _ => "/usr/lib/openssh/sftp-server".into(),
        }
    }

    fn check_installed(self) -> Result<()> {
        let needed: Vec<String> = match self {
            Kind::OpenSsh92 => vec![SYSTEM_SSHD.into()],
            Kind::OpenSsh10 => OPENSSH10_BINARIES.iter().map(|p| openssh10(p)).collect(),
            Kind::Dropbear => vec![DROPBEAR.into(), "/usr/bin/dropbearkey".into()],
            Kind::Inetd => vec![SYSTEM_SSHD.into(), SOCKET_ACTIVATE.into()],
        };
        for path in needed {
            if !Path::new(&path).exists() {
                bail!("{path} is missing: run `cargo xtask setup`");
            }
        }
        Ok(())
    }
}

/// How a test server is set up beyond the defaults (keys only, no PAM,
/// its log in `Server::log` through -E or standard error).
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Password authentication on (dropbear: without -s).
    pub passwords: bool,
    /// OpenSSH: `UsePAM yes` with keyboard-interactive (PAM asks for the
    /// password).
    pub pam: bool,
    /// Log to syslog: the server runs in a mount namespace of its own whose
    /// /dev/log is a datagram socket of the test's (crate::syslog), which
    /// appends every message to `Server::log`.
    pub syslog: bool,
    /// Users allowed besides the test user (OpenSSH's AllowUsers).
    pub users: Vec<String>,
    /// More sshd_config lines (OpenSSH).
    pub config: String,
    /// OpenSSH's LogLevel (VERBOSE when None: sshd takes a keyword's first
    /// value, so `config` cannot change it).
    pub log_level: Option<&'static str>,
    /// OpenSSH: `-E` names a symbolic link to `Server::log`, not the file.
    pub log_link: bool,
}

/// A private SSH server on loopback.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub log: PathBuf,
    addresses: Vec<String>,
    config: PathBuf,
    host_key: PathBuf,
    setup: Setup,
    /// The syslog receiver of a server with `Setup::syslog`.
    _syslog: Option<crate::syslog::Receiver>,
    child: Child,
}

/// The system's OpenSSH, as every test before issue 12 ran it.
pub type Sshd = Server;

impl Server {
    /// The system's OpenSSH on 127.0.0.1.
    pub fn start(name: &str) -> Result<Self> {
        Self::start_on(name, &["127.0.0.1"])
    }

    /// The system's OpenSSH listening on the given local addresses (e.g. a
    /// test network's, for clients in the test's own network namespaces).
    pub fn start_on(name: &str, addresses: &[&str]) -> Result<Self> {
        Self::launch(Kind::OpenSsh92, name, addresses, Setup::default())
    }

    /// A server of `kind` on 127.0.0.1.
    pub fn of(kind: Kind, name: &str) -> Result<Self> {
        Self::launch(kind, name, &["127.0.0.1"], Setup::default())
    }

    /// A server of `kind` on 127.0.0.1, set up as `setup` says.
    pub fn with(kind: Kind, name: &str, setup: Setup) -> Result<Self> {
        Self::launch(kind, name, &["127.0.0.1"], setup)
    }

    /// An OpenSSH server of `kind` on 127.0.0.1 whose sshd_config ends
    /// with `extra` (e.g. `X11Forwarding yes`, or a `Match User` block).
    pub fn with_config(kind: Kind, name: &str, extra: &str) -> Result<Self> {
        if kind == Kind::Dropbear && !extra.is_empty() {
            bail!("dropbear has no sshd_config");
        }
        let setup = Setup {
            config: extra.into(),
            ..Setup::default()
        };
        Self::launch(kind, name, &["127.0.0.1"], setup)
    }

    fn launch(kind: Kind, name: &str, addresses: &[&str], setup: Setup) -> Result<Self> {
        kind.check_installed()?;
        let w = world();
        let name = format!("{}_{name}", kind.name());
        let host_key = w.dir.join(format!("host_key_{name}"));
        let config = w.dir.join(format!("sshd_{name}.conf"));
        let log = w.dir.join(format!("server_{name}.log"));
        make_host_key(kind, &host_key)?;
        let port = free_port()?;
        let addresses: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
        if kind != Kind::Dropbear {
            let text = sshd_config(kind, port, &addresses, &host_key, &setup);
            std::fs::write(&config, text)?;
        }
        let syslog = setup
            .syslog
            .then(|| crate::syslog::Receiver::start(&w.dir.join(format!("syslog_{name}")), &log))
            .transpose()?;
        let child = spawn(
            kind,
            port,
            &addresses,
            &config,
            &host_key,
            &log,
            &setup,
            syslog.as_ref(),
        )?;
        let mut server = Self {
            kind,
            port,
            log,
            addresses,
            config,
            host_key,
            setup,
            _syslog: syslog,
            child,
        };
        server.wait_listening(0)?;
        Ok(server)
    }

    /// The listener's pid (for inetd mode: systemd-socket-activate's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGHUP to the listener: OpenSSH re-execs itself; returns once the
    /// new image listens again.
    pub fn hangup(&mut self) -> Result<()> {
        let before = self.listening_lines();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
        self.wait_listening(before)
    }

    /// Stops the listener (SIGTERM, as `systemctl restart` does with
    /// KillMode=process: open sessions' processes stay) and starts a new one
    /// on the same port with the same config.
    pub fn restart(&mut self) -> Result<()> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait()?;
        let before = self.listening_lines();
        self.child = spawn(
            self.kind,
            self.port,
            &self.addresses,
            &self.config,
            &self.host_key,
            &self.log,
            &self.setup,
            self._syslog.as_ref(),
        )?;
        self.wait_listening(before)
    }

    /// Client ports of connections the server logged: OpenSSH's
    /// "Connection from IP port N", dropbear's "Child connection from IP:N".
    pub fn logged_client_ports(&self) -> Vec<u16> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|l| {
                let rest = l.split("onnection from ").nth(1)?;
                match self.kind {
                    Kind::Dropbear => rest
                        .split_whitespace()
                        .next()?
                        .rsplit(':')
                        .next()?
                        .parse()
                        .ok(),
                    _ => rest.split_whitespace().nth(2)?.parse().ok(),
                }
            })
            .collect()
    }

    /// OpenSSH logs "Server listening on ADDR port N." at every start.
    fn listening_lines(&self) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.matches("Server listening on").count()
    }

    fn wait_listening(&mut self, listening_before: usize) -> Result<()> {
        let deadline = Instant::now() + READY;
        // Below INFO, OpenSSH logs no "Server listening" line.
        let quiet = matches!(self.setup.log_level, Some("QUIET" | "FATAL" | "ERROR"));
        let logs_listening = matches!(self.kind, Kind::OpenSsh92 | Kind::OpenSsh10) && !quiet;
        let first = self
            .addresses
            .first()
            .map(String::as_str)
            .unwrap_or("127.0.0.1");
        loop {
            let logged = !logs_listening || self.listening_lines() > listening_before;
            if logged && std::net::TcpStream::connect((first, self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status}: {}",
                    self.kind.name(),
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {}: {}",
                    self.kind.name(),
                    self.port,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn make_host_key(kind: Kind, path: &Path) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    match kind {
        Kind::Dropbear => run(Command::new("dropbearkey")
            .args(["-t", "ed25519", "-f"])
            .arg(path)),
        _ => run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path)),
    }
    .map(drop)
}

fn sshd_config(
    kind: Kind,
    port: u16,
    addresses: &[String],
    host_key: &Path,
    setup: &Setup,
) -> String {
    let listen: String = addresses
        .iter()
        .map(|a| format!("ListenAddress {a}\n"))
        .collect();
    let yes = |on: bool| if on { "yes" } else { "no" };
    let users: String = setup.users.iter().map(|u| format!(" {u}")).collect();
    let mut cfg = format!(
        "Port {port}\n{listen}HostKey {}\nUsePAM {}\nStrictModes no\n\
         AllowUsers {TEST_USER}{users}\nPasswordAuthentication {}\nKbdInteractiveAuthentication {}\n\
         PidFile none\nLogLevel {}\nMaxStartups 200\nMaxSessions 200\n",
        host_key.display(),
        yes(setup.pam),
        yes(setup.passwords),
        yes(setup.pam),
        setup.log_level.unwrap_or("VERBOSE"),
    );
    if kind == Kind::OpenSsh10 {
        // Tests connect often from 127.0.0.1, failures included: no penalties.
        cfg.push_str(&format!(
            "SshdSessionPath {}\nSshdAuthPath {}\nSubsystem sftp {}\nPerSourcePenalties no\n",
            openssh10("usr/lib/openssh/sshd-session"),
            openssh10("usr/lib/openssh/sshd-auth"),
            Kind::OpenSsh10.sftp_server(),
        ));
    } else {
        cfg.push_str("Subsystem sftp /usr/lib/openssh/sftp-server\n");
    }
    // Last: a `Match` block there takes only what follows it.
    cfg.push_str(&setup.config);
    cfg
}

/// The `-E` path of an OpenSSH server: its log, or a link to it.
fn log_argument(log: &Path, setup: &Setup) -> Result<PathBuf> {
    if !setup.log_link {
        return Ok(log.to_owned());
    }
    let link = log.with_extension("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(log, &link)?;
    Ok(link)
}

#[allow(clippy::too_many_arguments)]
fn spawn(
    kind: Kind,
    port: u16,
    addresses: &[String],
    config: &Path,
    host_key: &Path,
    log: &Path,
    setup: &Setup,
    syslog: Option<&crate::syslog::Receiver>,
) -> Result<Child> {
    let mut cmd = match kind {
        Kind::OpenSsh92 | Kind::OpenSsh10 => {
            let mut c = Command::new(kind.server_binary());
            c.arg("-D").arg("-f").arg(config);
            if syslog.is_none() {
                c.arg("-E").arg(log_argument(log, setup)?);
            }
            c
        }
        Kind::Inetd => {
            let mut c = Command::new(SOCKET_ACTIVATE);
            for a in addresses {
                c.args(["-l", &format!("{a}:{port}")]);
            }
            c.args(["-a", "--inetd", SYSTEM_SSHD, "-i", "-f"])
                .arg(config)
                .arg("-E")
                .arg(log);
            c.stderr(File::options().create(true).append(true).open(log)?);
            c
        }
        Kind::Dropbear => {
            // -F foreground, -E log to stderr (else syslog), -s no
            // passwords, -P its own pid file (the default is shared by
            // every dropbear).
            let mut c = Command::new(DROPBEAR);
            c.arg("-F");
            if syslog.is_none() {
                c.arg("-E");
            }
            if !setup.passwords {
                c.arg("-s");
            }
            c.arg("-P").arg(log.with_extension("pid"));
            for a in addresses {
                c.args(["-p", &format!("{a}:{port}")]);
            }
            c.arg("-r").arg(host_key);
            c.stderr(File::options().create(true).append(true).open(log)?);
            c
        }
    };
    if let Some(r) = syslog {
        cmd = r.in_namespace(cmd);
        // What goes wrong before the server logs (unshare, mount) is seen.
        cmd.stderr(File::options().create(true).append(true).open(log)?);
    }
    cmd.stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", kind.name()))
}
