//! The image lock file (`manifests/images/<image>.lock.yaml`): which exact
//! Debian package versions an image is built from, and the SHA-256 of each
//! `.deb`. A normal build only uses what the lock pins; `--update-lock`
//! re-resolves and rewrites it. Keeping this apart from the manifest keeps
//! manifests readable and makes every version bump a reviewable diff.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::manifest::{valid_arch, valid_package_name, PackageRef, Resolve};

/// Version of the lock file layout.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "\
# Pinned Debian packages of this image: written by
#   image-builder --board <board> --image <manifest> --update-lock
# Do not edit by hand; a build checks every .deb against its sha256.
";

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub lock_version: u32,
    /// The image's name (its manifest's `image` field).
    pub image: String,
    /// Sorted by (request name, arch).
    pub packages: Vec<LockedPackage>,
}

/// One downloaded `.deb`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    /// The package downloaded (for a metapackage: the one it depends on).
    pub name: String,
    pub arch: String,
    pub version: String,
    /// SHA-256 of the `.deb` file.
    pub sha256: String,
    /// Set when the manifest named a metapackage with `resolve: depends`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metapackage: Option<Metapackage>,
}

/// The metapackage a [`LockedPackage`] was resolved from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Metapackage {
    pub name: String,
    pub version: String,
}

impl LockedPackage {
    /// Whether this entry answers the manifest's request `r`.
    pub fn answers(&self, r: &PackageRef) -> bool {
        self.arch == r.arch
            && match (&self.metapackage, r.resolve) {
                (None, Resolve::Exact) => self.name == r.package,
                (Some(m), Resolve::Depends) => m.name == r.package,
                _ => false,
            }
    }

    /// The request this entry answers.
    pub fn request(&self) -> PackageRef {
        match &self.metapackage {
            None => PackageRef {
                package: self.name.clone(),
                arch: self.arch.clone(),
                resolve: Resolve::Exact,
            },
            Some(m) => PackageRef {
                package: m.name.clone(),
                arch: self.arch.clone(),
                resolve: Resolve::Depends,
            },
        }
    }

    /// `name:arch=version` as apt spells it.
    pub fn spec(&self) -> String {
        format!("{}:{}={}", self.name, self.arch, self.version)
    }
}

/// How a request is named in messages: `busybox-static:arm64`, or
/// `linux-image-arm64:arm64 (resolve: depends)`.
pub fn describe(r: &PackageRef) -> String {
    match r.resolve {
        Resolve::Exact => format!("{}:{}", r.package, r.arch),
        Resolve::Depends => format!("{}:{} (resolve: depends)", r.package, r.arch),
    }
}

/// Debian version strings: `[epoch:]upstream[-revision]` from `[A-Za-z0-9.+~:-]`.
pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
}

/// The lock file of the image manifest at `manifest`: same directory, same
/// stem, `.lock.yaml`.
pub fn lock_path(manifest: &Path) -> PathBuf {
    let stem = manifest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    manifest.with_file_name(format!("{stem}.lock.yaml"))
}

impl LockFile {
    pub fn new(image: &str, mut packages: Vec<LockedPackage>) -> Self {
        packages.sort_by_key(|p| {
            let r = p.request();
            (r.package, r.arch, r.resolve)
        });
        Self {
            lock_version: LOCK_VERSION,
            image: image.to_string(),
            packages,
        }
    }

