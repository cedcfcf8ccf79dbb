//! Whether the servers' log hook watched a session's whole authentication.
//! The hook is attached on demand (probes/auth_hook.rs), so a session can
//! connect before it runs, and a gone helper leaves it detached: what it
//! may have missed is counted (`agent.loss`, `auth_unwatched`), never
//! passed over.

/// A session's authentication, from its connect to its login or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthWindow {
    pub key: u64,
    /// Unix ns of its connect, as this agent saw it.
    pub opened_ns: u64,
    pub logged_in: bool,
    /// A decision of it was read (for a login: the accepted one).
    pub decided: bool,
    /// Its server (by port) logged a decision that was read before: it
    /// logs them (LogLevel QUIET logs none, and is no loss).
    pub server_logs: bool,
}

/// What the agent knows of the hook as a window closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Its helper is gone: nothing reads the servers' log output.
    Gone,
    /// Not running (detached, or not yet run since its latest attach).
    Idle,
    /// Running without a break since this Unix ns time (0: always).
    Since(u64),
}

impl AuthWindow {
    /// Whether decisions of it may have gone unread. With the hook gone,
    /// any; else a login on a server that logs always has its decision,
    /// so a login without one that the hook did not watch from its connect
    /// missed it. A connection that ended without a login may have had no
    /// decision at all: not counted (its attempts still are, from uid
    /// switches).
    pub fn missed(&self, watch: Watch) -> bool {
        let late = match watch {
            Watch::Gone => return true,
            Watch::Idle => true,
            Watch::Since(t) => t > self.opened_ns,
        };
        late && self.logged_in && !self.decided && self.server_logs
    }
}

#[cfg(test)]
mod tests {
    use super::{AuthWindow, Watch};

    fn window(logged_in: bool, decided: bool) -> AuthWindow {
        AuthWindow {
            key: 1,
            opened_ns: 100,
            logged_in,
            decided,
            server_logs: true,
        }
    }

    const CASES: [(bool, bool); 4] = [(true, true), (true, false), (false, false), (false, true)];

    #[test]
    fn a_hook_watching_from_before_the_connect_misses_nothing() {
        for (l, d) in CASES {
            assert!(!window(l, d).missed(Watch::Since(100)), "{l} {d}");
            assert!(!window(l, d).missed(Watch::Since(0)), "{l} {d}");
        }
    }

    #[test]
    fn a_gone_hook_misses_every_window() {
        for (l, d) in CASES {
            assert!(window(l, d).missed(Watch::Gone), "{l} {d}");
        }
    }

    #[test]
    fn a_late_or_idle_hook_missed_only_a_login_without_its_decision() {
        for watch in [Watch::Since(150), Watch::Idle] {
            assert!(window(true, false).missed(watch));
            assert!(!window(true, true).missed(watch));
            assert!(!window(false, false).missed(watch), "may have had none");
        }
    }

    #[test]
    fn a_late_hook_on_a_server_that_logs_nothing_missed_nothing() {
        let quiet = AuthWindow {
            server_logs: false,
            ..window(true, false)
        };
        assert!(!quiet.missed(Watch::Since(150)));
        assert!(!quiet.missed(Watch::Idle));
    }
}
