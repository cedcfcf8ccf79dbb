//! Idempotent installation of everything the build and tests need on a
//! fresh Debian machine (as root): nightly rust-src, bpf-linker built
//! against nightly's own LLVM, Debian packages, the SSH servers the tests
//! run (OpenSSH 10 unpacked beside the system's, dropbear,
//! systemd-socket-activate), tracefs.
mod openssh10;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

use crate::run_status;

const PACKAGES: &[&str] = &[
    "openssh-server",
    "openssh-client",
    // The end-to-end tests' other servers: dropbear, and sshd -i under
    // systemd-socket-activate (in Debian's systemd package).
    "dropbear-bin",
    "systemd",
    "sudo",
    "iproute2",
    "procps",
    "python3",
    "rsyslog",
    // The HTTPS sink test makes a CA and a certificate.
    "openssl",
    // The ClickHouse sink's tests and benchmark run a private server
    // (18.16); curl runs dist/clickhouse/retention.sh.
    "clickhouse-server",
    "curl",
    // Operators' view tests: a real Prometheus (and promtool), tmux for `top`.
    "prometheus",
    "tmux",
    // Terminal recording: the real asciicast player, and bpftool to see
    // which programs are attached.
    "asciinema",
    "bpftool",
    // The package test: `man` renders the installed pages (systemd, above,
    // also gives it systemd-analyze to verify the installed unit).
    "man-db",
    // X11 forwarding tests: sshd runs xauth for the session's display.
    "xauth",
];

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into())
}

pub fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cargo"))
        .join("bin")
}

/// Where bpf-linker's LLVM symlinks live (its RUNPATH points here).
fn llvm_prefix() -> PathBuf {
    home().join(".cache/ssh-trace/llvm")
}

/// Makes sure child cargo processes find bpf-linker.
pub fn add_tool_paths(cmd: &mut Command) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if !dirs.contains(&cargo_bin()) {
        dirs.push(cargo_bin());
    }
    if let Ok(p) = std::env::join_paths(dirs) {
        cmd.env("PATH", p);
    }
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn run() -> Result<()> {
    rust_src()?;
    bpf_linker()?;
    if is_root() {
        packages()?;
        openssh10::install()?;
        tracefs()?;
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
    } else {
        eprintln!("xtask setup: not root: skipping Debian packages and tracefs (the agent and end-to-end tests need root)");
    }
    Ok(())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn rust_src() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .context("running rustup: is rustup installed?")?;
    let list = String::from_utf8_lossy(&installed.stdout);
    if installed.status.success() && list.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    eprintln!("xtask setup: installing nightly toolchain component rust-src");
    if !installed.status.success() {
        return run_status(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]));
    }
    run_status(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))
}

/// nightly's libLLVM.so.<ver>-rust-...: bpf-linker must link the same LLVM.
fn nightly_llvm() -> Result<(PathBuf, String)> {
    let out = Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .context("rustc +nightly")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let lib = sysroot.join("lib");
    for e in std::fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(ver) = name.strip_prefix("libLLVM.so.") {
            let major = ver.split('.').next().unwrap_or_default().to_owned();
            return Ok((lib.join(&name), major));
        }
    }
    bail!(
        "no libLLVM.so.* in {}: the nightly toolchain is incomplete",
        lib.display()
    )
}

fn bpf_linker() -> Result<()> {
    let bin = cargo_bin().join("bpf-linker");
    let (llvm, major) = nightly_llvm()?;
    let prefix = llvm_prefix();
    let soname_link = prefix
        .join("lib")
        .join(llvm.file_name().unwrap_or_default());
    // Works and was built against this nightly's LLVM: nothing to do.
    if soname_link.exists() && quiet(Command::new(&bin).arg("--version")) {
        return Ok(());
    }
    eprintln!("xtask setup: building bpf-linker against nightly's LLVM {major} (about a minute)");
    let libdir = prefix.join("lib");
    std::fs::create_dir_all(&libdir)?;
    for link in [libdir.join("libLLVM.so"), soname_link] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&llvm, &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    run_status(
        Command::new("cargo")
            .args([
                "+stable",
                "install",
                "--locked",
                "--force",
                "bpf-linker",
                "--no-default-features",
                "--features",
            ])
            .arg(format!("llvm-{major}"))
            .env("LLVM_PREFIX", &prefix),
    )
    .context("building bpf-linker")?;
    if !quiet(Command::new(&bin).arg("--version")) {
        bail!(
            "bpf-linker was built but does not run: check {}",
            prefix.display()
        );
    }
    Ok(())
}

/// Peers that only `cargo xtask bench compare` runs beside ssh-trace.
pub fn bench_packages() -> Result<()> {
    install(&[
        "auditd",
        "bpftrace",
        // Non-SSH workloads of the cost benchmark.
        "iperf3",
        "util-linux",
        "iptables",
        "netcat-openbsd",
    ])
}

fn packages() -> Result<()> {
    install(PACKAGES)
}

pub fn install(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask setup: installing {}", missing.join(" "));
    run_status(Command::new("apt-get").args(["update", "-qq"]))?;
    run_status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn tracefs() -> Result<()> {
    if Path::new("/sys/kernel/tracing/events").exists() {
        return Ok(());
    }
    run_status(Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]))
        .context("mounting tracefs at /sys/kernel/tracing")
}
