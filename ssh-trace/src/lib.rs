//! ssh-trace: kernel programs → ring buffer reader → decode → session model
//! → formats and sinks. The binary (main.rs) only runs the CLI.
pub mod agent;
pub mod alert;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod event;
pub mod filter;
pub mod format;
pub mod host;
pub mod metrics;
pub mod operators;
pub mod privileges;
pub mod probes;
pub mod reader;
pub mod replay;
pub mod report;
pub mod session;
pub mod sink;
pub mod sockdiag;
pub mod synth;
pub mod text;
pub mod top;
