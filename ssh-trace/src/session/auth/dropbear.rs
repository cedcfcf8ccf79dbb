//! dropbear's messages (2022.83: svr-authpasswd.c, svr-authpubkey.c,
//! svr-authpam.c, svr-auth.c, svr-session.c). The user name in them is an
//! account's (`pw_name`: dropbear never logs the name a client tried for a
//! user that does not exist), the address `IP:PORT` (newer releases:
//! `[IPv6]:PORT`). Text is written as is.
use std::sync::Arc;

use super::{address_forms, is_fingerprint, key, Parsed};
use crate::{
    event::{Auth, Endpoint, Key, Method, Outcome},
    text::escape_bytes,
};

/// (prefix before the quoted user, method, outcome, a key follows).
const DECISIONS: &[(&str, Method, Outcome)] = &[
    (
        "Password auth succeeded for '",
        Method::Password,
        Outcome::Accepted,
    ),
    (
        "PAM password auth succeeded for '",
        Method::Password,
        Outcome::Accepted,
    ),
    (
        "Bad password attempt for '",
        Method::Password,
        Outcome::Failed,
    ),
    (
        "Bad PAM password attempt for '",
        Method::Password,
        Outcome::Failed,
    ),
    (
        "Too-long password attempt for '",
        Method::Password,
        Outcome::Failed,
    ),
    (
        "Pubkey auth succeeded for '",
        Method::Publickey,
        Outcome::Accepted,
    ),
    (
        "Pubkey auth bad signature for '",
        Method::Publickey,
        Outcome::Failed,
    ),
    // A 'none' request for an account with an empty password.
    (
        "Auth succeeded with blank password for '",
        Method::None,
        Outcome::Accepted,
    ),
];

const PARTIAL: &str = ", extra auth required";

pub fn parse(msg: &[u8], client: &Endpoint) -> Option<Parsed> {
    let msg = std::str::from_utf8(msg).ok()?;
    if msg == "Login attempt for nonexistent user" {
        return Some(Parsed::Decision(Auth {
            method: None,
            submethod: None,
            user: None,
            invalid: true,
            outcome: Outcome::Failed,
            key: None,
            certificate: None,
        }));
    }
    if let Some(rest) = msg.strip_prefix("Exit before auth from <") {
        return summary(rest, client);
    }
    let (prefix, method, outcome) = DECISIONS.iter().find(|(p, ..)| msg.starts_with(p))?;
    let rest = &msg[prefix.len()..];
    let (rest, outcome) = match rest.strip_suffix(PARTIAL) {
        Some(r) if *outcome == Outcome::Accepted => (r, Outcome::Partial),
        Some(_) => return None,
        None => (rest, *outcome),
    };
    let rest = strip_address(rest, client)?;
    let (user, key) = match method {
        Method::Publickey => user_and_key(rest)?,
        _ => (rest.strip_suffix('\'')?, None),
    };
    Some(Parsed::Decision(Auth {
        method: Some(*method),
        submethod: None,
        user: Some(Arc::from(escape_bytes(user.as_bytes()))),
        invalid: false,
        outcome,
        key,
        certificate: None,
    }))
}

/// "IP:PORT>: (user 'U', N fails): why".
fn summary(rest: &str, client: &Endpoint) -> Option<Parsed> {
    let (addr, rest) = rest.split_once(">: (user '")?;
    if !addresses(client).iter().any(|a| a == addr) {
        return None;
    }
    let (user, rest) = rest.split_once("', ")?;
    let failures = rest.split_once(" fails): ")?.0.parse().ok()?;
    Some(Parsed::Summary {
        user: escape_bytes(user.as_bytes()),
        failures,
    })
}

/// How dropbear writes the session's real client: "IP:PORT".
fn addresses(client: &Endpoint) -> Vec<String> {
    let mut forms: Vec<String> = address_forms(client.ip)
        .into_iter()
        .map(|ip| format!("{ip}:{}", client.port))
        .collect();
    if client.ip.is_ipv6() {
        forms.push(format!("[{}]:{}", client.ip, client.port));
    }
    forms
}

/// Removes " from ADDRESS" (the session's real client) from the end.
fn strip_address<'a>(s: &'a str, client: &Endpoint) -> Option<&'a str> {
    addresses(client)
        .iter()
        .find_map(|a| s.strip_suffix(a.as_str())?.strip_suffix(" from "))
}

/// "U' with TYPE key FP" (accepted) or "U' with key FP" (bad signature).
fn user_and_key(s: &str) -> Option<(&str, Option<Key>)> {
    let (user, rest) = s.rsplit_once("' with ")?;
    let (key_type, fp) = match rest.split_once(" key ") {
        Some((t, fp)) => (Some(t), fp),
        None => (None, rest.strip_prefix("key ")?),
    };
    if !is_fingerprint(fp) {
        return None;
    }
    // A bad signature's message does not name the type.
    let key_type = key_type.map_or("unknown", openssh_type);
    Some((user, Some(key(key_type, fp))))
}

/// dropbear names keys by their SSH protocol names; OpenSSH (and
/// `ssh-keygen -l`) by its short ones, which the events use.
fn openssh_type(name: &str) -> &str {
    match name {
        "ssh-ed25519" => "ED25519",
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => "RSA",
        "ssh-dss" => "DSA",
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => "ECDSA",
        "sk-ssh-ed25519@openssh.com" => "ED25519-SK",
        "sk-ecdsa-sha2-nistp256@openssh.com" => "ECDSA-SK",
        other => other,
    }
}
