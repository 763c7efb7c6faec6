//! An image's Debian packages as a whole: a build fetches exactly what the
//! lock file pins (and refuses to run without one), `--update-lock`
//! re-resolves every package to the current candidate and rewrites the
//! lock. Both name the one command that fixes a stale lock.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::apt::PackageSource;
use crate::bail_input;
use crate::build::{resolve, BuildOptions};
use crate::debian::{cache_dir, cached, download_pinned, resolve_current};
use crate::exit::OrBadInput;
use crate::initramfs::Fetches;
use crate::lock::{describe, lock_path, LockFile, LockedPackage};
use crate::manifest::{image_manifest_path, load_board, load_image, ImageManifest, PackageRef};
use crate::progress;
use crate::record::{display_path, read_file_record, FileRecord};

/// `path` for messages: relative to the tree if inside it, else as given.
fn shown(root: &Path, path: &Path) -> PathBuf {
    match display_path(root, path) {
        p if p.starts_with("<outside-workspace>") => path.to_path_buf(),
        p => PathBuf::from(p),
    }
}

/// The command that (re)writes the lock of `manifest` for `board`.
pub fn refresh_command(root: &Path, board: &str, manifest: &Path) -> String {
    format!(
        "image-builder --board {board} --image {} --update-lock",
        shown(root, manifest).display()
    )
}

/// Fetch the packages `image` needs, as pinned by its lock file. Returns
/// them and the lock file's record (`None`: the image uses no packages).
pub(crate) fn fetch_for_build(
    src: &dyn PackageSource,
    cache: &Path,
    root: &Path,
    board: &str,
    manifest: &Path,
    image: &ImageManifest,
) -> Result<(Fetches, Option<FileRecord>)> {
    let owner = format!("image '{}'", image.image);
    let refresh = refresh_command(root, board, manifest);
    fetch_locked(
        src,
        cache,
        root,
        &owner,
        &image.packages(),
        &lock_path(manifest),
        &refresh,
    )
}

/// A board's lock file: pins what its manifest takes from Debian (its DTB).
pub fn board_lock_path(boards_dir: &Path, board: &str) -> PathBuf {
    boards_dir.join(format!("{board}.lock.yaml"))
}

/// Fetch the package the board's DTB comes from, as its board lock file
/// pins it, and take the DTB out: (bytes, `debian:PKG:PATH`, the lock
/// file's record, the package). `None` when the board names no DTB.
pub(crate) fn fetch_board_dtb(
    src: &dyn PackageSource,
    cache: &Path,
    root: &Path,
    boards_dir: &Path,
    board: &crate::manifest::BoardManifest,
) -> Result<Option<BoardDtbInput>> {
    let Some(dtb) = &board.dtb else {
        return Ok(None);
    };
    let owner = format!("board '{}'", board.board);
    let refresh = format!("image-builder --board {} --update-lock", board.board);
    let r = dtb.debian.package_ref();
    let lock = board_lock_path(boards_dir, &board.board);
    let (fetches, record) = fetch_locked(
        src,
        cache,
        root,
        &owner,
        std::slice::from_ref(&r),
        &lock,
        &refresh,
    )?;
    let f = fetches
        .get(&r)
        .with_context(|| format!("internal error: {owner}: DTB package not fetched"))?;
    let pkg = f.locked.spec();
    let (path, bytes) = crate::deb::extract_one(&f.read()?, &dtb.debian.path)
        .with_context(|| format!("{owner}: dtb: package {pkg}"))
        .or_bad_input()?;
    if !bytes.starts_with(&[0xd0, 0x0d, 0xfe, 0xed]) {
        bail_input!("{owner}: dtb: {path} in {pkg} is not a device tree blob");
    }
    let bytes = if dtb.disable.is_empty() {
        bytes
    } else {
        crate::dtb_edit::apply(&bytes, &dtb.disable)
            .with_context(|| format!("{owner}: dtb: disable: {path} in {pkg}"))
            .or_bad_input()?
    };
    Ok(Some(BoardDtbInput {
        bytes,
        disabled: dtb.disable.clone(),
        source: format!("debian:{pkg}:{path}"),
        lock_file: record.context("internal error: a board DTB without its lock file")?,
        package: f.locked.clone(),
    }))
}

