//! Synthetic events shaped like real sessions (connect, uid change, login,
//! ten commands, byte counts, end), for the benchmark helpers.
use std::sync::Arc;

use ssh_trace::event::*;

pub struct Gen {
    n: u64,
    t: u64,
}

impl Default for Gen {
    fn default() -> Self {
        Self {
            n: 0,
            t: 1_763_700_000_000_000_000,
        }
    }
}

const COMMANDS: [&[&str]; 5] = [
    &["bash", "-c", "cd /srv/app && git pull"],
    &["git", "pull"],
    &["ls", "-la", "/var/log"],
    &["grep", "-r", "error", "/var/log/app"],
    &["curl", "-s", "https://example.com/health"],
];

fn ids(uid: u32) -> Ids {
    Ids {
        uid,
        euid: uid,
        suid: uid,
        gid: uid,
        egid: uid,
        sgid: uid,
    }
}

fn login_change(uid: u32, user: &str) -> Body {
    Body::UserChange(IdChange {
        process: Pid { pid: 1000 },
        change: UserChange {
            syscall: "setresuid",
            args: CallArgs::new(&[uid as i64; 3]),
            success: true,
            errno: None,
            old: ids(0),
            new: ids(uid),
            user: Some(user.into()),
            effective_user: Some(user.into()),
        },
    })
}

fn exec(pid: u32, uid: u32, c: &[&str]) -> Body {
    Body::ProcessExec(ProcessExec {
        pid,
        ppid: 1999,
        uid,
        euid: uid,
        gid: uid,
        egid: uid,
        executable: format!("/usr/bin/{}", c[0]),
        executable_truncated: false,
        args: Args::from_parts(c.iter().copied()),
        args_truncated: false,
        role: Some(Role::User),
        fileless: false,
    })
}

impl Gen {
    fn push(&mut self, out: &mut Vec<Event>, s: &Arc<SessionInfo>, body: Body) {
        self.t += 137_000;
        out.push(Event::new(self.t, Some(s.clone()), body));
    }

    /// One session's events: connect, login, commands, uid changes, bytes, end.
    pub fn session(&mut self, out: &mut Vec<Event>) {
        let n = self.n;
        self.n += 1;
        let user = format!("user{}", n % 20);
        let ip = [10, (n % 7) as u8, (n % 200) as u8, (n % 250 + 1) as u8];
        let mut info = SessionInfo::new(SessionId(
            0x5bed_c86c_1cdc_4597_0000_0000_0000_0000
                | ((n >> 48) as u128) << 48
                | (n & 0xffff_ffff_ffff) as u128,
        ));
        info.source = Some(Endpoint::new(ip.into(), 30000 + (n % 30000) as u16));
        info.destination = Some(Endpoint::new([10, 0, 0, 1].into(), 22));
        let s = Arc::new(info.clone());
        self.push(out, &s, Body::SessionConnect);
        let uid = 1000 + (n % 20) as u32;
        info.user = Some(user.clone());
        info.uid = Some(uid);
        let s = Arc::new(info);
        self.push(out, &s, login_change(uid, &user));
        self.push(out, &s, Body::SessionLogin(Login::default()));
        for (i, c) in COMMANDS.iter().cycle().take(10).enumerate() {
            let pid = 2000 + (n as u32 % 30000) + i as u32;
            self.push(out, &s, exec(pid, uid, c));
            let exit = ProcessExit {
                pid,
                exit_code: Some(0),
                signal: None,
            };
            self.push(out, &s, Body::ProcessExit(exit));
        }
        let traffic = |k: u64| Traffic {
            bytes_in: 1000 * k + n % 977,
            bytes_out: 5000 * k + n % 3331,
        };
        for k in 1..=3u64 {
            self.push(out, &s, Body::SessionBytes(traffic(k)));
        }
        let end = SessionEnd {
            duration_ms: 4000 + n % 1000,
            logged_in: true,
        };
        let closed = Closed {
            traffic: traffic(3),
            end,
            attempts: None,
        };
        self.push(out, &s, Body::SessionEnd(closed));
    }
}
