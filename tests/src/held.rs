//! A session held open at a known point: its command prints
//! `$SSH_CONNECTION`, then blocks reading a FIFO until the test releases
//! it and runs the rest. Lets a test act (start an agent, restart the
//! server) while the session is certainly up, without sleeping.
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::PathBuf,
    process::{Child, ChildStdout, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{connection_port, parse_output, ssh_base, world, Server, SshRun, TEST_USER};

pub struct HeldSession {
    child: Child,
    stdout: BufReader<ChildStdout>,
    first_line: String,
    stderr: PathBuf,
    fifo: PathBuf,
    /// The client port, from the `$SSH_CONNECTION` the session printed.
    pub port: u16,
}

impl HeldSession {
    /// Opens a session on `server` (extra ssh options in `extra`) that
    /// runs `then` once released.
    pub fn open(server: &Server, extra: &[&str], then: &str) -> Result<Self> {
        Self::open_env(server, extra, then, &[])
    }

    /// As `open`, with `env` set for the client (e.g. SSH_AUTH_SOCK).
    pub fn open_env(
        server: &Server,
        extra: &[&str],
        then: &str,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let w = world();
        let fifo = w.dir.join(format!("held_{}_{n}.fifo", server.port));
        let stderr = fifo.with_extension("stderr");
        let _ = std::fs::remove_file(&fifo);
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())?;
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
            bail!(
                "mkfifo {}: {}",
                fifo.display(),
                std::io::Error::last_os_error()
            );
        }
        // The session's shell, the test user, reads it.
        std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666))?;
        let mut child = ssh_base(server, &w.key)
            .args(extra)
            .arg(format!("{TEST_USER}@127.0.0.1"))
            .arg(format!(
                "echo $SSH_CONNECTION; read go < {}; {then}",
                fifo.display()
            ))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .context("starting ssh")?;
        let mut stdout = BufReader::new(child.stdout.take().context("ssh stdout")?);
        let mut first_line = String::new();
        stdout.read_line(&mut first_line)?;
        let Some(port) = connection_port(&first_line) else {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "session did not start: {first_line:?} {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Ok(Self {
            child,
            stdout,
            first_line,
            stderr,
            fifo,
            port,
        })
    }

    /// Lets the session go on to its `then` command.
    pub fn release(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Non-blocking: fails with ENXIO until the shell has the FIFO open.
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.fifo)
            {
                Ok(mut f) => return Ok(f.write_all(b"go\n")?),
                Err(e) if Instant::now() > deadline => {
                    bail!("the held session never opened {}: {e}", self.fifo.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Waits for the client to exit; what it showed.
    pub fn finish(mut self) -> Result<SshRun> {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest)?;
        let status = self.child.wait()?;
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let _ = std::fs::remove_file(&self.fifo);
        Ok(parse_output(
            status.success(),
            std::mem::take(&mut self.first_line) + &rest,
            stderr,
        ))
    }
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
