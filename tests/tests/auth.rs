//! How sessions authenticate (issue 13), on each server: OpenSSH 9.2,
//! OpenSSH 10 and dropbear. One test per case per server, named
//! `SERVER::CASE`; keyboard-interactive and certificates where the server
//! has them (dropbear has neither). Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
// The hook window case is run by tests/tests/auth_hook.rs.
#[allow(dead_code)]
mod auth_cases;

use ssh_trace_tests::Kind;

macro_rules! server_cases {
    ($module:ident, $kind:expr, $($case:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $case() {
                    auth_cases::$case($kind)
                }
            )*
        }
    };
}

macro_rules! every_server {
    ($module:ident, $kind:expr $(, $more:ident)*) => {
        server_cases!(
            $module,
            $kind,
            password_login_is_an_accepted_password,
            publickey_fingerprint_is_ssh_keygens,
            wrong_key_fails_and_the_end_names_the_user,
            invalid_user_is_marked_invalid,
            three_failed_passwords_then_a_success,
            logger_in_a_session_forges_no_decision,
            a_user_name_like_a_log_line_changes_only_the_user_name
            $(, $more)*
        );
    };
}

every_server!(
    openssh92,
    Kind::OpenSsh92,
    keyboard_interactive_through_pam,
    certificate_names_its_id_serial_and_ca,
    quiet_server_logs_nothing_and_the_end_still_counts_key_lookups,
    three_failed_passwords_then_a_success_through_syslog,
    a_log_file_named_through_a_symlink_is_read_by_the_hook_instead
);
every_server!(
    openssh10,
    Kind::OpenSsh10,
    keyboard_interactive_through_pam,
    certificate_names_its_id_serial_and_ca,
    quiet_server_logs_nothing_and_the_end_still_counts_key_lookups,
    three_failed_passwords_then_a_success_through_syslog,
    a_log_file_named_through_a_symlink_is_read_by_the_hook_instead
);
every_server!(dropbear, Kind::Dropbear);

#[test]
fn a_gone_auth_helper_is_said_and_each_login_it_missed_is_counted() {
    auth_cases::a_gone_auth_helper_is_said_and_each_login_it_missed_is_counted()
}

// The hook window test is tests/tests/auth_hook.rs: alone in its binary,
// since every other test here keeps a session authenticating.
