//! Capture files: record events to disk, read them back (docs/capture.md).
pub mod codec;
mod codec_auth;
pub mod file;
pub mod merge;
pub mod reader;
pub mod writer;

#[cfg(test)]
mod tests;
