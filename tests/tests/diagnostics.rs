//! `--debug-kernel`: the kernel programs explain their decisions about SSH
//! servers on standard error (through aya-log); without it they are silent.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::time::{Duration, Instant};

use ssh_trace_tests::*;

fn explained(tracer: &Tracer, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if tracer.stderr.lock().unwrap().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn debug_kernel_explains_why_a_process_became_a_listener() {
    if !root_or_skip("debug_kernel_explains_why_a_process_became_a_listener") {
        return;
    }
    let quiet = Tracer::start(&[]).unwrap();
    let tracer = Tracer::start(&["--debug-kernel"]).unwrap();
    let sshd = Sshd::start("diagnostics").unwrap();
    let line = format!(
        "ssh-trace: kernel: info: pid {}: server binary exec'd outside sessions by uid 0: listener",
        sshd.pid()
    );
    assert!(
        explained(&tracer, &line),
        "{}",
        tracer.stderr.lock().unwrap()
    );
    drop(tracer);
    let quiet_err = quiet.stderr.lock().unwrap().clone();
    assert!(!quiet_err.contains("ssh-trace: kernel:"), "{quiet_err}");
}
