//! Matching a parsed filter against one event. Runs for every event in
//! replay, so it reads fields in place and never allocates.
use std::cmp::Ordering;

use super::{
    ast::{Cmp, Expr, Lit, Pred},
    fields::Val,
    net::parse_addr,
};
use crate::event::Event;

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
            !l.iter().any(|s| scalar(Val::Text(s), Cmp::Eq, lit))
        }
        (Val::IntList(l), Pred::Cmp(Cmp::Ne, lit)) => !l
            .iter()
            .any(|n| scalar(Val::Int(i128::from(*n)), Cmp::Eq, lit)),
        (Val::TextList(l), _) => l.iter().any(|s| test(Val::Text(s), pred)),
        (Val::IntList(l), _) => l.iter().any(|n| test(Val::Int(i128::from(*n)), pred)),
        (v, Pred::Cmp(cmp, lit)) => scalar(v, *cmp, lit),
        (v, Pred::In(lits)) => lits.iter().any(|lit| scalar(v, Cmp::Eq, lit)),
        (v, Pred::Contains(s)) => text(v).is_some_and(|t| t.contains(s.as_str())),
        (v, Pred::StartsWith(s)) => text(v).is_some_and(|t| t.starts_with(s.as_str())),
    }
}

/// Text operators see addresses and event types as written in the JSON.
fn text<'a>(v: Val<'a>) -> Option<&'a str> {
    match v {
        Val::Text(s) | Val::Ip(s) => Some(s),
        Val::Event(k) => Some(k.name()),
        _ => None,
    }
}

fn scalar(v: Val, cmp: Cmp, lit: &Lit) -> bool {
    if let (Val::Ip(s), Lit::Net(net)) = (v, lit) {
        return match (parse_addr(s), cmp) {
            (Some(a), Cmp::Eq) => net.contains(a),
            (Some(a), Cmp::Ne) => !net.contains(a),
            _ => false,
        };
    }
    order(v, lit).is_some_and(|o| cmp.holds(o))
}

/// None when the two cannot be compared (an unparsable address, IPv4
/// against IPv6): the test is then false, whatever the operator.
fn order(v: Val, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Val::Int(a), Lit::Int(b)) => Some(a.cmp(b)),
        (Val::Text(a), Lit::Text(b)) => Some(a.cmp(b.as_str())),
        (Val::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (Val::Time(a), Lit::Time(b)) => Some(a.cmp(b)),
        (Val::Event(a), Lit::Event(b)) => Some(if a == *b {
            Ordering::Equal
        } else {
            a.name().cmp(b.name())
        }),
        (Val::Event(a), Lit::Text(b)) => Some(a.name().cmp(b.as_str())),
        (Val::Ip(s), Lit::Addr(b)) => {
            let a = parse_addr(s)?;
            (a.is_ipv4() == b.is_ipv4()).then(|| a.cmp(b))
        }
        _ => None,
    }
}
