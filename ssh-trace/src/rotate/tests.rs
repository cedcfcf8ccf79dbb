//! Rotation, and files that cannot be turned against root: planted links,
//! files of other users, hard links, directories others can write.
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

/// A scratch directory (0755, whatever the umask), removed at the end.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn dir(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("ssh-trace-rotate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    chmod(&d, 0o755);
    Scratch(d)
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Another user's uid (nobody); changing owners (or using root's files)
/// needs root.
fn other_user(test: &str) -> Option<u32> {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped {test}: needs root (uses files of root and of another user)");
        return None;
    }
    Some(65534)
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
}

fn create(path: &Path, open: Open, policy: Policy) -> Result<Rotating> {
    let naming = match open {
        Open::Truncate => Naming::Numbered,
        Open::Append => Naming::Shifted { compress: false },
    };
    Rotating::create(path, "capture file", (naming, open), policy)
}

fn err(r: Result<Rotating>) -> String {
    format!("{:#}", r.err().expect("must be refused"))
}

fn rotating(count: usize) -> Policy {
    Policy {
        size: Some(1),
        count: Some(count),
        ..Default::default()
    }
}

#[test]
fn numbered_keeps_the_newest_count_files() {
    let d = dir("numbered");
    let mut r = create(&d.join("c"), Open::Truncate, rotating(2)).unwrap();
    for i in 0..3 {
        writeln!(r.file, "{i}").unwrap();
        r.rotate().unwrap();
    }
    assert_eq!(names(&d), ["c.2", "c.3"]);
    assert_eq!(r.path(), d.join("c.3"));
    assert_eq!(mode(&d.join("c.3")), 0o600);
}

#[test]
fn shifted_renames_and_compresses() {
    let d = dir("shifted");
    let naming = Naming::Shifted { compress: true };
    let how = (naming, Open::Append);
    let mut r = Rotating::create(&d.join("f"), "file", how, rotating(3)).unwrap();
    for i in 0..4 {
        writeln!(r.file, "{i}").unwrap();
        r.rotate().unwrap();
        r.compress_previous().unwrap();
    }
    assert_eq!(names(&d), ["f", "f.1.gz", "f.2.gz"]);
    let mut text = String::new();
    let gz = File::open(d.join("f.1.gz")).unwrap();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).unwrap();
    assert_eq!(text, "3\n", "the newest rotated file is .1");
    assert_eq!(mode(&d.join("f.1.gz")), 0o600);
}

#[test]
fn a_planted_symlink_is_refused_and_its_target_untouched() {
    let d = dir("symlink");
    let target = d.join("root-file");
    std::fs::write(&target, "precious\n").unwrap();
    chmod(&target, 0o644);
    let planted = d.join("x.cap");
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    for open in [Open::Truncate, Open::Append] {
        let e = err(create(&planted, open, Policy::default()));
        assert!(e.contains("is a symbolic link: refused"), "{e}");
        assert!(
            e.starts_with(&format!("capture file {}", planted.display())),
            "{e}"
        );
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(mode(&target), 0o644);
    // A dangling link is no better.
    let dangling = d.join("y.cap");
    std::os::unix::fs::symlink(d.join("nothing"), &dangling).unwrap();
    assert!(err(create(&dangling, Open::Truncate, Policy::default())).contains("symbolic link"));
    assert!(!d.join("nothing").exists());
}

#[test]
fn a_file_another_user_made_is_refused() {
    let Some(uid) = other_user("a_file_another_user_made_is_refused") else {
        return;
    };
    let d = dir("theirs");
    let theirs = d.join("x.cap");
    std::fs::write(&theirs, "theirs\n").unwrap();
    chmod(&theirs, 0o666);
    chown(&theirs, uid);
    for open in [Open::Truncate, Open::Append] {
        let e = err(create(&theirs, open, Policy::default()));
        assert!(e.contains("belongs to uid 65534: refused"), "{e}");
    }
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs\n");
    assert_eq!(mode(&theirs), 0o666);
}

#[test]
fn a_hard_link_and_a_fifo_are_refused() {
    let d = dir("links");
    let other = d.join("elsewhere");
    std::fs::write(&other, "other\n").unwrap();
    std::fs::hard_link(&other, d.join("x.cap")).unwrap();
    let e = err(create(&d.join("x.cap"), Open::Truncate, Policy::default()));
    assert!(e.contains("has 2 hard links: refused"), "{e}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "other\n");
    rustix::fs::mkfifoat(rustix::fs::CWD, d.join("fifo"), rustix::fs::Mode::RUSR).unwrap();
    let e = err(create(&d.join("fifo"), Open::Append, Policy::default()));
    assert!(e.contains("is not a regular file: refused"), "{e}");
}

#[test]
fn dev_null_is_written_as_it_is_and_never_rotated() {
    if other_user("dev_null_is_written_as_it_is_and_never_rotated").is_none() {
        return;
    }
    let null = Path::new("/dev/null");
    let before = mode(null);
    let mut r = create(null, Open::Append, Policy::default()).unwrap();
    writeln!(r.file, "gone").unwrap();
    assert_eq!(mode(null), before, "a device keeps its mode");
    let e = err(create(null, Open::Append, rotating(2)));
    assert!(e.contains("a device does not rotate"), "{e}");
}

#[test]
fn a_root_file_is_reopened_private_a_capture_emptied_a_log_kept() {
    let d = dir("reopen");
    for (open, left) in [(Open::Truncate, ""), (Open::Append, "old\nnew\n")] {
        let p = d.join("f");
        std::fs::write(&p, "old\n").unwrap();
        chmod(&p, 0o666);
        let mut r = create(&p, open, Policy::default()).unwrap();
        write!(r.file, "{}", if left.is_empty() { "" } else { "new\n" }).unwrap();
        drop(r);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), left);
        assert_eq!(mode(&p), 0o600);
        std::fs::remove_file(&p).unwrap();
    }
}

