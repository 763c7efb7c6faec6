//! Finding the source tree the builder works on.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::exit::OrBadInput;

/// The Halyard source tree: a directory with `Cargo.toml` and `manifests/`.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    /// Use `explicit` if given, otherwise walk up from the current directory.
    pub fn locate(explicit: Option<&Path>) -> Result<Self> {
        Self::locate_unchecked(explicit).or_bad_input()
    }

    fn locate_unchecked(explicit: Option<&Path>) -> Result<Self> {
        if let Some(dir) = explicit {
            let root = dir
                .canonicalize()
                .with_context(|| format!("workspace {}: cannot open", dir.display()))?;
            if !Self::is_root(&root) {
                bail!(
                    "{} is not a Halyard tree (no Cargo.toml and manifests/boards/)",
                    root.display()
                );
            }
            return Ok(Self { root });
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        for dir in cwd.ancestors() {
            if Self::is_root(dir) {
                return Ok(Self {
                    root: dir.to_path_buf(),
                });
            }
        }
        bail!(
            "not inside a Halyard tree: no ancestor of {} has Cargo.toml and manifests/boards/ (use --workspace)",
            cwd.display()
        )
    }

    fn is_root(dir: &Path) -> bool {
        dir.join("Cargo.toml").is_file() && dir.join("manifests/boards").is_dir()
    }

    pub fn boards_dir(&self) -> PathBuf {
        self.root.join("manifests/boards")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.root.join("manifests/images")
    }
}
