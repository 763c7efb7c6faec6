//! The reproducibility check: build the same sources from two copies of the
//! tree at different paths (one long and nested) and compare the outputs
//! byte for byte. A difference means some path, time or other host detail
//! leaks into the image.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::build::{build_with, BuildOptions, Overrides};
use crate::digest::sha256_hex;
use crate::manifest::{image_manifest_path, load_board, load_image};
use crate::record::{source_date_epoch, EpochSource};
use crate::workspace::Workspace;

/// What to check.
#[derive(Clone, Debug)]
pub struct ReproOptions {
    pub workspace: Workspace,
    pub board: String,
    /// Image manifest, as for [`BuildOptions::image`].
    pub image: Option<PathBuf>,
}

/// One output file compared between the two builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    pub name: String,
    pub sha256: [String; 2],
    /// First offset at which the two differ (`None`: identical).
    pub first_difference: Option<u64>,
}

/// The result of [`repro`].
#[derive(Clone, Debug)]
pub struct ReproReport {
    /// Where the two copies were (removed by now).
    pub roots: [PathBuf; 2],
    pub files: Vec<Comparison>,
}

impl ReproReport {
    pub fn identical(&self) -> bool {
        self.files.iter().all(|c| c.first_difference.is_none())
    }

    /// Human-readable report, one line per copy and per file.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (label, root) in ["A", "B"].iter().zip(&self.roots) {
            let len = root.as_os_str().len();
            s += &format!("tree {label}: {} ({len} chars)\n", root.display());
        }
        for c in &self.files {
            let verdict = match c.first_difference {
                None => "OK".to_string(),
                Some(off) => format!("DIFFER (first difference at offset {off:#x})"),
            };
            s += &format!(
                "{}: {verdict}\n  A {}\n  B {}\n",
                c.name, c.sha256[0], c.sha256[1]
            );
        }
        s
    }
}

/// First offset where `a` and `b` differ, if any (a length difference counts).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<u64> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i as u64),
        None if a.len() != b.len() => Some(a.len().min(b.len()) as u64),
        None => None,
    }
}

/// Removes a directory tree when dropped.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Minimum length of the second copy's root path.
const LONG_PATH: usize = 100;

