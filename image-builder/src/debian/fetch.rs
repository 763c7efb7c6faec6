//! Debian packages as build inputs: from a manifest's requests and the
//! image's lock file to verified `.deb` files in a local cache, and back
//! (`--update-lock`: resolve current candidates, download, hash, pin). The
//! policy lives here; apt itself is behind [`PackageSource`], the `.deb`
//! format in `deb`, the file format in `lock`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::apt::{Dependency, PackageSource};
use crate::digest::sha256_hex;
use crate::lock::{describe, LockedPackage, Metapackage};
use crate::manifest::{PackageRef, Resolve};

/// Environment variable that overrides the `.deb` cache directory.
pub const CACHE_ENV: &str = "HALYARD_DEB_CACHE";

/// Where downloaded `.deb` files are kept: `$HALYARD_DEB_CACHE`, else
/// `~/.cache/halyard/debs`, else `<root>/target/debs`. Shared by every
/// checkout of the user (files are named by version and checked by hash).
pub fn cache_dir(root: &Path) -> PathBuf {
    cache_dir_from(std::env::var_os(CACHE_ENV), std::env::var_os("HOME"), root)
}

fn cache_dir_from(
    env: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
    root: &Path,
) -> PathBuf {
    if let Some(d) = env.filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) => Path::new(&home).join(".cache/halyard/debs"),
        None => root.join("target/debs"),
    }
}

/// A `.deb` on disk that matches its lock entry.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub locked: LockedPackage,
    pub path: PathBuf,
}

impl Fetched {
    pub fn read(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.path).with_context(|| format!("cannot read {}", self.path.display()))
    }
}

/// The cache file name apt would use: `name_version_arch.deb`, `:` → `%3a`.
pub fn deb_file_name(name: &str, version: &str, arch: &str) -> String {
    format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"))
}

/// Check that a downloaded `.deb` is the package that was asked for.
fn check_control(bytes: &[u8], name: &str, version: &str, arch: &str) -> Result<()> {
    let c = crate::deb::control(bytes)?;
    if (
        c.package.as_str(),
        c.version.as_str(),
        c.architecture.as_str(),
    ) != (name, version, arch)
    {
        bail!(
            "the .deb is {}:{}={}, not {name}:{arch}={version}",
            c.package,
            c.architecture,
            c.version
        );
    }
    Ok(())
}

/// Called with the bytes a download has written so far.
pub type OnBytes<'a> = &'a (dyn Fn(u64) + Sync);

/// How often a running download's size is looked at.
const POLL: Duration = Duration::from_millis(100);

/// Run `f` (which writes into `dir`) while telling `on_bytes`, every
/// [`POLL`] and once at the end, how many bytes the files under `dir` hold.
/// apt says nothing we could parse about its progress, but it writes the
/// `.deb` into `dir` as it arrives (a partial file may sit in a
/// subdirectory), so the directory's size is the download's progress.
fn watch_bytes<T>(dir: &Path, on_bytes: OnBytes, f: impl FnOnce() -> T) -> T {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            // Ends when `stop` is dropped, without waiting out a poll.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
                on_bytes(bytes_under(dir));
            }
        });
        let r = f();
        drop(stop);
        on_bytes(bytes_under(dir));
        r
    })
}

