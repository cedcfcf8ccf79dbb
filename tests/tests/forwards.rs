//! Forwards (issue 14): `ssh -L`, `-D`, `-R`, ProxyJump and agent
//! forwarding with the real client against each server, targets in a
//! network namespace of the test's own (10.252.N.0/24, a range only these
//! tests use) running a counting HTTP server: every byte count is compared
//! with what the forward's peer itself counted. One test per case per
//! server, `SERVER::CASE`.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod forward_cases;

use ssh_trace_tests::Kind;

macro_rules! server_cases {
    ($module:ident, $kind:expr, [$($case:ident),*]) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $case() {
                    forward_cases::$case($kind)
                }
            )*
        }
    };
}

server_cases!(
    openssh92,
    Kind::OpenSsh92,
    [
        local_forward_bytes_equal_what_the_target_counted,
        local_forward_to_an_ipv6_target_bytes_equal_what_it_counted,
        dynamic_forward_bytes_equal_what_the_target_counted,
        remote_forward_shows_its_listener_and_each_connection,
        proxyjump_through_this_host_is_a_local_forward_to_the_next_hop,
        agent_forwarding_shows_the_socket_and_each_use,
        failed_local_forward_names_its_target_and_errno,
        forwards_set_up_before_the_agent_starts_trace_new_connections,
        a_remote_listener_made_before_the_agent_starts_is_reported,
        a_remote_listener_canceled_by_the_client_ends,
        a_discovered_remote_listener_canceled_by_the_client_ends,
        a_remote_unix_listener_canceled_by_the_client_ends,
        a_discovered_remote_unix_listener_canceled_by_the_client_ends,
        reports_show_the_forwards_with_the_bytes_their_peers_counted,
        local_forward_to_a_unix_socket_names_its_path,
        remote_forward_on_a_unix_socket_shows_its_path_and_each_connection,
        a_remote_unix_listener_made_before_the_agent_starts_is_reported,
        x11_forwarding_shows_the_display_and_each_connection
    ]
);
server_cases!(
    openssh10,
    Kind::OpenSsh10,
    [
        local_forward_bytes_equal_what_the_target_counted,
        local_forward_to_an_ipv6_target_bytes_equal_what_it_counted,
        dynamic_forward_bytes_equal_what_the_target_counted,
        remote_forward_shows_its_listener_and_each_connection,
        proxyjump_through_this_host_is_a_local_forward_to_the_next_hop,
        agent_forwarding_shows_the_socket_and_each_use,
        failed_local_forward_names_its_target_and_errno,
        forwards_set_up_before_the_agent_starts_trace_new_connections,
        a_remote_listener_made_before_the_agent_starts_is_reported,
        a_remote_listener_canceled_by_the_client_ends,
        a_discovered_remote_listener_canceled_by_the_client_ends,
        a_remote_unix_listener_canceled_by_the_client_ends,
        a_discovered_remote_unix_listener_canceled_by_the_client_ends,
        reports_show_the_forwards_with_the_bytes_their_peers_counted,
        local_forward_to_a_unix_socket_names_its_path,
        remote_forward_on_a_unix_socket_shows_its_path_and_each_connection,
        a_remote_unix_listener_made_before_the_agent_starts_is_reported,
        x11_forwarding_shows_the_display_and_each_connection
    ]
);
// Dropbear has no unix-socket forwarding, and no X11 forwarding (Debian's).
// Its server (2022.83) answers a cancel-tcpip-forward but keeps listening.
server_cases!(
    dropbear,
    Kind::Dropbear,
    [
        local_forward_bytes_equal_what_the_target_counted,
        local_forward_to_an_ipv6_target_bytes_equal_what_it_counted,
        dynamic_forward_bytes_equal_what_the_target_counted,
        remote_forward_shows_its_listener_and_each_connection,
        proxyjump_through_this_host_is_a_local_forward_to_the_next_hop,
        agent_forwarding_shows_the_socket_and_each_use,
        failed_local_forward_names_its_target_and_errno,
        forwards_set_up_before_the_agent_starts_trace_new_connections,
        a_remote_listener_made_before_the_agent_starts_is_reported,
        reports_show_the_forwards_with_the_bytes_their_peers_counted
    ]
);

#[test]
fn forward_outside_the_allowed_networks_fires_forward_target() {
    forward_cases::forward_outside_the_allowed_networks_fires_forward_target(Kind::OpenSsh92)
}

#[test]
fn local_forward_through_a_users_own_sshd_is_its_sessions() {
    forward_cases::local_forward_through_a_users_own_sshd_is_its_sessions()
}

#[test]
fn forward_events_are_valid_ecs_and_ocsf() {
    forward_cases::forward_events_are_valid_ecs_and_ocsf(Kind::OpenSsh92)
}
