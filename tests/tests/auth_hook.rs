//! The servers' log capture is attached only while a session authenticates
//! (issue 13), and not at all for a server whose -E file is read instead.
//! Alone in its test binary: the other authentication tests
//! keep sessions authenticating all the time, so with them running
//! alongside the hook is never idle. Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
// The cases are shared with tests/tests/auth.rs; this binary runs these.
#[allow(dead_code)]
mod auth_cases;

#[test]
fn the_log_hook_is_attached_only_while_a_session_authenticates() {
    auth_cases::the_log_hook_is_attached_only_while_a_session_authenticates()
}

#[test]
fn openssh92_a_server_logging_to_a_root_only_file_needs_no_syscall_hook() {
    auth_cases::a_server_logging_to_a_root_only_file_needs_no_syscall_hook(
        ssh_trace_tests::Kind::OpenSsh92,
    )
}

#[test]
fn openssh10_a_server_logging_to_a_root_only_file_needs_no_syscall_hook() {
    auth_cases::a_server_logging_to_a_root_only_file_needs_no_syscall_hook(
        ssh_trace_tests::Kind::OpenSsh10,
    )
}

#[test]
fn inetd_a_server_logging_to_a_root_only_file_needs_no_syscall_hook() {
    auth_cases::a_server_logging_to_a_root_only_file_needs_no_syscall_hook(
        ssh_trace_tests::Kind::Inetd,
    )
}