/// The total size of the files under `dir` (0 for what cannot be read:
/// files come and go while apt works).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Download `name:arch=version` into `cache` (via a private temporary
/// directory, then an atomic rename) and return its path and SHA-256.
fn download(
    src: &dyn PackageSource,
    cache: &Path,
    name: &str,
    arch: &str,
    version: &str,
    on_bytes: OnBytes,
) -> Result<(PathBuf, String)> {
    std::fs::create_dir_all(cache)
        .with_context(|| format!("cannot create the package cache {}", cache.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .with_context(|| format!("cannot create a directory in {}", cache.display()))?;
    src.prepare(arch, false)?;
    let got = watch_bytes(tmp.path(), on_bytes, || {
        src.download(name, arch, version, tmp.path())
    })?;
    let bytes = std::fs::read(&got).with_context(|| format!("cannot read {}", got.display()))?;
    check_control(&bytes, name, version, arch)
        .with_context(|| format!("downloaded {}", got.display()))?;
    let dest = cache.join(deb_file_name(name, version, arch));
    std::fs::rename(&got, &dest)
        .with_context(|| format!("cannot move {} to {}", got.display(), dest.display()))?;
    Ok((dest, sha256_hex(&bytes)))
}

/// The pinned `.deb` of `pin`: from the cache if its hash matches, else
/// downloaded. A version apt no longer offers, or a hash that differs from
/// the pin, is an error naming the package, the lock file and `refresh`.
pub fn fetch_pinned(
    src: &dyn PackageSource,
    cache: &Path,
    pin: &LockedPackage,
    lock: &Path,
    refresh: &str,
) -> Result<Fetched> {
    match cached(cache, pin) {
        Some(f) => Ok(f),
        None => download_pinned(src, cache, pin, lock, refresh, &|_| {}),
    }
}

/// The cached `.deb` of `pin`, if there is one and its hash matches (a
/// mismatching one is reported and left to be downloaded again).
pub fn cached(cache: &Path, pin: &LockedPackage) -> Option<Fetched> {
    let cached = cache.join(deb_file_name(&pin.name, &pin.version, &pin.arch));
    let bytes = std::fs::read(&cached).ok()?;
    if sha256_hex(&bytes) == pin.sha256 {
        return Some(Fetched {
            locked: pin.clone(),
            path: cached,
        });
    }
    eprintln!(
        "image-builder: cached {} does not match the lock's sha256: downloading it again",
        cached.display()
    );
    None
}

/// Download the pinned `.deb` of `pin` into `cache` (whatever is cached),
/// telling `on_bytes` how far it got; errors as [`fetch_pinned`].
pub fn download_pinned(
    src: &dyn PackageSource,
    cache: &Path,
    pin: &LockedPackage,
    lock: &Path,
    refresh: &str,
    on_bytes: OnBytes,
) -> Result<Fetched> {
    let (path, sha) = download(src, cache, &pin.name, &pin.arch, &pin.version, on_bytes)
        .with_context(|| {
            format!(
                "package {} (pinned in {}) can no longer be downloaded; \
             refresh the pins with `{refresh}`",
                pin.spec(),
                lock.display()
            )
        })?;
    if sha != pin.sha256 {
        let _ = std::fs::remove_file(&path);
        bail!(
            "package {}: the downloaded .deb has sha256 {sha}, but {} pins {}; \
             the archive changed the package under the same version, or the lock was edited. \
             If the new package is trusted, refresh the pins with `{refresh}`",
            pin.spec(),
            lock.display(),
            pin.sha256
        );
    }
    Ok(Fetched {
        locked: pin.clone(),
        path,
    })
}

/// `--update-lock` for one request: the current candidate (for a
/// metapackage, the package it depends on), downloaded and hashed.
pub fn resolve_current(src: &dyn PackageSource, cache: &Path, r: &PackageRef) -> Result<Fetched> {
    src.prepare(&r.arch, false)?;
    let what = describe(r);
    let top = src
        .show(&r.package, &r.arch, None)
        .with_context(|| what.clone())?;
    let top_version = top.get("Version").unwrap_or_default().to_string();
    let (name, version, metapackage) = match r.resolve {
        Resolve::Exact => (r.package.clone(), top_version, None),
        Resolve::Depends => {
            let deps = top.depends();
            let (name, exact) = match deps.as_slice() {
                [Dependency::Package { name, exact }] => (name.clone(), exact.clone()),
                _ => bail!(
                    "{what}: 'resolve: depends' needs a metapackage with exactly one dependency; \
                     version {top_version} depends on {:?}",
                    top.get("Depends").unwrap_or("nothing")
                ),
            };
            let version = match exact {
                Some(v) => v,
                None => src
                    .show(&name, &r.arch, None)
                    .with_context(|| format!("{what}: its dependency {name}"))?
                    .get("Version")
                    .unwrap_or_default()
                    .to_string(),
            };
            let meta = Metapackage {
                name: r.package.clone(),
                version: top_version,
            };
            (name, version, Some(meta))
        }
    };
    if !crate::lock::valid_version(&version) {
        bail!("{what}: apt reports version {version:?}, which is not a Debian version");
    }
    let (path, sha256) =
        download(src, cache, &name, &r.arch, &version, &|_| {}).with_context(|| what.clone())?;
    Ok(Fetched {
        locked: LockedPackage {
            name,
            arch: r.arch.clone(),
            version,
            sha256,
            metapackage,
        },
        path,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::apt::Stanza;
    use crate::deb::testdeb::{deb, Item};

    /// An in-memory archive: (name, arch) → versions with their .deb bytes
    /// and Depends; the last version is the candidate.
    /// (version, Depends field, .deb bytes).
    pub type FakeVersion = (String, String, Vec<u8>);

    #[derive(Default)]
    pub struct FakeArchive {
        pub packages: BTreeMap<(String, String), Vec<FakeVersion>>,
        pub downloads: RefCell<Vec<String>>,
    }

    impl FakeArchive {
        pub fn add(
            &mut self,
            name: &str,
            arch: &str,
            version: &str,
            depends: &str,
            items: &[Item],
        ) {
            let bytes = deb(name, version, arch, "xz", items);
            self.packages
                .entry((name.into(), arch.into()))
                .or_default()
                .push((version.into(), depends.into(), bytes));
        }

        pub fn deb(&self, name: &str, arch: &str, version: &str) -> Vec<u8> {
            self.packages[&(name.to_string(), arch.to_string())]
                .iter()
                .find(|v| v.0 == version)
                .unwrap()
                .2
                .clone()
        }
    }

    impl PackageSource for FakeArchive {
        fn prepare(&self, _arch: &str, _refresh: bool) -> Result<()> {
            Ok(())
        }
        fn show(&self, name: &str, arch: &str, version: Option<&str>) -> Result<Stanza> {
            let versions = self
                .packages
                .get(&(name.into(), arch.into()))
                .with_context(|| format!("no {name}:{arch}"))?;
            let v = match version {
                Some(want) => versions
                    .iter()
                    .find(|v| v.0 == want)
                    .context("no version")?,
                None => versions.last().unwrap(),
            };
            Ok(Stanza::parse(&format!(
                "Package: {name}\nVersion: {}\nDepends: {}\nSize: {}\n",
                v.0,
                v.1,
                v.2.len()
            )))
        }
        fn download(&self, name: &str, arch: &str, version: &str, dir: &Path) -> Result<PathBuf> {
            let spec = format!("{name}:{arch}={version}");
            self.downloads.borrow_mut().push(spec.clone());
            let versions = self.packages.get(&(name.into(), arch.into()));
            let Some(v) = versions.and_then(|vs| vs.iter().find(|v| v.0 == version)) else {
                bail!("E: Version '{version}' for '{name}' was not found");
            };
            let p = dir.join(deb_file_name(name, version, arch));
            std::fs::write(&p, &v.2)?;
            Ok(p)
        }
    }

    pub fn archive() -> FakeArchive {
        let mut a = FakeArchive::default();
        let bb = [
            Item::Dir("./bin/"),
            Item::File("./bin/busybox", 0o755, b"\0sh\0cat\0"),
        ];
        a.add("busybox-static", "arm64", "1:1.35.0-4", "", &bb);
        a.add("busybox-static", "arm64", "1:1.35.0-5", "", &bb);
        a.add(
            "linux-image-arm64",
            "arm64",
            "6.1.158-1",
            "linux-image-6.1.0-41-arm64 (= 6.1.158-1)",
            &[],
        );
        a.add(
            "linux-image-6.1.0-41-arm64",
            "arm64",
            "6.1.158-1",
            "kmod",
            &[Item::File("./boot/vmlinuz-6.1.0-41-arm64", 0o644, b"K")],
        );
        a.add("two-deps", "arm64", "1", "a, b", &[]);
        a
    }

    fn req(name: &str, resolve: Resolve) -> PackageRef {
        PackageRef {
            package: name.into(),
            arch: "arm64".into(),
            resolve,
        }
    }

    #[test]
    fn resolves_candidates_and_metapackages() {
        let a = archive();
        let cache = tempfile::tempdir().unwrap();
        let f = resolve_current(&a, cache.path(), &req("busybox-static", Resolve::Exact)).unwrap();
        assert_eq!(f.locked.version, "1:1.35.0-5");
        assert_eq!(
            f.locked.sha256,
            sha256_hex(&a.deb("busybox-static", "arm64", "1:1.35.0-5"))
        );
        assert_eq!(
            f.path,
            cache.path().join("busybox-static_1%3a1.35.0-5_arm64.deb")
        );
        assert!(f.path.is_file());
        let k = resolve_current(
            &a,
            cache.path(),
            &req("linux-image-arm64", Resolve::Depends),
        )
        .unwrap();
        assert_eq!(
            (k.locked.name.as_str(), k.locked.version.as_str()),
            ("linux-image-6.1.0-41-arm64", "6.1.158-1")
        );
        assert_eq!(
            k.locked.metapackage.as_ref().unwrap().name,
            "linux-image-arm64"
        );
        let e = resolve_current(&a, cache.path(), &req("two-deps", Resolve::Depends)).unwrap_err();
        assert!(format!("{e:#}").contains("exactly one dependency"), "{e:#}");
        // No temporary directories are left behind.
        let mut names: Vec<_> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "busybox-static_1%3a1.35.0-5_arm64.deb",
                "linux-image-6.1.0-41-arm64_6.1.158-1_arm64.deb"
            ]
        );
    }

    #[test]
    fn pinned_fetch_uses_the_cache_and_checks_hashes() {
        let a = archive();
        let cache = tempfile::tempdir().unwrap();
        let lock = Path::new("manifests/images/x.lock.yaml");
        let fix = "image-builder --board b --image x --update-lock";
        let mut pin = LockedPackage {
            name: "busybox-static".into(),
            arch: "arm64".into(),
            version: "1:1.35.0-4".into(),
            sha256: sha256_hex(&a.deb("busybox-static", "arm64", "1:1.35.0-4")),
            metapackage: None,
        };
        // The older, pinned version, not the candidate.
        let f = fetch_pinned(&a, cache.path(), &pin, lock, fix).unwrap();
        assert_eq!(
            f.read().unwrap(),
            a.deb("busybox-static", "arm64", "1:1.35.0-4")
        );
        // Second time: from the cache, no download.
        fetch_pinned(&a, cache.path(), &pin, lock, fix).unwrap();
        assert_eq!(a.downloads.borrow().len(), 1);
        // A corrupted cache file is downloaded again.
        std::fs::write(&f.path, b"junk").unwrap();
        fetch_pinned(&a, cache.path(), &pin, lock, fix).unwrap();
        assert_eq!(a.downloads.borrow().len(), 2);

        // A hash mismatch after download: an error that names the package and the fix.
        pin.sha256 = "00".repeat(32);
        let e = format!(
            "{:#}",
            fetch_pinned(&a, cache.path(), &pin, lock, fix).unwrap_err()
        );
        assert!(
            e.contains("package busybox-static:arm64=1:1.35.0-4: the downloaded .deb has sha256")
                && e.contains("but manifests/images/x.lock.yaml pins 0000")
                && e.contains(fix),
            "{e}"
        );
        assert!(!f.path.exists(), "a mismatching download is not kept");

        // A version the archive no longer has.
        pin.version = "1:1.30.0-1".into();
        let e = format!(
            "{:#}",
            fetch_pinned(&a, cache.path(), &pin, lock, fix).unwrap_err()
        );
        assert!(
            e.contains("package busybox-static:arm64=1:1.30.0-1 (pinned in manifests/images/x.lock.yaml) can no longer be downloaded")
                && e.contains(fix)
                && e.contains("was not found"),
            "{e}"
        );
    }

    #[test]
    fn a_download_that_is_another_package_is_refused() {
        let mut a = archive();
        // The archive serves the wrong bytes for this version.
        let wrong = a.deb("busybox-static", "arm64", "1:1.35.0-5");
        a.packages
            .get_mut(&("busybox-static".into(), "arm64".into()))
            .unwrap()[0]
            .2 = wrong;
        let cache = tempfile::tempdir().unwrap();
        let pin = LockedPackage {
            name: "busybox-static".into(),
            arch: "arm64".into(),
            version: "1:1.35.0-4".into(),
            sha256: "00".repeat(32),
            metapackage: None,
        };
        let e = format!(
            "{:#}",
            fetch_pinned(&a, cache.path(), &pin, Path::new("l"), "fix").unwrap_err()
        );
        assert!(
            e.contains(
                "the .deb is busybox-static:arm64=1:1.35.0-5, not busybox-static:arm64=1:1.35.0-4"
            ),
            "{e}"
        );
    }

    #[test]
    fn bytes_under_counts_partial_files_too() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(bytes_under(d.path()), 0);
        std::fs::write(d.path().join("a.deb"), [0u8; 100]).unwrap();
        std::fs::create_dir(d.path().join("partial")).unwrap();
        std::fs::write(d.path().join("partial/b.deb"), [0u8; 23]).unwrap();
        assert_eq!(bytes_under(d.path()), 123);
        assert_eq!(bytes_under(&d.path().join("gone")), 0);
    }

    #[test]
    fn watching_a_growing_download() {
        let d = tempfile::tempdir().unwrap();
        let seen = std::sync::Mutex::new(Vec::new());
        let on_bytes = |n| seen.lock().unwrap().push(n);
        let got = watch_bytes(d.path(), &on_bytes, || {
            use std::io::Write;
            std::fs::create_dir(d.path().join("partial")).unwrap();
            let part = d.path().join("partial/x.deb");
            let mut f = std::fs::File::create(&part).unwrap();
            for _ in 0..3 {
                f.write_all(&[0u8; 1000]).unwrap();
                f.flush().unwrap();
                std::thread::sleep(POLL * 3);
            }
            std::fs::rename(&part, d.path().join("x.deb")).unwrap();
            "done"
        });
        assert_eq!(got, "done");
        let seen = seen.into_inner().unwrap();
        assert_eq!(
            seen.last(),
            Some(&3000),
            "the last report is the whole file"
        );
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert!(
            seen.iter().any(|&n| n > 0 && n < 3000),
            "progress while it runs: {seen:?}"
        );
    }

    #[test]
    fn a_download_reports_its_bytes() {
        let a = archive();
        let cache = tempfile::tempdir().unwrap();
        let pin = LockedPackage {
            name: "busybox-static".into(),
            arch: "arm64".into(),
            version: "1:1.35.0-4".into(),
            sha256: sha256_hex(&a.deb("busybox-static", "arm64", "1:1.35.0-4")),
            metapackage: None,
        };
        assert!(cached(cache.path(), &pin).is_none());
        let last = std::sync::atomic::AtomicU64::new(0);
        let on_bytes = |n| last.store(n, std::sync::atomic::Ordering::Relaxed);
        let f = download_pinned(&a, cache.path(), &pin, Path::new("l"), "fix", &on_bytes).unwrap();
        let size = std::fs::metadata(&f.path).unwrap().len();
        assert_eq!(last.into_inner(), size);
        assert_eq!(cached(cache.path(), &pin).unwrap().path, f.path);
    }

    #[test]
    fn cache_dir_prefers_the_env_then_home() {
        let root = Path::new("/r");
        let d = |env: Option<&str>, home: Option<&str>| {
            cache_dir_from(env.map(Into::into), home.map(Into::into), root)
        };
        assert_eq!(d(Some("/c"), Some("/h")), Path::new("/c"));
        assert_eq!(d(Some(""), Some("/h")), Path::new("/h/.cache/halyard/debs"));
        assert_eq!(d(None, None), Path::new("/r/target/debs"));
        assert_eq!(d(None, Some("")), Path::new("/r/target/debs"));
    }
}
