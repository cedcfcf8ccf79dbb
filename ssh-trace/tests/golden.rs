//! `replay` and `report` print exactly what main's binary printed before the
//! redesign of the event types and the pipeline: every case of
//! golden/cases.txt (captures recorded from real logins, a synthetic one, one
//! with losses, damaged ones) against golden/expected/, stdout and stderr.
//! Regenerate only for an intended change: SSH_TRACE_WRITE_GOLDEN=1.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use std::{path::Path, process::Command};

fn golden() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
}

/// `--filter NAME` → the filter text of that name in filters.txt.
fn expand(args: &[&str], filters: &str) -> Vec<String> {
    let mut out: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    for i in 1..out.len() {
        if out[i - 1] == "--filter" {
            let text = filters
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{} ", out[i])))
                .unwrap_or_else(|| panic!("no filter named {}", out[i]));
            out[i] = text.to_owned();
        }
    }
    out
}

#[test]
fn replay_and_report_outputs_are_unchanged() {
    let dir = golden();
    let cases = std::fs::read_to_string(dir.join("cases.txt")).unwrap();
    let filters = std::fs::read_to_string(dir.join("filters.txt")).unwrap();
    let write = std::env::var_os("SSH_TRACE_WRITE_GOLDEN").is_some();
    let mut failed = Vec::new();
    let mut ran = 0;
    for line in cases
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (name, args) = (words[0], expand(&words[1..], &filters));
        let out = Command::new(env!("CARGO_BIN_EXE_ssh-trace"))
            .args(&args)
            .current_dir(dir.join("captures"))
            .output()
            .unwrap();
        let mut err = out.stderr.clone();
        if let Some(code) = out.status.code().filter(|c| *c != 0) {
            err.extend_from_slice(format!("exit {code}\n").as_bytes());
        }
        for (ext, got) in [("out", &out.stdout), ("err", &err)] {
            let path = dir.join("expected").join(format!("{name}.{ext}"));
            if write {
                std::fs::write(&path, got).unwrap();
                continue;
            }
            let want = std::fs::read(&path).unwrap_or_default();
            if &want != got {
                failed.push(format!("{name}.{ext}"));
            }
        }
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} cases");
    assert!(
        failed.is_empty(),
        "outputs differ from golden/expected: {failed:?}"
    );
}
