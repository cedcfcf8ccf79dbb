//! Types shared by the kernel programs and the agent.
//!
//! Every record is `#[repr(C)]` with explicit padding so both sides agree on
//! the byte layout. An event on the ring buffer is an [`EventHeader`] followed
//! by the kind-specific body (`event = header + data`, as in kunai).
#![no_std]

pub mod event;
pub mod maps;
pub mod offsets;

#[cfg(feature = "user")]
mod user;
