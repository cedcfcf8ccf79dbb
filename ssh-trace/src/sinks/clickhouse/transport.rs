//! Inserts rows over ClickHouse's HTTP interface (`INSERT INTO db.table
//! FORMAT JSONEachRow`, the body gzip'd: 18.16 takes gzip and deflate, not
//! zstd), with the HTTP sink's client (TLS, timeout). Before the first
//! insert, and again after any failure, the table's columns are read from
//! system.columns: a missing one is an error that names it and says how to
//! add it, and the rows wait (memory, then spool) until the table is fixed.
use anyhow::{bail, Result};

use super::{row::COLUMNS, Spec};
use crate::sinks::{http::Client, queue::Transport};

pub struct ClickHouseTransport {
    client: Client,
    /// The server's URL as configured (for queries and messages).
    url: String,
    insert_url: String,
    /// `database.table`.
    table: String,
    database: String,
    table_name: String,
    user: Option<String>,
    password: Option<String>,
    /// The table had every column at the last check.
    checked: bool,
}

/// The message of a ClickHouse error reply: its first line without the
/// exception boilerplate (`Code: N, e.displayText() = DB::Exception: …`).
pub fn error_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    let first = text.lines().next().unwrap_or("").trim();
    let code = first
        .strip_prefix("Code: ")
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .filter(|c| !c.is_empty());
    let msg = first
        .split_once("DB::Exception: ")
        .map_or(first, |(_, m)| m);
    let msg = msg.split(", e.what() =").next().unwrap_or(msg).trim();
    let msg: String = msg.chars().take(300).collect();
    match code {
        Some(c) => format!("{msg} (code {c})"),
        None => msg,
    }
}

impl ClickHouseTransport {
    pub fn new(spec: &Spec) -> Result<Self> {
        let client = Client::new(spec.timeout, spec.ca_file.as_deref(), spec.gzip)?;
        let table = format!("{}.{}", spec.database, spec.table);
        let sep = if spec.url.contains('?') { '&' } else { '?' };
        // Never skip a field the table lacks: that would lose it silently.
        let insert_url = format!(
            "{}{sep}query=INSERT%20INTO%20{table}%20FORMAT%20JSONEachRow&input_format_skip_unknown_fields=0",
            spec.url
        );
        Ok(Self {
            client,
            url: spec.url.clone(),
            insert_url,
            table,
            database: spec.database.clone(),
            table_name: spec.table.clone(),
            user: spec.user.clone(),
            password: spec.password.clone(),
            checked: false,
        })
    }

    fn post(&self, url: &str, body: &[u8]) -> Result<(ureq::http::StatusCode, Vec<u8>)> {
        let mut headers = vec![("Content-Type", "text/plain; charset=utf-8")];
        if let Some(u) = &self.user {
            headers.push(("X-ClickHouse-User", u));
        }
        if let Some(p) = &self.password {
            headers.push(("X-ClickHouse-Key", p));
        }
        let resp = self.client.post(url, &headers, body)?;
        let status = resp.status();
        // Replies are short (errors, or nothing for an insert).
        let reply = resp.into_body().with_config().limit(1 << 20).read_to_vec();
        Ok((status, reply.unwrap_or_default()))
    }

    /// The names of the table's columns (none if it does not exist).
    fn table_columns(&self) -> Result<Vec<String>> {
        let query = format!(
            "SELECT name FROM system.columns WHERE database = '{}' AND table = '{}' FORMAT TabSeparated",
            self.database, self.table_name
        );
        let (status, reply) = self.post(&self.url, query.as_bytes())?;
        if !status.is_success() {
            bail!(
                "ClickHouse at {}: reading the columns of {}: {status}: {}",
                self.url,
                self.table,
                error_text(&reply)
            );
        }
        Ok(String::from_utf8_lossy(&reply)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Every column the rows may hold is in the table, or an error naming
    /// those that are not.
    fn check_columns(&self) -> Result<()> {
        let have = self.table_columns()?;
        if have.is_empty() {
            bail!(
                "ClickHouse at {}: there is no table {}: create it with the shipped schema \
                 (clickhouse-client --multiquery < dist/clickhouse/schema.sql)",
                self.url,
                self.table
            );
        }
        let missing: Vec<&(&str, &str)> = COLUMNS
            .iter()
            .filter(|(n, _)| !have.iter().any(|h| h == n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = missing.iter().map(|(n, t)| format!("{n} ({t})")).collect();
        let adds: Vec<String> = missing
            .iter()
            .map(|(n, t)| format!("ADD COLUMN {n} {t}"))
            .collect();
        bail!(
            "ClickHouse at {}: table {} has no column {}, which the shipped schema has \
             (dist/clickhouse/schema.sql); add it: ALTER TABLE {} {}",
            self.url,
            self.table,
            names.join(", "),
            self.table,
            adds.join(", ")
        )
    }
}

impl Transport for ClickHouseTransport {
    fn send(&mut self, data: &[u8]) -> Result<()> {
        if !self.checked {
            self.check_columns()?;
            self.checked = true;
        }
        let (status, reply) = self.post(&self.insert_url, data)?;
        if !status.is_success() {
            // The table may have changed: check it again before the retry.
            self.checked = false;
            bail!(
                "ClickHouse at {}: INSERT INTO {}: {status}: {}",
                self.url,
                self.table,
                error_text(&reply)
            );
        }
        Ok(())
    }
}
