//! The servers' log capture is attached only while a session authenticates
//! (issue 13). Alone in its test binary: the other authentication tests
//! keep sessions authenticating all the time, so with them running
//! alongside the hook is never idle. Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
// The cases are shared with tests/tests/auth.rs; this binary runs one.
#[allow(dead_code)]
mod auth_cases;

#[test]
fn the_log_hook_is_attached_only_while_a_session_authenticates() {
    auth_cases::the_log_hook_is_attached_only_while_a_session_authenticates()
}
