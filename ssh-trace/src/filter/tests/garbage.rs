//! Whatever text `parse` gets, it returns: no panic, errors inside the text
//! on a character boundary, and filters that parse can match any event.
use super::*;

const VALID: &[&str] = &[
    "user = alice and source.ip in 10.0.0.0/8 and not event = process.exit",
    r#"process.args contains "curl""#,
    "session.id = 5bedc86c-1cdc-4597-bf3e-b121a1db7198",
    "event in (process.exec, user.change) or session.uid = 0",
    "change.new.euid = 0 and change.success = true",
    "session.bytes_in > 1000000",
    "process.pid >= 100",
    "host != web1",
    "source.port = 22 or (user != root and not session.discovered = true)",
    r#"time >= 2023-11-14 and process.args startswith "-\"\\" and user exists"#,
    "source.ip in (2001:db8::/32, ::ffff:10.0.0.1, 192.168.0.0/16)",
];

/// Pieces that make near-valid filters more likely than random bytes do.
const PIECES: &[&str] = &[
    "user",
    "source.ip",
    "process.args",
    "change.args",
    "time",
    "event",
    "session",
    "process",
    "=",
    "==",
    "!=",
    "!",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "startswith",
    "in",
    "exists",
    "and",
    "or",
    "not",
    "(",
    ")",
    ",",
    "\"",
    "\\",
    "\\\"",
    " ",
    "  ",
    "\t",
    "\n",
    "10.0.0.0/8",
    "::1",
    "/",
    "/33",
    "-1",
    "0",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "true",
    "false",
    "é",
    "💥",
    "\u{0}",
    "process.exec",
    "2023-11-14",
    "2023-11-14T22:13:20.123Z",
    "alice",
    "&",
    "|",
    "'",
];

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Parses `src`; checks the error or runs the filter on every event.
fn survive(src: &str, events: &[Event]) {
    match Filter::parse(src) {
        Ok(f) => {
            for e in events {
                f.matches(e, HOST);
            }
        }
        Err(e) => {
            assert!(e.position <= src.len(), "{src:?}: {e:?}");
            assert!(src.is_char_boundary(e.position), "{src:?}: {e:?}");
            assert!(!e.message.is_empty());
            assert!(e.to_string().contains('^'));
        }
    }
}

#[test]
fn valid_filters_parse() {
    for f in VALID {
        parse(f);
    }
}

#[test]
fn truncations_and_deletions_of_valid_filters() {
    let events = all_events();
    for f in VALID {
        let cuts: Vec<usize> = f.char_indices().map(|(i, _)| i).collect();
        for &i in &cuts {
            survive(&f[..i], &events);
            survive(&f[i..], &events);
            let next = f[i..].chars().next().map_or(0, char::len_utf8);
            survive(&format!("{}{}", &f[..i], &f[i + next..]), &events);
        }
    }
}

#[test]
fn random_pieces() {
    let events = all_events();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..10_000 {
        let n = rng.below(12);
        let src: String = (0..n)
            .map(|_| {
                let p = PIECES[rng.below(PIECES.len())];
                if rng.below(3) == 0 {
                    format!("{p} ")
                } else {
                    p.to_owned()
                }
            })
            .collect();
        survive(&src, &events);
    }
}

#[test]
fn random_characters() {
    let events = all_events();
    let mut rng = Rng(42);
    for _ in 0..10_000 {
        let n = rng.below(40);
        let src: String = (0..n)
            .map(|_| match rng.below(4) {
                // Mostly ASCII, where the syntax is; some of anything else.
                0..=2 => char::from(rng.below(128) as u8),
                _ => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
            })
            .collect();
        survive(&src, &events);
    }
}

#[test]
fn random_mutations_of_valid_filters() {
    let events = all_events();
    let mut rng = Rng(7);
    for _ in 0..10_000 {
        let mut s: Vec<char> = VALID[rng.below(VALID.len())].chars().collect();
        for _ in 0..=rng.below(4) {
            let at = rng.below(s.len() + 1);
            match rng.below(3) {
                0 if at < s.len() => {
                    s.remove(at);
                }
                1 => {
                    for c in PIECES[rng.below(PIECES.len())].chars().rev() {
                        s.insert(at, c);
                    }
                }
                _ if at < s.len() => s[at] = char::from(rng.below(128) as u8),
                _ => {}
            }
        }
        survive(&s.into_iter().collect::<String>(), &events);
    }
}
