//! Errors at a place in a TOML file (`LINE: KEY: problem`) and the value
//! parsers that make them, shared by the agent configuration and each
//! sink's own configuration.
use std::{ops::Range, time::Duration};

use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

/// A problem at a place in the file.
#[derive(Debug)]
pub struct At {
    pub span: Range<usize>,
    pub key: String,
    pub msg: String,
}

pub type Opt<T> = Option<Spanned<T>>;

pub fn at<T>(s: &Spanned<T>, key: &str, msg: impl Into<String>) -> At {
    At {
        span: s.span(),
        key: key.to_owned(),
        msg: msg.into(),
    }
}

pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key written on the line holding `offset`, if the line is `key = …`.
pub fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

/// A TOML parse or type error as `LINE: KEY: message` (the key when the
/// message does not name it already).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let offset = e.span().map_or(0, |s| s.start);
    let line = line_of(text, offset);
    match key_on_line(text, offset) {
        Some(k) if !e.message().contains(&format!("`{k}`")) => {
            format!("{line}: {k}: {}", e.message().trim())
        }
        _ => format!("{line}: {}", e.message().trim()),
    }
}

/// `LINE: KEY: problem`, or `LINE: problem` when the problem names its key.
pub fn render(text: &str, a: &At) -> String {
    let line = line_of(text, a.span.start);
    if a.key.is_empty() {
        format!("{line}: {}", a.msg)
    } else {
        format!("{line}: {}: {}", a.key, a.msg)
    }
}

pub fn duration(s: &Spanned<String>, key: &str) -> Result<Duration, At> {
    humantime::parse_duration(s.get_ref())
        .map_err(|e| at(s, key, format!("{e} (e.g. \"30s\", \"5m\", \"1h\")")))
}

pub fn size(s: &Spanned<String>, key: &str) -> Result<u64, At> {
    s.get_ref()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| {
            at(
                s,
                key,
                format!("{:?} is not a size (e.g. \"64MiB\", \"1GB\")", s.get_ref()),
            )
        })
}

/// The field names of a struct's derived `Deserialize`, in declaration
/// order: the keys a configuration table of that type accepts.
pub fn fields_of<'de, T: de::Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// A deserializer that only records the fields it is asked for.
struct Probe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// `rotate_count` (at least 1) of a rotated file's table.
pub fn rotate_count(c: &Opt<u64>) -> Result<Option<usize>, At> {
    match c {
        Some(c) if *c.get_ref() == 0 => Err(at(c, "rotate_count", "must be at least 1")),
        c => Ok(c.as_ref().map(|c| *c.get_ref() as usize)),
    }
}

/// `rotate_size` and `rotate_time` of a rotated file's table, keeping
/// `count` files.
pub fn rotation(
    size_key: &Opt<String>,
    time_key: &Opt<String>,
    count: Option<usize>,
) -> Result<crate::rotate::Policy, At> {
    Ok(crate::rotate::Policy {
        size: size_key
            .as_ref()
            .map(|s| size(s, "rotate_size"))
            .transpose()?,
        age: time_key
            .as_ref()
            .map(|s| duration(s, "rotate_time"))
            .transpose()?,
        count,
    })
}
