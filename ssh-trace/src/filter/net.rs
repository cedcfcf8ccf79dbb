//! IP addresses and CIDR networks in filter values, by hand so the filter
//! needs no dependency beyond std.
use std::net::IpAddr;

/// A network with its host bits cleared. IPv4 and IPv6 stay apart: an
/// IPv4 network never matches an IPv6 address and the reverse, except that
/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) counts as IPv4, as in the events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    V4 { base: u32, prefix: u8 },
    V6 { base: u128, prefix: u8 },
}

/// Parses an address as the events write it (IPv4-mapped shown as IPv4).
pub fn parse_addr(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

impl Net {
    /// `addr/prefix`; None when either part is invalid.
    pub fn parse(s: &str) -> Option<Net> {
        let (addr, prefix) = s.split_once('/')?;
        // u8::from_str would also take "+8"; only plain digits are a prefix.
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) if prefix <= 32 => Some(Net::v4(a.to_bits(), prefix)),
            IpAddr::V6(a) if prefix <= 128 => match a.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Some(Net::v4(v4.to_bits(), prefix - 96)),
                _ => Some(Net::v6(a.to_bits(), prefix)),
            },
            _ => None,
        }
    }

    fn v4(addr: u32, prefix: u8) -> Net {
        Net::V4 {
            base: addr & mask4(prefix),
            prefix,
        }
    }

    fn v6(addr: u128, prefix: u8) -> Net {
        Net::V6 {
            base: addr & mask6(prefix),
            prefix,
        }
    }

    /// `ip` must already be canonical (see `parse_addr`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Net::V4 { base, prefix }, IpAddr::V4(a)) => a.to_bits() & mask4(prefix) == base,
            (Net::V6 { base, prefix }, IpAddr::V6(a)) => a.to_bits() & mask6(prefix) == base,
            _ => false,
        }
    }
}

// A shift by the full width overflows, hence the explicit /0 case.
fn mask4(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn mask6(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Net {
        Net::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        parse_addr(s).unwrap()
    }

    #[test]
    fn v4_networks() {
        assert!(net("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("192.168.1.7/32").contains(ip("192.168.1.7")));
        assert!(!net("192.168.1.7/32").contains(ip("192.168.1.8")));
        // Host bits are ignored, as most tools do.
        assert!(net("10.1.2.3/8").contains(ip("10.9.9.9")));
        assert!(!net("10.0.0.0/8").contains(ip("::1")));
    }

    #[test]
    fn v6_networks() {
        assert!(net("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(net("::/0").contains(ip("fe80::1")));
        assert!(!net("::/0").contains(ip("10.0.0.1")));
        assert!(net("::1/128").contains(ip("::1")));
    }

    #[test]
    fn mapped_v4_is_v4() {
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(net("::ffff:10.0.0.0/104"), net("10.0.0.0/8"));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.3.2.1")));
    }

    #[test]
    fn rejects_bad_networks() {
        for s in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/0008",
            "10.0.0/8",
            "/8",
            "10.0.0.0",
            "10.0.0.0/8/8",
            "300.0.0.0/8",
        ] {
            assert_eq!(Net::parse(s), None, "{s}");
        }
    }
}
