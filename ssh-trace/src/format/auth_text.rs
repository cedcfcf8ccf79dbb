//! The authentication parts of a text line (human format, report
//! timelines): text from the system through `printable`.
use std::fmt::Write as _;

use crate::{
    event::{Accepted, Attempts, Auth, Certificate, Key, Method},
    text::printable,
};

/// ` failed password user=root (invalid)`, then the key.
pub fn decision(line: &mut String, a: &Auth) {
    let method = a.method.map_or("-", Method::name);
    let _ = write!(line, " {} {method}", a.outcome.name());
    if let Some(sub) = &a.submethod {
        let _ = write!(line, "/{}", printable(sub));
    }
    let user = a.user.as_deref().map_or("-".into(), printable);
    let _ = write!(line, " user={user}");
    if a.invalid {
        line.push_str(" (invalid)");
    }
    key(line, a.key.as_ref(), a.certificate.as_ref());
}

/// ` by publickey ED25519 SHA256:…` on a login.
pub fn accepted(line: &mut String, a: &Accepted) {
    let _ = write!(line, " by {}", a.method.name());
    if let Some(sub) = &a.submethod {
        let _ = write!(line, "/{}", printable(sub));
    }
    key(line, a.key.as_ref(), a.certificate.as_ref());
}

fn key(line: &mut String, key: Option<&Key>, cert: Option<&Certificate>) {
    if let Some(k) = key {
        let _ = write!(line, " {} {}", k.key_type, k.fingerprint);
    }
    if let Some(c) = cert {
        let _ = write!(
            line,
            " cert id={} serial={} ca={} {}",
            printable(&c.id),
            c.serial,
            c.ca.key_type,
            c.ca.fingerprint
        );
    }
}

/// ` auth_attempts=3 failures=3 key_lookups=0 users=root,admin`.
pub fn attempts(line: &mut String, a: &Attempts) {
    let users: Vec<_> = a.users.iter().map(|u| printable(u)).collect();
    let _ = write!(
        line,
        " auth_attempts={} failures={} key_lookups={} users={}",
        a.attempts,
        a.failures,
        a.key_lookups,
        users.join(",")
    );
}
