//! Userspace half: these records may be copied in and out of maps.
use crate::{
    event::Creds,
    maps::{
        AgentState, BinaryId, CredArgs, Proc, ServerDevs, SessionLoss, SockTuple, TtyConfig,
        TtyState, XferBinary, XferProc,
    },
    offsets::KernelOffsets,
};

// SAFETY: all are #[repr(C)], Copy, and have no implicit padding.
unsafe impl aya::Pod for KernelOffsets {}
unsafe impl aya::Pod for Proc {}
unsafe impl aya::Pod for AgentState {}
unsafe impl aya::Pod for SockTuple {}
unsafe impl aya::Pod for BinaryId {}
unsafe impl aya::Pod for ServerDevs {}
unsafe impl aya::Pod for CredArgs {}
unsafe impl aya::Pod for SessionLoss {}
unsafe impl aya::Pod for Creds {}
unsafe impl aya::Pod for TtyConfig {}
unsafe impl aya::Pod for TtyState {}
unsafe impl aya::Pod for XferProc {}
unsafe impl aya::Pod for XferBinary {}
