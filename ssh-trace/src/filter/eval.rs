//! Matching a parsed filter against one event. Runs for every event in
//! replay, so it reads fields in place and never allocates: addresses and
//! session ids are compared as the values they are, and written out (on
//! the stack) only for the text operators.
use std::{cmp::Ordering, fmt::Write as _};

use super::ast::{Cmp, Expr, Lit, Pred};
use crate::event::{fields::Val, Event};

pub fn matches(expr: &Expr, ev: &Event, host: &str) -> bool {
    match expr {
        Expr::And(terms) => terms.iter().all(|e| matches(e, ev, host)),
        Expr::Or(terms) => terms.iter().any(|e| matches(e, ev, host)),
        Expr::Not(e) => !matches(e, ev, host),
        // A field the event does not have fails every test but `not`.
        Expr::Test(field, pred) => field.get(ev, host).is_some_and(|v| test(v, pred)),
    }
}

fn test(v: Val, pred: &Pred) -> bool {
    match (v, pred) {
        (_, Pred::Exists) => true,
        // On a list, `!=` means no element equals: the negation of `=`.
        (Val::TextList(l), Pred::Cmp(Cmp::Ne, lit)) => {
            !l.any(|s| scalar(Val::Text(s), Cmp::Eq, lit))
        }
        (Val::IntList(l), Pred::Cmp(Cmp::Ne, lit)) => !l
            .iter()
            .any(|n| scalar(Val::Int(i128::from(*n)), Cmp::Eq, lit)),
        (Val::TextList(l), _) => l.any(|s| test(Val::Text(s), pred)),
        (Val::IntList(l), _) => l.iter().any(|n| test(Val::Int(i128::from(*n)), pred)),
        (v, Pred::Cmp(cmp, lit)) => scalar(v, *cmp, lit),
        (v, Pred::In(lits)) => lits.iter().any(|lit| scalar(v, Cmp::Eq, lit)),
        (v, Pred::Contains(s)) => with_text(v, |t| t.contains(s.as_str())).unwrap_or(false),
        (v, Pred::StartsWith(s)) => with_text(v, |t| t.starts_with(s.as_str())).unwrap_or(false),
    }
}

/// Text an address is written as: at most 45 bytes (IPv6 with IPv4 tail).
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Text operators see addresses, ids and event types as written in the JSON.
fn with_text<R>(v: Val, f: impl FnOnce(&str) -> R) -> Option<R> {
    match v {
        Val::Text(s) => Some(f(s)),
        Val::Id(id) => Some(f(id.text().as_str())),
        Val::Event(k) => Some(f(k.name())),
        Val::Ip(ip) => {
            let mut t = IpText {
                buf: [0; 48],
                len: 0,
            };
            write!(t, "{ip}").ok()?;
            Some(f(std::str::from_utf8(&t.buf[..t.len]).ok()?))
        }
        Val::Int(_)
        | Val::Bool(_)
        | Val::Time(_)
        | Val::TextList(_)
        | Val::IntList(_)
        | Val::Object => None,
    }
}

fn scalar(v: Val, cmp: Cmp, lit: &Lit) -> bool {
    if let (Val::Ip(a), Lit::Net(net)) = (v, lit) {
        let inside = net.contains(a.to_canonical());
        return match cmp {
            Cmp::Eq => inside,
            Cmp::Ne => !inside,
            _ => false,
        };
    }
    order(v, lit).is_some_and(|o| cmp.holds(o))
}

/// None when the two cannot be compared (IPv4 against IPv6): the test is
/// then false, whatever the operator.
fn order(v: Val, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Val::Int(a), Lit::Int(b)) => Some(a.cmp(b)),
        (Val::Text(a), Lit::Text(b)) => Some(a.cmp(b.as_str())),
        (Val::Id(a), Lit::Text(b)) => Some(a.text().as_str().cmp(b.as_str())),
        (Val::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (Val::Time(a), Lit::Time(b)) => Some(a.cmp(b)),
        (Val::Event(a), Lit::Event(b)) => Some(if a == *b {
            Ordering::Equal
        } else {
            a.name().cmp(b.name())
        }),
        (Val::Event(a), Lit::Text(b)) => Some(a.name().cmp(b.as_str())),
        (Val::Ip(a), Lit::Addr(b)) => {
            let a = a.to_canonical();
            (a.is_ipv4() == b.is_ipv4()).then(|| a.cmp(b))
        }
        _ => None,
    }
}
