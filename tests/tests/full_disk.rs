//! Issue 9, finding 5: a full disk never stops the agent or its other
//! outputs. On a tiny tmpfs of the test's own, filled up while real
//! sessions run: the live stream goes on, `agent.loss` names the output
//! (capture / sink NAME), the error and the count, and once space is freed
//! the output is written again; `agent.stop` still comes.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use ssh_trace_tests::{peers::*, *};

const WAIT: Duration = Duration::from_secs(30);
const ENOSPC: &str = "No space left on device";

/// A tmpfs of `size` mounted on a directory of the test's own.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Self {
        let dir = world().dir.join(name);
        let _ = Command::new("umount").arg(&dir).status();
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs on {}", dir.display());
        Self(dir)
    }

    /// Writes a filler until the file system is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = [0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The output's entry in an agent.loss's `loss.outputs`, if any.
fn output_loss<'a>(e: &'a Value, output: &str) -> Option<&'a Value> {
    (e["event"] == "agent.loss")
        .then(|| e["loss"]["outputs"].as_array())
        .flatten()?
        .iter()
        .find(|o| o["output"] == output)
}

fn session_ok(sshd: &Sshd) -> u16 {
    let run = ssh(sshd, &[], "echo $SSH_CONNECTION; id -u").unwrap();
    assert!(run.success, "{}", run.stderr);
    run.client_port.unwrap()
}

/// Sessions until `seen` holds, at most `n`.
fn sessions_until(sshd: &Sshd, n: usize, seen: impl Fn() -> bool) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n && !seen() {
        ports.push(session_ok(sshd));
        std::thread::sleep(Duration::from_millis(500));
    }
    ports
}

fn replayed(cap: &Path) -> Vec<Value> {
    let out = Command::new(agent_bin())
        .args(["replay", "--json", "-r"])
        .arg(cap)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_full_disk_costs_the_capture_counted_events_and_the_live_stream_nothing() {
    if !root_or_skip("a_full_disk_costs_the_capture_counted_events_and_the_live_stream_nothing") {
        return;
    }
    let fs = Tmpfs::mount("full-capture", "256k");
    let cap = fs.0.join("full.cap");
    let sshd = Sshd::start("full-capture").unwrap();
    let filter = format!("destination.port = {}", sshd.port);
    let tracer = Tracer::start(&["-w", cap.to_str().unwrap(), "--filter", &filter]).unwrap();
    fs.fill();
    // The file's last page may still take a block or two: sessions until
    // the capture reports its loss.
    let lost = || {
        tracer
            .events()
            .iter()
            .any(|e| output_loss(e, "capture").is_some())
    };
    let during = sessions_until(&sshd, 20, lost);
    assert!(tracer.wait_for(WAIT, |e| output_loss(e, "capture").is_some()));
    let events = tracer.events();
    let loss = events
        .iter()
        .find_map(|e| output_loss(e, "capture"))
        .unwrap();
    assert!(loss["error"].as_str().unwrap().contains(ENOSPC), "{loss}");
    assert!(
        loss["error"]
            .as_str()
            .unwrap()
            .contains(cap.to_str().unwrap()),
        "{loss}"
    );
    assert!(loss["events"].as_u64().unwrap() > 0, "{loss}");
    eprintln!("{} sessions while full; first report: {loss}", during.len());
    // The live stream missed nothing of the sessions meanwhile.
    for &p in &during {
        assert!(tracer.wait_for(WAIT, ended(p)), "session {p} ended live");
    }
    check_schema(&events);

    fs.free();
    let after = session_ok(&sshd);
    let in_file = wait_until(WAIT, || {
        let r = replayed(&cap);
        r.iter().any(ended(after)).then_some(r)
    });
    assert!(
        in_file.is_some(),
        "the capture was written again after freeing space"
    );
    let live = tracer.stop().unwrap();
    let stop = one(&live, "agent.stop");
    let total = stop["totals"]["lost"]["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["output"] == "capture"))
        .expect("agent.stop counts the capture's losses");
    assert!(total["events"].as_u64().unwrap() >= loss["events"].as_u64().unwrap());
    // The capture has what it could write, the stop and its counts included.
    let file = replayed(&cap);
    let stop_in_file = one(&file, "agent.stop");
    assert_eq!(stop_in_file["totals"], stop["totals"]);
    assert!(!session_events(&file, after).is_empty());
}

#[test]
fn a_file_sink_on_a_full_disk_is_reported_retried_and_the_other_sinks_go_on() {
    if !root_or_skip("a_file_sink_on_a_full_disk_is_reported_retried_and_the_other_sinks_go_on") {
        return;
    }
    let fs = Tmpfs::mount("full-sink", "256k");
    let dir = world().dir.join("full-sink-config");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sshd = Sshd::start("full-sink").unwrap();
    let (ok, full) = (dir.join("ok.json"), fs.0.join("full.json"));
    let cfg = dir.join("config.toml");
    let sink = |name: &str, path: &Path| {
        format!(
            "[[sink]]\nname = \"{name}\"\ntype = \"file\"\npath = \"{}\"\nfilter = \"destination.port = {}\"\n",
            path.display(),
            sshd.port
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nspool_dir = \"{}\"\n\n{}\n{}",
            dir.join("spool").display(),
            sink("ok", &ok),
            sink("full", &full)
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg, &ok).unwrap();
    fs.fill();
    let ok_events = || -> Vec<Value> {
        lines_of(&ok)
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let failing = || {
        ok_events()
            .iter()
            .any(|e| output_loss(e, "sink full").is_some())
    };
    let during = sessions_until(&sshd, 20, failing);
    let reported = wait_until(WAIT, || {
        ok_events()
            .iter()
            .find_map(|e| output_loss(e, "sink full").cloned())
    })
    .expect("agent.loss names the failing sink");
    assert!(
        reported["error"].as_str().unwrap().contains(ENOSPC),
        "{reported}"
    );
    assert!(
        reported["error"]
            .as_str()
            .unwrap()
            .contains(full.to_str().unwrap()),
        "{reported}"
    );
    eprintln!(
        "{} sessions while full; first report: {reported}",
        during.len()
    );
    // The sink keeps its events to send again: none lost yet.
    assert_eq!(reported["events"], 0, "{reported}");
    for &p in &during {
        let got = wait_until(WAIT, || ok_events().iter().any(ended(p)).then_some(()));
        assert!(got.is_some(), "the other sink got session {p}");
    }
    fs.free();
    // Everything the full sink held comes through once there is room.
    for &p in &during {
        let got = wait_until(WAIT, || {
            lines_of(&full)
                .iter()
                .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|e| ended(p)(&e)))
                .then_some(())
        });
        assert!(
            got.is_some(),
            "session {p} reached the full sink after freeing space"
        );
    }
    let err = agent.stop().unwrap();
    assert!(
        err.contains("ssh-trace: sink full: delivering again"),
        "{err}"
    );
    for f in [&ok, &full] {
        let lines = lines_of(f);
        let stop = lines.iter().rev().find(|l| l.contains("\"agent.stop\""));
        assert!(stop.is_some(), "agent.stop in {}", f.display());
        // No line was cut by a write that failed half way.
        for l in &lines {
            assert!(
                serde_json::from_str::<Value>(l).is_ok(),
                "{}: {l}",
                f.display()
            );
        }
    }
    assert!(
        err.contains("sink full: ") && err.contains(" 0 dropped"),
        "{err}"
    );
}
