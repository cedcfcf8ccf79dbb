//! The ClickHouse sink: batched, gzip'd `INSERT … FORMAT JSONEachRow` over
//! the HTTP interface into the shipped events table
//! (dist/clickhouse/schema.sql, docs/fleet.md), each row with a
//! deterministic event id so that a retried insert or a capture replayed
//! twice (`replay --to`) leaves every event once.
mod config;
mod id;
mod row;
#[cfg(test)]
mod tests;
mod transport;

use anyhow::Result;

pub use config::{Config, Spec};
pub use id::event_id;
pub use row::{Rows, COLUMNS};
pub use transport::{error_text, ClickHouseTransport};

use super::Parts;
use crate::format::Formatter;

pub fn build(spec: &Spec, formatter: Formatter) -> Result<Parts> {
    Ok((
        Box::new(Rows::new(formatter)),
        Box::new(ClickHouseTransport::new(spec)?),
    ))
}
