//! Builds the kernel programs (ssh-trace-ebpf) for the bpf target with the
//! nightly toolchain; the object is embedded in the agent binary.
// A binary or test target sees all of its package's dependencies.
#![allow(unused_crate_dependencies)]
use anyhow::{anyhow, Context as _};

fn main() -> anyhow::Result<()> {
    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "ssh-trace-ebpf")
        .ok_or_else(|| anyhow!("ssh-trace-ebpf package not found"))?;
    let root = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    // One clear line instead of a wall of linker output.
    if which_bpf_linker().is_none() {
        return Err(anyhow!(
            "bpf-linker not found on PATH: run `cargo xtask setup` (it builds bpf-linker against nightly's LLVM)"
        ));
    }
    if !nightly_has_rust_src() {
        return Err(anyhow!(
            "the nightly toolchain or its rust-src component is missing: run `cargo xtask setup`"
        ));
    }
    aya_build::build_ebpf(
        [aya_build::Package {
            name: ebpf.name.as_str(),
            root_dir: root.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}

fn nightly_has_rust_src() -> bool {
    std::process::Command::new("rustc")
        .args(["+nightly", "--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let root = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            std::path::Path::new(&root)
                .join("lib/rustlib/src/rust/library/core")
                .is_dir()
        })
        .unwrap_or(false)
}

fn which_bpf_linker() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("bpf-linker"))
        .find(|p| p.is_file())
}
