//! A view of a directory with its entries in shuffled order, through
//! disorderfs (FUSE), so that a build which depends on the order `readdir`
//! returns shows it. Unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted disorderfs view.
pub(crate) struct ShuffledMount {
    mountpoint: PathBuf,
}

impl ShuffledMount {
    /// Mount `backing` at `mountpoint` (created) with shuffled directory
    /// entries. The error says why not (no disorderfs, no FUSE, ...).
    pub fn mount(backing: &Path, mountpoint: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(mountpoint)
            .map_err(|e| format!("cannot create {}: {e}", mountpoint.display()))?;
        let out = Command::new("disorderfs")
            .args(["--shuffle-dirents=yes", "--reverse-dirents=no", "-q"])
            .arg(backing)
            .arg(mountpoint)
            .output()
            .map_err(|e| format!("cannot run disorderfs ({e}); scripts/setup installs it"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(mountpoint);
            return Err(format!(
                "disorderfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            mountpoint: mountpoint.to_path_buf(),
        })
    }
}

impl Drop for ShuffledMount {
    fn drop(&mut self) {
        let unmount = |lazy: bool| {
            let mut c = Command::new("fusermount");
            c.arg(if lazy { "-uz" } else { "-u" }).arg(&self.mountpoint);
            c.output().is_ok_and(|o| o.status.success())
        };
        if !unmount(false) && !unmount(true) {
            eprintln!(
                "image-builder: WARNING: cannot unmount {} (fusermount -u)",
                self.mountpoint.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_backing_files_and_unmounts() {
        let t = tempfile::tempdir().unwrap();
        let (backing, view) = (t.path().join("b"), t.path().join("v"));
        std::fs::create_dir(&backing).unwrap();
        for i in 0..20 {
            std::fs::write(backing.join(format!("f{i:02}")), [i]).unwrap();
        }
        let m = ShuffledMount::mount(&backing, &view)
            .unwrap_or_else(|e| panic!("disorderfs must work here (scripts/setup): {e}"));
        let mut names: Vec<_> = std::fs::read_dir(&view)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(std::fs::read(view.join("f07")).unwrap(), [7]);
        let listed = names.clone();
        names.sort();
        assert_eq!(names.len(), 20);
        assert_ne!(listed, names, "the order is shuffled");
        drop(m);
        assert_eq!(std::fs::read_dir(&view).unwrap().count(), 0, "unmounted");
    }
}
