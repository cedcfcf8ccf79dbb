//! Kernel programs of ssh-trace. Only activity of SSH server listeners and
//! of session processes (the per-connection server process and all its
//! descendants) leaves the kernel; every other process costs a map lookup.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]

#[cfg(target_arch = "bpf")]
mod auth;
#[cfg(target_arch = "bpf")]
mod bytes;
#[cfg(target_arch = "bpf")]
mod connect;
#[cfg(target_arch = "bpf")]
mod creds;
#[cfg(target_arch = "bpf")]
mod forward;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod process;
#[cfg(target_arch = "bpf")]
mod servers;
#[cfg(target_arch = "bpf")]
mod task;
#[cfg(target_arch = "bpf")]
mod tp;
#[cfg(target_arch = "bpf")]
mod tty;
#[cfg(target_arch = "bpf")]
mod xfer;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {}