/// The board's DTB as fetched for a build.
pub(crate) struct BoardDtbInput {
    pub bytes: Vec<u8>,
    /// The manifest's edits, applied to `bytes`.
    pub disabled: Vec<crate::board_manifest::DtDisable>,
    pub source: String,
    pub lock_file: FileRecord,
    pub package: LockedPackage,
}

/// Fetch `requests`, as pinned by the lock file `path` of `owner` (refreshed
/// with `refresh`). Returns them and the lock file's record (`None`: no
/// requests).
fn fetch_locked(
    src: &dyn PackageSource,
    cache: &Path,
    root: &Path,
    owner: &str,
    requests: &[PackageRef],
    path: &Path,
    refresh: &str,
) -> Result<(Fetches, Option<FileRecord>)> {
    if requests.is_empty() {
        return Ok((Fetches::new(), None));
    }
    let shown = shown(root, path);
    let Some(lock) = LockFile::read(path).or_bad_input()? else {
        let names: Vec<String> = requests.iter().map(describe).collect();
        bail_input!(
            "{owner} uses Debian packages ({}) but has no lock file {}: \
             a build only uses pinned versions; create the lock with `{refresh}` and commit it",
            names.join(", "),
            shown.display()
        );
    };
    let pins = lock.pins(requests, &shown, refresh).or_bad_input()?;
    let mut fetches = Fetches::new();
    let mut missing = Vec::new();
    for (r, pin) in requests.iter().zip(pins) {
        match cached(cache, pin) {
            Some(f) => {
                fetches.insert(r.clone(), f);
            }
            None => missing.push((r, pin)),
        }
    }
    if !missing.is_empty() {
        let pins: Vec<&LockedPackage> = missing.iter().map(|(_, p)| *p).collect();
        let total = download_size(src, &pins)?;
        let bar = progress::Bytes::start(download_label(pins.len(), total), total);
        let mut finished = 0;
        for (r, pin) in missing {
            let on_bytes = |n| bar.set_position(finished + n);
            let f = download_pinned(src, cache, pin, &shown, refresh, &on_bytes)?;
            finished += std::fs::metadata(&f.path).map_or(0, |m| m.len());
            fetches.insert(r.clone(), f);
        }
        bar.done();
    }
    Ok((fetches, Some(read_file_record(root, path)?)))
}

