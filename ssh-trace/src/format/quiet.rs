//! The quiet human view (`tail` and `replay` without `--verbose`): what a
//! person watching wants — connect, authentication, login, commands,
//! privilege changes, end — with the SSH server's own work folded away:
//! its execs (process.role "server"), what runs before login ("pre_login",
//! PAM's scripts), the uid juggling of its processes (privilege separation,
//! the monitor's temporary switches, the checks that root cannot be
//! regained), the exits of all of those and the clean exits of the user's
//! commands, calls of the user's processes that changed no id, the running
//! byte counts (`session.end` has the totals) and the accepted
//! authentication (`session.login` names its method and key; failed and
//! partial ones are shown).
//! JSON, ECS, OCSF, captures and sinks keep everything.
//!
//! Which processes are the server's is learnt from the stream itself, so
//! `replay` folds alike: a process is the server's when it exec'd a server
//! or pre-login program, or changed ids before the session logged in; it
//! stops being so when it execs a user's program. Sessions recorded before
//! ssh-trace knew process roles (no `session.server`: older captures) are
//! shown in full, as they always were.
use std::collections::{HashMap, HashSet, VecDeque};

use crate::event::{Accepted, Body, Event, Outcome, Role, SessionId};

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
                    // A call that changed nothing is no privilege change.
                    !(c.change.success && c.change.old == c.change.new)
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
            // The login line names the accepted method and key.
            Body::SessionAuth(d) => {
                !(d.auth.outcome == Outcome::Accepted && Accepted::of(&d.auth).is_some())
            }
            Body::SessionConnect
            | Body::SessionLogin(_)
            | Body::SessionForward(_)
            | Body::FileTransfer(_)
            | Body::SessionTty(_)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        event::{
            Args, CallArgs, Closed, IdChange, Ids, Pid, ProcessExec, ProcessExit, SessionEnd,
            SessionInfo, Traffic, UserChange,
        },
        format::samples::{self, session},
    };

    fn exec(pid: u32, role: Option<Role>) -> Body {
        Body::ProcessExec(ProcessExec {
            pid,
            ppid: 1,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            executable: "/x".into(),
            executable_truncated: false,
            args: Args::from_parts(["x"]),
            args_truncated: false,
            role,
            fileless: false,
        })
    }

    fn change(pid: u32, euid: (u32, u32)) -> Body {
        let ids = |euid| Ids {
            uid: 0,
            euid,
            suid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
        };
        Body::UserChange(IdChange {
            process: Pid { pid },
            change: UserChange {
                syscall: "setresuid",
                args: CallArgs::new(&[-1, i64::from(euid.1), -1]),
                success: true,
                errno: None,
                old: ids(euid.0),
                new: ids(euid.1),
                user: None,
                effective_user: None,
            },
        })
    }

    fn exit(pid: u32, code: u8) -> Body {
        Body::ProcessExit(ProcessExit {
            pid,
            exit_code: Some(code),
            signal: None,
        })
    }

    fn auth(outcome: Outcome) -> Body {
        let auth = Arc::new(crate::event::Auth {
            outcome,
            ..samples::auth()
        });
        Body::SessionAuth(Box::new(crate::event::AuthDecision { pid: 10, auth }))
    }

    fn end() -> Body {
        Body::SessionEnd(Closed {
            traffic: Traffic::default(),
            end: SessionEnd {
                duration_ms: 1,
                logged_in: true,
            },
            attempts: None,
        })
    }

    /// What the quiet view shows of `(logged in, body)` in order.
    fn shown(info: impl Fn(bool) -> Arc<SessionInfo>, evs: Vec<(bool, Body)>) -> Vec<bool> {
        let mut q = Quiet::default();
        evs.into_iter()
            .map(|(l, b)| q.shows(&Event::new(0, Some(info(l)), b)))
            .collect()
    }

    #[test]
    fn the_servers_work_is_folded_and_the_users_is_shown() {
        let got = shown(
            session,
            vec![
                (false, Body::SessionConnect),
                (false, auth(Outcome::Failed)),
                (false, auth(Outcome::Partial)),
                (false, auth(Outcome::Accepted)),
                (false, exec(10, Some(Role::Server))), // sshd-session
                (false, change(11, (0, 102))),         // privsep child
                (false, exec(12, Some(Role::PreLogin))), // PAM's motd
                (false, exit(11, 0)),
                (false, exit(12, 1)),
                (true, Body::SessionLogin(Default::default())),
                (true, change(10, (0, 1001))), // the monitor, after login
                (true, exec(13, Some(Role::User))),
                (true, change(13, (1001, 0))), // the user's sudo
                (true, change(13, (0, 0))),    // changed nothing
                (true, Body::SessionBytes(Traffic::default())),
                (true, exit(13, 0)),
                (true, exit(14, 2)), // a failed command
                (true, exit(10, 255)),
                (true, end()),
            ],
        );
        let want = [
            true, true, true, false, false, false, false, false, false, true, false, true, true,
            false, false, false, true, false, true,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_server_process_that_runs_the_users_program_is_the_users() {
        // dropbear's session child drops to the user before login, then
        // execs the shell: from then on its changes are the user's.
        let got = shown(
            session,
            vec![
                (false, change(20, (0, 1001))),
                (true, change(20, (1001, 1001))),
                (true, exec(20, Some(Role::User))),
                (true, change(20, (1001, 0))),
            ],
        );
        assert_eq!(got, [false, false, true, true]);
    }

    #[test]
    fn sessions_recorded_without_roles_are_shown_in_full() {
        let old = |l: bool| {
            let mut s = (*session(l)).clone();
            s.server = None;
            Arc::new(s)
        };
        let evs = vec![
            (false, exec(10, None)),
            (false, change(11, (0, 102))),
            (false, exit(11, 0)),
            (true, Body::SessionBytes(Traffic::default())),
        ];
        assert_eq!(shown(old, evs), [true; 4]);
    }
}
