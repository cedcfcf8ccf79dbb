//! `replay --tty`: a recording played in this terminal at its own pace —
//! faster or slower by a factor, with long pauses cut to a limit. The
//! output is written as it was; a window change asks the terminal to take
//! the recorded size (xterm's CSI 8 t: terminals that cannot, ignore it);
//! a loss is shown where it happened, in reverse video.
use std::{io::Write, time::Duration};

use super::recording::Recording;
use crate::event::{Terminal, TtyKind};

#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// 2.0 plays twice as fast.
    pub speed: f64,
    /// Pauses longer than this are cut to it.
    pub idle_limit: Option<Duration>,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            speed: 1.0,
            idle_limit: None,
        }
    }
}

impl Pace {
    /// How long to wait for a gap of `gap_ns` in the recording.
    pub fn wait(&self, gap_ns: u64) -> Duration {
        let mut gap = Duration::from_nanos(gap_ns);
        if let Some(limit) = self.idle_limit {
            gap = gap.min(limit);
        }
        gap.div_f64(self.speed.max(1e-6))
    }
}

/// What playing shows of one record (nothing for input: the terminal's
/// output already shows what was echoed).
pub fn shown(t: &Terminal) -> Option<Vec<u8>> {
    match t.kind {
        TtyKind::Output => Some(t.bytes().to_vec()),
        TtyKind::Resize => Some(format!("\x1b[8;{};{}t", t.rows, t.cols).into_bytes()),
        TtyKind::Lost => {
            Some(format!("\x1b[7m[ssh-trace: {} bytes not recorded]\x1b[27m", t.bytes).into_bytes())
        }
        TtyKind::Input | TtyKind::Withheld => None,
    }
}

/// Plays `rec` to `out`; `sleep` waits (the real one, or a test's).
pub fn play(
    rec: &Recording,
    pace: &Pace,
    out: &mut dyn Write,
    sleep: &mut dyn FnMut(Duration),
) -> std::io::Result<()> {
    let mut last: Option<u64> = None;
    for (time, t) in &rec.events {
        let Some(bytes) = shown(t) else { continue };
        if let Some(prev) = last {
            let wait = pace.wait(time.saturating_sub(prev));
            if !wait.is_zero() {
                sleep(wait);
            }
        }
        last = Some(*time);
        out.write_all(&bytes)?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SessionId, SessionInfo};

    #[test]
    fn plays_at_the_recorded_pace_with_speed_and_idle_limit() {
        let ms = 1_000_000;
        let rec = Recording {
            session: SessionInfo::new(SessionId(1)),
            events: vec![
                (0, Terminal::mark(TtyKind::Resize, 24, 80, 0)),
                (0, Terminal::data(TtyKind::Output, 24, 80, b"$ ".to_vec())),
                (
                    400 * ms,
                    Terminal::data(TtyKind::Input, 24, 80, b"l".to_vec()),
                ),
                (
                    500 * ms,
                    Terminal::data(TtyKind::Output, 24, 80, b"ls\r\n".to_vec()),
                ),
                (10_500 * ms, Terminal::mark(TtyKind::Lost, 24, 80, 7)),
            ],
        };
        let pace = Pace {
            speed: 2.0,
            idle_limit: Some(Duration::from_secs(2)),
        };
        let (mut out, mut waits) = (Vec::new(), Vec::new());
        play(&rec, &pace, &mut out, &mut |d| waits.push(d)).unwrap();
        assert_eq!(
            waits,
            [Duration::from_millis(250), Duration::from_secs(1)],
            "input is not shown; 500 ms at twice the speed, 10 s cut to 2 s then halved"
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[8;24;80t$ ls\r\n\x1b[7m[ssh-trace: 7 bytes not recorded]\x1b[27m"
        );
    }
}
