//! The syslog sink: RFC 5424 messages over TCP (octet-counted), UDP or a
//! unix datagram socket, reconnecting on failure.
mod config;
mod encoder;
#[cfg(test)]
mod tests;
mod transport;

use anyhow::Result;

pub use config::{Address, BadAddress, Config, Spec, FACILITIES};
pub use encoder::Syslog;
pub use transport::SyslogTransport;

use super::Parts;
use crate::format::Formatter;

pub fn build(spec: &Spec, formatter: Formatter) -> Result<Parts> {
    Ok((
        Box::new(Syslog::new(formatter, spec.facility, &spec.app_name)),
        Box::new(SyslogTransport::new(spec.address.clone(), spec.timeout)),
    ))
}
