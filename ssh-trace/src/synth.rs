//! Synthetic events shaped like real sessions (connect, uid change, login,
//! ten commands, byte counts, end), for benchmarks.
use crate::event::*;

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

impl Gen {
    /// One session's events: connect, login, commands, uid changes, bytes, end.
    pub fn session(&mut self, out: &mut Vec<Event>) {
        let n = self.n;
        self.n += 1;
        let user = format!("user{}", n % 20);
        let mut s = SessionInfo {
            id: format!(
                "5bedc86c-1cdc-4597-{:04x}-{:012x}",
                (n >> 48) as u16,
                n & 0xffff_ffff_ffff
            ),
            user: None,
            uid: None,
            source: Some(Endpoint {
                ip: format!("10.{}.{}.{}", n % 7, n % 200, n % 250 + 1),
                port: 30000 + (n % 30000) as u16,
            }),
            destination: Some(Endpoint {
                ip: "10.0.0.1".into(),
                port: 22,
            }),
            discovered: false,
            traffic: None,
            end: None,
        };
        let mut push = |t: &mut u64, kind, s: &SessionInfo, body| {
            *t += 137_000;
            out.push(Event::new(*t, kind, Some(s.clone()), body));
        };
        push(&mut self.t, Kind::SessionConnect, &s, Body::None {});
        s.user = Some(user.clone());
        s.uid = Some(1000 + (n % 20) as u32);
        let uid = s.uid.unwrap_or(0);
        let ids = Ids {
            uid,
            euid: uid,
            suid: uid,
            gid: uid,
            egid: uid,
            sgid: uid,
        };
        let change = UserChange {
            syscall: "setresuid",
            args: vec![uid as i64; 3],
            success: true,
            errno: None,
            old: Ids {
                uid: 0,
                euid: 0,
                suid: 0,
                gid: 0,
                egid: 0,
                sgid: 0,
            },
            new: ids,
            user: Some(user.clone()),
            effective_user: Some(user),
        };
        push(
            &mut self.t,
            Kind::UserChange,
            &s,
            Body::UserChange {
                process: Pid { pid: 1000 },
                change,
            },
        );
        push(&mut self.t, Kind::SessionLogin, &s, Body::None {});
        let cmds: [&[&str]; 5] = [
            &["bash", "-c", "cd /srv/app && git pull"],
            &["git", "pull"],
            &["ls", "-la", "/var/log"],
            &["grep", "-r", "error", "/var/log/app"],
            &["curl", "-s", "https://example.com/health"],
        ];
        for (i, c) in cmds.iter().cycle().take(10).enumerate() {
            let pid = 2000 + (n as u32 % 30000) + i as u32;
            let process = ProcessExec {
                pid,
                ppid: 1999,
                uid,
                euid: uid,
                gid: uid,
                egid: uid,
                executable: format!("/usr/bin/{}", c[0]),
                executable_truncated: false,
                args: c.iter().map(|a| a.to_string()).collect(),
                args_truncated: false,
            };
            push(
                &mut self.t,
                Kind::ProcessExec,
                &s,
                Body::ProcessExec { process },
            );
            let exit = ProcessExit {
                pid,
                exit_code: Some(0),
                signal: None,
            };
            push(
                &mut self.t,
                Kind::ProcessExit,
                &s,
                Body::ProcessExit { process: exit },
            );
        }
        for k in 1..=3u64 {
            s.traffic = Some(Traffic {
                bytes_in: 1000 * k + n % 977,
                bytes_out: 5000 * k + n % 3331,
            });
            push(&mut self.t, Kind::SessionBytes, &s, Body::None {});
        }
        s.end = Some(SessionEnd {
            duration_ms: 4000 + n % 1000,
            logged_in: true,
        });
        push(&mut self.t, Kind::SessionEnd, &s, Body::None {});
    }
}