/// The source files of the tree: tracked and untracked-but-not-ignored, so
/// uncommitted work counts. Build outputs are never sources.
fn source_files(root: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "-co", "--exclude-standard"])
        .current_dir(root)
        .output()
        .context("cannot run git (the reproducibility check lists sources with git ls-files)")?;
    if !out.status.success() {
        bail!(
            "git ls-files failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let mut files: Vec<PathBuf> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| !p.starts_with("target") && !p.starts_with("out"))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Copy `files` (relative to `from`) into `to`. Files deleted from the work
/// tree but still in the index are skipped, as a build would not see them.
fn copy_tree(from: &Path, to: &Path, files: &[PathBuf]) -> Result<()> {
    for rel in files {
        let src = from.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&src) else {
            continue;
        };
        let dst = to.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        #[cfg(unix)]
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src)?;
            std::os::unix::fs::symlink(&target, &dst)
                .with_context(|| format!("cannot link {}", dst.display()))?;
            continue;
        }
        if meta.is_file() || meta.file_type().is_symlink() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// The two copy roots under `base`: a short one and a long, nested one.
fn copy_roots(base: &Path) -> [PathBuf; 2] {
    let a = base.join("a");
    let mut b = base.join("b-a-rather-long-directory-name-so-that-paths-differ-in-length");
    while b.as_os_str().len() <= LONG_PATH {
        b.push("nested-deeper");
    }
    [a, b.join("halyard")]
}

/// Build the image twice from copies of the tree and compare the outputs.
pub fn repro(opts: &ReproOptions) -> Result<ReproReport> {
    let root = opts.workspace.root.as_path();
    // Catch bad arguments before copying anything.
    let board = load_board(&opts.workspace, &opts.board)?;
    let image_path = image_manifest_path(&opts.workspace, opts.image.as_deref(), &board);
    load_image(&root.join(image_path), &board)?;
    let files = source_files(root)?;
    // One timestamp for both: the copies have no .git to ask.
    let (epoch, src) = source_date_epoch(root)?;
    if src == EpochSource::Missing {
        eprintln!("image-builder: WARNING: no SOURCE_DATE_EPOCH and no git commit: using 0");
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let base = std::env::temp_dir().join(format!("halyard-repro-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let _cleanup = TempTree(base.clone());

    let roots = copy_roots(&base);
    // B is copied from A, so both see the same sources even if the tree is
    // being edited meanwhile.
    copy_tree(root, &roots[0], &files)?;
    copy_tree(&roots[0], &roots[1], &files)?;
    let mut outputs = Vec::new();
    for (label, copy) in ["A", "B"].iter().zip(&roots) {
        // An image manifest inside the tree is taken from the copy.
        let image = opts.image.as_ref().map(|p| match p.strip_prefix(root) {
            Ok(rel) => copy.join(rel),
            Err(_) => p.clone(),
        });
        let build_opts = BuildOptions {
            workspace: Workspace { root: copy.clone() },
            board: opts.board.clone(),
            image,
            out_dir: Some(copy.join("out/repro")),
            target_dir: Some(copy.join("target/image-builder")),
        };
        // Signed as a plain build would be ($HALYARD_SIGNING_KEY or the
        // development key): Ed25519 signatures are deterministic.
        let ov = Overrides {
            source_date_epoch: Some(epoch),
            ..Overrides::default()
        };
        let out = build_with(&build_opts, &ov)
            .with_context(|| format!("build {label} in {}", copy.display()))?;
        let image = std::fs::read(&out.image)?;
        let record = std::fs::read(&out.record)?;
        outputs.push([image, record]);
    }
    let files = ["boot.img", "build.json"]
        .iter()
        .enumerate()
        .map(|(i, name)| Comparison {
            name: name.to_string(),
            sha256: [sha256_hex(&outputs[0][i]), sha256_hex(&outputs[1][i])],
            first_difference: first_difference(&outputs[0][i], &outputs[1][i]),
        })
        .collect();
    Ok(ReproReport { roots, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_finds_offsets() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"abc", b"abcd"), Some(3));
        assert_eq!(first_difference(b"", b"x"), Some(0));
    }

    #[test]
    fn second_root_is_long_and_distinct() {
        let [a, b] = copy_roots(Path::new("/tmp/x"));
        assert!(b.as_os_str().len() > LONG_PATH, "{}", b.display());
        assert_ne!(a.as_os_str().len(), b.as_os_str().len());
        assert!(b.components().count() > a.components().count() + 1);
    }

    #[test]
    fn render_reports_ok_and_differ() {
        let r = ReproReport {
            roots: [PathBuf::from("/t/a"), PathBuf::from("/t/bb")],
            files: vec![
                Comparison {
                    name: "boot.img".into(),
                    sha256: ["11".into(), "11".into()],
                    first_difference: None,
                },
                Comparison {
                    name: "build.json".into(),
                    sha256: ["22".into(), "33".into()],
                    first_difference: Some(0x1f),
                },
            ],
        };
        assert!(!r.identical());
        let s = r.render();
        assert!(s.contains("tree B: /t/bb (5 chars)"), "{s}");
        assert!(s.contains("boot.img: OK\n  A 11\n  B 11\n"), "{s}");
        let differ = "build.json: DIFFER (first difference at offset 0x1f)\n  A 22\n  B 33\n";
        assert!(s.contains(differ), "{s}");
    }

    #[test]
    fn copies_listed_files_only() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("src/deep")).unwrap();
        std::fs::write(from.path().join("src/deep/a.rs"), "a").unwrap();
        std::fs::write(from.path().join("unlisted"), "u").unwrap();
        let files = [PathBuf::from("src/deep/a.rs"), PathBuf::from("deleted.rs")];
        copy_tree(from.path(), to.path(), &files).unwrap();
        assert_eq!(
            std::fs::read(to.path().join("src/deep/a.rs")).unwrap(),
            b"a"
        );
        assert!(!to.path().join("unlisted").exists());
        assert!(!to.path().join("deleted.rs").exists());
    }

    #[test]
    fn lists_sources_with_git() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let git = |args: &[&str]| {
            let o = Command::new("git")
                .args(args)
                .current_dir(root)
                .output()
                .unwrap();
            assert!(o.status.success(), "git {args:?}: {o:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(root.join(".gitignore"), "/ignored\n").unwrap();
        std::fs::write(root.join("tracked"), "t").unwrap();
        git(&["add", "tracked"]);
        std::fs::write(root.join("new"), "n").unwrap();
        std::fs::write(root.join("ignored"), "i").unwrap();
        std::fs::create_dir(root.join("target")).unwrap();
        std::fs::write(root.join("target/x"), "x").unwrap();
        let files = source_files(root).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".gitignore", "new", "tracked"]);
    }
}
