//! File transfers (issue 14) with the real clients against the test
//! servers: scp (its SFTP-based default and legacy `-O`), sftp (put, get,
//! rename, rm, mkdir, rmdir) through the sftp-server subsystem, and
//! internal-sftp for a chrooted user. Each `file.transfer` is checked
//! against what is on disk: the exact path, the bytes equal to the file's
//! size, its mode, the direction and the outcome. On OpenSSH 9.2 and 10;
//! dropbear runs the system's sftp-server and scp, so the sftp and scp
//! cases run against it too. Skipped with a message when not root.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
mod xfer;

use ssh_trace_tests::Kind;

/// The cases for one server kind, in a module named after it.
macro_rules! transfer_cases {
    ($module:ident, $kind:expr, $($case:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $case() {
                    xfer::$case($kind)
                }
            )*
        }
    };
}

transfer_cases!(
    openssh92,
    Kind::OpenSsh92,
    scp_upload_and_download_are_exact,
    legacy_scp_upload_and_download_are_exact,
    sftp_put_get_rename_rm_mkdir_are_reported,
    refused_download_is_an_error,
    dropped_upload_is_partial,
    internal_sftp_chroot_paths_are_the_users,
    a_session_without_transfers_has_none,
    a_large_upload_alerts_counts_and_is_reported,
    a_transfer_running_at_start_is_counted_exactly,
    a_legacy_scp_running_at_start_is_counted_exactly,
    internal_sftp_running_at_start_is_counted_exactly,
    a_pipelined_sftp_download_is_reported_exactly,
    a_pipelined_internal_sftp_download_is_reported_exactly,
    internal_sftp_for_root_is_reported,
);
transfer_cases!(
    openssh10,
    Kind::OpenSsh10,
    scp_upload_and_download_are_exact,
    legacy_scp_upload_and_download_are_exact,
    sftp_put_get_rename_rm_mkdir_are_reported,
    refused_download_is_an_error,
    internal_sftp_chroot_paths_are_the_users,
    a_transfer_running_at_start_is_counted_exactly,
    a_legacy_scp_running_at_start_is_counted_exactly,
    internal_sftp_running_at_start_is_counted_exactly,
    a_pipelined_sftp_download_is_reported_exactly,
    a_pipelined_internal_sftp_download_is_reported_exactly,
    internal_sftp_for_root_is_reported,
);
transfer_cases!(
    dropbear,
    Kind::Dropbear,
    scp_upload_and_download_are_exact,
    legacy_scp_upload_and_download_are_exact,
    sftp_put_get_rename_rm_mkdir_are_reported,
    a_transfer_running_at_start_is_counted_exactly,
    a_legacy_scp_running_at_start_is_counted_exactly,
    a_pipelined_sftp_download_is_reported_exactly,
);
