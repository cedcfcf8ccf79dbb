//! OpenSSH 10 from Debian's backports suite, unpacked into a directory of
//! its own for the end-to-end tests: never installed, so the system's sshd
//! (and its apt state) stays exactly as it was.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};
use ssh_trace_tests::servers::{openssh10_dir, OPENSSH10_BINARIES};

use crate::run_status;

const PACKAGES: &[&str] = &["openssh-server", "openssh-client", "openssh-sftp-server"];
const DEB822_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const ONE_LINE_SOURCES: &str = "/etc/apt/sources.list";
/// Written last: its presence means the tree is complete.
const MARKER: &str = ".complete";

pub fn install() -> Result<()> {
    let dest = openssh10_dir();
    if dest.join(MARKER).exists() {
        return Ok(());
    }
    let codename = codename()?;
    let suite = format!("{codename}-backports");
    eprintln!(
        "xtask setup: unpacking OpenSSH from {suite} into {}",
        dest.display()
    );
    // A work directory per process: two setups at once do not collide.
    let work = dest.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let result = fetch_and_unpack(&work, &codename, &suite).and_then(|tree| publish(&tree, &dest));
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn fetch_and_unpack(work: &Path, codename: &str, suite: &str) -> Result<PathBuf> {
    let (debs, tree) = (work.join("debs"), work.join("tree"));
    for d in [&work.join("lists/partial"), &debs, &tree] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let sources = work.join("backports.sources");
    std::fs::write(&sources, backports_sources(codename, suite)?)?;
    run_status(apt(work, &sources).args(["update", "-qq"]))?;
    let wanted: Vec<String> = PACKAGES.iter().map(|p| format!("{p}/{suite}")).collect();
    run_status(
        apt(work, &sources)
            .args(["download", "-qq"])
            .args(&wanted)
            .current_dir(&debs),
    )?;
    let mut versions = String::new();
    for deb in std::fs::read_dir(&debs)? {
        let deb = deb?.path();
        run_status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
        versions.push_str(&format!(
            "{}\n",
            deb.file_name().unwrap_or_default().display()
        ));
    }
    drop_set_id_bits(&tree)?;
    for bin in OPENSSH10_BINARIES {
        if !tree.join(bin).exists() {
            bail!("{bin} is not in the packages downloaded from {suite}");
        }
    }
    std::fs::write(tree.join(MARKER), versions)?;
    Ok(tree)
}

/// The tree is for running servers as root, not a second set of set-user-ID
/// programs (ssh-keysign).
fn drop_set_id_bits(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            drop_set_id_bits(&entry.path())?;
        } else if meta.is_file() && meta.permissions().mode() & 0o6000 != 0 {
            let mode = meta.permissions().mode() & !0o6000;
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// apt-get on the backports entry alone, with lists and caches of its own:
/// an update of only that source in the system's list directory would
/// clean the system's other lists away.
fn apt(work: &Path, sources: &Path) -> Command {
    let mut c = Command::new("apt-get");
    for (key, value) in [
        ("Dir::Etc::sourcelist", sources.display().to_string()),
        ("Dir::Etc::sourceparts", "-".into()),
        (
            "Dir::State::Lists",
            work.join("lists").display().to_string(),
        ),
        ("Dir::Cache::pkgcache", String::new()),
        ("Dir::Cache::srcpkgcache", String::new()),
        // The _apt user cannot enter root's home; the downloads are still
        // verified against the archive key of the machine's own entry.
        ("APT::Sandbox::User", "root".into()),
    ] {
        c.arg("-o").arg(format!("{key}={value}"));
    }
    c
}

/// Moves the finished tree into place; another setup may have won the race.
fn publish(tree: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::rename(tree, dest).is_err() && !dest.join(MARKER).exists() {
        // A stale, incomplete tree from an interrupted run.
        std::fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
        std::fs::rename(tree, dest).with_context(|| format!("moving into {}", dest.display()))?;
    }
    Ok(())
}

fn codename() -> Result<String> {
    let os = std::fs::read_to_string("/etc/os-release").context("reading /etc/os-release")?;
    os.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|c| c.trim_matches('"').to_owned())
        .filter(|c| !c.is_empty())
        .context("/etc/os-release has no VERSION_CODENAME: not a Debian release")
}

/// The machine's own Debian entry for `codename`, pointed at `suite`.
fn backports_sources(codename: &str, suite: &str) -> Result<String> {
    if let Ok(text) = std::fs::read_to_string(DEB822_SOURCES) {
        if let Some(entry) = deb822_entry(&text, codename, suite) {
            return Ok(entry);
        }
    }
    if let Ok(text) = std::fs::read_to_string(ONE_LINE_SOURCES) {
        if let Some(entry) = one_line_entry(&text, codename, suite) {
            return Ok(entry);
        }
    }
    bail!("no apt source for {codename} in {DEB822_SOURCES} or {ONE_LINE_SOURCES} to derive {suite} from")
}

/// The first deb822 stanza whose Suites include `codename`, with
/// `Suites: suite`.
fn deb822_entry(text: &str, codename: &str, suite: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let suites = stanza.lines().find_map(|l| l.strip_prefix("Suites:"))?;
        if !suites.split_whitespace().any(|s| s == codename) {
            return None;
        }
        let lines: Vec<String> = stanza
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.starts_with("Suites:") {
                true => format!("Suites: {suite}"),
                false => l.to_owned(),
            })
            .collect();
        Some(lines.join("\n") + "\n")
    })
}

/// The first `deb URI codename COMPONENTS` line, with `suite`.
fn one_line_entry(text: &str, codename: &str, suite: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        let at = words.iter().position(|w| *w == codename)?;
        (words.first() == Some(&"deb")).then(|| {
            let mut out = words.clone();
            out[at] = suite;
            out.join(" ") + "\n"
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_entry_is_the_release_stanza_with_the_backports_suite() {
        let text = "Types: deb\n# snapshot\nURIs: http://deb.debian.org/debian\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n\
                    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                    Types: deb\nURIs: http://deb.debian.org/debian-security\n\
                    Suites: bookworm-security\nComponents: main\n";
        assert_eq!(
            deb822_entry(text, "bookworm", "bookworm-backports").unwrap(),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
        assert_eq!(deb822_entry(text, "trixie", "trixie-backports"), None);
    }

    #[test]
    fn one_line_entry_keeps_options_and_components() {
        let text = "deb http://security.debian.org/ bookworm-security main\n\
                    deb [arch=amd64] http://deb.debian.org/debian bookworm main contrib\n";
        assert_eq!(
            one_line_entry(text, "bookworm", "bookworm-backports").unwrap(),
            "deb [arch=amd64] http://deb.debian.org/debian bookworm-backports main contrib\n"
        );
    }
}
