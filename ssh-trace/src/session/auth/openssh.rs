//! OpenSSH's messages (auth.c auth_log, 9.2 and 10.0 alike):
//!
//! ```text
//! {Accepted|Failed|Partial|Postponed} METHOD[/SUB] for [invalid user ]USER from IP port PORT ssh2[: EXTRA]
//! Invalid user USER from IP port PORT
//! ```
//!
//! EXTRA is the key (`TYPE FP`, or for a certificate `TYPE-CERT FP ID KEYID
//! (serial N) CA TYPE FP`) and the method's details. Messages the
//! unprivileged child relays through the monitor end in " [preauth]": a
//! decision never does (the monitor logs it itself), so one that does is
//! the child's text and ignored. Text is vis(3)-encoded by OpenSSH's log.c.
use std::sync::Arc;

use super::{address_forms, find_all, is_fingerprint, is_key_type, key, Parsed};
use crate::{
    event::{Auth, Certificate, Endpoint, Key, Method, Outcome},
    text::escape_bytes,
};

const RELAYED: &[&[u8]] = &[b" [preauth]", b" [postauth]"];

pub fn parse(msg: &[u8], client: &Endpoint) -> Option<Parsed> {
    if let Some(rest) = msg.strip_prefix(b"Invalid user ") {
        return invalid_user(rest, client);
    }
    let (word, rest) = split_word(msg)?;
    let outcome = match word {
        b"Accepted" => Some(Outcome::Accepted),
        b"Failed" => Some(Outcome::Failed),
        b"Partial" => Some(Outcome::Partial),
        // Waiting for the client (a signature, PAM's answers): no decision.
        b"Postponed" => None,
        _ => return None,
    };
    let relayed = RELAYED.iter().find_map(|s| rest.strip_suffix(*s));
    let (rest, outcome) = match (relayed, outcome) {
        (None, Some(o)) => (rest, o),
        _ => return None,
    };
    let (method, rest) = split_word(rest)?;
    let (method, submethod) = method_of(method)?;
    let rest = rest.strip_prefix(b"for ")?;
    let (invalid, rest) = match rest.strip_prefix(b"invalid user ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (user, extra) = split_anchor(rest, client, method, invalid)?;
    let (key, certificate) = extra
        .and_then(|e| std::str::from_utf8(e).ok())
        .and_then(|e| key_of(method, e))
        .unwrap_or_default();
    Some(Parsed::Decision(Auth {
        method: Some(method),
        submethod,
        user: Some(Arc::from(unvis(user))),
        invalid,
        outcome,
        key,
        certificate,
    }))
}

/// "Invalid user USER from IP port PORT" (no "ssh2"; the user name may
/// hold the anchor too: the last one is the server's). The server refuses
/// the user whatever the method: a decision of its own, which names no
/// method (its attempts that the server logs follow, each with its own).
fn invalid_user(rest: &[u8], client: &Endpoint) -> Option<Parsed> {
    let anchors = anchors(client, false);
    let user = anchors
        .iter()
        .filter_map(|a| rest.strip_suffix(a.as_bytes()))
        .next()?;
    (!user.is_empty()).then(|| {
        Parsed::Decision(Auth {
            method: None,
            submethod: None,
            user: Some(Arc::from(unvis(user))),
            invalid: true,
            outcome: Outcome::Failed,
            key: None,
            certificate: None,
        })
    })
}

fn split_word(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = s.iter().position(|&b| b == b' ')?;
    Some((&s[..sp], &s[sp + 1..]))
}

/// "keyboard-interactive/pam" → (KeyboardInteractive, Some("pam")).
fn method_of(word: &[u8]) -> Option<(Method, Option<String>)> {
    let word = std::str::from_utf8(word).ok()?;
    let (name, sub) = match word.split_once('/') {
        Some((n, s)) => (n, Some(s)),
        None => (word, None),
    };
    let sub = sub
        .filter(|s| !s.is_empty() && s.len() <= 32)
        .map(str::to_owned);
    Some((Method::from_name(name)?, sub))
}

/// " from IP port PORT ssh2" for the session's real client (" from IP port
/// PORT" without `ssh2`).
fn anchors(client: &Endpoint, ssh2: bool) -> Vec<String> {
    let tail = if ssh2 { " ssh2" } else { "" };
    address_forms(client.ip)
        .into_iter()
        .map(|ip| format!(" from {ip} port {}{tail}", client.port))
        .collect()
}

/// Splits "USER from IP port PORT ssh2[: EXTRA]" at the server's own
/// anchor. A valid user's name is an account name (no spaces): the first
/// anchor is the server's. An invalid user's name is the client's choice
/// and may hold anchors itself: the last one after which the rest is what
/// the server writes for the method is the server's.
fn split_anchor<'a>(
    s: &'a [u8],
    client: &Endpoint,
    method: Method,
    invalid: bool,
) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    let mut splits: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
    for anchor in anchors(client, true) {
        for at in find_all(s, anchor.as_bytes()) {
            let tail = &s[at + anchor.len()..];
            match tail {
                [] => splits.push((&s[..at], None)),
                _ => {
                    if let Some(extra) = tail.strip_prefix(b": ") {
                        splits.push((&s[..at], Some(extra)));
                    }
                }
            }
        }
    }
    splits.sort_by_key(|(user, _)| user.len());
    if !invalid {
        return splits.into_iter().find(|(user, _)| !user.is_empty());
    }
    splits
        .into_iter()
        .rev()
        .find(|(user, extra)| !user.is_empty() && tail_fits(method, *extra))
}

