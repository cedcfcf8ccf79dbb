//! Without a running agent: the open sessions as /proc shows them once
//! (no traffic, no idle time: only the agent sees those).
use std::collections::HashSet;

use super::live::{self, Listing, Row};
use crate::{
    event::SessionId,
    host::{self, rfc3339},
    probes::{ServerBinaries, DEFAULT_SERVER_BINARIES},
    session::{discover, users},
};

pub fn listing(privsep_users: &[&str]) -> Listing {
    let servers = ServerBinaries::resolve(DEFAULT_SERVER_BINARIES);
    let privsep: HashSet<u32> = privsep_users
        .iter()
        .filter_map(|u| users::uid_of(u))
        .collect();
    let boot_id = host::boot_id();
    let procs = discover::all_procs(&servers);
    let snap = discover::snapshot(
        &procs,
        &privsep,
        |k| SessionId::new(&boot_id, k),
        discover::boot_wall_ns(),
    );
    let mut sessions: Vec<Row> = snap
        .sessions
        .iter()
        .map(|f| {
            let pids: Vec<u32> = f.procs.iter().map(|p| p.0).collect();
            let (tty, command) = live::terminal(&pids, None);
            let info = &f.session.info;
            Row {
                id: info.id.to_string(),
                user: info.user.clone(),
                source: info.source.as_ref().map(|e| format!("{}:{}", e.ip, e.port)),
                start: rfc3339(f.session.start_ns),
                start_ns: f.session.start_ns,
                idle_s: None,
                bytes_in: None,
                bytes_out: None,
                command,
                tty,
                processes: pids.len(),
                // /proc does not say how a session logged in.
                method: None,
                key: None,
            }
        })
        .collect();
    sessions.sort_by(|a, b| a.start_ns.cmp(&b.start_ns).then(a.id.cmp(&b.id)));
    Listing {
        origin: "proc_snapshot".into(),
        time: rfc3339(host::now_unix_ns()),
        sessions,
    }
}
