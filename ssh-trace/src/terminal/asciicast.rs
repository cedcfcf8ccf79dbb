//! A recording as asciicast v2 (the format of asciinema): a header line,
//! then one `[seconds, code, text]` line per event — "o" output, "i" input
//! (when asked), "r" a window change ("COLSxROWS"), "m" a marker where
//! bytes were lost or input was withheld. Text is UTF-8: a character cut
//! between two records is carried to the next one, invalid bytes become
//! U+FFFD (as asciinema's own recorder does).
use std::io::Write;

use serde_json::{json, Value};

use super::recording::Recording;
use crate::event::{Terminal, TtyKind};

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Include "i" events (what was typed, echo-off input excepted).
    pub input: bool,
    /// The header's idle_time_limit (players cut longer pauses).
    pub idle_limit: Option<f64>,
}

/// Bytes → text, keeping an incomplete trailing character for later.
#[derive(Default)]
struct Utf8 {
    held: Vec<u8>,
}

impl Utf8 {
    fn text(&mut self, bytes: &[u8]) -> String {
        self.held.extend_from_slice(bytes);
        let mut out = String::with_capacity(self.held.len());
        let mut rest: &[u8] = &self.held;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (ok, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(ok).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{fffd}');
                            rest = &bad[n..];
                        }
                        // Cut at the end: wait for the rest of it.
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.to_vec();
        self.held = keep;
        out
    }
}

fn header(rec: &Recording, opts: &Options, start_ns: u64) -> Value {
    let (rows, cols) = rec.first_size().unwrap_or((24, 80));
    let s = &rec.session;
    let who = s.user.as_deref().unwrap_or("?");
    let from = s.source.map(|e| format!(" from {}:{}", e.ip, e.port));
    let mut h = json!({
        "version": 2,
        "width": cols,
        "height": rows,
        "timestamp": start_ns / 1_000_000_000,
        "title": format!("ssh-trace session {} ({who}{})", s.id, from.unwrap_or_default()),
    });
    if let Some(limit) = opts.idle_limit {
        h["idle_time_limit"] = json!(limit);
    }
    h
}

/// The event line of one record, if it makes one.
fn line(
    t: &Terminal,
    opts: &Options,
    first: &mut bool,
    out: &mut Utf8,
    inp: &mut Utf8,
) -> Option<(&'static str, String)> {
    match t.kind {
        TtyKind::Output => Some(("o", out.text(t.bytes()))),
        TtyKind::Input if opts.input => Some(("i", inp.text(t.bytes()))),
        TtyKind::Input => None,
        // The first size is the header's.
        TtyKind::Resize if std::mem::take(first) => None,
        TtyKind::Resize => Some(("r", format!("{}x{}", t.cols, t.rows))),
        TtyKind::Lost => Some(("m", format!("ssh-trace: {} bytes not recorded", t.bytes))),
        TtyKind::Withheld if opts.input => Some((
            "m",
            format!(
                "ssh-trace: {} bytes typed with echo off, not recorded",
                t.bytes
            ),
        )),
        TtyKind::Withheld => None,
    }
}

pub fn write(rec: &Recording, opts: &Options, w: &mut dyn Write) -> std::io::Result<()> {
    let start = rec.events.first().map_or(0, |(t, _)| *t);
    writeln!(w, "{}", header(rec, opts, start))?;
    let (mut out, mut inp) = (Utf8::default(), Utf8::default());
    let mut first = rec.first_size().is_some();
    for (time, t) in &rec.events {
        let Some((code, text)) = line(t, opts, &mut first, &mut out, &mut inp) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        // Microseconds, as asciinema writes them.
        let secs = (time.saturating_sub(start) / 1_000) as f64 / 1e6;
        writeln!(w, "{}", json!([secs, code, text]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{SessionId, SessionInfo};

    #[test]
    fn a_character_cut_between_records_is_whole_in_one_event() {
        let mut u = Utf8::default();
        let e = "é".as_bytes();
        assert_eq!(u.text(&[b'a', e[0]]), "a");
        assert_eq!(u.text(&[e[1], b'b']), "éb");
        assert_eq!(u.text(&[0xff, b'c']), "\u{fffd}c");
    }

    #[test]
    fn writes_asciicast_v2() {
        let ms = 1_000_000;
        let t0 = 1_700_000_000_000_000_000;
        let rec = Recording {
            session: SessionInfo::new(SessionId(1)),
            events: vec![
                (t0, Terminal::mark(TtyKind::Resize, 24, 80, 0)),
                (t0, Terminal::data(TtyKind::Output, 24, 80, b"$ ".to_vec())),
                (
                    t0 + 250 * ms,
                    Terminal::data(TtyKind::Input, 24, 80, b"ls\r".to_vec()),
                ),
                (t0 + 1500 * ms, Terminal::mark(TtyKind::Resize, 30, 100, 0)),
                (t0 + 1600 * ms, Terminal::mark(TtyKind::Lost, 30, 100, 5)),
            ],
        };
        let mut out = Vec::new();
        let opts = Options {
            input: true,
            idle_limit: None,
        };
        write(&rec, &opts, &mut out).unwrap();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(
            (lines[0]["width"].clone(), lines[0]["height"].clone()),
            (json!(80), json!(24))
        );
        assert_eq!(lines[0]["timestamp"], 1_700_000_000);
        assert_eq!(
            lines[1..],
            [
                json!([0.0, "o", "$ "]),
                json!([0.25, "i", "ls\r"]),
                json!([1.5, "r", "100x30"]),
                json!([1.6, "m", "ssh-trace: 5 bytes not recorded"]),
            ]
        );
    }
}
