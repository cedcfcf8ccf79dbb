//! The quiet human view (`tail` and `replay` without `--verbose`): what a
//! person watching wants — connect, authentication, login, commands,
//! privilege changes, end — with the SSH server's own work folded away:
//! its execs (process.role "server"), what runs before login ("pre_login",
//! PAM's scripts), the uid juggling of its processes (privilege separation,
//! the monitor's temporary switches, the checks that root cannot be
//! regained), the exits of all of those and the clean exits of the user's
//! commands, and the running byte counts (`session.end` has the totals).
//! JSON, ECS, OCSF, captures and sinks keep everything.
//!
//! Which processes are the server's is learnt from the stream itself, so
//! `replay` folds alike: a process is the server's when it exec'd a server
//! or pre-login program, or changed ids before the session logged in; it
//! stops being so when it execs a user's program. Sessions recorded before
//! ssh-trace knew process roles (no `session.server`: older captures) are
//! shown in full, as they always were.
use std::collections::{HashMap, HashSet, VecDeque};

use crate::event::{Body, Event, Role, SessionId};

/// Ended sessions whose server processes are still remembered (their last
/// exits may follow the end); older ones are forgotten.
const ENDED_KEPT: usize = 1024;
/// Open sessions remembered at most (their ends may have been lost).
const OPEN_MAX: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct Quiet {
    server: HashMap<SessionId, HashSet<u32>>,
    ended: VecDeque<SessionId>,
}

impl Quiet {
    /// Whether the quiet view shows `ev` (fed every event, in order).
    pub fn shows(&mut self, ev: &Event) -> bool {
        let Some(s) = ev.session.as_deref() else {
            return true;
        };
        if s.server.is_none() {
            return true;
        }
        let logged_in = s.uid.is_some();
        match &ev.body {
            Body::ProcessExec(p) => match p.role {
                Some(Role::Server | Role::PreLogin) => {
                    self.pids(s.id).insert(p.pid);
                    false
                }
                Some(Role::User) | None => {
                    self.pids(s.id).remove(&p.pid);
                    true
                }
            },
            Body::UserChange(c) => {
                let pids = self.pids(s.id);
                if !logged_in || pids.contains(&c.process.pid) {
                    pids.insert(c.process.pid);
                    false
                } else {
                    true
                }
            }
            Body::ProcessExit(x) => {
                let server = self.pids(s.id).remove(&x.pid);
                !server && (x.signal.is_some() || x.exit_code.is_some_and(|c| c != 0))
            }
            Body::SessionEnd(_) => {
                self.ended.push_back(s.id);
                if self.ended.len() > ENDED_KEPT {
                    if let Some(old) = self.ended.pop_front() {
                        self.server.remove(&old);
                    }
                }
                true
            }
            Body::SessionBytes(_) => false,
            Body::SessionConnect
            | Body::SessionLogin
            | Body::AgentStart(_)
            | Body::AgentLoss(_)
            | Body::AgentStop(_)
            | Body::AgentHeartbeat(_)
            | Body::Alert(..) => true,
        }
    }

    fn pids(&mut self, id: SessionId) -> &mut HashSet<u32> {
        if self.server.len() >= OPEN_MAX && !self.server.contains_key(&id) {
            // Ends lost on a huge scale: start afresh rather than grow.
            self.server.clear();
            self.ended.clear();
        }
        self.server.entry(id).or_default()
    }
}
