//! The SSH servers' log messages → authentication decisions. A message is
//! trusted for what the server writes itself (the words before the user
//! name, the method, the key) and never for where it came from: it is
//! matched against the session's client address and port as the kernel
//! saw the connection, anchored on the text that follows the user name, so
//! a user name chosen to look like a log line changes only the user name.
//! Each record is one write of the server (one message): nothing is split
//! on line breaks a user name may hold.
mod dropbear;
mod openssh;
#[cfg(test)]
mod tests;
mod window;

pub use window::{AuthWindow, Watch};

use std::net::IpAddr;

use crate::event::{Auth, Endpoint, Key};

/// What a message says about the session's authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A decision: a `session.auth`.
    Decision(Auth),
    /// dropbear's summary when a connection ends before authenticating:
    /// the user it was for and the failures it counted.
    Summary { user: String, failures: u32 },
}

/// The message of one log record, its transport framing removed: a syslog
/// header (`<PRI>Mmm dd hh:mm:ss tag[pid]: `), dropbear's standard error
/// prefix (`[pid] Mmm dd hh:mm:ss `) and the line end.
pub fn message(text: &[u8], syslog: bool) -> Option<&[u8]> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if syslog {
        let rest = text.strip_prefix(b"<")?;
        let gt = rest.iter().position(|&b| b == b'>')?;
        if gt == 0 || !rest[..gt].iter().all(u8::is_ascii_digit) {
            return None;
        }
        // "Mmm dd hh:mm:ss " then the tag, "name[pid]: ".
        let rest = rest.get(gt + 1 + 16..)?;
        let end = find(rest, b"]: ")?;
        return Some(&rest[end + 3..]);
    }
    if let Some(rest) = text.strip_prefix(b"[") {
        let close = rest.iter().position(|&b| b == b']')?;
        if close > 0 && rest[..close].iter().all(u8::is_ascii_digit) {
            // dropbear: "[pid] Mmm dd hh:mm:ss message".
            return rest.get(close + 2 + 16..);
        }
    }
    Some(text)
}

/// Parses one message of a server process of the session whose client is
/// `client`.
pub fn parse(message: &[u8], client: &Endpoint) -> Option<Parsed> {
    openssh::parse(message, client).or_else(|| dropbear::parse(message, client))
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every position of `needle` in `hay`, left to right.
pub(crate) fn find_all<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

/// The ways a server may print the client's address: IPv4 also as the
/// IPv4-mapped IPv6 address of a dual-stack socket.
pub(crate) fn address_forms(ip: IpAddr) -> Vec<String> {
    match ip {
        IpAddr::V4(v4) => vec![v4.to_string(), format!("::ffff:{v4}")],
        IpAddr::V6(v6) => vec![v6.to_string()],
    }
}

/// `SHA256:` and 43 base64 characters, or `MD5:` and 16 hex pairs
/// (`FingerprintHash md5`).
pub(crate) fn is_fingerprint(s: &str) -> bool {
    if let Some(b64) = s.strip_prefix("SHA256:") {
        return b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    }
    if let Some(hex) = s.strip_prefix("MD5:") {
        let parts: Vec<&str> = hex.split(':').collect();
        return parts.len() == 16
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    false
}

/// A key type as OpenSSH's sshkey_type() names it.
pub(crate) fn is_key_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn key(key_type: &str, fingerprint: &str) -> Key {
    Key {
        key_type: key_type.to_owned(),
        fingerprint: fingerprint.to_owned(),
    }
}
