//! Who an event belongs to: the session id, its endpoints and the snapshot
//! of the session that every event of it shares (one `Arc` per change, not
//! a copy per event or per consumer).
use std::{fmt, net::IpAddr, str::FromStr};

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// A session id: unique across hosts, reboots and agent restarts. Shown as
/// a UUID; held as 128 bits so tables key on it without text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u128);

impl SessionId {
    /// Characters of the short form people read and type (like git's).
    pub const SHORT: usize = 8;

    /// The one place ids are made: an RFC 9562 version-8 UUID whose 122
    /// free bits are the SHA-256 of the boot id (random per boot, so
    /// unique across hosts and boots) and the kernel's session key (from
    /// the connection, so every agent on this boot names a session alike).
    /// Every character, the first ones too, is the session's own.
    pub fn new(boot_id: &[u8; 16], key: u64) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"ssh-trace session id\0");
        h.update(boot_id);
        h.update(key.to_le_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(
            uuid::Builder::from_custom_bytes(bytes)
                .into_uuid()
                .as_u128(),
        )
    }

    /// Made by `new` (RFC 9562 version 8); ids in older captures are not.
    pub fn is_v8(self) -> bool {
        uuid::Uuid::from_u128(self.0).get_version_num() == 8
    }

    /// The UUID text, without allocating.
    pub fn text(self) -> IdText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let bytes = self.0.to_be_bytes();
        let mut at = 0;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            out[at] = HEX[(b >> 4) as usize];
            out[at + 1] = HEX[(b & 15) as usize];
            at += 2;
        }
        IdText(out)
    }
}

/// A session id as text (36 ASCII bytes).
pub struct IdText([u8; 36]);

impl IdText {
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The short form: the first `SessionId::SHORT` characters.
    pub fn short(&self) -> &str {
        &self.as_str()[..SessionId::SHORT]
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a session id (a UUID)")]
pub struct BadSessionId(String);

impl FromStr for SessionId {
    type Err = BadSessionId;

    /// Canonical UUID text (lower or upper case hex, dashes at 8-4-4-4-12).
    fn from_str(s: &str) -> Result<Self, BadSessionId> {
        let bad = || BadSessionId(s.chars().take(64).collect());
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for &c in b.iter().filter(|&&c| c != b'-') {
            let d = (c as char).to_digit(16).ok_or_else(bad)?;
            v = v << 4 | u128::from(d);
        }
        Ok(Self(v))
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text().as_str())
    }
}

impl JsonSchema for SessionId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(g)
    }

    fn inline_schema() -> bool {
        true
    }
}

// One end of a TCP connection. The address is canonical: IPv4-mapped IPv6
// peers of a dual-stack listener are IPv4. (A plain comment: a doc comment
// would land in docs/schema.json.)
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema)]
pub struct Endpoint {
    #[schemars(with = "String")]
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Self {
            ip: ip.to_canonical(),
            port,
        }
    }
}

/// The session an event belongs to, as known when the event was made.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema)]
pub struct SessionInfo {
    pub id: SessionId,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub source: Option<Endpoint>,
    pub destination: Option<Endpoint>,
    /// Found in /proc when the agent started, not seen connecting.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discovered: bool,
    /// The SSH server that took the connection, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Server>,
    /// The session the server itself was started from (a server a user
    /// ran inside an SSH session).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<SessionId>,
}

/// Who serves a session: the system's server (uid 0) or one a user runs.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema)]
pub struct Server {
    /// Effective uid of the server process that took the connection.
    pub uid: u32,
    /// How it took it: "accept" (a listener's accept()) or "inetd" (exec'd
    /// with the connection on its standard input).
    pub mode: ServerMode,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerMode {
    Accept,
    Inetd,
}

impl ServerMode {
    pub fn name(self) -> &'static str {
        match self {
            ServerMode::Accept => "accept",
            ServerMode::Inetd => "inetd",
        }
    }
}

impl SessionInfo {
    pub fn new(id: SessionId) -> Self {
        Self {
            id,
            user: None,
            uid: None,
            source: None,
            destination: None,
            discovered: false,
            server: None,
            parent: None,
        }
    }

    /// Served by a server some user runs (not the system's, uid 0).
    pub fn user_server(&self) -> bool {
        self.server.is_some_and(|s| s.uid != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id of key 1 on `boot()`, computed independently (Python's
    /// hashlib and uuid) from the layout the doc comment of `new` states.
    const KNOWN_ID: &str = "05730d28-2db4-8bc4-96af-4550fbed3a83";

    fn boot() -> [u8; 16] {
        SessionId::from_str("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
            .unwrap()
            .0
            .to_be_bytes()
    }

    #[test]
    fn session_ids_are_rfc9562_version_8() {
        for key in [0, 1, 2, u64::MAX, 0x0123_4567_89ab_cdef] {
            let id = SessionId::new(&boot(), key);
            let u = uuid::Uuid::from_u128(id.0);
            assert_eq!(u.get_version_num(), 8, "{id}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{id}");
            let t = id.to_string();
            // xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx
            assert_eq!(&t[14..15], "8", "{t}");
            assert!("89ab".contains(&t[19..20]), "{t}");
            assert_eq!(t.parse::<SessionId>().unwrap(), id);
        }
    }

    #[test]
    fn session_ids_are_derived_alike_and_differ_by_key_and_boot() {
        let a = SessionId::new(&boot(), 1);
        assert_eq!(a, SessionId::new(&boot(), 1));
        // Fixed: agents of different versions on one boot must agree.
        assert_eq!(a.to_string(), KNOWN_ID);
        assert_ne!(a, SessionId::new(&boot(), 2));
        let mut other = boot();
        other[0] ^= 1;
        assert_ne!(a, SessionId::new(&other, 1));
    }

    #[test]
    fn short_forms_of_neighbouring_keys_differ() {
        // Keys of one boot are close together: the short forms, which are
        // all a person sees, must still tell the sessions apart.
        let shorts: std::collections::HashSet<String> = (1..=1000u64)
            .map(|k| SessionId::new(&boot(), k).text().short().to_owned())
            .collect();
        assert_eq!(shorts.len(), 1000);
        assert_eq!(SessionId::new(&boot(), 1).text().short(), &KNOWN_ID[..8]);
    }

    #[test]
    fn ids_read_back_and_refuse_other_text() {
        let id = SessionId(0x5bedc86c_1cdc_4597_8f3a_0a1b2c3d4e5f);
        assert_eq!(id.to_string(), "5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e5f");
        assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
        assert_eq!(
            "5BEDC86C-1CDC-4597-8F3A-0A1B2C3D4E5F"
                .parse::<SessionId>()
                .unwrap(),
            id
        );
        for bad in [
            "",
            "a",
            "5bedc86c1cdc45978f3a0a1b2c3d4e5f",
            "5bedc86c-1cdc-4597-8f3a-0a1b2c3d4e5g",
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad}");
        }
    }
}