/// Whether `extra` is what OpenSSH writes after "ssh2" for `method`.
fn tail_fits(method: Method, extra: Option<&[u8]>) -> bool {
    let text = extra.map(std::str::from_utf8);
    match (method, text) {
        (_, Some(Err(_))) => false,
        (Method::Publickey, Some(Ok(e))) => key_of(method, e).is_some(),
        (Method::Hostbased, Some(Ok(e))) => {
            e.split_once(", client user \"")
                .is_some_and(|(k, _)| key_of(Method::Publickey, k).is_some())
                && e.ends_with('"')
        }
        (Method::GssapiWithMic | Method::GssapiKeyex, _) => true,
        (_, None) => true,
        (_, Some(Ok(_))) => false,
    }
}

/// The key (and certificate) of a publickey or hostbased decision.
fn key_of(method: Method, extra: &str) -> Option<(Option<Key>, Option<Certificate>)> {
    if !matches!(method, Method::Publickey | Method::Hostbased) {
        return None;
    }
    // Hostbased adds the client's user and host; security keys their
    // signature counter.
    let extra = extra.split(", client user \"").next().unwrap_or(extra);
    let extra = strip_counter(extra);
    let (key_type, rest) = extra.split_once(' ')?;
    if !is_key_type(key_type) {
        return None;
    }
    if !key_type.ends_with("-CERT") {
        return is_fingerprint(rest).then(|| (Some(key(key_type, rest)), None));
    }
    let (fp, rest) = rest.split_once(" ID ")?;
    if !is_fingerprint(fp) {
        return None;
    }
    Some((Some(key(key_type, fp)), Some(certificate(rest)?)))
}

/// ", signature count = N" after a security key's fingerprint.
fn strip_counter(s: &str) -> &str {
    match s.rsplit_once(", signature count = ") {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => s,
    }
}

/// "KEYID (serial N) CA TYPE FP": the key ID is the CA's text, so it is
/// read from the right.
fn certificate(s: &str) -> Option<Certificate> {
    let (head, ca_fp) = s.rsplit_once(' ')?;
    let (head, ca_type) = head.rsplit_once(' ')?;
    let head = head.strip_suffix(" CA")?;
    let (id, serial) = head.rsplit_once(" (serial ")?;
    let serial = serial.strip_suffix(')')?.parse().ok()?;
    if !is_key_type(ca_type) || !is_fingerprint(ca_fp) {
        return None;
    }
    Some(Certificate {
        id: escape_bytes(&unvis_bytes(id.as_bytes())),
        serial,
        ca: key(ca_type, ca_fp),
    })
}

/// OpenSSH's vis(3) text back to the bytes, then escaped as all text from
/// the system is (text.rs).
pub fn unvis(s: &[u8]) -> String {
    escape_bytes(&unvis_bytes(s))
}

/// Inverse of log.c's strnvis (VIS_OCTAL, VIS_CSTYLE for syslog, VIS_SAFE
/// for -E): `\\`, `\ooo`, `\n` and the other C escapes; anything else as is.
fn unvis_bytes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let (b, used) = match (s[i], s.get(i + 1).copied()) {
            (b'\\', Some(c)) => decode_escape(c, s.get(i + 1..i + 4)),
            (b, _) => (b, 1),
        };
        out.push(b);
        i += used;
    }
    out
}

/// One escape after its backslash: the byte and how many bytes it took.
fn decode_escape(c: u8, octal: Option<&[u8]>) -> (u8, usize) {
    if let Some(&[a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7']) = octal {
        return ((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'), 4);
    }
    let b = match c {
        b'\\' => b'\\',
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'b' => 0x08,
        b'a' => 0x07,
        b'v' => 0x0b,
        b'f' => 0x0c,
        b's' => b' ',
        b'E' => 0x1b,
        b'0' => 0,
        // Not an escape vis writes: the backslash stands for itself.
        _ => return (b'\\', 1),
    };
    (b, 2)
}
