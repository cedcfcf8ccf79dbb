//! `type = "clickhouse"`: the server's HTTP(S) URL, the database and table
//! (the shipped schema's by default), credentials, TLS roots, gzip and
//! batching; retry_max and timeout are the delivery keys.
use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use toml::Spanned;

use crate::{
    format::FormatKind,
    sinks::{
        http::{batching, url},
        queue::Limits,
    },
    spanned::{at, At, Opt},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    url: Opt<String>,
    database: Opt<String>,
    table: Opt<String>,
    user: Opt<String>,
    password: Opt<String>,
    ca_file: Opt<PathBuf>,
    gzip: Opt<bool>,
    batch_size: Opt<String>,
    batch_wait: Opt<String>,
}

/// A ClickHouse sink, checked.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The server, e.g. `http://clickhouse:8123` (the query goes after it).
    pub url: String,
    pub database: String,
    pub table: String,
    /// Sent as X-ClickHouse-User / X-ClickHouse-Key.
    pub user: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub gzip: bool,
    pub timeout: Duration,
}

/// Each insert is a part (and one per view) to merge: fewer, larger inserts.
const BATCH_BYTES: usize = 8 << 20;
const BATCH_WAIT: Duration = Duration::from_secs(5);

/// A database or table name, used unquoted in the queries.
fn name(v: Opt<String>, key: &str, default: &str) -> Result<String, At> {
    let Some(v) = v else {
        return Ok(default.to_owned());
    };
    let n = v.get_ref();
    let first_ok = n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        let msg = format!("{n:?}: use letters, digits and _ (not first)");
        return Err(at(&v, key, msg));
    }
    Ok(v.into_inner())
}

impl Config {
    /// `format` is the sink's format and where it was given: the `data`
    /// column holds JSON.
    pub fn spec(
        self,
        kind: &Spanned<String>,
        (format, format_at): (FormatKind, std::ops::Range<usize>),
        timeout: Duration,
        limits: &mut Limits,
    ) -> Result<Spec, At> {
        let url = url(kind, self.url)?;
        if format == FormatKind::Human {
            let msg = "a clickhouse sink keeps events as JSON (json, ecs or ocsf), not human";
            return Err(at(&Spanned::new(format_at, ()), "format", msg));
        }
        limits.send_bytes = BATCH_BYTES;
        batching((&self.batch_size, &self.batch_wait), BATCH_WAIT, limits)?;
        Ok(Spec {
            url,
            database: name(self.database, "database", "ssh_trace")?,
            table: name(self.table, "table", "events")?,
            user: self.user.map(Spanned::into_inner),
            password: self.password.map(Spanned::into_inner),
            ca_file: self.ca_file.map(Spanned::into_inner),
            gzip: self.gzip.is_none_or(|g| *g.get_ref()),
            timeout,
        })
    }
}
