//! Per-process facts the live session view reads from /proc at request time:
//! world-readable fields only (stat, cmdline), so it works after the agent
//! dropped its capabilities.
use std::fs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    /// Controlling terminal (kernel dev_t encoding; 0 = none).
    pub tty_nr: u32,
    /// Foreground process group of that terminal (-1 = none).
    pub tpgid: i32,
}

pub fn stat(pid: u32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&s)
}

pub fn parse_stat(s: &str) -> Option<Stat> {
    // comm may hold spaces and parentheses: fields start after the last ')'.
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        tty_nr: f.get(4)?.parse::<i64>().ok()? as u32,
        tpgid: f.get(5)?.parse().ok()?,
    })
}

/// The command line, arguments joined by spaces; the comm in brackets for
/// kernel threads and zombies (as ps shows them).
pub fn command(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if !args.is_empty() {
        return Some(args.join(" "));
    }
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(format!("[{}]", comm.trim_end()))
}

/// /dev name of a tty_nr: pseudo-terminals (majors 136–143) and virtual consoles.
pub fn tty_name(tty_nr: u32) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        _ => format!("{major}:{minor}"),
    })
}
