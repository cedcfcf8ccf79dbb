//! What the authentication tests need besides a server: a user with a
//! known password, an ssh client that types passwords (SSH_ASKPASS), key
//! fingerprints as `ssh-keygen -lf` prints them, and a CA that signs user
//! certificates.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use anyhow::{bail, Result};

use crate::{parse_run, run, world, Server, SshRun};

/// A user for password logins, its own so that no other test's account
/// changes touch its password.
pub const PASSWORD_USER: &str = "sshtrace-pw";
pub const PASSWORD: &str = "ssh-trace:Test-pw-1";

/// Creates the password user once per test process (idempotent).
pub fn password_user() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if run(Command::new("id").args(["-u", PASSWORD_USER])).is_err() {
            run(Command::new("useradd").args(["-m", "-s", "/bin/bash", PASSWORD_USER]))
                .expect("useradd");
        }
        let mut c = Command::new("chpasswd");
        c.stdin(Stdio::piped());
        let mut child = c.spawn().expect("chpasswd");
        use std::io::Write;
        let line = format!("{PASSWORD_USER}:{PASSWORD}\n");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "chpasswd failed");
    });
    PASSWORD_USER
}

/// An SSH_ASKPASS program that answers each prompt with the next line of
/// its own file of passwords (then the last one again).
fn askpass(name: &str, port: u16, passwords: &[&str]) -> Result<PathBuf> {
    // One per server: the same case on each server kind runs in parallel,
    // and a shared counter would hand each client another's passwords.
    let dir = world().dir.join(format!("askpass_{name}_{port}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("passwords"), passwords.join("\n") + "\n")?;
    let _ = std::fs::remove_file(dir.join("count"));
    let script = dir.join("askpass");
    let text = format!(
        "#!/bin/sh\nd={}\nn=$(cat $d/count 2>/dev/null || echo 0)\necho $((n+1)) > $d/count\n\
         sed -n \"$((n+1))p\" $d/passwords | grep . || tail -n 1 $d/passwords\n",
        dir.display()
    );
    std::fs::write(&script, text)?;
    run(Command::new("chmod").arg("755").arg(&script))?;
    Ok(script)
}

/// `ssh` as `user` with passwords typed in turn (at most as many prompts),
/// by `method` (`password` or `keyboard-interactive`); extra options first.
pub fn ssh_password(
    server: &Server,
    name: &str,
    user: &str,
    method: &str,
    passwords: &[&str],
    extra: &[&str],
) -> Result<SshRun> {
    let askpass = askpass(name, server.port, passwords)?;
    let out = Command::new("ssh")
        .args(["-v", "-o", "StrictHostKeyChecking=no"])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=VERBOSE",
        ])
        .args(["-o", &format!("PreferredAuthentications={method}")])
        .args([
            "-o",
            &format!("NumberOfPasswordPrompts={}", passwords.len()),
        ])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(extra)
        .args(["-p", &server.port.to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .arg("echo $SSH_CONNECTION")
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()?;
    Ok(parse_run(out))
}

/// (type, fingerprint) as `ssh-keygen -lf` prints them: "256 SHA256:… comment (ED25519)".
pub fn fingerprint(public_key: &Path) -> Result<(String, String)> {
    let out = run(Command::new("ssh-keygen").arg("-lf").arg(public_key))?;
    let f: Vec<&str> = out.split_whitespace().collect();
    let (Some(fp), Some(ty)) = (f.get(1), f.last()) else {
        bail!("ssh-keygen -lf printed {out:?}");
    };
    let ty = ty.trim_start_matches('(').trim_end_matches(')');
    Ok((ty.to_owned(), (*fp).to_owned()))
}

/// A CA and a user key it signed for the test user: (CA public key, the
/// user's private key; its certificate is beside it, `-cert.pub`).
pub struct Certified {
    pub ca: PathBuf,
    pub key: PathBuf,
    pub cert: PathBuf,
    pub id: &'static str,
    pub serial: u64,
}

pub fn certified(name: &str) -> Result<Certified> {
    let dir = world().dir.join(format!("ca_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let keygen = |p: &Path| {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(p))
    };
    let (ca, key) = (dir.join("ca"), dir.join("user"));
    keygen(&ca)?;
    keygen(&key)?;
    let (id, serial) = ("sshtrace cert (issued by the test CA)", 4242);
    run(Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca)
        .args(["-I", id, "-n", crate::TEST_USER, "-z", &serial.to_string()])
        .arg(key.with_extension("pub")))?;
    Ok(Certified {
        ca: ca.with_extension("pub"),
        cert: dir.join("user-cert.pub"),
        key,
        id,
        serial,
    })
}
