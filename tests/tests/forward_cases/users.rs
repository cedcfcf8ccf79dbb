//! Forwards through a server a user runs (the system's sshd binary started
//! by the test user on a port of its own): how a local user would pivot
//! past the system server's configuration.
use std::io::{BufRead, BufReader};
use std::os::unix::{fs::PermissionsExt, process::CommandExt};

use super::*;

/// The test user's sshd on 127.0.0.1:`port`, killed on drop.
struct UserSshd(Child);

impl UserSshd {
    fn start(port: u16) -> UserSshd {
        let dir = world().dir.join("fwd-user-sshd");
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("host_key");
        let _ = std::fs::remove_file(&key);
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(made.success());
        let cfg = dir.join("sshd.conf");
        let text = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\n\
             StrictModes no\nAuthorizedKeysFile /home/{TEST_USER}/.ssh/authorized_keys\n\
             PasswordAuthentication no\nAllowTcpForwarding yes\n",
            key.display()
        );
        std::fs::write(&cfg, text).unwrap();
        let owned = Command::new("chown")
            .args(["-R", &format!("{TEST_USER}:")])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(owned.success());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let uid = world().uid;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-f"])
            .arg(&cfg)
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let up = wait_until(WAIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        assert!(up.is_some(), "the user's sshd does not listen on {port}");
        UserSshd(child)
    }
}

impl Drop for UserSshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn local_forward_through_a_users_own_sshd_is_its_sessions() {
    if !root_or_skip("local_forward_through_a_users_own_sshd_is_its_sessions") {
        return;
    }
    let target = Target::in_namespace();
    let t = Tracer::start(&[]).unwrap();
    let port = free_port().unwrap();
    let _sshd = UserSshd::start(port);
    let lport = free_port().unwrap();
    let spec = format!("{lport}:{}:{TARGET_PORT}", target.ip);
    let mut ssh = Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
        .arg(&world().key)
        .args(["-p", &port.to_string(), "-L", &spec])
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("echo $SSH_CONNECTION; cat >/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(ssh.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let client = connection_port(&first).unwrap_or_else(|| panic!("no session: {first:?}"));
    let (_, sent, received) = http_get("127.0.0.1", lport, 40_000, None);
    let conn = target.the_connection();
    assert_eq!(
        (conn.received, conn.sent),
        (sent, received),
        "through the tunnel"
    );
    let (open, close) = open_and_close(&t, client, &ep(&target.ip, TARGET_PORT));
    drop(ssh.stdin.take());
    let _ = ssh.wait();
    assert_eq!(close["kind"], "local", "{close}");
    assert_eq!(close["local"], ep(&conn.ip, conn.port), "{close}");
    assert_eq!(
        (&close["bytes_out"], &close["bytes_in"]),
        (&json!(conn.received), &json!(conn.sent)),
        "what the target counted: {close}"
    );
    let all = stop(t);
    let ev = session_events(&all, client);
    let fw = ev
        .iter()
        .find(|e| e["event"] == "session.forward" && e["forward"]["id"] == open["id"])
        .unwrap();
    assert_eq!(fw["session"]["server"]["uid"], world().uid, "{fw}");
    assert_eq!(fw["session"]["destination"]["port"], port, "{fw}");
}
