//! ssh-trace: kernel programs → ring buffer reader → decode → session model
//! → pipeline (select once) → consumers (operators' view, lines, capture
//! file, agent-mode sinks). The binary (main.rs) only runs the CLI.
// Used by the ssh-trace-gen binary (man pages and completions), not the library.
use clap_complete as _;
use clap_mangen as _;

pub mod agent;
pub mod backfill;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod event;
pub mod filter;
pub mod format;
pub mod host;
pub mod listendiag;
pub mod logfile;
pub mod operators;
pub mod pipeline;
pub mod privileges;
pub mod probes;
pub mod reader;
pub mod replay;
pub mod report;
pub mod rotate;
pub mod session;
pub mod sinks;
pub mod sockdiag;
pub mod spanned;
pub mod terminal;
pub mod text;
pub mod unixdiag;

#[cfg(test)]
mod test_alloc;
