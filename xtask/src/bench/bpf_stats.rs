//! The kernel's own accounting of BPF programs (`kernel.bpf_stats_enabled`
//! through BPF_ENABLE_STATS, on while this is held): run count and run time
//! of each program an agent process holds.
use std::{collections::BTreeMap, os::fd::OwnedFd};

use anyhow::{Context, Result};
use aya::{programs::loaded_programs, sys::Stats};

#[derive(Clone, Copy, Default, Debug)]
pub struct Counts {
    pub runs: u64,
    pub ns: u64,
}

pub struct ProgStats {
    ids: Vec<u32>,
    _on: OwnedFd,
}

impl ProgStats {
    /// Turns stats on and finds the programs process `pid` holds open.
    pub fn enable(pid: u32) -> Result<Self> {
        let on = aya::sys::enable_stats(Stats::RunTime).context("BPF_ENABLE_STATS")?;
        Ok(Self {
            ids: prog_ids(pid)?,
            _on: on,
        })
    }

    /// Also counts these programs (held by another process, or this one).
    pub fn with(mut self, ids: impl IntoIterator<Item = u32>) -> Self {
        self.ids.extend(ids);
        self
    }

    /// Program name → counts so far.
    pub fn read(&self) -> Result<BTreeMap<String, Counts>> {
        let mut out = BTreeMap::new();
        for p in loaded_programs() {
            let p = p?;
            if !self.ids.contains(&p.id()) {
                continue;
            }
            let name = p.name_as_str().unwrap_or("?").to_owned();
            let c = out.entry(name).or_insert(Counts::default());
            c.runs += p.run_count();
            c.ns += p.run_time().as_nanos() as u64;
        }
        Ok(out)
    }
}

/// Ids of the BPF programs whose fds `pid` holds (from /proc/PID/fdinfo).
fn prog_ids(pid: u32) -> Result<Vec<u32>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut ids = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let text = std::fs::read_to_string(e?.path()).unwrap_or_default();
        if let Some(id) = prog_id_in(&text) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The BPF program id an fdinfo text names, if the descriptor is one.
pub fn prog_id_in(fdinfo: &str) -> Option<u32> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("prog_id:"))
        .and_then(|v| v.trim().parse().ok())
}