/// The bytes `pins` will download, from the archive's `Size` fields (0 for
/// one the archive does not know: its download fails with a better error).
/// Prepares their architectures first: apt knows nothing of a foreign
/// architecture's packages before.
fn download_size(src: &dyn PackageSource, pins: &[&LockedPackage]) -> Result<u64> {
    let mut size = 0;
    for pin in pins {
        src.prepare(&pin.arch, false)?;
        size += src
            .show(&pin.name, &pin.arch, Some(&pin.version))
            .ok()
            .and_then(|s| s.get("Size")?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(size)
}

/// `downloading 2 Debian packages (57.9 MiB)`; without a size if unknown.
fn download_label(count: usize, bytes: u64) -> String {
    let what = match count {
        1 => "1 Debian package".to_string(),
        n => format!("{n} Debian packages"),
    };
    match bytes {
        0 => format!("downloading {what}"),
        b => format!("downloading {what} ({})", progress::mib(b)),
    }
}

/// What `--update-lock` did.
#[derive(Clone, Debug)]
pub struct LockUpdate {
    pub path: PathBuf,
    /// One line per package: `name:arch version` or `old -> new`.
    pub changes: Vec<String>,
    /// Whether the file was (re)written.
    pub written: bool,
}

/// `image-builder --update-lock`: refresh the package lists, resolve every
/// package the image uses to the current candidate, download and hash it,
/// and write the lock file atomically.
pub fn update_lock(opts: &BuildOptions) -> Result<LockUpdate> {
    let cache = cache_dir(&opts.workspace.root);
    update_lock_with(&crate::apt::Apt::new(), &cache, opts, true)
}

pub(crate) fn update_lock_with(
    src: &dyn PackageSource,
    cache: &Path,
    opts: &BuildOptions,
    refresh_lists: bool,
) -> Result<LockUpdate> {
    let root = opts.workspace.root.as_path();
    let board = load_board(&opts.workspace, &opts.board)?;
    let manifest = resolve(
        root,
        &image_manifest_path(&opts.workspace, opts.image.as_deref(), &board),
    );
    let image = load_image(&manifest, &board)?;
    relock(
        src,
        cache,
        root,
        &image.image,
        &image.packages(),
        &lock_path(&manifest),
        refresh_lists,
    )
}

/// `--update-lock` for the board's own lock file (what its DTB comes
/// from); `None` when the board takes nothing from Debian.
pub fn update_board_lock(opts: &BuildOptions) -> Result<Option<LockUpdate>> {
    let cache = cache_dir(&opts.workspace.root);
    let board = load_board(&opts.workspace, &opts.board)?;
    let Some(dtb) = &board.dtb else {
        return Ok(None);
    };
    let path = board_lock_path(&opts.workspace.boards_dir(), &board.board);
    relock(
        &crate::apt::Apt::new(),
        &cache,
        &opts.workspace.root,
        &board.board,
        &[dtb.debian.package_ref()],
        &path,
        true,
    )
    .map(Some)
}

/// Resolve `requests` to the current candidates and write them to the lock
/// file `path` (named `owner` inside) atomically.
fn relock(
    src: &dyn PackageSource,
    cache: &Path,
    root: &Path,
    owner: &str,
    requests: &[PackageRef],
    path: &Path,
    refresh_lists: bool,
) -> Result<LockUpdate> {
    let path = path.to_path_buf();
    if requests.is_empty() {
        return Ok(LockUpdate {
            path,
            changes: Vec::new(),
            written: false,
        });
    }
    // An unreadable old lock is replaced; it is only used for the report.
    let old = LockFile::read(&path).ok().flatten();
    if refresh_lists {
        let mut archs: Vec<&str> = requests.iter().map(|r| r.arch.as_str()).collect();
        archs.sort_unstable();
        archs.dedup();
        for arch in archs {
            src.prepare(arch, true)?;
        }
    }
    let mut pinned: Vec<LockedPackage> = Vec::new();
    let mut changes = Vec::new();
    for r in requests {
        let f = resolve_current(src, cache, r).with_context(|| {
            format!(
                "resolving {} for {}",
                describe(r),
                shown(root, &path).display()
            )
        })?;
        let before = old
            .as_ref()
            .and_then(|l| l.packages.iter().find(|p| p.answers(r)));
        let now = format!("{}={}", f.locked.name, f.locked.version);
        changes.push(match before {
            Some(b) if b == &f.locked => format!("{}: {now} (unchanged)", describe(r)),
            Some(b) => format!("{}: {}={} -> {now}", describe(r), b.name, b.version),
            None => format!("{}: {now} (new)", describe(r)),
        });
        pinned.push(f.locked);
    }
    LockFile::new(owner, pinned).write(&path)?;
    Ok(LockUpdate {
        path,
        changes,
        written: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::tests::archive;
    use crate::manifest::BoardManifest;
    use crate::workspace::Workspace;

    const MANIFEST: &str = "image: deb\nboards: [qemu-virt]\ndomains:\n\
        - name: dom0\n  id: 0\n  vcpus: 1\n  memory_mib: 64\n\
        \x20 kernel: {debian: {package: linux-image-arm64, arch: arm64, resolve: depends, path: boot/vmlinuz-*}}\n\
        \x20 ramdisk: {initramfs: {busybox: {package: busybox-static, arch: arm64}, applets: [sh], init: init}}\n";

    /// A tree with the real board manifest and the manifest above.
    fn tree() -> (tempfile::TempDir, BuildOptions, BoardManifest) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("manifests/boards")).unwrap();
        std::fs::create_dir_all(root.join("manifests/images")).unwrap();
        let real = crate::test_support::in_tree()
            .boards_dir()
            .join("qemu-virt.yaml");
        std::fs::copy(real, root.join("manifests/boards/qemu-virt.yaml")).unwrap();
        std::fs::write(root.join("manifests/images/deb.yaml"), MANIFEST).unwrap();
        let opts = BuildOptions {
            workspace: Workspace {
                root: root.to_path_buf(),
            },
            board: "qemu-virt".into(),
            image: Some("manifests/images/deb.yaml".into()),
            out_dir: None,
            target_dir: None,
            layout: Default::default(),
        };
        (t, opts, crate::test_support::qemu_virt())
    }

    #[test]
    fn build_without_lock_fails_then_update_lock_pins_and_build_fetches() {
        let (t, opts, board) = tree();
        let root = t.path();
        let manifest = root.join("manifests/images/deb.yaml");
        let image = load_image(&manifest, &board).unwrap();
        let a = archive();
        let cache = root.join("cache");

        let e = fetch_for_build(&a, &cache, root, "qemu-virt", &manifest, &image)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image 'deb' uses Debian packages (busybox-static:arm64, linux-image-arm64:arm64 (resolve: depends))")
                && e.contains("no lock file manifests/images/deb.lock.yaml")
                && e.contains("`image-builder --board qemu-virt --image manifests/images/deb.yaml --update-lock`"),
            "{e}"
        );
        assert!(
            !root.join("manifests/images/deb.lock.yaml").exists(),
            "a build never writes the lock"
        );

        let u = update_lock_with(&a, &cache, &opts, false).unwrap();
        assert!(u.written);
        assert_eq!(
            u.changes,
            [
                "busybox-static:arm64: busybox-static=1:1.35.0-5 (new)",
                "linux-image-arm64:arm64 (resolve: depends): linux-image-6.1.0-41-arm64=6.1.158-1 (new)"
            ]
        );
        let lock = LockFile::read(&u.path).unwrap().unwrap();
        assert_eq!(lock.image, "deb");
        assert_eq!(lock.packages.len(), 2);

        let (fetches, rec) =
            fetch_for_build(&a, &cache, root, "qemu-virt", &manifest, &image).unwrap();
        assert_eq!(fetches.len(), 2);
        assert_eq!(rec.unwrap().path, "manifests/images/deb.lock.yaml");

        // Without a cache, the pins are downloaded again.
        std::fs::remove_dir_all(&cache).unwrap();
        let (again, _) = fetch_for_build(&a, &cache, root, "qemu-virt", &manifest, &image).unwrap();
        assert_eq!(
            again
                .values()
                .map(|f| f.read().unwrap())
                .collect::<Vec<_>>(),
            fetches
                .values()
                .map(|f| f.read().unwrap())
                .collect::<Vec<_>>()
        );

        // A second update reports no change.
        let u = update_lock_with(&a, &cache, &opts, false).unwrap();
        assert!(
            u.changes.iter().all(|c| c.ends_with("(unchanged)")),
            "{:?}",
            u.changes
        );
    }

    #[test]
    fn download_size_from_the_archive() {
        let a = archive();
        let pin = |name: &str, version: &str| LockedPackage {
            name: name.into(),
            arch: "arm64".into(),
            version: version.into(),
            sha256: String::new(),
            metapackage: None,
        };
        let bb = pin("busybox-static", "1:1.35.0-4");
        let k = pin("linux-image-6.1.0-41-arm64", "6.1.158-1");
        let gone = pin("busybox-static", "0.1");
        let size = |name, version| a.deb(name, "arm64", version).len() as u64;
        assert_eq!(
            download_size(&a, &[&bb, &k, &gone]).unwrap(),
            size("busybox-static", "1:1.35.0-4") + size("linux-image-6.1.0-41-arm64", "6.1.158-1")
        );
    }

    #[test]
    fn download_labels() {
        assert_eq!(
            download_label(2, 60_607_283),
            "downloading 2 Debian packages (57.8 MiB)"
        );
        assert_eq!(download_label(1, 0), "downloading 1 Debian package");
    }
}
