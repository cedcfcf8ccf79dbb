//! The `tree` report: the process tree of one session from its
//! process.exec (pid, ppid, argv, ids), process.exit and user.change events.
//!
//! Processes live in a flat arena and are walked with explicit stacks, so a
//! hostile chain of nested processes cannot overflow the stack when the tree
//! is built, printed, serialised or dropped.
use std::collections::HashMap;
use std::io;

use serde::Serialize;

use super::timeline::{header, Head};
use super::{detail, json_to, text_time_ms};
use crate::event::{Args, Body, Event, ProcessExec, ProcessExit, UserChange};

enum Entry<'a> {
    Exec(&'a ProcessExec),
    Change(&'a UserChange),
}

struct Proc<'a> {
    pid: u32,
    /// From the first exec; processes that never exec (sshd's forked
    /// children) have no known parent and are shown at the top.
    ppid: Option<u32>,
    first_ns: u64,
    /// Execs and id changes, in event order.
    log: Vec<(u64, Entry<'a>)>,
    exit: Option<(u64, &'a ProcessExit)>,
    parent: Option<usize>,
    children: Vec<usize>,
}

impl<'a> Proc<'a> {
    fn first_exec(&self) -> Option<&'a ProcessExec> {
        self.log.iter().find_map(|(_, e)| match e {
            Entry::Exec(p) => Some(*p),
            Entry::Change(_) => None,
        })
    }
}

struct Tree<'a> {
    procs: Vec<Proc<'a>>,
    roots: Vec<usize>,
}

/// The live process with `pid`, or a new one: an exited pid that shows up
/// again is a new process.
fn node(procs: &mut Vec<Proc>, current: &mut HashMap<u32, usize>, pid: u32, t: u64) -> usize {
    if let Some(&n) = current.get(&pid) {
        if procs[n].exit.is_none() {
            return n;
        }
    }
    procs.push(Proc {
        pid,
        ppid: None,
        first_ns: t,
        log: Vec::new(),
        exit: None,
        parent: None,
        children: Vec::new(),
    });
    current.insert(pid, procs.len() - 1);
    procs.len() - 1
}

fn build(events: &[Event]) -> Tree<'_> {
    let mut procs: Vec<Proc> = Vec::new();
    // pid → the latest process with that pid.
    let mut current: HashMap<u32, usize> = HashMap::new();
    for ev in events {
        let t = ev.time_ns;
        match &ev.body {
            Body::ProcessExec(p) => {
                let n = node(&mut procs, &mut current, p.pid, t);
                if procs[n].ppid.is_none() {
                    procs[n].ppid = Some(p.ppid);
                    // Under the process with that pid seen most recently,
                    // if it was seen before this one: parents always come
                    // first in the arena, so garbled input (pid reuse, ppid
                    // loops) cannot make a cycle. A parent first seen after
                    // its child (e.g. a subshell that never execs) leaves
                    // the child at the top, with its ppid shown.
                    if let Some(&parent) = current.get(&p.ppid) {
                        if parent < n {
                            procs[n].parent = Some(parent);
                            procs[parent].children.push(n);
                        }
                    }
                }
                procs[n].log.push((t, Entry::Exec(p)));
            }
            Body::UserChange(c) => {
                let n = node(&mut procs, &mut current, c.process.pid, t);
                procs[n].log.push((t, Entry::Change(&c.change)));
            }
            Body::ProcessExit(p) => {
                let n = node(&mut procs, &mut current, p.pid, t);
                procs[n].exit = Some((t, p));
            }
            // Only process events make the tree.
            Body::SessionConnect
            | Body::SessionAuth(_)
            | Body::SessionLogin(_)
            | Body::SessionBytes(_)
            | Body::SessionEnd(_)
            | Body::FileTransfer(_)
            | Body::SessionForward(_)
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_)
            | Body::Alert(..)
            | Body::SessionTty(_) => {}
        }
    }
    let roots = (0..procs.len())
        .filter(|&n| procs[n].parent.is_none())
        .collect();
    Tree { procs, roots }
}

/// `603 bash -c id  uid=1001 exit=0`; a process at the top whose parent
/// is known by pid only also shows `ppid=`.
fn label(p: &Proc) -> String {
    let mut s = p.pid.to_string();
    match p.first_exec() {
        Some(e) => s.push_str(&format!(" {}  {}", detail::command(e), detail::ids(e))),
        None => s.push_str(" [no exec seen] "),
    }
    if let (None, Some(ppid)) = (p.parent, p.ppid) {
        s.push_str(&format!(" ppid={ppid}"));
    }
    if let Some((_, x)) = p.exit {
        s.push_str(&format!(" {}", detail::exit(x)));
    }
    s.trim_end().to_string()
}

