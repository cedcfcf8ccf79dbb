//! internal-sftp for root: OpenSSH's monitor serves a root login itself,
//! without a post-auth child, and the session child switches to root for
//! good on its own; it is internal-sftp all the same.
use super::*;

/// A server whose root logins (the test key, from a file of the test's)
/// are internal-sftp.
fn root_sftp_server(kind: Kind) -> Server {
    let keys = world().dir.join(format!("root_keys_{}", kind.name()));
    std::fs::copy(world().key.with_extension("pub"), &keys).unwrap();
    let setup = Setup {
        users: vec!["root".into()],
        config: format!(
            "Match User root\n  AuthorizedKeysFile {}\n  ForceCommand internal-sftp\n",
            keys.display()
        ),
        ..Default::default()
    };
    Server::with(kind, "root_sftp", setup).unwrap()
}

pub fn internal_sftp_for_root_is_reported(kind: Kind) {
    if !root_or_skip("internal_sftp_for_root_is_reported") {
        return;
    }
    let server = root_sftp_server(kind);
    let d = Dirs::new(kind, "root_sftp");
    let (local, back) = (d.local.join("r.bin"), d.local.join("back.bin"));
    let on_host = d.remote.join("r.bin");
    random_file(&local, 234_567, 0o640);
    let tracer = tracer(kind);
    let batch = d.local.join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} {}\nget {} {}\n",
            local.display(),
            on_host.display(),
            on_host.display(),
            back.display()
        ),
    )
    .unwrap();
    let mut cmd = client("sftp", &server, "-P");
    cmd.arg("-b").arg(&batch).arg("root@127.0.0.1");
    let ev = session(kind, &server, &tracer, &mut cmd);
    let t = transfers(&ev);
    let k = kind.name();
    assert_eq!(t.len(), 2, "[{k}] {t:?}");
    for (x, action) in t.iter().zip(["upload", "download"]) {
        let want = Want {
            server: "internal-sftp",
            action,
            path: &on_host,
            bytes: 234_567,
            file: Some(&on_host),
            outcome: "complete",
        };
        check(kind, x, &want);
        assert_eq!(x["session"]["user"], "root", "[{k}] {x}");
    }
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
}
