//! The filter language shared by `tail`, `record` and `replay`
//! (docs/filters.md): `user = alice and source.ip in 10.0.0.0/8 and not
//! event = process.exit`. Parsing resolves every field to an accessor and
//! types every value, so `matches` is a walk over the event's own structs.
mod ast;
mod eval;
mod ids;
mod lexer;
mod literal;
pub(crate) mod net;
mod parser;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::event::Event;

/// A parsed filter, ready to test events.
#[derive(Clone, Debug)]
// used by the CLI once wired
pub struct Filter {
    expr: ast::Expr,
}

// used by the CLI once wired
impl Filter {
    /// Parses `src`; the error says where and what was expected.
    pub fn parse(src: &str) -> Result<Filter, FilterError> {
        parser::parse(src).map(|expr| Filter { expr })
    }

    /// Whether `ev`, seen on `host`, passes the filter.
    pub fn matches(&self, ev: &Event, host: &str) -> bool {
        eval::matches(&self.expr, ev, host)
    }

    /// Whether it tests a field `pick` says yes to.
    pub fn tests(&self, pick: &dyn Fn(&str) -> bool) -> bool {
        fn walk(e: &ast::Expr, pick: &dyn Fn(&str) -> bool) -> bool {
            match e {
                ast::Expr::And(v) | ast::Expr::Or(v) => v.iter().any(|e| walk(e, pick)),
                ast::Expr::Not(e) => walk(e, pick),
                ast::Expr::Test(f, _) => pick(f.name),
            }
        }
        walk(&self.expr, pick)
    }
}

/// Why a filter did not parse. `Display` gives the message, the filter and
/// a caret under the position.
#[derive(Clone, Debug, PartialEq, Eq)]
// used by the CLI once wired
pub struct FilterError {
    /// Byte offset in the filter (always on a character boundary).
    pub position: usize,
    pub message: String,
    /// The filter as given, echoed by `Display`.
    pub filter: String,
}

impl FilterError {
    fn new(src: &str, position: usize, message: impl Into<String>) -> Self {
        Self {
            position: position.min(src.len()),
            message: message.into(),
            filter: src.to_owned(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = self.filter.get(..self.position).unwrap_or(&self.filter);
        let column = before.chars().count();
        // Control characters (a newline, a tab) would break the caret's
        // alignment: echo each as one space.
        let echo: String = self
            .filter
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        writeln!(f, "filter error at column {}: {}", column + 1, self.message)?;
        writeln!(f, "  {echo}")?;
        write!(f, "  {}^", " ".repeat(column))
    }
}

impl std::error::Error for FilterError {}
