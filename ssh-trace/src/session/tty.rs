//! The terminal part of the session model: which sessions are recorded
//! (by user and group, decided once per session), and kernel terminal
//! records → `session.tty` events: a resize where the window changed, then
//! the bytes (or, for input typed with echo off, only their number). Losses
//! are marked by the agent (agent/tty.rs), which knows them all.
use std::{collections::HashSet, ffi::CString, sync::Arc};

use ssh_trace_common::event::{TTY_FLAG_WITHHELD, TTY_OUTPUT};

use crate::{
    decode::Tty,
    event::{Body, Event, SessionInfo, Terminal, TtyKind},
};

/// Whose terminals are recorded: everyone's, or those of the named users
/// and of the members of the named groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub users: HashSet<String>,
    pub groups: HashSet<String>,
}

impl Selection {
    pub fn everyone(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// Whether a session's terminal is recorded; a session whose user is
    /// not known (no login seen) only when everyone's is.
    pub fn selects(&self, info: &SessionInfo) -> bool {
        if self.everyone() {
            return true;
        }
        let Some(user) = info.user.as_deref() else {
            return false;
        };
        self.users.contains(user)
            || (!self.groups.is_empty() && groups_of(user).iter().any(|g| self.groups.contains(g)))
    }
}

/// Names of the groups `user` is in (primary and supplementary), as the
/// system's name service says now.
pub fn groups_of(user: &str) -> Vec<String> {
    use nix::unistd::{getgrouplist, Group, User};
    let Ok(Some(u)) = User::from_name(user) else {
        return Vec::new();
    };
    let Ok(name) = CString::new(user) else {
        return Vec::new();
    };
    let gids = getgrouplist(&name, u.gid).unwrap_or_else(|_| vec![u.gid]);
    gids.into_iter()
        .filter_map(|g| Group::from_gid(g).ok().flatten())
        .map(|g| g.name)
        .collect()
}

/// What the model keeps of one session's terminal.
#[derive(Clone, Debug, Default)]
pub struct Track {
    /// Recorded or not, decided at its first record.
    pub recorded: Option<bool>,
    /// The window size last reported (rows, cols).
    pub size: (u16, u16),
}

/// The events one terminal record makes, in order.
pub fn events(
    track: &mut Track,
    rec: Tty,
    time: u64,
    info: &Arc<SessionInfo>,
    out: &mut Vec<Event>,
) {
    let h = rec.head;
    let mut push =
        |t: Terminal| out.push(Event::new(time, Some(info.clone()), Body::SessionTty(t)));
    let (rows, cols) = if h.rows == 0 && h.cols == 0 {
        track.size
    } else {
        (h.rows, h.cols)
    };
    if (rows, cols) != track.size {
        track.size = (rows, cols);
        push(Terminal::mark(TtyKind::Resize, rows, cols, 0));
    }
    let kind = if h.stream == TTY_OUTPUT {
        TtyKind::Output
    } else {
        TtyKind::Input
    };
    if h.flags & TTY_FLAG_WITHHELD != 0 {
        push(Terminal::mark(
            TtyKind::Withheld,
            rows,
            cols,
            h.bytes as u64,
        ));
    } else if !rec.data.is_empty() {
        push(Terminal::data(kind, rows, cols, rec.data));
    }
}

#[cfg(test)]
mod tests {
    use ssh_trace_common::event::{EventHeader, TtyEvent, TTY_INPUT};

    use super::*;
    use crate::event::SessionId;

    fn rec(stream: u8, flags: u8, size: (u16, u16), lost: u64, data: &[u8]) -> Tty {
        Tty {
            head: TtyEvent {
                hdr: EventHeader::default(),
                stream,
                flags,
                rows: size.0,
                cols: size.1,
                len: data.len() as u32,
                bytes: if flags != 0 { 9 } else { data.len() as u32 },
                lost,
                ..Default::default()
            },
            data: data.to_vec(),
        }
    }

    fn kinds(out: &[Event]) -> Vec<(TtyKind, u64, (u16, u16))> {
        out.iter()
            .map(|e| match &e.body {
                Body::SessionTty(t) => (t.kind, t.bytes, (t.rows, t.cols)),
                _ => panic!("not a terminal event"),
            })
            .collect()
    }

    #[test]
    fn a_resize_is_marked_where_the_size_changed() {
        let info = Arc::new(SessionInfo::new(SessionId(1)));
        let mut track = Track::default();
        let mut out = Vec::new();
        events(
            &mut track,
            rec(TTY_OUTPUT, 0, (24, 80), 0, b"$ "),
            1,
            &info,
            &mut out,
        );
        events(
            &mut track,
            rec(TTY_OUTPUT, 0, (24, 80), 500, b"x"),
            2,
            &info,
            &mut out,
        );
        events(
            &mut track,
            rec(TTY_INPUT, 0, (30, 100), 500, b"ls\r"),
            3,
            &info,
            &mut out,
        );
        events(
            &mut track,
            rec(TTY_INPUT, TTY_FLAG_WITHHELD, (30, 100), 500, b""),
            4,
            &info,
            &mut out,
        );
        // No size known (a client without a terminal): no resize.
        events(
            &mut track,
            rec(TTY_OUTPUT, 0, (0, 0), 700, b"y"),
            5,
            &info,
            &mut out,
        );
        assert_eq!(
            kinds(&out),
            [
                (TtyKind::Resize, 0, (24, 80)),
                (TtyKind::Output, 2, (24, 80)),
                (TtyKind::Output, 1, (24, 80)),
                (TtyKind::Resize, 0, (30, 100)),
                (TtyKind::Input, 3, (30, 100)),
                (TtyKind::Withheld, 9, (30, 100)),
                (TtyKind::Output, 1, (30, 100)),
            ]
        );
    }

    #[test]
    fn selection_by_user_and_group() {
        let mut info = SessionInfo::new(SessionId(1));
        let everyone = Selection::default();
        assert!(
            everyone.selects(&info),
            "no login seen: everyone's is recorded"
        );
        let alice = Selection {
            users: ["alice".to_string()].into(),
            groups: HashSet::new(),
        };
        assert!(!alice.selects(&info), "no login seen: not alice's");
        info.user = Some("alice".into());
        assert!(alice.selects(&info));
        info.user = Some("root".into());
        assert!(!alice.selects(&info));
        let root_group = Selection {
            users: HashSet::new(),
            groups: ["root".to_string()].into(),
        };
        assert!(root_group.selects(&info), "root is in group root");
    }
}
