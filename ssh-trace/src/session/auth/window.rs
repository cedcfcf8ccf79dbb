//! Whether the servers' log hook watched a session's whole authentication.
//! The hook is attached on demand (probes/auth_hook.rs), so a session can
//! connect before it runs, and a gone helper leaves it detached: what it
//! may have missed is counted (`agent.loss`, `auth_unwatched`), never
//! passed over.

/// A session's authentication, from its connect to its login or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthWindow {
    pub key: u64,
    /// Unix ns of its connect and of its login or end.
    pub opened_ns: u64,
    pub closed_ns: u64,
    pub logged_in: bool,
    /// A decision of it was read (for a login: the accepted one).
    pub decided: bool,
}

impl AuthWindow {
    /// Whether decisions of it went unread, given since when (Unix ns) the
    /// hook has run without a break (None: it has not).
    pub fn missed(&self, watched_since: Option<u64>) -> bool {
        match watched_since {
            None => true,
            Some(t) if t > self.closed_ns => true,
            // Late: a login with logging on always has its decision, so
            // none read means it came before the hook ran. A connection
            // that ended without one may have had none at all.
            Some(t) if t > self.opened_ns => self.logged_in && !self.decided,
            Some(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuthWindow;

    fn window(logged_in: bool, decided: bool) -> AuthWindow {
        AuthWindow {
            key: 1,
            opened_ns: 100,
            closed_ns: 200,
            logged_in,
            decided,
        }
    }

    #[test]
    fn a_hook_watching_from_before_the_connect_misses_nothing() {
        for (l, d) in [(true, true), (true, false), (false, false), (false, true)] {
            assert!(!window(l, d).missed(Some(100)), "{l} {d}");
            assert!(!window(l, d).missed(Some(0)), "{l} {d}");
        }
    }

    #[test]
    fn a_hook_that_never_ran_or_ran_after_the_window_missed_it() {
        assert!(window(true, false).missed(None));
        assert!(window(false, false).missed(None));
        assert!(window(false, false).missed(Some(201)));
    }

    #[test]
    fn a_late_hook_missed_only_a_login_without_its_decision() {
        assert!(window(true, false).missed(Some(150)));
        assert!(!window(true, true).missed(Some(150)));
        assert!(!window(false, false).missed(Some(150)));
    }
}
