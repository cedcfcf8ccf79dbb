//! What moves through a sink's queue: encoded bytes of some events.

/// Encoded bytes of some events, ready for the transport.
#[derive(Debug, Default)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub events: u64,
    /// Bytes this chunk occupies in the spool (0 if it came from memory).
    pub spooled: u64,
}
