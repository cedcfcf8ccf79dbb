//! Splits a filter into tokens. A lexing error becomes the last token so
//! the parser reports whichever error comes first in the text.
use super::ast::Cmp;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok<'a> {
    LParen,
    RParen,
    Comma,
    Op(Cmp),
    /// A bare word: field name, keyword or unquoted value.
    Word(&'a str),
    /// A double-quoted string, escapes resolved.
    Str(String),
    End,
    /// The text cannot be lexed here; the message says why.
    Bad(String),
}

#[derive(Clone, Debug)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    /// Byte offsets of the token in the filter.
    pub start: usize,
    pub end: usize,
}

/// Characters of bare words: enough for field paths, user names, numbers,
/// IPv4/IPv6 addresses and networks, session ids, RFC 3339 times.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
}

/// Always ends with `End` or `Bad`.
pub fn lex(src: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let next_is = |want: char| chars.next_if(|&(_, c)| c == want).is_some();
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' | ')' | ',' | '=' | '!' | '<' | '>' => symbol(c, next_is),
            '"' => match string(src, start) {
                Ok((s, end)) => {
                    while chars.next_if(|&(i, _)| i < end).is_some() {}
                    out.push(Token {
                        tok: Tok::Str(s),
                        start,
                        end,
                    });
                    continue;
                }
                Err((pos, msg)) => {
                    out.push(Token {
                        tok: Tok::Bad(msg),
                        start: pos,
                        end: pos,
                    });
                    return out;
                }
            },
            c if is_word_char(c) => {
                while chars.next_if(|&(_, c)| is_word_char(c)).is_some() {}
                let end = chars.peek().map_or(src.len(), |&(i, _)| i);
                out.push(Token {
                    tok: Tok::Word(&src[start..end]),
                    start,
                    end,
                });
                continue;
            }
            c => Tok::Bad(format!("unexpected character `{c}`")),
        };
        let end = chars.peek().map_or(src.len(), |&(i, _)| i);
        let bad = matches!(tok, Tok::Bad(_));
        out.push(Token { tok, start, end });
        if bad {
            return out;
        }
    }
    out.push(Token {
        tok: Tok::End,
        start: src.len(),
        end: src.len(),
    });
    out
}

/// Punctuation and comparison operators (`next_is` takes the next
/// character if it is the one given).
fn symbol<'a>(c: char, mut next_is: impl FnMut(char) -> bool) -> Tok<'a> {
    match c {
        '(' => Tok::LParen,
        ')' => Tok::RParen,
        ',' => Tok::Comma,
        // `==` too, for people used to Wireshark.
        '=' => {
            next_is('=');
            Tok::Op(Cmp::Eq)
        }
        '!' if next_is('=') => Tok::Op(Cmp::Ne),
        '!' => Tok::Bad("unexpected `!`; write `!=` or `not`".into()),
        '<' if next_is('=') => Tok::Op(Cmp::Le),
        '<' => Tok::Op(Cmp::Lt),
        '>' if next_is('=') => Tok::Op(Cmp::Ge),
        _ => Tok::Op(Cmp::Gt),
    }
}

/// The string opening at `start` (a `"`): its value and the offset just past
/// the closing quote, or the error's position and message.
fn string(src: &str, start: usize) -> Result<(String, usize), (usize, String)> {
    let mut value = String::new();
    let mut it = src[start + 1..].char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((value, start + 1 + i + 1)),
            '\\' => match it.next() {
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                Some((_, e)) => {
                    return Err((
                        start + 1 + i,
                        format!("unknown escape `\\{e}` in string; only \\\" and \\\\ are escapes"),
                    ))
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err((start, "unterminated string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        lex(src).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_operators_strings() {
        assert_eq!(
            toks(r#"a.b>=1 and(x!="q\"\\") , <<=>==="#),
            vec![
                Tok::Word("a.b"),
                Tok::Op(Cmp::Ge),
                Tok::Word("1"),
                Tok::Word("and"),
                Tok::LParen,
                Tok::Word("x"),
                Tok::Op(Cmp::Ne),
                Tok::Str("q\"\\".into()),
                Tok::RParen,
                Tok::Comma,
                Tok::Op(Cmp::Lt),
                Tok::Op(Cmp::Le),
                Tok::Op(Cmp::Ge),
                Tok::Op(Cmp::Eq),
                Tok::End,
            ]
        );
    }

    #[test]
    fn positions_are_byte_offsets() {
        let t = lex("é = \"ü\" x");
        let spans: Vec<_> = t.iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(spans, vec![(0, 2), (3, 4), (5, 9), (10, 11), (11, 11)]);
    }

    #[test]
    fn errors_end_the_tokens() {
        let t = lex("a = \"open");
        assert_eq!(
            t.last().unwrap().tok,
            Tok::Bad("unterminated string".into())
        );
        assert_eq!(t.last().unwrap().start, 4);
        let t = lex(r#"a = "x\n""#);
        assert_eq!(t.last().unwrap().start, 6);
        let t = lex("a & b");
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].start, 2);
        let t = lex(r#"a = "x\"#);
        assert_eq!(
            t.last().unwrap().tok,
            Tok::Bad("unterminated string".into())
        );
    }
}
