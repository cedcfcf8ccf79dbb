//! The servers' messages as they write them (OpenSSH 9.2 and 10.0 -E lines
//! and syslog datagrams, dropbear 2022.83 standard error), and hostile
//! user names.
use super::*;
use crate::event::{Certificate, Method, Outcome};

const FP: &str = "SHA256:Q3CWul/NYDR8FMdRoB/uZHMglZ5aVTn3hYH0ZhzVXCk";
const CA_FP: &str = "SHA256:VeJ9qaKLCB8hpCIBAD6YWn8gL6rjcNns2sLH1iyHIRo";

fn client() -> Endpoint {
    Endpoint::new([127, 0, 0, 1].into(), 42302)
}

fn decision(line: &str) -> Auth {
    let msg = message(line.as_bytes(), false).unwrap();
    match parse(msg, &client()) {
        Some(Parsed::Decision(a)) => a,
        other => panic!("{line:?}: {other:?}"),
    }
}

fn nothing(line: &str) {
    let msg = message(line.as_bytes(), false).unwrap();
    assert_eq!(parse(msg, &client()), None, "{line:?}");
}

#[test]
fn openssh_accepted_publickey_names_the_key() {
    let a = decision(&format!(
        "Accepted publickey for sshtrace-test from 127.0.0.1 port 42302 ssh2: ED25519 {FP}\r\n"
    ));
    assert_eq!(a.method, Some(Method::Publickey));
    assert_eq!(a.outcome, Outcome::Accepted);
    assert_eq!(a.user.as_deref(), Some("sshtrace-test"));
    assert!(!a.invalid);
    assert_eq!(a.key, Some(key("ED25519", FP)));
    assert_eq!(a.certificate, None);
}

#[test]
fn openssh_password_failures_and_invalid_users() {
    let a = decision("Failed password for sshtrace-pwx from 127.0.0.1 port 42302 ssh2\r\n");
    assert_eq!(
        (a.method, a.outcome, a.invalid),
        (Some(Method::Password), Outcome::Failed, false)
    );
    let a = decision("Failed none for invalid user admin from 127.0.0.1 port 42302 ssh2");
    assert_eq!(
        (a.method, a.user.as_deref(), a.invalid),
        (Some(Method::None), Some("admin"), true)
    );
    // The server's refusal of the user itself names no method.
    let a = decision("Invalid user admin from 127.0.0.1 port 42302\r\n");
    assert_eq!(
        (a.method, a.user.as_deref(), a.invalid, a.outcome),
        (None, Some("admin"), true, Outcome::Failed)
    );
}

#[test]
fn openssh_keyboard_interactive_pam_and_partial() {
    let a = decision("Accepted keyboard-interactive/pam for bob from 127.0.0.1 port 42302 ssh2");
    assert_eq!(a.method, Some(Method::KeyboardInteractive));
    assert_eq!(a.submethod.as_deref(), Some("pam"));
    let a = decision(&format!(
        "Partial publickey for bob from 127.0.0.1 port 42302 ssh2: RSA {FP}"
    ));
    assert_eq!(a.outcome, Outcome::Partial);
}

#[test]
fn openssh_certificate_id_serial_and_ca() {
    let a = decision(&format!(
        "Accepted publickey for bob from 127.0.0.1 port 42302 ssh2: ED25519-CERT {FP} ID bob@example (serial 42) CA ED25519 {CA_FP}"
    ));
    assert_eq!(a.key, Some(key("ED25519-CERT", FP)));
    assert_eq!(
        a.certificate,
        Some(Certificate {
            id: "bob@example".into(),
            serial: 42,
            ca: key("ED25519", CA_FP),
        })
    );
    // The key ID is the CA's text: read from the right, it may hold anything.
    let a = decision(&format!(
        "Accepted publickey for bob from 127.0.0.1 port 42302 ssh2: ED25519-CERT {FP} ID a (serial 1) CA X (serial 7) CA RSA {CA_FP}"
    ));
    let c = a.certificate.unwrap();
    assert_eq!((c.id.as_str(), c.serial), ("a (serial 1) CA X", 7));
}

#[test]
fn relayed_decisions_are_the_childs_text_and_ignored() {
    // The monitor logs decisions itself; " [preauth]" marks what the
    // unprivileged child sent it.
    nothing("Accepted password for root from 127.0.0.1 port 42302 ssh2 [preauth]");
    nothing("Postponed publickey for sshtrace-test from 127.0.0.1 port 42302 ssh2 [preauth]");
    nothing("Connection closed by authenticating user x 127.0.0.1 port 42302 [preauth]");
    nothing(&format!(
        "Accepted key ED25519 {FP} found at /home/u/.ssh/authorized_keys:3"
    ));
}

#[test]
fn another_clients_address_is_not_this_session() {
    nothing("Accepted password for root from 10.9.9.9 port 22 ssh2");
    nothing("Accepted password for root from 127.0.0.1 port 42303 ssh2");
    nothing("Failed password for root from 127.0.0.1 port 4230 ssh2");
}