#[test]
fn rotation_in_a_directory_others_can_write_is_refused() {
    let d = dir("writable");
    let (sticky, open) = (d.join("sticky"), d.join("open"));
    for (p, m) in [(&sticky, 0o1777), (&open, 0o777)] {
        std::fs::create_dir(p).unwrap();
        chmod(p, m);
    }
    // Sticky and world-writable, like /tmp: one file yes, rotation no.
    create(&sticky.join("one"), Open::Truncate, Policy::default()).unwrap();
    let e = err(create(&sticky.join("rot"), Open::Truncate, rotating(3)));
    assert!(e.contains("is writable by other users (mode 1777)"), "{e}");
    // Group-writable is others too, for renames.
    chmod(&open, 0o775);
    assert!(err(create(&open.join("rot"), Open::Append, rotating(3))).contains("mode 775"));
    // Writable by all and not sticky: nothing at all, not even below it.
    chmod(&open, 0o777);
    let below = open.join("below");
    std::fs::create_dir(&below).unwrap();
    chmod(&below, 0o755);
    for p in [open.join("one"), below.join("one")] {
        let e = err(create(&p, Open::Truncate, Policy::default()));
        assert!(
            e.contains("is writable by every user and not sticky (mode 777)"),
            "{e}"
        );
    }
    assert_eq!(names(&open), ["below"]);
}

#[test]
fn a_directory_or_link_of_another_user_is_not_trusted() {
    let Some(uid) = other_user("a_directory_or_link_of_another_user_is_not_trusted") else {
        return;
    };
    let d = dir("owners");
    let theirs = d.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chown(&theirs, uid);
    let e = err(create(
        &theirs.join("x.cap"),
        Open::Truncate,
        Policy::default(),
    ));
    assert!(e.contains("belongs to uid 65534, not root"), "{e}");
    // A link another user planted to a root directory is not followed; the
    // same link of root's is.
    let ours = d.join("ours");
    std::fs::create_dir(&ours).unwrap();
    let link = d.join("link");
    std::os::unix::fs::symlink(&ours, &link).unwrap();
    create(&link.join("a.cap"), Open::Truncate, Policy::default()).unwrap();
    chown(&link, uid);
    let e = err(create(
        &link.join("b.cap"),
        Open::Truncate,
        Policy::default(),
    ));
    assert!(
        e.contains("is a symbolic link of uid 65534: not followed"),
        "{e}"
    );
    assert_eq!(names(&ours), ["a.cap"]);
}

#[test]
fn a_failed_rotation_keeps_the_current_file_and_loses_nothing() {
    let d = dir("failed");
    // Numbered: the next name cannot be made; the current file stays.
    std::fs::create_dir(d.join("c.1")).unwrap();
    let mut r = create(&d.join("c"), Open::Truncate, rotating(5)).unwrap();
    writeln!(r.file, "first").unwrap();
    let e = format!("{:#}", r.rotate().unwrap_err());
    assert!(e.contains("is not a regular file"), "{e}");
    writeln!(r.file, "still").unwrap();
    assert_eq!(r.path(), d.join("c"));
    assert_eq!(
        std::fs::read_to_string(d.join("c")).unwrap(),
        "first\nstill\n"
    );
    // Shifted: a compression that fails leaves FILE.1 as it is, and the
    // next rotation moves it along uncompressed rather than over it.
    let naming = Naming::Shifted { compress: true };
    let how = (naming, Open::Append);
    let mut r = Rotating::create(&d.join("f"), "file", how, rotating(4)).unwrap();
    writeln!(r.file, "one").unwrap();
    r.rotate().unwrap();
    std::fs::create_dir(d.join("f.1.gz")).unwrap();
    assert!(r.compress_previous().is_err());
    std::fs::remove_dir(d.join("f.1.gz")).unwrap();
    writeln!(r.file, "two").unwrap();
    r.rotate().unwrap();
    r.compress_previous().unwrap();
    assert_eq!(std::fs::read_to_string(d.join("f.2")).unwrap(), "one\n");
    let mut text = String::new();
    let gz = File::open(d.join("f.1.gz")).unwrap();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).unwrap();
    assert_eq!(text, "two\n");
}
