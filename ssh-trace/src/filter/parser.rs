//! Recursive descent over the tokens:
//!
//! ```text
//! filter  = or END
//! or      = and { "or" and }
//! and     = unary { "and" unary }
//! unary   = "not" unary | primary
//! primary = "(" or ")" | field test
//! test    = "exists" | cmp value | "contains" value | "startswith" value
//!         | "in" "(" value { "," value } ")" | "in" network
//! ```
//!
//! Field names and values are checked here, so a filter that parses can
//! always be evaluated.
use super::{
    ast::{Expr, Pred, Raw},
    lexer::{lex, Tok, Token},
    literal, FilterError,
};
use crate::event::fields::{self, Field, Ty};

/// Deepest nesting of `(` and `not`: recursion in the parser and in
/// matching is proportional to it, so it must not grow with the input.
pub const MAX_DEPTH: usize = 64;

pub const OPERATORS: &str = "=, !=, <, <=, >, >=, contains, startswith, in, exists";

pub fn parse(src: &str) -> Result<Expr, FilterError> {
    if src.trim().is_empty() {
        return Err(FilterError::new(src, 0, "empty filter"));
    }
    let mut p = Parser {
        src,
        toks: lex(src),
        i: 0,
        depth: 0,
    };
    let expr = p.or()?;
    let t = p.peek();
    match t.tok {
        Tok::End => Ok(expr),
        Tok::RParen => Err(p.err(
            t.start,
            "unbalanced parenthesis: `)` without a matching `(`",
        )),
        _ => Err(p.unexpected("`and`, `or` or end of input")),
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token<'a>>,
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Token<'a> {
        // `lex` always ends with End or Bad and parsing stops at either, so
        // `i` never passes the last token; clamp anyway rather than panic.
        let i = self.i.min(self.toks.len().saturating_sub(1));
        self.toks.get(i).cloned().unwrap_or(Token {
            tok: Tok::End,
            start: self.src.len(),
            end: self.src.len(),
        })
    }

    fn bump(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn is_word(&self, w: &str) -> bool {
        self.peek().tok == Tok::Word(w)
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.src, pos, msg)
    }

    /// "expected X, found <next token>" at the next token; a lexing error
    /// there wins since it explains more.
    fn unexpected(&self, expected: &str) -> FilterError {
        let t = self.peek();
        match &t.tok {
            Tok::Bad(msg) => self.err(t.start, msg.clone()),
            _ => self.err(
                t.start,
                format!("expected {expected}, found {}", self.describe(&t)),
            ),
        }
    }

    fn describe(&self, t: &Token) -> String {
        match t.tok {
            Tok::End => "end of input".into(),
            _ => format!("`{}`", self.src.get(t.start..t.end).unwrap_or("?")),
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                pos,
                format!("filter nested too deeply (more than {MAX_DEPTH} levels of `(` and `not`)"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and()?];
        while self.is_word("or") {
            self.bump();
            terms.push(self.and()?);
        }
        Ok(flatten(terms, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.unary()?];
        while self.is_word("and") {
            self.bump();
            terms.push(self.unary()?);
        }
        Ok(flatten(terms, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if !self.is_word("not") {
            return self.primary();
        }
        self.enter(self.peek().start)?;
        self.bump();
        let inner = self.unary()?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let t = self.peek();
        match t.tok {
            Tok::LParen => {
                self.enter(t.start)?;
                self.bump();
                let inner = self.or()?;
                match self.peek().tok {
                    Tok::RParen => self.bump(),
                    Tok::End => {
                        return Err(self.err(t.start, "unbalanced parenthesis: `(` is never closed"))
                    }
                    _ => return Err(self.unexpected("`)`, `and` or `or`")),
                }
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(w) if !matches!(w, "and" | "or") => {
                self.bump();
                self.test(w, t.start)
            }
            Tok::Str(_) => Err(self.err(
                t.start,
                format!(
                    "expected a field, found {}; field names are not quoted",
                    self.describe(&t)
                ),
            )),
            _ => Err(self.unexpected("a field, `not` or `(`")),
        }
    }

    fn test(&mut self, name: &str, start: usize) -> Result<Expr, FilterError> {
        let field = fields::lookup(name).ok_or_else(|| self.err(start, unknown_field(name)))?;
        let ty = field.ty;
        let t = self.peek();
        let op = match t.tok {
            Tok::Op(c) => c.symbol(),
            Tok::Word(w @ ("exists" | "contains" | "startswith" | "in")) => w,
            _ => {
                return Err(
                    self.unexpected(&format!("an operator ({OPERATORS}) after field `{name}`"))
                )
            }
        };
        if ty == Ty::Object && op != "exists" {
            return Err(self.err(t.start, object_misuse(field)));
        }
        literal::check_op(field, op).map_err(|m| self.err(t.start, m.to_string()))?;
        self.bump();
        let pred = match t.tok {
            _ if op == "exists" => Pred::Exists,
            _ if op == "in" => self.list(field, t.start)?,
            Tok::Op(cmp) => {
                let raw = self.value(op)?;
                literal::compare(field, cmp, &raw)
                    .map_err(|m| self.err(raw.start, m.to_string()))?
            }
            _ => {
                let raw = self.value(op)?;
                literal::text_op(field, op, &raw).map_err(|m| self.err(raw.start, m.to_string()))?
            }
        };
        Ok(Expr::Test(field, pred))
    }

    /// After `in`: `( v, v … )`, or a single network for address fields.
    fn list(&mut self, field: Field, in_pos: usize) -> Result<Pred, FilterError> {
        let open = self.peek();
        if open.tok != Tok::LParen {
            if field.ty == Ty::Ip {
                let raw = self.value("in")?;
                let lit =
                    literal::member(field, &raw).map_err(|m| self.err(raw.start, m.to_string()))?;
                return Ok(Pred::In(vec![lit]));
            }
            return Err(self.unexpected("`(` and a list of values after `in`"));
        }
        self.bump();
        if self.peek().tok == Tok::RParen {
            return Err(self.err(in_pos, "empty list after `in`"));
        }
        let mut lits = Vec::new();
        loop {
            let raw = self.value(if lits.is_empty() { "(" } else { "," })?;
            lits.push(
                literal::member(field, &raw).map_err(|m| self.err(raw.start, m.to_string()))?,
            );
            match self.peek().tok {
                Tok::Comma => self.bump(),
                Tok::RParen => {
                    self.bump();
                    return Ok(Pred::In(lits));
                }
                Tok::End => {
                    return Err(self.err(open.start, "unbalanced parenthesis: `(` is never closed"))
                }
                _ => return Err(self.unexpected("`,` or `)` in the list")),
            }
        }
    }

    /// A value after `after`: a bare word (not a keyword that joins tests)
    /// or a quoted string.
    fn value(&mut self, after: &str) -> Result<Raw<'a>, FilterError> {
        let t = self.peek();
        let text = match t.tok {
            Tok::Word(w) if !matches!(w, "and" | "or" | "not") => w.into(),
            Tok::Str(s) => s.into(),
            Tok::Word(_) => {
                return Err(self.err(
                    t.start,
                    format!(
                        "expected a value after `{after}`, found {}; quote it to match the word",
                        self.describe(&t)
                    ),
                ))
            }
            Tok::LParen if after != "(" && after != "," && after != "in" => {
                return Err(self.err(
                    t.start,
                    format!("expected a value after `{after}`, found `(`; a list needs `in`"),
                ))
            }
            _ => return Err(self.unexpected(&format!("a value after `{after}`"))),
        };
        self.bump();
        Ok(Raw {
            text,
            start: t.start,
        })
    }
}

fn flatten(mut terms: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if terms.len() == 1 {
        if let Some(only) = terms.pop() {
            return only;
        }
    }
    join(terms)
}

fn object_misuse(field: Field) -> String {
    let name = field.name;
    let prefix = format!("{name}.");
    let children: Vec<&str> = fields::FIELDS
        .iter()
        .map(|d| d.name)
        .filter(|n| n.starts_with(&prefix) && !n[prefix.len()..].contains('.'))
        .collect();
    format!(
        "`{name}` is an object: only `{name} exists` applies; compare one of its fields ({})",
        children.join(", ")
    )
}

/// Names the closest field: same last segment (`pid` → `process.pid`),
/// else a small edit distance, else the families of fields.
fn unknown_field(name: &str) -> String {
    let suffix = format!(".{name}");
    let same_end: Vec<&str> = fields::all_names()
        .filter(|n| n.ends_with(&suffix))
        .collect();
    if !same_end.is_empty() {
        return format!(
            "unknown field `{name}`; did you mean {}?",
            same_end
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
    }
    let best = fields::all_names()
        .map(|n| (distance(name, n), n))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, n)) if d <= 2 && d < name.chars().count() => {
            format!("unknown field `{name}`; did you mean `{n}`?")
        }
        _ => format!(
            "unknown field `{name}`; fields are time, event, host, session.*, process.*, \
             change.*, agent.*, loss.*, total.*, totals.*, alert.* (docs/schema.md) and the aliases {}",
            fields::ALIASES
                .iter()
                .map(|(a, _)| *a)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Levenshtein distance, capped: long garbage need not cost quadratic time.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
