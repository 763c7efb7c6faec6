//! Writing the outputs all-or-nothing: a reader (or qemu-runner) never sees
//! a half-written boot.img, nor a boot.img next to a build.json from another
//! build, and a failed build leaves nothing new behind.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Write `files` (name, contents) into `dir`, creating it if needed. Each
/// file is written to a temporary name in `dir`, synced, then renamed. On
/// any error every file this call created (and any directory it created) is
/// removed again. Returns the final paths in the order given.
pub fn write_all_or_nothing(dir: &Path, files: &[(&str, &[u8])]) -> Result<Vec<PathBuf>> {
    let created_dirs = create_dirs(dir)?;
    let mut temps: Vec<PathBuf> = Vec::new();
    let mut finals: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for (name, bytes) in files {
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            temps.push(tmp.clone());
            let mut f =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
        }
        for ((name, _), tmp) in files.iter().zip(&temps) {
            let dest = dir.join(name);
            fs::rename(tmp, &dest).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), dest.display())
            })?;
            finals.push(dest);
        }
        // Make the renames durable; not all filesystems can sync a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        for p in temps.iter().chain(&finals) {
            let _ = fs::remove_file(p);
        }
        for d in created_dirs.iter().rev() {
            // Only empty directories: someone else may have put files there.
            let _ = fs::remove_dir(d);
        }
        return Err(e);
    }
    Ok(finals)
}

/// Create `dir` and its missing ancestors; return the ones created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect();
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    Ok(missing.into_iter().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_every_file_and_creates_the_directory() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out/qemu-virt/selftest");
        let paths = write_all_or_nothing(&out, &[("a.img", b"AAAA"), ("b.json", b"{}")]).unwrap();
        assert_eq!(paths, [out.join("a.img"), out.join("b.json")]);
        assert_eq!(names(&out), ["a.img", "b.json"]);
        assert_eq!(fs::read(out.join("a.img")).unwrap(), b"AAAA");
        // Replacing existing files works too.
        write_all_or_nothing(&out, &[("a.img", b"new")]).unwrap();
        assert_eq!(fs::read(out.join("a.img")).unwrap(), b"new");
    }

    #[test]
    fn failure_on_the_last_rename_rolls_everything_back() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        fs::create_dir(&out).unwrap();
        // A non-empty directory where the last file goes: its rename fails.
        fs::create_dir_all(out.join("c.json/blocker")).unwrap();
        let e = write_all_or_nothing(
            &out,
            &[("a.img", b"A"), ("b.sha256", b"B"), ("c.json", b"C")],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("cannot rename"), "{e:#}");
        assert_eq!(
            names(&out),
            ["c.json"],
            "only the pre-existing entry remains"
        );
    }

    #[test]
    fn failure_removes_directories_it_created() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("new/deeper");
        // A file name that cannot be created (contains a directory that does not exist).
        let e = write_all_or_nothing(&out, &[("a.img", b"A"), ("missing/b", b"B")]).unwrap_err();
        assert!(format!("{e:#}").contains("cannot create"), "{e:#}");
        assert!(!t.path().join("new").exists());
        assert!(names(t.path()).is_empty());
    }
}
