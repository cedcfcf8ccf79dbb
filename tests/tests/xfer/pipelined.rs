//! A hostile client does not wait for the server's answers: it sends the
//! SFTP init, open, reads and close in one write (`ssh -s host sftp`), so the server moves the file within microseconds of
//! starting. The kernel must still see the file's open, its bytes and its
//! close: the I/O hooks have to be in place before the server's first
//! request is served, not a wake-up later.
use super::*;

const SSH_FXP_INIT: u8 = 1;
const SSH_FXP_OPEN: u8 = 3;
const SSH_FXP_CLOSE: u8 = 4;
const SSH_FXP_READ: u8 = 5;
const SSH_FXP_DATA: u8 = 103;
const SSH_FXF_READ: u32 = 1;
const CHUNK: u32 = 32768;
const SIZE: usize = 100_000;

fn packet(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut p = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    p.push(kind);
    p.extend_from_slice(body);
    p
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// Init, open `path`, reads covering `size` bytes, close: all at once.
/// OpenSSH's sftp-server names its first handle by its slot, 0, as four
/// bytes, so the client can use it before the server has answered.
fn download_requests(path: &Path, size: usize) -> Vec<u8> {
    let handle = string(&0u32.to_be_bytes());
    let mut out = packet(SSH_FXP_INIT, &3u32.to_be_bytes());
    let mut open = 1u32.to_be_bytes().to_vec();
    open.extend(string(path.as_os_str().as_encoded_bytes()));
    open.extend(SSH_FXF_READ.to_be_bytes());
    open.extend(0u32.to_be_bytes());
    out.extend(packet(SSH_FXP_OPEN, &open));
    let mut id = 2u32;
    for offset in (0..size as u64).step_by(CHUNK as usize) {
        let mut read = id.to_be_bytes().to_vec();
        read.extend(&handle);
        read.extend(offset.to_be_bytes());
        read.extend(CHUNK.to_be_bytes());
        out.extend(packet(SSH_FXP_READ, &read));
        id += 1;
    }
    let mut close = id.to_be_bytes().to_vec();
    close.extend(&handle);
    out.extend(packet(SSH_FXP_CLOSE, &close));
    out
}

/// Reads the server's replies until `count` of them came; the data bytes
/// its DATA replies carried.
fn data_bytes(replies: &mut impl std::io::Read, count: usize) -> usize {
    let mut n = 0;
    for _ in 0..count {
        let mut len = [0u8; 4];
        replies.read_exact(&mut len).unwrap();
        let mut p = vec![0u8; u32::from_be_bytes(len) as usize];
        replies.read_exact(&mut p).unwrap();
        if p[0] == SSH_FXP_DATA && p.len() >= 9 {
            n += p.len() - 9;
        }
    }
    n
}

/// Runs the pipelined download of `path` (as the server sees it) through
/// `server`; the session's events. The requests go in one write; standard
/// input stays open until every reply came (sftp-server quits at its end).
fn pipelined_download(kind: Kind, server: &Server, tracer: &Tracer, path: &Path) -> Vec<Value> {
    use std::io::Write;
    let k = kind.name();
    let mut cmd = client("ssh", server, "-p");
    cmd.args(["-s", &format!("{TEST_USER}@127.0.0.1"), "sftp"]);
    let before = server.logged_client_ports().len();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&download_requests(path, SIZE)).unwrap();
    // Version, handle, one DATA per read, the close's status.
    let replies = 2 + SIZE.div_ceil(CHUNK as usize) + 1;
    let served = data_bytes(child.stdout.as_mut().unwrap(), replies);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "[{k}] {cmd:?}");
    assert_eq!(served, SIZE, "[{k}] the server sent the whole file");
    let port = wait_until(WAIT, || server.logged_client_ports().get(before).copied())
        .unwrap_or_else(|| panic!("[{k}] the server logged no connection"));
    assert!(tracer.wait_for(WAIT, ended(port)), "[{k}] no session.end");
    session_events(&tracer.events(), port)
}

/// sftp-server, exec'd for the subsystem, fed every request at once.
pub fn a_pipelined_sftp_download_is_reported_exactly(kind: Kind) {
    if !root_or_skip("a_pipelined_sftp_download_is_reported_exactly") {
        return;
    }
    let server = Server::of(kind, "pipelined").unwrap();
    let d = Dirs::new(kind, "pipelined");
    let file = d.remote.join("p.bin");
    random_file(&file, SIZE, 0o644);
    let tracer = tracer(kind);
    let ev = pipelined_download(kind, &server, &tracer, &file);
    let want = Want {
        server: "sftp-server",
        action: "download",
        path: &file,
        bytes: SIZE as u64,
        file: Some(&file),
        outcome: "complete",
    };
    check(kind, only(kind, &ev), &want);
}

/// internal-sftp (a chrooted user), which serves without an exec, fed
/// every request at once.
pub fn a_pipelined_internal_sftp_download_is_reported_exactly(kind: Kind) {
    if !root_or_skip("a_pipelined_internal_sftp_download_is_reported_exactly") {
        return;
    }
    let (root, config) = chroot(kind, "pipelined");
    let server = Server::with_config(kind, "pipelined_chroot", &config).unwrap();
    let on_host = root.join("upload/p.bin");
    random_file(&on_host, SIZE, 0o644);
    let tracer = tracer(kind);
    let ev = pipelined_download(kind, &server, &tracer, Path::new("/upload/p.bin"));
    let want = Want {
        server: "internal-sftp",
        action: "download",
        path: Path::new("/upload/p.bin"),
        bytes: SIZE as u64,
        file: Some(&on_host),
        outcome: "complete",
    };
    check(kind, only(kind, &ev), &want);
    let _ = std::fs::remove_dir_all(&root);
}
