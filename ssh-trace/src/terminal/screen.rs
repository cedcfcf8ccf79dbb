//! The live screens of recorded terminals, for the operators' view: each
//! recorded session's output is fed to a terminal emulator (vt100) at the
//! recorded window size, so `top` can show what the session shows now.
//! Memory is one screen per open recorded session, of a bounded size. The
//! output is the session user's to craft: should the emulator ever panic
//! on it, that screen is dropped (and said so), never the agent.
use std::{collections::HashMap, num::NonZeroU16, panic::AssertUnwindSafe};

use serde::{Deserialize, Serialize};

use crate::event::{Body, Event, SessionId, TtyKind};

/// Window sizes beyond these are clamped (sizes come from the client).
pub const MAX_ROWS: u16 = 200;
pub const MAX_COLS: u16 = 500;

/// One screen as the session socket serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screen {
    pub session: String,
    pub rows: u16,
    pub cols: u16,
    /// The screen's text, rows separated by newlines.
    pub text: String,
    /// Escape sequences that redraw it (colours, cursor) on an empty
    /// terminal of this size.
    pub formatted: String,
}

#[derive(Default)]
pub struct Screens {
    by_session: HashMap<SessionId, vt100::Parser>,
    /// Sessions whose output the emulator failed on: no screen until they end.
    broken: std::collections::HashSet<SessionId>,
}

/// The recorded size, bounded; an unknown one (0, a client without a
/// terminal) as the usual 24 × 80.
fn clamp(rows: u16, cols: u16) -> (NonZeroU16, NonZeroU16) {
    let fit = |v: u16, default: u16, max: u16| {
        NonZeroU16::new(if v == 0 { default } else { v.min(max) }).unwrap_or(NonZeroU16::MIN)
    };
    (fit(rows, 24, MAX_ROWS), fit(cols, 80, MAX_COLS))
}

impl Screens {
    pub fn observe(&mut self, ev: &Event) {
        let Some(s) = &ev.session else { return };
        let t = match &ev.body {
            Body::SessionTty(t) => t,
            Body::SessionEnd(_) => {
                self.by_session.remove(&s.id);
                self.broken.remove(&s.id);
                return;
            }
            _ => return,
        };
        if self.broken.contains(&s.id) {
            return;
        }
        let (rows, cols) = clamp(t.rows, t.cols);
        let p = self
            .by_session
            .entry(s.id)
            .or_insert_with(|| vt100::Parser::new(rows, cols, 0));
        let fed = std::panic::catch_unwind(AssertUnwindSafe(|| match t.kind {
            TtyKind::Resize => p.screen_mut().set_size(rows, cols),
            TtyKind::Output => p.process(t.bytes()),
            TtyKind::Input | TtyKind::Lost | TtyKind::Withheld => {}
        }));
        if fed.is_err() {
            eprintln!("ssh-trace: the terminal emulator failed on session {}'s output: its live screen is dropped", s.id);
            self.by_session.remove(&s.id);
            self.broken.insert(s.id);
        }
    }

    pub fn screen(&self, id: SessionId) -> Option<Screen> {
        let s = self.by_session.get(&id)?.screen();
        let (rows, cols) = s.size();
        Some(Screen {
            session: id.to_string(),
            rows: rows.get(),
            cols: cols.get(),
            text: s.contents(),
            formatted: s.state_formatted(),
        })
    }

    pub fn len(&self) -> usize {
        self.by_session.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_session.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{SessionInfo, Terminal};

    #[test]
    fn the_screen_follows_output_and_resizes_and_goes_at_the_end() {
        let info = Arc::new(SessionInfo::new(SessionId(7)));
        let ev = |t| Event::new(1, Some(info.clone()), Body::SessionTty(t));
        let mut s = Screens::default();
        s.observe(&ev(Terminal::mark(TtyKind::Resize, 5, 20, 0)));
        s.observe(&ev(Terminal::data(
            TtyKind::Output,
            5,
            20,
            b"\x1b[1mhello\x1b[0m\r\nworld".to_vec(),
        )));
        s.observe(&ev(Terminal::data(
            TtyKind::Input,
            5,
            20,
            b"secret".to_vec(),
        )));
        let got = s.screen(SessionId(7)).unwrap();
        assert_eq!((got.rows, got.cols), (5, 20));
        assert_eq!(got.text, "hello\nworld");
        s.observe(&ev(Terminal::mark(TtyKind::Resize, 10, 40, 0)));
        assert_eq!(s.screen(SessionId(7)).unwrap().cols, 40);
        s.observe(&ev(Terminal::mark(TtyKind::Resize, 60000, 60000, 0)));
        let big = s.screen(SessionId(7)).unwrap();
        assert_eq!((big.rows, big.cols), (MAX_ROWS, MAX_COLS));
        let end = crate::event::Closed {
            traffic: Default::default(),
            end: crate::event::SessionEnd {
                duration_ms: 1,
                logged_in: true,
            },
            attempts: None,
        };
        s.observe(&Event::new(2, Some(info.clone()), Body::SessionEnd(end)));
        assert!(s.is_empty());
    }
}
