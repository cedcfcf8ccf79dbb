//! The agent's session socket: a root-only (0600) unix socket, or 0660
//! root:GROUP with `--sessions-group` (`sessions_group`), answering one
//! request line per connection with one JSON document:
//! `list` → live::Listing, `detail ID` → live::Detail, `screen ID` →
//! terminal::screen::Screen (or `{"error": …}`).
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::{fs::PermissionsExt, net::UnixStream as StdStream},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader},
    net::{UnixListener, UnixStream},
    sync::mpsc,
};

pub const DEFAULT_PATH: &str = "/run/ssh-trace/sessions.sock";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    List,
    Detail(String),
    /// The live screen of a recorded session.
    Screen(String),
}

impl Request {
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim();
        match line.split_once(' ') {
            None if line == "list" => Some(Self::List),
            Some(("detail", id)) => Some(Self::Detail(id.trim().to_owned())),
            Some(("screen", id)) => Some(Self::Screen(id.trim().to_owned())),
            _ => None,
        }
    }

    fn line(&self) -> String {
        match self {
            Self::List => "list\n".into(),
            Self::Detail(id) => format!("detail {id}\n"),
            Self::Screen(id) => format!("screen {id}\n"),
        }
    }
}

/// A bound socket; removed from the file system when dropped.
pub struct Bound {
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

/// Binds `path` with mode 0600, or 0660 owned by `group` (while the agent
/// still has its privileges: it is made before they drop). A live socket
/// of another agent is left alone: that is an error.
pub fn bind(path: &Path, group: Option<&str>) -> Result<Bound> {
    let gid = group.map(group_id).transpose()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if StdStream::connect(path).is_ok() {
            bail!(
                "another ssh-trace agent serves sessions on {} (pass --sessions-socket PATH or --no-sessions-socket)",
                path.display()
            );
        }
        // Left over by an agent that did not exit cleanly.
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    // Never reachable by others, not even between bind and chmod: the
    // umask applies to the bind itself.
    // SAFETY: umask only sets the process's file mode mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above, restoring it.
    unsafe { libc::umask(old) };
    let listener =
        bound.with_context(|| format!("--sessions-socket {}: cannot bind", path.display()))?;
    let mode = if let Some(gid) = gid {
        std::os::unix::fs::lchown(path, Some(0), Some(gid))
            .with_context(|| format!("chown root:{gid} {}", path.display()))?;
        0o660
    } else {
        0o600
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))?;
    if let (Some(g), Some(dir)) = (group, path.parent()) {
        warn_if_closed(dir, g);
    }
    listener.set_nonblocking(true)?;
    Ok(Bound {
        path: path.to_owned(),
        listener,
    })
}

/// The group's members reach the socket only through its directory.
fn warn_if_closed(dir: &Path, group: &str) {
    let mode = std::fs::metadata(dir).map_or(0, |m| m.permissions().mode());
    if mode & 0o011 == 0 {
        eprintln!(
            "ssh-trace: warning: --sessions-group {group}: {} is mode {:04o}: members of {group} cannot reach the socket in it (make it 0755)",
            dir.display(),
            mode & 0o7777
        );
    }
}

fn group_id(name: &str) -> Result<u32> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => bail!("--sessions-group {name:?}: no such group"),
        Err(e) => bail!("--sessions-group {name:?}: cannot look it up: {e}"),
    }
}

/// What `sessions`/`top` say when the socket refuses this user.
pub fn refusal(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "permission denied reading the running agent's session socket {}: it is root's. \
         Run this as root (e.g. with sudo), or start the agent with --sessions-group GROUP \
         (agent config: sessions_group = \"GROUP\") and be a member of GROUP",
        path.display()
    )
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Requests with the stream to answer on.
pub type Incoming = mpsc::Receiver<(Request, UnixStream)>;

/// Accepts connections on a task; each request line is read on its own task
/// so a slow client never holds up the agent.
pub fn serve(bound: &Bound) -> Result<Incoming> {
    let listener = UnixListener::from_std(bound.listener.try_clone()?)
        .context("session socket: registering with the runtime")?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut r = AsyncBufReader::new(stream);
                let mut line = String::new();
                let read = tokio::time::timeout(REQUEST_TIMEOUT, r.read_line(&mut line)).await;
                let mut stream = r.into_inner();
                match (read, Request::parse(&line)) {
                    (Ok(Ok(_)), Some(req)) => {
                        let _ = tx.send((req, stream)).await;
                    }
                    _ => {
                        let msg = format!(
                            "{}\n",
                            serde_json::json!({"error": format!("bad request {:?}: expected \"list\", \"detail ID\" or \"screen ID\"", line.trim())})
                        );
                        let _ = stream.write_all(msg.as_bytes()).await;
                    }
                }
            });
        }
    });
    Ok(rx)
}

/// Writes the answer without holding up the caller.
pub fn answer(mut stream: UnixStream, mut json: String) {
    json.push('\n');
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(json.as_bytes())).await;
    });
}

/// Client side: one request, the JSON answer.
pub fn request(path: &Path, req: &Request) -> std::io::Result<String> {
    let mut s = StdStream::connect(path)?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.write_all(req.line().as_bytes())?;
    let mut out = String::new();
    BufReader::new(s).read_line(&mut out)?;
    Ok(out)
}
