//! Any bytes given to the capture reader: an error or events, never a panic,
//! a hang or unbounded memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ssh_trace::capture::reader::Reader;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = Reader::from_bytes(std::path::Path::new("fuzz"), data.to_vec()) {
        while r.next_event().is_some() {}
        let _ = r.take_warnings();
    }
});
