//! Userspace half: these records may be copied in and out of maps.
use crate::{
    event::Creds,
    maps::{BinaryId, CredArgs, SockStats, Tracked},
    offsets::KernelOffsets,
};

// SAFETY: all are #[repr(C)], Copy, and have no implicit padding.
unsafe impl aya::Pod for KernelOffsets {}
unsafe impl aya::Pod for Tracked {}
unsafe impl aya::Pod for SockStats {}
unsafe impl aya::Pod for BinaryId {}
unsafe impl aya::Pod for CredArgs {}
unsafe impl aya::Pod for Creds {}
