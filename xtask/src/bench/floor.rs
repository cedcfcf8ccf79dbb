//! The floor of any hook on the process tracepoints: an empty program
//! (`r0 = 0; exit`) attached beside the agent's on sched_process_fork,
//! exec and exit. bpf_stats counts only the program's own run (two clock
//! reads around it), so the empty one's average is what the kernel's
//! dispatch and the accounting cost on this machine: proc_fork minus
//! empty_fork is ssh-trace's own work.
use std::os::fd::{FromRawFd, OwnedFd};

use anyhow::{bail, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
/// `mov64 r0, 0` and `exit`, as (code, regs, off, imm) 8-byte instructions.
const EMPTY: [u64; 2] = [0xb7, 0x95];

/// Empty programs, attached while this is held; their names in bpf_stats.
pub struct Floor {
    pub progs: Vec<(&'static str, u32)>,
    _links: Vec<OwnedFd>,
}

pub const TRACEPOINTS: [(&str, &str); 3] = [
    ("empty_fork", "sched_process_fork"),
    ("empty_exec", "sched_process_exec"),
    ("empty_exit", "sched_process_exit"),
];

impl Floor {
    pub fn attach() -> Result<Self> {
        let (mut progs, mut links) = (Vec::new(), Vec::new());
        for (name, tp) in TRACEPOINTS {
            let prog = load(name)?;
            progs.push((name, prog_id(&prog)?));
            links.push(open(&prog, tp)?);
        }
        Ok(Self {
            progs,
            _links: links,
        })
    }
}

/// bpf(2) with a zero-padded attribute block.
fn bpf(cmd: libc::c_long, attr: &[u64; 16], what: &str) -> Result<OwnedFd> {
    // SAFETY: attr is a valid, zero-padded bpf_attr of the size passed.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_ptr(), 128usize) };
    if fd < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn load(name: &str) -> Result<OwnedFd> {
    static LICENSE: &[u8] = b"GPL\0";
    let mut attr = [0u64; 16];
    // prog_type, insn_cnt; insns; license; log_level, log_size; log_buf;
    // kern_version, prog_flags; prog_name[16] at byte 48.
    attr[0] = BPF_PROG_TYPE_RAW_TRACEPOINT as u64 | (EMPTY.len() as u64) << 32;
    attr[1] = EMPTY.as_ptr() as u64;
    attr[2] = LICENSE.as_ptr() as u64;
    let mut bytes = [0u8; 16];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    attr[6] = u64::from_ne_bytes(bytes[..8].try_into()?);
    attr[7] = u64::from_ne_bytes(bytes[8..].try_into()?);
    bpf(
        BPF_PROG_LOAD,
        &attr,
        "loading an empty raw tracepoint program",
    )
}

fn open(prog: &OwnedFd, tracepoint: &'static str) -> Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let name = std::ffi::CString::new(tracepoint)?;
    let mut attr = [0u64; 16];
    attr[0] = name.as_ptr() as u64;
    attr[1] = prog.as_raw_fd() as u64;
    bpf(BPF_RAW_TRACEPOINT_OPEN, &attr, "attaching an empty program")
}

/// The program's id, from its fdinfo.
fn prog_id(prog: &OwnedFd) -> Result<u32> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fdinfo/{}", prog.as_raw_fd());
    let text = std::fs::read_to_string(&path)?;
    super::bpf_stats::prog_id_in(&text).ok_or_else(|| anyhow::anyhow!("no prog_id in {path}"))
}