    /// Parse and check a lock file's text; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let lock: LockFile = serde_norway::from_str(text)
            .with_context(|| format!("malformed lock file {}", path.display()))?;
        let ctx = path.display();
        if lock.lock_version != LOCK_VERSION {
            bail!(
                "{ctx}: lock_version {} is not supported (this builder writes {LOCK_VERSION})",
                lock.lock_version
            );
        }
        for p in &lock.packages {
            let names = std::iter::once(&p.name).chain(p.metapackage.as_ref().map(|m| &m.name));
            for n in names {
                if !valid_package_name(n) {
                    bail!("{ctx}: '{n}' is not a Debian package name");
                }
            }
            let versions =
                std::iter::once(&p.version).chain(p.metapackage.as_ref().map(|m| &m.version));
            for v in versions {
                if !valid_version(v) {
                    bail!("{ctx}: package '{}': '{v}' is not a Debian version", p.name);
                }
            }
            if !valid_arch(&p.arch) {
                bail!(
                    "{ctx}: package '{}': '{}' is not a Debian architecture",
                    p.name,
                    p.arch
                );
            }
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{ctx}: package '{}': sha256 must be 64 hex digits", p.name);
            }
        }
        for (i, p) in lock.packages.iter().enumerate() {
            if lock.packages[..i]
                .iter()
                .any(|q| q.request() == p.request())
            {
                bail!("{ctx}: {} is listed twice", describe(&p.request()));
            }
        }
        Ok(lock)
    }

    /// Read the lock file at `path`; `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        match crate::manifest::read_small_text(path, "lock file") {
            Ok(text) => Self::parse(&text?, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read lock file {}", path.display())),
        }
    }

    pub fn to_yaml(&self) -> String {
        let body = serde_norway::to_string(self).expect("a lock file always serializes");
        format!("{HEADER}{body}")
    }

    /// Write to `path` atomically (temporary file in the same directory,
    /// synced, renamed over the old one).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::output::write_all_or_nothing(
            path.parent().unwrap_or(Path::new(".")),
            &[(
                &path.file_name().unwrap_or_default().to_string_lossy(),
                self.to_yaml().as_bytes(),
            )],
        )
        .with_context(|| format!("cannot write lock file {}", path.display()))?;
        Ok(())
    }

    /// The entry for each request, in order. Every request must be pinned
    /// and every entry requested; otherwise an error naming the difference
    /// and `refresh` (the command that fixes it).
    pub fn pins(
        &self,
        requests: &[PackageRef],
        path: &Path,
        refresh: &str,
    ) -> Result<Vec<&LockedPackage>> {
        let missing: Vec<String> = requests
            .iter()
            .filter(|r| !self.packages.iter().any(|p| p.answers(r)))
            .map(describe)
            .collect();
        let extra: Vec<String> = self
            .packages
            .iter()
            .filter(|p| !requests.iter().any(|r| p.answers(r)))
            .map(|p| describe(&p.request()))
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut why = Vec::new();
            if !missing.is_empty() {
                why.push(format!(
                    "the manifest uses {} which it does not pin",
                    missing.join(", ")
                ));
            }
            if !extra.is_empty() {
                why.push(format!(
                    "it pins {} which the manifest does not use",
                    extra.join(", ")
                ));
            }
            bail!(
                "lock file {} is out of date: {}; refresh it with `{refresh}`",
                path.display(),
                why.join("; ")
            );
        }
        Ok(requests
            .iter()
            .map(|r| {
                self.packages
                    .iter()
                    .find(|p| p.answers(r))
                    .expect("checked above")
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busybox() -> LockedPackage {
        LockedPackage {
            name: "busybox-static".into(),
            arch: "arm64".into(),
            version: "1:1.35.0-4+deb12u1+b1".into(),
            sha256: "0123456789".repeat(6) + "abcd",
            metapackage: None,
        }
    }

    fn kernel() -> LockedPackage {
        LockedPackage {
            name: "linux-image-6.1.0-41-arm64".into(),
            arch: "arm64".into(),
            version: "6.1.158-1".into(),
            sha256: "ab".repeat(32),
            metapackage: Some(Metapackage {
                name: "linux-image-arm64".into(),
                version: "6.1.158-1".into(),
            }),
        }
    }

    fn req(name: &str, resolve: Resolve) -> PackageRef {
        PackageRef {
            package: name.into(),
            arch: "arm64".into(),
            resolve,
        }
    }

    #[test]
    fn writes_sorted_and_reads_back() {
        let lock = LockFile::new("linux-dom0", vec![kernel(), busybox()]);
        assert_eq!(lock.packages[0].name, "busybox-static");
        let text = lock.to_yaml();
        assert!(text.starts_with("# Pinned Debian packages"), "{text}");
        // A digits-only hash and an epoch version survive as strings.
        assert!(text.contains("version: 1:1.35.0-4+deb12u1+b1"), "{text}");
        assert_eq!(
            LockFile::parse(&text, Path::new("x.lock.yaml")).unwrap(),
            lock
        );
        // Only the metapackage entry says where it came from.
        assert_eq!(text.matches("metapackage:").count(), 1, "{text}");
        // Written atomically to the named file, replacing the old one.
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("img.lock.yaml");
        std::fs::write(&p, "old").unwrap();
        lock.write(&p).unwrap();
        assert_eq!(LockFile::read(&p).unwrap(), Some(lock));
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["img.lock.yaml"]);
        assert_eq!(
            LockFile::read(&t.path().join("none.lock.yaml")).unwrap(),
            None
        );
    }

    #[test]
    fn lock_path_sits_next_to_the_manifest() {
        assert_eq!(
            lock_path(Path::new("/r/manifests/images/linux-dom0.yaml")),
            Path::new("/r/manifests/images/linux-dom0.lock.yaml")
        );
    }

    #[test]
    fn parse_rejects_bad_entries() {
        let good = LockFile::new("x", vec![busybox()]).to_yaml();
        let bad = |from: &str, to: &str| {
            let text = good.replace(from, to);
            assert_ne!(text, good);
            format!(
                "{:#}",
                LockFile::parse(&text, Path::new("l.yaml")).unwrap_err()
            )
        };
        assert!(bad("lock_version: 1", "lock_version: 7").contains("lock_version 7"));
        assert!(bad("abcd", "abc").contains("64 hex digits"));
        assert!(bad("name: busybox-static", "name: -rf").contains("not a Debian package name"));
        assert!(bad("version: 1:1.35", "version: x1.35").contains("not a Debian version"));
        assert!(bad("version: 1:1.35.0", "version: 1:1.35.0;ls").contains("not a Debian version"));
        assert!(bad("arch: arm64", "arch: ARM").contains("not a Debian architecture"));
        assert!(bad("arch: arm64", "arch: arm64\n  colour: red").contains("colour"));
        let twice = LockFile::new("x", vec![busybox(), busybox()]).to_yaml();
        let e = format!(
            "{:#}",
            LockFile::parse(&twice, Path::new("l.yaml")).unwrap_err()
        );
        assert!(e.contains("busybox-static:arm64 is listed twice"), "{e}");
    }

    #[test]
    fn pins_match_requests_exactly() {
        let lock = LockFile::new("x", vec![busybox(), kernel()]);
        let p = Path::new("m/x.lock.yaml");
        let fix = "image-builder --board b --image m/x.yaml --update-lock";
        let pins = lock
            .pins(
                &[
                    req("linux-image-arm64", Resolve::Depends),
                    req("busybox-static", Resolve::Exact),
                ],
                p,
                fix,
            )
            .unwrap();
        assert_eq!(pins[0].name, "linux-image-6.1.0-41-arm64");
        assert_eq!(pins[1].spec(), "busybox-static:arm64=1:1.35.0-4+deb12u1+b1");

        // A request the lock lacks, and an entry nobody asks for.
        let e = lock
            .pins(
                &[
                    req("busybox-static", Resolve::Exact),
                    req("linux-image-arm64", Resolve::Exact),
                ],
                p,
                fix,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lock file m/x.lock.yaml is out of date")
                && e.contains("uses linux-image-arm64:arm64 which it does not pin")
                && e.contains("pins linux-image-arm64:arm64 (resolve: depends) which the manifest does not use")
                && e.ends_with(&format!("refresh it with `{fix}`")),
            "{e}"
        );
        // Another architecture is another package.
        let mut amd = req("busybox-static", Resolve::Exact);
        amd.arch = "amd64".into();
        let e = LockFile::new("x", vec![busybox()])
            .pins(&[amd], p, fix)
            .unwrap_err()
            .to_string();
        assert!(e.contains("uses busybox-static:amd64"), "{e}");
    }
}
