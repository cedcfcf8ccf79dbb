//! Issue 9, finding 5: capture files and the file sink cannot be turned
//! against root. A link a user planted at the path, a file a user made
//! there first, a directory a user can write: each is refused with a clear
//! error before anything is written, and what it pointed at is untouched.
//! A file root made is reopened (made 0600); new files are 0600 whatever
//! the umask. `/tmp` is world-writable here (fs.protected_symlinks = 0:
//! root follows a user's link there unless the program refuses).
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use ssh_trace_tests::*;

/// A name of this test process's own directly in /tmp (sticky, 1777).
fn in_tmp(name: &str) -> PathBuf {
    let p = PathBuf::from(format!(
        "/tmp/ssh-trace-hostile-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

fn scratch(name: &str) -> PathBuf {
    let d = world().dir.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// A root file a planted link could aim at: its content and mode.
fn root_file(dir: &Path) -> PathBuf {
    let p = dir.join("root-secret");
    std::fs::write(&p, "root's own\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    p
}

fn untouched(p: &Path) {
    assert_eq!(std::fs::read_to_string(p).unwrap(), "root's own\n");
    let m = std::fs::metadata(p).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o644, 0), "{}", p.display());
}

/// `ssh-trace ARGS` that must stop on its own (a refusal stops it before
/// it loads anything); killed after 30 s if not.
fn refused(args: &[&str]) -> String {
    let mut child = Command::new(agent_bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ssh-trace {args:?} was not refused: it ran");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out: Output = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn record(path: &Path, extra: &[&str]) -> String {
    let mut args = vec!["record", "-w", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    refused(&args)
}

fn give_to_test_user(p: &Path) {
    std::os::unix::fs::lchown(p, Some(world().uid), Some(world().uid)).unwrap();
}

/// A file sink at `path` (and rotation keys), in a config of its own.
fn agent_with_file_sink(dir: &Path, path: &Path, keys: &str) -> String {
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nspool_dir = \"{}\"\n\n[[sink]]\nname = \"archive\"\ntype = \"file\"\npath = \"{}\"\n{keys}",
            dir.join("spool").display(),
            path.display()
        ),
    )
    .unwrap();
    refused(&["agent", "--config", cfg.to_str().unwrap()])
}

#[test]
fn a_symlink_planted_at_the_capture_path_is_refused_and_its_target_untouched() {
    if !root_or_skip("a_symlink_planted_at_the_capture_path_is_refused_and_its_target_untouched") {
        return;
    }
    let target = root_file(&scratch("planted-link"));
    let cap = in_tmp("planted.cap");
    std::os::unix::fs::symlink(&target, &cap).unwrap();
    give_to_test_user(&cap);
    let err = record(&cap, &[]);
    let want = format!(
        "ssh-trace: error: capture file {}: it is a symbolic link: refused",
        cap.display()
    );
    assert!(err.starts_with(&want), "{err}");
    untouched(&target);
    // `tail -w` opens the same way.
    let err = refused(&["tail", "--json", "-w", cap.to_str().unwrap()]);
    assert!(err.starts_with(&want), "{err}");
    untouched(&target);
    std::fs::remove_file(&cap).unwrap();
}

#[test]
fn a_capture_file_a_user_pre_created_is_refused_and_stays_theirs() {
    if !root_or_skip("a_capture_file_a_user_pre_created_is_refused_and_stays_theirs") {
        return;
    }
    let cap = in_tmp("precreated.cap");
    std::fs::write(&cap, "").unwrap();
    std::fs::set_permissions(&cap, std::fs::Permissions::from_mode(0o666)).unwrap();
    give_to_test_user(&cap);
    let err = record(&cap, &[]);
    let want = format!(
        "ssh-trace: error: capture file {}: it exists and belongs to uid {}: refused",
        cap.display(),
        world().uid
    );
    assert!(err.starts_with(&want), "{err}");
    let m = std::fs::metadata(&cap).unwrap();
    assert_eq!(
        (m.len(), m.mode() & 0o777, m.uid()),
        (0, 0o666, world().uid)
    );
    // A hard link to a root file is refused the same way.
    let target = root_file(&scratch("precreated-link"));
    std::fs::remove_file(&cap).unwrap();
    std::fs::hard_link(&target, &cap).unwrap();
    let err = record(&cap, &[]);
    assert!(err.contains("it has 2 hard links: refused"), "{err}");
    untouched(&target);
    std::fs::remove_file(&cap).unwrap();
}

#[test]
fn the_agent_file_sink_refuses_a_planted_symlink_and_a_users_file() {
    if !root_or_skip("the_agent_file_sink_refuses_a_planted_symlink_and_a_users_file") {
        return;
    }
    let dir = scratch("sink-planted");
    let target = root_file(&dir);
    let path = in_tmp("events.json");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    give_to_test_user(&path);
    let err = agent_with_file_sink(&dir, &path, "");
    let want = format!("ssh-trace: error: sink archive: file {}: ", path.display());
    assert!(
        err.starts_with(&format!("{want}it is a symbolic link: refused")),
        "{err}"
    );
    untouched(&target);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, "the user's\n").unwrap();
    give_to_test_user(&path);
    let err = agent_with_file_sink(&dir, &path, "");
    assert!(
        err.starts_with(&format!("{want}it exists and belongs to uid")),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the user's\n");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn rotation_in_a_directory_a_user_can_write_is_refused() {
    if !root_or_skip("rotation_in_a_directory_a_user_can_write_is_refused") {
        return;
    }
    let dir = scratch("rotate-writable");
    // The test user's own directory: refused, rotating or not.
    let theirs = dir.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    give_to_test_user(&theirs);
    let err = record(&theirs.join("x.cap"), &[]);
    let want = format!(
        "{} belongs to uid {}, not root",
        theirs.display(),
        world().uid
    );
    assert!(err.contains(&want), "{err}");
    // /tmp: one file may go there, rotated files not (a user could plant
    // the next name); the file sink the same.
    let cap = in_tmp("rotated.cap");
    let err = record(&cap, &["--rotate-size", "1MB"]);
    assert!(
        err.contains("/tmp is writable by other users (mode 1777): files rotate by renames there"),
        "{err}"
    );
    let err = agent_with_file_sink(&dir, &in_tmp("rotated.json"), "rotate_size = \"1MB\"\n");
    assert!(
        err.contains("/tmp is writable by other users (mode 1777)"),
        "{err}"
    );
    // Writable by every user and not sticky: nothing, even one file.
    let open = dir.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = record(&open.join("x.cap"), &[]);
    assert!(
        err.contains("is writable by every user and not sticky (mode 777)"),
        "{err}"
    );
    for d in [&theirs, &open] {
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "{}", d.display());
    }
    assert!(!cap.exists());
}

#[test]
fn capture_files_are_0600_with_a_permissive_umask_and_a_root_file_is_reopened() {
    if !root_or_skip("capture_files_are_0600_with_a_permissive_umask_and_a_root_file_is_reopened") {
        return;
    }
    let dir = scratch("umask");
    let cap = dir.join("u.cap");
    // A capture of an earlier run, left world-readable: reopened, emptied, 0600.
    std::fs::write(&cap, "old").unwrap();
    std::fs::set_permissions(&cap, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new(agent_bin());
    cmd.args(["record", "-w", cap.to_str().unwrap(), "--rotate-size", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: umask is async-signal-safe; nothing else runs in the child yet.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let sshd = Sshd::start("umask").unwrap();
    let mut rec = cmd.spawn().unwrap();
    // One block per file: agent.start's, then a session's in a second file.
    let second = PathBuf::from(format!("{}.1", cap.display()));
    let made = wait_until(Duration::from_secs(30), || {
        let run = ssh(&sshd, &[], "id -u").unwrap();
        assert!(run.success, "{}", run.stderr);
        second.exists().then_some(())
    });
    // SAFETY: signalling our own child.
    unsafe { libc::kill(rec.id() as i32, libc::SIGTERM) };
    let status = rec.wait().unwrap();
    assert!(made.is_some() && status.success(), "{status}");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    for f in &files {
        let m = std::fs::metadata(f).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid()), (0o600, 0), "{}", f.display());
    }
    let first = std::fs::read(&cap).unwrap();
    assert!(
        first.starts_with(b"SSHTRACE"),
        "the old content was replaced"
    );
}
