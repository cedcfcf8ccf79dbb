//! The (user, source IP) pairs seen logging in, kept in a small JSON file so
//! "first login from a new IP" survives agent restarts.
use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
struct File {
    /// "user@ip" strings.
    known_sources: BTreeSet<String>,
}

pub struct KnownSources {
    path: PathBuf,
    file: File,
}

impl KnownSources {
    /// A missing file is an empty set; an unreadable one is an error.
    pub fn load(path: &Path) -> Result<Self> {
        let file = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("alert state {} is not valid", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                File::default()
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Records the pair; true when it was new.
    pub fn insert(&mut self, user: &str, ip: &str) -> bool {
        self.file.known_sources.insert(format!("{user}@{ip}"))
    }

    pub fn len(&self) -> usize {
        self.file.known_sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.known_sources.is_empty()
    }

    /// Written to a temporary file and renamed: a crash leaves the old or new set.
    pub fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(&self.file)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))
    }
}
