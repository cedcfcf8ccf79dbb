//! `type = "syslog"`: where to (TCP, UDP or a unix socket), facility and
//! app name; retry_max and timeout are the delivery keys.
use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use toml::Spanned;

use crate::spanned::{at, At, Opt};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    address: Opt<String>,
    facility: Opt<String>,
    app_name: Opt<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Tcp(String),
    Udp(String),
    Unix(PathBuf),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadAddress {
    #[error("{0:?} lacks host:port")]
    NoHostPort(String),
    #[error("{0:?} is not tcp://HOST:PORT, udp://HOST:PORT or unix:///PATH")]
    Scheme(String),
}

impl Address {
    /// `tcp://host:port`, `udp://host:port` or `unix:///dev/log`.
    pub fn parse(s: &str) -> Result<Self, BadAddress> {
        let hostport = |rest: &str| match rest.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(rest.to_owned()),
            _ => Err(BadAddress::NoHostPort(s.to_owned())),
        };
        if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(Self::Tcp(hostport(rest)?))
        } else if let Some(rest) = s.strip_prefix("udp://") {
            Ok(Self::Udp(hostport(rest)?))
        } else if let Some(rest) = s.strip_prefix("unix://") {
            Ok(Self::Unix(PathBuf::from(rest)))
        } else {
            Err(BadAddress::Scheme(s.to_owned()))
        }
    }
}

pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A syslog sink, checked.
#[derive(Clone, Debug)]
pub struct Spec {
    pub address: Address,
    /// Facility code (default 10, authpriv).
    pub facility: u8,
    pub app_name: String,
    pub timeout: Duration,
}

fn facility(f: &Spanned<String>) -> Result<u8, At> {
    FACILITIES
        .iter()
        .find(|(n, _)| n == f.get_ref())
        .map(|&(_, c)| c)
        .ok_or_else(|| {
            let names: Vec<&str> = FACILITIES.iter().map(|f| f.0).collect();
            let msg = format!(
                "unknown facility {:?} (expected one of {})",
                f.get_ref(),
                names.join(", ")
            );
            at(f, "facility", msg)
        })
}

impl Config {
    pub fn spec(self, kind: &Spanned<String>, timeout: Duration) -> Result<Spec, At> {
        let a = self
            .address
            .ok_or_else(|| at(kind, "address", "a syslog sink needs address"))?;
        let address = Address::parse(a.get_ref()).map_err(|e| at(&a, "address", e.to_string()))?;
        Ok(Spec {
            address,
            facility: self
                .facility
                .as_ref()
                .map(facility)
                .transpose()?
                .unwrap_or(10),
            app_name: self
                .app_name
                .map_or_else(|| "ssh-trace".to_owned(), Spanned::into_inner),
            timeout,
        })
    }
}
