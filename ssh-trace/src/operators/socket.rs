//! The agent's session socket: a root-only (0600) unix socket answering one
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

/// Binds `path` with mode 0600 (while the agent still has its privileges).
/// A live socket of another agent is left alone: that is an error.
pub fn bind(path: &Path) -> Result<Bound> {
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
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("--sessions-socket {}: cannot bind", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 0600 {}", path.display()))?;
    listener.set_nonblocking(true)?;
    Ok(Bound {
        path: path.to_owned(),
        listener,
    })
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
