//! Sessions: the model (kernel events → sessions and their events), the
//! sessions already open at start-up (/proc discovery), and user names.
//!
//! A session starts when an SSH server listener accepts a TCP connection and
//! covers the per-connection server process and all its descendants; it ends
//! when that connection closes. Login is the first permanent switch of a
//! session process to a uid other than the privilege-separation user's.
pub mod auth;
pub mod discover;
pub mod forward;
mod model;
pub mod procfs;
mod transfers;
pub mod tty;
pub mod users;

pub use model::{endpoint, ids, Discovered, Session, SessionTable};
pub use users::NameLookup;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_auth;
