//! Which operators apply to which fields, and turning the text of a value
//! into the literal its field compares against. The parser adds the
//! position to the errors.
use std::time::UNIX_EPOCH;

use super::{
    ast::{Cmp, Lit, Pred, Raw},
    net::{parse_addr, Net},
};
use crate::event::{
    fields::{Field, Ty},
    Kind,
};

/// Why a value or an operator does not fit its field.
#[derive(Debug, thiserror::Error)]
pub enum Misfit {
    #[error("`{op}` does not apply to `{field}`, which is {ty}{hint}")]
    Operator {
        op: String,
        field: &'static str,
        ty: &'static str,
        hint: &'static str,
    },
    #[error("`{0}` compares addresses and `{1}` is a network; use `in`")]
    NetworkCompared(&'static str, String),
    #[error("invalid IP address `{0}`")]
    Address(String),
    #[error("invalid CIDR `{0}`")]
    Network(String),
    #[error("`{0}` cannot compare `{1}`")]
    NotOrdered(&'static str, String),
    #[error("expected true or false for `{0}`, found `{1}`")]
    NotBool(&'static str, String),
    #[error("unknown event `{0}`; events are {1}")]
    Event(String, String),
    #[error("`{0}` is an object")]
    Object(&'static str),
    #[error("expected an integer for `{0}`, found `{1}`")]
    NotInteger(&'static str, String),
    #[error(
        "invalid time `{0}`; write RFC 3339 in UTC like 2026-11-21T23:42:32Z, \
         or a date like 2026-11-21"
    )]
    Time(String),
}

/// Rejects operators that make no sense for the field's type, before its
/// value is read, so the error points at the operator.
pub fn check_op(field: Field, op: &str) -> Result<(), Misfit> {
    let ty = field.ty;
    let ok = match op {
        "exists" | "=" | "!=" | "in" => true,
        "<" | "<=" | ">" | ">=" => ty != Ty::Bool,
        "contains" => matches!(
            ty,
            Ty::Text | Ty::Ip | Ty::Event | Ty::TextList | Ty::IntList
        ),
        "startswith" => matches!(ty, Ty::Text | Ty::Ip | Ty::Event | Ty::TextList),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let name = field.name;
    let hint = match (op, ty) {
        (_, Ty::Bool) => "; use = or !=",
        (_, Ty::Time) => "; compare times with <, <=, >, >=",
        (_, Ty::Int) => "; compare numbers with =, !=, <, <=, >, >= or in",
        _ => "",
    };
    Err(Misfit::Operator {
        op: op.to_owned(),
        field: name,
        ty: ty.describe(),
        hint,
    })
}

/// `field <cmp> value`.
pub fn compare(field: Field, cmp: Cmp, raw: &Raw) -> Result<Pred, Misfit> {
    if matches!(cmp, Cmp::Eq | Cmp::Ne) {
        return Ok(Pred::Cmp(cmp, member(field, raw)?));
    }
    let text = raw.text.as_ref();
    let lit = match field.ty {
        Ty::Int | Ty::IntList => Lit::Int(int(field, text)?),
        Ty::Time => Lit::Time(time(text)?),
        Ty::Ip => match parse_addr(text) {
            Some(a) => Lit::Addr(a),
            None if Net::parse(text).is_some() => {
                return Err(Misfit::NetworkCompared(cmp.symbol(), text.to_owned()))
            }
            None => return Err(Misfit::Address(text.to_owned())),
        },
        // Event names order as text, like any other string.
        Ty::Text | Ty::TextList | Ty::Event => Lit::Text(text.to_owned()),
        Ty::Bool | Ty::Object => return Err(Misfit::NotOrdered(cmp.symbol(), text.to_owned())),
    };
    Ok(Pred::Cmp(cmp, lit))
}

/// `field contains value` / `field startswith value`.
pub fn text_op(field: Field, op: &str, raw: &Raw) -> Result<Pred, Misfit> {
    // A list of numbers "contains" a number when one element equals it.
    if field.ty == Ty::IntList {
        return Ok(Pred::Cmp(Cmp::Eq, Lit::Int(int(field, &raw.text)?)));
    }
    let text = raw.text.clone().into_owned();
    Ok(match op {
        "startswith" => Pred::StartsWith(text),
        _ => Pred::Contains(text),
    })
}

/// A value that `field` (or an element of it) can equal: for `=`, `!=`, `in`.
pub fn member(field: Field, raw: &Raw) -> Result<Lit, Misfit> {
    let text = raw.text.as_ref();
    Ok(match field.ty {
        Ty::Int | Ty::IntList => Lit::Int(int(field, text)?),
        Ty::Text | Ty::TextList => Lit::Text(text.to_owned()),
        Ty::Bool => match text {
            "true" => Lit::Bool(true),
            "false" => Lit::Bool(false),
            _ => return Err(Misfit::NotBool(field.name, text.to_owned())),
        },
        Ty::Ip if text.contains('/') => match Net::parse(text) {
            Some(n) => Lit::Net(n),
            None => return Err(Misfit::Network(text.to_owned())),
        },
        Ty::Ip => match parse_addr(text) {
            Some(a) => Lit::Addr(a),
            None => return Err(Misfit::Address(text.to_owned())),
        },
        Ty::Time => Lit::Time(time(text)?),
        // Checked here so a typo in an event name is an error rather than a
        // filter that silently matches nothing.
        Ty::Event => match Kind::from_name(text) {
            Some(k) => Lit::Event(k),
            None => {
                let names: Vec<&str> = Kind::all().map(|k| k.name()).collect();
                return Err(Misfit::Event(text.to_owned(), names.join(", ")));
            }
        },
        Ty::Object => return Err(Misfit::Object(field.name)),
    })
}

fn int(field: Field, text: &str) -> Result<i128, Misfit> {
    text.parse::<i128>()
        .map_err(|_| Misfit::NotInteger(field.name, text.to_owned()))
}

/// RFC 3339 in UTC (as the events write it; fraction and `Z` optional), or a
/// date meaning its midnight UTC. Returns nanoseconds since the epoch.
fn time(text: &str) -> Result<i128, Misfit> {
    let parsed = if text.len() == 10 {
        humantime::parse_rfc3339_weak(&format!("{text}T00:00:00Z"))
    } else {
        humantime::parse_rfc3339_weak(text)
    };
    parsed
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i128::try_from(d.as_nanos()).ok())
        .ok_or_else(|| Misfit::Time(text.to_owned()))
}
