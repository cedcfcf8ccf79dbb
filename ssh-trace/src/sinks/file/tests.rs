//! The file sink rotates by size, keeping `count` files, newest as FILE.1.
use super::*;
use crate::rotate::Policy;

#[test]
fn rotates_by_size_before_a_send_that_would_overflow() {
    let dir = std::env::temp_dir().join(format!("ssh-trace-file-sink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = Spec {
        path: dir.join("events.json"),
        rotation: Policy {
            size: Some(10),
            age: None,
            count: Some(2),
        },
        compress: false,
    };
    let (_, mut t) = build(
        &spec,
        Formatter::new(crate::format::FormatKind::Json, false),
    )
    .unwrap();
    for line in ["aaaaaa\n", "bbbbbb\n", "cccccc\n"] {
        t.send(line.as_bytes()).unwrap();
    }
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    assert_eq!(read("events.json"), "cccccc\n");
    assert_eq!(read("events.json.1"), "bbbbbb\n");
    assert!(
        !dir.join("events.json.2").exists(),
        "count 2: current and one rotated"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
