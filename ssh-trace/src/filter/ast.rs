//! The parsed filter: a tree of tests whose literals are already typed for
//! their field, so matching compares without converting anything.
use std::net::IpAddr;

use super::net::Net;
use crate::event::{fields::Field, Kind};

/// `and`/`or` hold flat lists rather than binary nodes so a long chain
/// (`a and b and c …`) stays shallow: matching and dropping recurse only
/// as deep as the parenthesis/`not` nesting, which the parser bounds.
#[derive(Clone, Debug)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Test(Field, Pred),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    pub fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => o == Equal,
            Cmp::Ne => o != Equal,
            Cmp::Lt => o == Less,
            Cmp::Le => o != Greater,
            Cmp::Gt => o == Greater,
            Cmp::Ge => o != Less,
        }
    }
}

/// A value from the filter, converted to its field's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lit {
    Int(i128),
    Text(String),
    Bool(bool),
    /// Canonical (IPv4-mapped IPv6 written as IPv4), like the events.
    Addr(IpAddr),
    /// `=` means "inside the network", `!=` "outside".
    Net(Net),
    /// Nanoseconds since the Unix epoch.
    Time(i128),
    Event(Kind),
}

#[derive(Clone, Debug)]
pub enum Pred {
    Exists,
    Cmp(Cmp, Lit),
    /// Equal to any of them (inside any, for networks).
    In(Vec<Lit>),
    Contains(String),
    StartsWith(String),
}

/// A value as written, before it is typed for its field.
pub struct Raw<'a> {
    pub text: std::borrow::Cow<'a, str>,
    pub start: usize,
}
