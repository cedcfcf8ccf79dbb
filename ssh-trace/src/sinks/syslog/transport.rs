//! Syslog transports: TCP (octet-counted frames as encoded), UDP and unix
//! datagram sockets (one message per datagram), reconnecting on failure.
use std::{
    io::Write,
    net::{TcpStream, ToSocketAddrs, UdpSocket},
    os::unix::net::UnixDatagram,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use super::config::Address;
use crate::sinks::queue::Transport;

enum Conn {
    Tcp(TcpStream),
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

pub struct SyslogTransport {
    address: Address,
    timeout: Duration,
    conn: Option<Conn>,
}

impl SyslogTransport {
    pub fn new(address: Address, timeout: Duration) -> Self {
        Self {
            address,
            timeout,
            conn: None,
        }
    }

    fn connect(&self) -> Result<Conn> {
        Ok(match &self.address {
            Address::Tcp(a) => {
                let addr = a
                    .to_socket_addrs()?
                    .next()
                    .with_context(|| format!("resolving {a}"))?;
                let s = TcpStream::connect_timeout(&addr, self.timeout)
                    .with_context(|| format!("connecting to tcp://{a}"))?;
                s.set_write_timeout(Some(self.timeout))?;
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
            Address::Udp(a) => {
                let s = UdpSocket::bind(if a.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })?;
                s.connect(a).with_context(|| format!("udp://{a}"))?;
                Conn::Udp(s)
            }
            Address::Unix(p) => {
                let s = UnixDatagram::unbound()?;
                s.connect(p)
                    .with_context(|| format!("connecting to unix://{}", p.display()))?;
                Conn::Unix(s)
            }
        })
    }
}

/// A syslog server never writes to us: readable means it closed (EOF) or
/// reset the connection. Checked before each write, because the first write
/// to a closed peer succeeds locally and would be lost.
fn peer_closed(s: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut b = [0u8; 1];
    // SAFETY: a one-byte buffer we own; MSG_PEEK leaves data in place.
    let n = unsafe {
        libc::recv(
            s.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0 || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock)
}

/// Splits octet-counted frames `LEN SP MSG…` into messages.
fn frames(mut data: &[u8]) -> impl Iterator<Item = Result<&[u8]>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let sp = data.iter().position(|&b| b == b' ')?;
        let len: usize = match std::str::from_utf8(&data[..sp]).ok()?.parse() {
            Ok(l) => l,
            Err(_) => return Some(Err(anyhow::anyhow!("bad syslog frame"))),
        };
        let msg = data.get(sp + 1..sp + 1 + len)?;
        data = &data[sp + 1 + len..];
        Some(Ok(msg))
    })
}

impl Transport for SyslogTransport {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        if let Some(Conn::Tcp(s)) = &self.conn {
            if peer_closed(s) {
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let r = match self.conn.as_mut() {
            Some(Conn::Tcp(s)) => s.write_all(data).map_err(anyhow::Error::from),
            Some(Conn::Udp(s)) => frames(data).try_for_each(|m| {
                s.send(m?)?;
                Ok(())
            }),
            Some(Conn::Unix(s)) => frames(data).try_for_each(|m| {
                s.send(m?)?;
                Ok(())
            }),
            None => bail!("not connected"),
        };
        if r.is_err() {
            // Reconnect next time; a TCP peer that went away may have
            // taken part of this write with it, so the whole send is retried.
            self.conn = None;
        }
        r
    }
}
