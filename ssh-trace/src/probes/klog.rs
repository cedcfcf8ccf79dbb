//! Kernel-side diagnostics (`--debug-kernel`): the programs explain their
//! decisions about SSH servers — why an exec was or was not taken for a
//! server, a listener, an inetd-mode session — through aya-log; here they
//! become lines on standard error. Off by default: the programs then skip
//! the log calls at the cost of one load of AYA_LOG_LEVEL.
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use aya::Ebpf;
use aya_log::EbpfLogger;

/// aya-log-common's levels run Error = 1 … Trace = 5; 0 disables them all.
pub const OFF: u8 = 0;
pub const ALL: u8 = 0xff;

struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        eprintln!(
            "ssh-trace: kernel: {}: {}",
            record.level().as_str().to_lowercase(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Starts a thread that prints the programs' log records.
pub fn start(ebpf: &mut Ebpf) -> Result<()> {
    let mut logger = EbpfLogger::init_with_logger(ebpf, Stderr)
        .context("reading the kernel programs' log ring (AYA_LOGS)")?;
    std::thread::Builder::new()
        .name("kernel-log".into())
        .spawn(move || loop {
            let mut pfd = libc::pollfd {
                fd: logger.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 200) };
            logger.flush();
        })
        .context("starting the kernel log thread")?;
    Ok(())
}
