//! A `[[sink]]` table: the keys every sink takes (name, type, format,
//! filter, queue and spool sizes) are parsed here once; the rest go to the
//! sink type's own configuration (each with `deny_unknown_fields`, in its
//! folder). A key of another sink type is "does not apply"; a key of none
//! is unknown, and the message lists every key, as serde would.
use std::{path::Path, time::Duration};

use clap::ValueEnum;
use serde::Deserialize;
use toml::{
    de::{DeTable, DeValue, Deserializer},
    Spanned,
};

use super::{clickhouse, file, http, queue::Limits, syslog, SinkKind, SinkSpec};
use crate::{
    filter::Filter,
    format::FormatKind,
    spanned::{at, duration, fields_of, size, At, Opt},
};

/// The keys every sink takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    format: Opt<String>,
    filter: Opt<String>,
    queue_size: Opt<String>,
    spool_size: Opt<String>,
    /// Terminal recordings (session.tty) go to this sink too.
    tty: Opt<bool>,
}

/// Retry and timeout keys of the sinks that talk to a peer.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    retry_max: Opt<String>,
    timeout: Opt<String>,
}

impl Delivery {
    /// The send timeout (default 10 s); `retry_max` caps the backoff.
    pub fn apply(&self, limits: &mut Limits) -> Result<Duration, At> {
        if let Some(m) = &self.retry_max {
            limits.backoff_max = duration(m, "retry_max")?.max(limits.backoff_min);
        }
        match &self.timeout {
            Some(t) => duration(t, "timeout"),
            None => Ok(Duration::from_secs(10)),
        }
    }
}

/// What a sink type's own table is checked against.
struct Type {
    name: &'static str,
    own: fn() -> &'static [&'static str],
    delivery: bool,
}

const TYPES: [Type; 5] = [
    Type {
        name: "stdout",
        own: || &[],
        delivery: false,
    },
    Type {
        name: "file",
        own: fields_of::<file::Config>,
        delivery: false,
    },
    Type {
        name: "syslog",
        own: fields_of::<syslog::Config>,
        delivery: true,
    },
    Type {
        name: "http",
        own: fields_of::<http::Config>,
        delivery: true,
    },
    Type {
        name: "clickhouse",
        own: fields_of::<clickhouse::Config>,
        delivery: true,
    },
];

fn type_named(name: &str) -> Option<&'static Type> {
    TYPES.iter().find(|t| t.name == name)
}

fn accepts(t: &Type, key: &str) -> bool {
    (t.own)().contains(&key) || (t.delivery && fields_of::<Delivery>().contains(&key))
}

/// Every sink key, in the order serde's message lists them.
fn all_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = fields_of::<Common>().to_vec();
    keys.extend(fields_of::<Delivery>());
    for t in &TYPES {
        keys.extend(
            (t.own)()
                .iter()
                .filter(|k| !keys.contains(k))
                .collect::<Vec<_>>(),
        );
    }
    keys
}

/// One table's entries, split: (common keys, the type's own, delivery).
struct Split<'i> {
    common: DeTable<'i>,
    own: DeTable<'i>,
    delivery: DeTable<'i>,
}

/// Sorts a table's keys; a misplaced or unknown key is the error.
fn split<'i>(table: &DeTable<'i>) -> Result<Split<'i>, At> {
    let kind = table.iter().find(|(k, _)| k.get_ref() == "type");
    let ty = kind
        .and_then(|(_, v)| v.get_ref().as_str())
        .and_then(type_named);
    let mut s = Split {
        common: DeTable::new(),
        own: DeTable::new(),
        delivery: DeTable::new(),
    };
    for (k, v) in table {
        let key = k.get_ref().as_ref();
        let place = if fields_of::<Common>().contains(&key) {
            &mut s.common
        } else if ty.is_some_and(|t| (t.own)().contains(&key)) {
            &mut s.own
        } else if ty.is_some_and(|t| accepts(t, key)) {
            &mut s.delivery
        } else if TYPES.iter().any(|t| accepts(t, key)) {
            // Unknown types are reported by name, below.
            let Some(t) = ty else { continue };
            return Err(at(v, key, format!("does not apply to a {} sink", t.name)));
        } else {
            let expected: Vec<String> = all_keys().iter().map(|k| format!("`{k}`")).collect();
            let msg = format!(
                "unknown field `{key}`, expected one of {}",
                expected.join(", ")
            );
            return Err(At {
                span: k.span(),
                key: String::new(),
                msg,
            });
        };
        place.insert(k.clone(), v.clone());
    }
    Ok(s)
}

