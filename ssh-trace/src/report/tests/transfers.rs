//! `transfers`, and transfers in `sessions` and `timeline`: two sessions of
//! alice's, one uploading in a chroot and renaming, one whose download was
//! refused; the totals worked out by hand.
use serde_json::json;

use super::*;

fn transfers_stream() -> Vec<Event> {
    let mut a = Sess::new(A, "10.0.0.5", 40000);
    let mut b = Sess::new(B, "10.0.0.6", 40001);
    let rename = |t: &mut Transfer| {
        (t.action, t.bytes, t.size, t.mode) = (TransferAction::Rename, 0, None, None);
        t.target = Some("/upload/final.pdf".into());
    };
    let refused = |t: &mut Transfer| {
        (t.server, t.action, t.chroot) = (TransferServer::Scp, TransferAction::Download, None);
        t.path = "/etc/shadow".into();
        (t.bytes, t.size, t.outcome, t.errno) = (0, None, TransferOutcome::Error, Some(13));
    };
    vec![
        a.connect(0),
        a.login(100, "alice", 1001),
        a.transfer(1_000, 4250, |_| {}),
        a.transfer(2_000, 4250, rename),
        b.connect(3_000),
        b.login(3_100, "alice", 1001),
        b.transfer(4_000, 4300, refused),
        a.end(5_000, (2_000_000, 9_000), 5_000, true),
    ]
}

#[test]
fn transfers_lists_every_file_with_host_paths_and_totals() {
    let r = report(ReportKind::Transfers, &transfers_stream());
    let expected = [
        "TIME (UTC)               SESSION   USER   SOURCE          SERVER         ACTION      BYTES  OUTCOME   PATH",
        "2023-11-14 22:13:21.000  0f1e2d3c  alice  10.0.0.5:40000  internal-sftp  upload    1048576  complete  /srv/sftp/alice/upload/report.pdf",
        "2023-11-14 22:13:22.000  0f1e2d3c  alice  10.0.0.5:40000  internal-sftp  rename          0  complete  /srv/sftp/alice/upload/report.pdf -> /srv/sftp/alice/upload/final.pdf",
        "2023-11-14 22:13:24.000  0f1e2d3c  alice  10.0.0.6:40001  scp            download        0  error     /etc/shadow",
        "",
        "1 uploads (1048576 bytes), 1 downloads (0 bytes), 1 other operations",
    ];
    assert_eq!(text(&r), expected.join("\n") + "\n");
}

#[test]
fn transfers_json_has_each_transfer_and_the_totals() {
    let v = json(&report(ReportKind::Transfers, &transfers_stream()));
    assert_eq!(v["report"], "transfers");
    assert_eq!(
        v["totals"],
        json!({"uploads": 1, "downloads": 1, "bytes_uploaded": 1_048_576,
               "bytes_downloaded": 0, "operations": 1})
    );
    let t = v["transfers"].as_array().unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0]["session"], A);
    assert_eq!(t[0]["pid"], 4250);
    assert_eq!(t[0]["host_path"], "/srv/sftp/alice/upload/report.pdf");
    assert_eq!(t[0]["transfer"]["path"], "/upload/report.pdf");
    assert_eq!(t[0]["transfer"]["chroot"], "/srv/sftp/alice");
    assert_eq!(t[2]["transfer"]["errno"], 13);
    assert_eq!(t[2]["source"], json!({"ip": "10.0.0.6", "port": 40001}));
}

#[test]
fn sessions_show_transfer_columns_only_when_there_are_transfers() {
    let r = report(ReportKind::Sessions, &transfers_stream());
    let first = text(&r).lines().next().unwrap().to_owned();
    assert!(
        first.ends_with("COMMANDS  FILES              UPLOADED  DOWNLOADED"),
        "{first}"
    );
    let row = text(&r).lines().nth(1).unwrap().to_owned();
    assert!(
        row.ends_with("1 up 0 down 1 ops   1048576           0"),
        "{row}"
    );
    let v = json(&r);
    assert_eq!(v["sessions"][0]["transfers"]["uploads"], 1);
    assert_eq!(v["sessions"][1]["transfers"]["downloads"], 1);
    let plain = json(&report(ReportKind::Sessions, &stream()));
    assert!(plain["sessions"][0].get("transfers").is_none(), "{plain}");
}

#[test]
fn timeline_details_a_transfer() {
    let r = report(
        ReportKind::Timeline { session: A.into() },
        &transfers_stream(),
    );
    let t = text(&r);
    assert!(
        t.contains("file.transfer    pid=4250 internal-sftp upload /upload/report.pdf 1048576 bytes complete (chroot /srv/sftp/alice)"),
        "{t}"
    );
    assert!(
        t.contains("rename /upload/report.pdf -> /upload/final.pdf complete"),
        "{t}"
    );
}
