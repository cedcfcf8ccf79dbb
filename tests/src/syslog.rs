//! A syslog daemon of a test's own: a unix datagram socket that appends
//! every message it receives to a file, and the command that runs a server
//! in a mount namespace whose /dev/log is that socket. The machine's /dev
//! is untouched: the namespace sees an overlay of it.
use std::{
    io::Write,
    os::unix::{fs::PermissionsExt, net::UnixDatagram},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result};

pub struct Receiver {
    dir: PathBuf,
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `dir`/log.sock; messages are appended to `log`, one a line.
    pub fn start(dir: &Path, log: &Path) -> Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        for d in ["upper", "work"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let socket = dir.join("log.sock");
        let sock =
            UnixDatagram::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        // Everyone may log, as to the system's /dev/log (a session's user too).
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while !stopping.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.write_all(b"\n");
                }
            }
        });
        Ok(Self {
            dir: dir.to_owned(),
            socket,
            stop,
            thread: Some(thread),
        })
    }

    /// `cmd`, run in a mount namespace of its own where /dev (an overlay of
    /// the real one) has `log` pointing to this receiver.
    pub fn in_namespace(&self, cmd: Command) -> Command {
        let mut c = Command::new("unshare");
        let opts = format!(
            "lowerdir=/dev,upperdir={},workdir={}",
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        let script = format!(
            "mount -t overlay overlay -o {opts} /dev && ln -sf {} /dev/log && exec \"$@\"",
            self.socket.display()
        );
        c.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(cmd.get_program())
        .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
