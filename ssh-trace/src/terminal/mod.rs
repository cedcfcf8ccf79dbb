//! Recorded terminals, read back: one session's recording from capture
//! files (`recording.rs`), played in a terminal at its pace (`play.rs`),
//! written as asciicast v2 (`asciicast.rs`), and the live screens the
//! operators' view keeps (`screen.rs`). docs/tty.md says what is recorded.
pub mod asciicast;
pub mod cli;
pub mod play;
pub mod recording;
pub mod screen;
