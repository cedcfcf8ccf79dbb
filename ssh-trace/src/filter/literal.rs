//! Which operators apply to which fields, and turning the text of a value
//! into the literal its field compares against. Errors are messages; the
//! parser adds the position.
use std::time::UNIX_EPOCH;

use super::{
    ast::{Cmp, Lit, Pred, Raw},
    net::{parse_addr, Net},
};
use crate::event::{
    fields::{Field, Ty},
    Kind,
};

/// Rejects operators that make no sense for the field's type, before its
/// value is read, so the error points at the operator.
pub fn check_op(field: Field, op: &str) -> Result<(), String> {
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
    Err(format!(
        "`{op}` does not apply to `{name}`, which is {}{hint}",
        ty.describe()
    ))
}

/// `field <cmp> value`.
pub fn compare(field: Field, cmp: Cmp, raw: &Raw) -> Result<Pred, String> {
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
                return Err(format!(
                    "`{}` compares addresses and `{text}` is a network; use `in`",
                    cmp.symbol()
                ))
            }
            None => return Err(format!("invalid IP address `{text}`")),
        },
        // Event names order as text, like any other string.
        Ty::Text | Ty::TextList | Ty::Event => Lit::Text(text.to_owned()),
        Ty::Bool | Ty::Object => return Err(format!("`{}` cannot compare `{text}`", cmp.symbol())),
    };
    Ok(Pred::Cmp(cmp, lit))
}

/// `field contains value` / `field startswith value`.
pub fn text_op(field: Field, op: &str, raw: &Raw) -> Result<Pred, String> {
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
pub fn member(field: Field, raw: &Raw) -> Result<Lit, String> {
    let text = raw.text.as_ref();
    Ok(match field.ty {
        Ty::Int | Ty::IntList => Lit::Int(int(field, text)?),
        Ty::Text | Ty::TextList => Lit::Text(text.to_owned()),
        Ty::Bool => match text {
            "true" => Lit::Bool(true),
            "false" => Lit::Bool(false),
            _ => {
                return Err(format!(
                    "expected true or false for `{}`, found `{text}`",
                    field.name
                ))
            }
        },
        Ty::Ip if text.contains('/') => match Net::parse(text) {
            Some(n) => Lit::Net(n),
            None => return Err(format!("invalid CIDR `{text}`")),
        },
        Ty::Ip => match parse_addr(text) {
            Some(a) => Lit::Addr(a),
            None => return Err(format!("invalid IP address `{text}`")),
        },
        Ty::Time => Lit::Time(time(text)?),
        // Checked here so a typo in an event name is an error rather than a
        // filter that silently matches nothing.
        Ty::Event => match Kind::from_name(text) {
            Some(k) => Lit::Event(k),
            None => {
                return Err(format!(
                    "unknown event `{text}`; events are {}",
                    Kind::all().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                ))
            }
        },
        Ty::Object => return Err(format!("`{}` is an object", field.name)),
    })
}

fn int(field: Field, text: &str) -> Result<i128, String> {
    text.parse::<i128>()
        .map_err(|_| format!("expected an integer for `{}`, found `{text}`", field.name))
}

/// RFC 3339 in UTC (as the events write it; fraction and `Z` optional), or a
/// date meaning its midnight UTC. Returns nanoseconds since the epoch.
fn time(text: &str) -> Result<i128, String> {
    let parsed = if text.len() == 10 {
        humantime::parse_rfc3339_weak(&format!("{text}T00:00:00Z"))
    } else {
        humantime::parse_rfc3339_weak(text)
    };
    parsed
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i128::try_from(d.as_nanos()).ok())
        .ok_or_else(|| {
            format!(
                "invalid time `{text}`; write RFC 3339 in UTC like 2026-11-21T23:42:32Z, \
                 or a date like 2026-11-21"
            )
        })
}