#[test]
fn a_user_name_that_looks_like_a_log_line_changes_only_the_user_name() {
    let a = decision(
        "Failed password for invalid user root from 10.9.9.9 port 22 from 127.0.0.1 port 42302 ssh2",
    );
    assert_eq!(a.user.as_deref(), Some("root from 10.9.9.9 port 22"));
    assert!(a.invalid);
    assert_eq!(a.outcome, Outcome::Failed);
    // The anchor itself in the name, with a made-up key after it.
    let a = decision(&format!(
        "Failed publickey for invalid user x from 127.0.0.1 port 42302 ssh2: ED25519 {CA_FP}, z from 127.0.0.1 port 42302 ssh2: ED25519 {FP}"
    ));
    assert_eq!(a.key, Some(key("ED25519", FP)));
    assert_eq!(
        a.user.as_deref(),
        Some(format!("x from 127.0.0.1 port 42302 ssh2: ED25519 {CA_FP}, z").as_str())
    );
    let a = decision("Invalid user root from 127.0.0.1 port 42302 from 127.0.0.1 port 42302");
    assert_eq!(a.user.as_deref(), Some("root from 127.0.0.1 port 42302"));
}

#[test]
fn a_user_name_with_a_line_break_stays_one_message() {
    // -E writes line breaks raw (VIS_SAFE): one write is one message.
    let a = decision(
        "Failed password for invalid user a\nAccepted password for root from 127.0.0.1 port 42302 ssh2 from 127.0.0.1 port 42302 ssh2\r\n",
    );
    assert_eq!(a.outcome, Outcome::Failed);
    assert!(a.user.unwrap().starts_with("a\nAccepted password for root"));
}

#[test]
fn vis_encoding_is_decoded_then_escaped() {
    let a = decision(r"Failed none for invalid user a\\b\033c\nd from 127.0.0.1 port 42302 ssh2");
    assert_eq!(a.user.as_deref(), Some("a\\\\b\u{1b}c\nd"));
    let a = decision(r"Failed none for invalid user \377x from 127.0.0.1 port 42302 ssh2");
    assert_eq!(a.user.as_deref(), Some("\\xffx"));
}

#[test]
fn syslog_datagrams_lose_their_header() {
    let line = "<38>Dec  1 16:00:00 sshd-session[1234]: Failed password for bob from 127.0.0.1 port 42302 ssh2";
    let msg = message(line.as_bytes(), true).unwrap();
    assert!(matches!(parse(msg, &client()), Some(Parsed::Decision(_))));
    assert_eq!(message(b"no header", true), None);
}

#[test]
fn dropbear_decisions() {
    let d = |m: &str| decision(&format!("[4321] Dec 01 16:00:00 {m}\n"));
    let a = d("Password auth succeeded for 'bob' from 127.0.0.1:42302");
    assert_eq!(
        (a.method, a.outcome, a.user.as_deref()),
        (Some(Method::Password), Outcome::Accepted, Some("bob"))
    );
    let a = d(&format!(
        "Pubkey auth succeeded for 'bob' with ssh-ed25519 key {FP} from 127.0.0.1:42302"
    ));
    assert_eq!(a.key, Some(key("ED25519", FP)));
    let a = d("Bad password attempt for 'bob' from 127.0.0.1:42302");
    assert_eq!(a.outcome, Outcome::Failed);
    let a = d("Password auth succeeded for 'bob' from 127.0.0.1:42302, extra auth required");
    assert_eq!(a.outcome, Outcome::Partial);
    let a = d(&format!(
        "Pubkey auth bad signature for 'bob' with key {FP} from 127.0.0.1:42302"
    ));
    assert_eq!(a.key, Some(key("unknown", FP)));
    let a = d("Login attempt for nonexistent user");
    assert_eq!((a.method, a.user, a.invalid), (None, None, true));
    let msg = message(
        b"[4321] Dec 01 16:00:00 Exit before auth from <127.0.0.1:42302>: (user 'bob', 3 fails): Max auth tries reached - user 'bob'\n",
        false,
    )
    .unwrap();
    assert_eq!(
        parse(msg, &client()),
        Some(Parsed::Summary {
            user: "bob".into(),
            failures: 3
        })
    );
    nothing("[4321] Dec 01 16:00:00 Bad password attempt for 'bob' from 10.0.0.1:42302");
    nothing("[4321] Dec 01 16:00:00 Child connection from 127.0.0.1:42302");
}

#[test]
fn fingerprints_and_key_types_are_checked() {
    assert!(is_fingerprint(FP));
    assert!(!is_fingerprint("SHA256:short"));
    assert!(is_fingerprint(
        "MD5:0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9"
    ));
    assert!(is_key_type("ED25519-CERT") && !is_key_type("ed25519") && !is_key_type(""));
    // A publickey decision whose key part is not a key keeps no key.
    let a = decision("Accepted publickey for bob from 127.0.0.1 port 42302 ssh2: nonsense");
    assert_eq!(a.key, None);
}
