//! Lossless text for bytes taken from the monitored system (argv, paths,
//! user names): a backslash is written `\\`, every byte that is not part of
//! valid UTF-8 is written `\xNN`; all other text is kept. Decoding is
//! unambiguous. The human format additionally writes control characters
//! as `\xNN` so a hostile argv cannot drive the terminal.

pub fn escape_bytes(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// For terminals: also escape control characters (after `escape_bytes`).
pub fn printable(escaped: &str) -> std::borrow::Cow<'_, str> {
    if !escaped.chars().any(char::is_control) {
        return escaped.into();
    }
    let mut out = String::with_capacity(escaped.len() + 8);
    for c in escaped.chars() {
        if c.is_control() {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Inverse of `escape_bytes`: what a consumer does to get the bytes back.
#[cfg(test)]
pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next()? {
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hi = (it.next()? as char).to_digit(16)?;
                let lo = (it.next()? as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_hostile_bytes() {
        let cases: &[&[u8]] = &[
            b"plain",
            b"a\\xff",
            b"\xff\xfe",
            b"\x1b[2J",
            "é\\".as_bytes(),
            b"\\x41",
        ];
        for &c in cases {
            let e = escape_bytes(c);
            assert_eq!(unescape(&e).unwrap(), c, "{e}");
        }
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"a\\xffb"), "a\\\\xffb");
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable(&escape_bytes(b"x\x1b[2J\n")), "x\\x1b[2J\\x0a");
        assert_eq!(printable("ok"), "ok");
    }
}