pub fn write_text(id: &str, events: &[Event], out: &mut dyn io::Write) -> io::Result<()> {
    header(id, events, out)?;
    let tree = build(events);
    // (process, prefix of its line, connector, prefix of what is under it)
    let mut stack: Vec<(usize, String, &str, String)> = tree
        .roots
        .iter()
        .rev()
        .map(|&n| (n, String::new(), "", String::new()))
        .collect();
    while let Some((n, prefix, connector, below)) = stack.pop() {
        let p = &tree.procs[n];
        writeln!(out, "{prefix}{connector}{}", label(p))?;
        // Execs after the first (shown in the label) and id changes, with
        // a bar down to the children if there are any.
        let bar = if p.children.is_empty() { "  " } else { "│ " };
        let mut first_exec = true;
        for (t, e) in &p.log {
            let line = match e {
                Entry::Exec(_) if first_exec => {
                    first_exec = false;
                    continue;
                }
                Entry::Exec(x) => format!("exec {}  {}", detail::command(x), detail::ids(x)),
                Entry::Change(c) => detail::change(c),
            };
            writeln!(out, "{below}{bar}{} {line}", text_time_ms(*t))?;
        }
        for (i, &c) in p.children.iter().enumerate().rev() {
            let last = i + 1 == p.children.len();
            let (conn, more) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            stack.push((c, below.clone(), conn, format!("{below}{more}")));
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ExecJson<'a> {
    time: String,
    executable: &'a str,
    executable_truncated: bool,
    args: &'a Args,
    args_truncated: bool,
    uid: u32,
    euid: u32,
    gid: u32,
    egid: u32,
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    time: String,
    #[serde(flatten)]
    change: &'a UserChange,
}

#[derive(Serialize)]
struct ExitJson {
    time: String,
    exit_code: Option<u8>,
    signal: Option<u8>,
}

/// A process without its children (written separately, see `write_json`).
#[derive(Serialize)]
struct ProcJson<'a> {
    pid: u32,
    ppid: Option<u32>,
    first_seen: String,
    execs: Vec<ExecJson<'a>>,
    user_changes: Vec<ChangeJson<'a>>,
    exit: Option<ExitJson>,
}

fn proc_json<'a>(p: &Proc<'a>) -> ProcJson<'a> {
    let rfc3339 = crate::host::rfc3339;
    let mut execs = Vec::new();
    let mut user_changes = Vec::new();
    for (t, e) in &p.log {
        match e {
            Entry::Exec(x) => execs.push(ExecJson {
                time: rfc3339(*t),
                executable: &x.executable,
                executable_truncated: x.executable_truncated,
                args: &x.args,
                args_truncated: x.args_truncated,
                uid: x.uid,
                euid: x.euid,
                gid: x.gid,
                egid: x.egid,
            }),
            Entry::Change(c) => user_changes.push(ChangeJson {
                time: rfc3339(*t),
                change: c,
            }),
        }
    }
    ProcJson {
        pid: p.pid,
        ppid: p.ppid,
        first_seen: rfc3339(p.first_ns),
        execs,
        user_changes,
        exit: p.exit.map(|(t, x)| ExitJson {
            time: rfc3339(t),
            exit_code: x.exit_code,
            signal: x.signal,
        }),
    }
}

/// `{"report":"tree","lost_records":n,"session":{…},"processes":[…]}` where
/// each process is `ProcJson` plus `"children":[…]`. Written piecewise with
/// an explicit stack: serde_json would recurse once per level.
pub fn write_json(
    id: &str,
    events: &[Event],
    lost: u64,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let tree = build(events);
    out.write_all(b"{\"report\":\"tree\",\"lost_records\":")?;
    json_to(out, &lost)?;
    out.write_all(b",\"session\":")?;
    json_to(out, &Head::new(id, events))?;
    out.write_all(b",\"processes\":[")?;
    // (children being written, how many are done)
    let mut stack: Vec<(&[usize], usize)> = vec![(&tree.roots, 0)];
    while let Some(top) = stack.last_mut() {
        let (list, done) = (top.0, top.1);
        if done == list.len() {
            stack.pop();
            // Closes the children array, then its process (not the top list).
            out.write_all(if stack.is_empty() { b"]" } else { b"]}" })?;
            continue;
        }
        top.1 += 1;
        if done > 0 {
            out.write_all(b",")?;
        }
        let p = &tree.procs[list[done]];
        let fields = serde_json::to_string(&proc_json(p)).map_err(io::Error::other)?;
        // The object without its closing brace, then its children.
        let open = fields.strip_suffix('}').unwrap_or(&fields);
        out.write_all(open.as_bytes())?;
        out.write_all(b",\"children\":[")?;
        stack.push((&p.children, 0));
    }
    out.write_all(b"}")
}