/// Deserializes one part of a sink table; a type error names its line.
pub fn part<'de, T: Deserialize<'de>>(
    text: &str,
    t: DeTable<'de>,
    span: std::ops::Range<usize>,
) -> Result<T, At> {
    T::deserialize(Deserializer::from(Spanned::new(span, t))).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        let msg = e.message().trim().to_owned();
        // As toml's own messages: the key unless the message names it.
        let key = crate::spanned::key_on_line(text, start)
            .filter(|k| !msg.contains(&format!("`{k}`")))
            .unwrap_or_default();
        At {
            span: start..start,
            key,
            msg,
        }
    })
}

fn format_names() -> Vec<String> {
    FormatKind::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|p| p.get_name().to_owned())
        .collect()
}

fn check_name(name: &Spanned<String>) -> Result<(), At> {
    let n = name.get_ref();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(at(
            name,
            "name",
            format!("{n:?}: use letters, digits, - and _"),
        ));
    }
    Ok(())
}

fn format(f: &Opt<String>) -> Result<FormatKind, At> {
    let Some(f) = f else {
        return Ok(FormatKind::Json);
    };
    FormatKind::from_str(f.get_ref(), false).map_err(|_| {
        let names = format_names().join(", ");
        at(
            f,
            "format",
            format!("unknown format {:?} (expected {names})", f.get_ref()),
        )
    })
}

/// The queue and spool sizes (the spool file is named after the sink).
fn limits(c: &Common, spool_dir: &Path) -> Result<Limits, At> {
    let mut limits = Limits::default();
    if let Some(q) = &c.queue_size {
        limits.memory_bytes = size(q, "queue_size")?;
    }
    if let Some(s) = &c.spool_size {
        let file = spool_dir.join(format!("{}.spool", c.name.get_ref()));
        limits.spool = Some((file, size(s, "spool_size")?));
    }
    Ok(limits)
}

/// One `[[sink]]` table (`span` is the table's place in `text`).
pub fn sink(
    text: &str,
    table: &DeTable,
    span: std::ops::Range<usize>,
    spool_dir: &Path,
) -> Result<SinkSpec, At> {
    let parts = split(table)?;
    let c: Common = part(text, parts.common, span.clone())?;
    check_name(&c.name)?;
    let kind = c.kind.get_ref().as_str();
    if type_named(kind).is_none() {
        let msg = format!(
            "unknown sink type {kind:?} (expected stdout, file, syslog, http or clickhouse)"
        );
        return Err(at(&c.kind, "type", msg));
    }
    let format = format(&c.format)?;
    let filter = match &c.filter {
        Some(f) => Some(Filter::parse(f.get_ref()).map_err(|e| at(f, "filter", e.to_string()))?),
        None => None,
    };
    let mut limits = limits(&c, spool_dir)?;
    let format_at = c.format.as_ref().map_or(c.kind.span(), |f| f.span());
    let delivery: Delivery = part(text, parts.delivery, span.clone())?;
    let kind = match kind {
        "stdout" => SinkKind::Stdout,
        "file" => SinkKind::File(part::<file::Config>(text, parts.own, span)?.spec(&c.kind)?),
        "syslog" => {
            let timeout = delivery.apply(&mut limits)?;
            let own: syslog::Config = part(text, parts.own, span)?;
            SinkKind::Syslog(own.spec(&c.kind, timeout)?)
        }
        "http" => {
            let timeout = delivery.apply(&mut limits)?;
            let own: http::Config = part(text, parts.own, span)?;
            SinkKind::Http(own.spec(&c.kind, (format, format_at), timeout, &mut limits)?)
        }
        _ => {
            let timeout = delivery.apply(&mut limits)?;
            let own: clickhouse::Config = part(text, parts.own, span)?;
            SinkKind::ClickHouse(own.spec(&c.kind, (format, format_at), timeout, &mut limits)?)
        }
    };
    Ok(SinkSpec {
        name: c.name.into_inner(),
        format,
        filter,
        limits,
        kind,
        tty: c.tty.is_some_and(|t| *t.get_ref()),
    })
}

/// Every `[[sink]]` of a parsed configuration, in order.
pub fn sinks(text: &str, doc: &DeTable, spool_dir: &Path) -> Result<Vec<SinkSpec>, At> {
    let mut out: Vec<SinkSpec> = Vec::new();
    let Some(list) = doc
        .iter()
        .find(|(k, _)| k.get_ref() == "sink")
        .map(|(_, v)| v)
    else {
        return Ok(out);
    };
    for t in list.get_ref().as_array().into_iter().flatten() {
        let DeValue::Table(table) = t.get_ref() else {
            continue;
        };
        let spec = sink(text, table, t.span(), spool_dir)?;
        if out.iter().any(|s| s.name == spec.name) {
            let name = table
                .iter()
                .find(|(k, _)| k.get_ref() == "name")
                .map(|(_, v)| v);
            let span = name.map_or(t.span(), |v| v.span());
            let msg = format!("sink name {:?} is used twice", spec.name);
            return Err(At {
                span,
                key: "name".into(),
                msg,
            });
        }
        out.push(spec);
    }
    Ok(out)
}
