//! build.json: what went into an image (toolchain, manifests, lock file,
//! ELF files, modules, each with its SHA-256) so a build can be audited and
//! repeated. It must itself be reproducible: fixed key order, no absolute
//! paths, no clock other than SOURCE_DATE_EPOCH.

use std::path::{Component, Path};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::initramfs::InitramfsRecord;
use crate::kernel::Decompressed;
use crate::lock::LockedPackage;

/// Version of the build.json layout.
pub const RECORD_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildRecord {
    pub record_version: u32,
    pub board: String,
    pub image: String,
    pub source_date_epoch: u64,
    pub toolchain: Toolchain,
    pub inputs: Inputs,
    pub modules: Vec<ModuleRecord>,
    pub table_offset: u64,
    pub signing: SigningRecord,
    pub output: FileRecord,
    /// The Secure Boot-signed EFI application, for boards booted by UEFI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<SecureBootRecord>,
    /// The board's upstream DTB written beside the image (board manifest
    /// `dtb`), for boards whose firmware or model makes none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_dtb: Option<BoardDtbRecord>,
    /// The secure-world test firmware written beside the image, for
    /// boards with a `secure_world` (`secure-firmware.bin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_firmware: Option<SecureFirmwareRecord>,
}

/// `secure-firmware.bin`: the ELF it came from and what was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecureFirmwareRecord {
    pub elf: ElfRecord,
    pub flash_base: u64,
    pub output: FileRecord,
}

/// `board.dtb`: where it came from and what was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BoardDtbRecord {
    /// `debian:NAME:ARCH=VERSION:PATH-IN-PACKAGE`.
    pub source: String,
    pub package: LockedPackage,
    /// Nodes disabled because the board's QEMU model lacks the device.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disabled: Vec<crate::board_manifest::DtDisable>,
    pub output: FileRecord,
}

/// How `boot.efi` was signed (sbsign, db key of a Secure Boot key set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecureBootRecord {
    /// The db certificate boot.efi carries (path relative to its key set).
    pub db_certificate: FileRecord,
    /// Signed with the public development set in keys/dev/secureboot.
    pub development_keys: bool,
    pub output: FileRecord,
}

/// Who signed the module table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SigningRecord {
    /// Ed25519 public key, hex (also in the image's signature block).
    pub public_key: String,
    /// Signed with the public development key in keys/dev: not for release.
    pub development_key: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Toolchain {
    pub rustc: String,
    pub cargo: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Inputs {
    pub board_manifest: FileRecord,
    pub image_manifest: FileRecord,
    pub cargo_lock: FileRecord,
    pub hypervisor: ElfRecord,
    /// The image's lock file, when it uses Debian packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_file: Option<FileRecord>,
    /// Every Debian package used (name, arch, version, sha256 of the .deb).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<LockedPackage>,
    /// The board's lock file, when its manifest takes a DTB from Debian.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board_lock_file: Option<FileRecord>,
}

/// A file: path relative to the workspace root (see [`display_path`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// An ELF built from a workspace package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ElfRecord {
    pub package: String,
    pub target: String,
    pub profile: String,
    pub elf_size: u64,
    pub elf_sha256: String,
    /// Size of the flat binary (for the hypervisor: padded to the table).
    pub flat_size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleRecord {
    pub domain: String,
    pub domain_id: u16,
    pub kind: String,
    /// `guest:NAME`, `file:PATH` (PATH as for [`FileRecord`]),
    /// `debian:NAME:ARCH=VERSION:PATH-IN-PACKAGE` or `initramfs:INIT`.
    pub source: String,
    /// For guest modules: the ELF they were converted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elf: Option<ElfRecord>,
    /// Debian packages the module was taken or assembled from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<LockedPackage>,
    /// For a kernel given compressed: what it was before decompression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decompressed_from: Option<Decompressed>,
    /// For an initramfs the builder made: the archive inside the gzip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initramfs: Option<InitramfsRecord>,
    pub offset: u64,
    pub size: u64,
    pub sha256: String,
}

impl BuildRecord {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a build record always serializes");
        v.push(b'\n');
        v
    }
}

/// `path` for the record: relative to `root` with `/` separators, or for a
/// file outside the workspace `<outside-workspace>/<file name>`, so that no
/// machine-specific absolute path ends up in the record.
pub fn display_path(root: &Path, path: &Path) -> String {
    let relative = path
        .strip_prefix(root)
        .ok()
        .filter(|r| r.components().all(|c| matches!(c, Component::Normal(_))));
    match relative {
        Some(r) => r
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        None => format!(
            "<outside-workspace>/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
    }
}

/// Where the build's timestamp came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochSource {
    Env,
    Git,
    /// Neither: 0 is used, and the caller warns loudly.
    Missing,
}

/// SOURCE_DATE_EPOCH: the env var if set, else the last commit's time in
/// `root` (only if `root` itself is a git checkout), else 0.
pub fn source_date_epoch(root: &Path) -> Result<(u64, EpochSource)> {
    epoch_from(std::env::var_os("SOURCE_DATE_EPOCH"), root)
}

fn epoch_from(env: Option<std::ffi::OsString>, root: &Path) -> Result<(u64, EpochSource)> {
    if let Some(v) = env {
        let s = v.to_string_lossy();
        return match s.trim().parse() {
            Ok(n) => Ok((n, EpochSource::Env)),
            Err(_) => bail!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds"),
        };
    }
    // A copy of the tree without .git must not pick up an enclosing repository.
    if root.join(".git").exists() {
        let out = Command::new("git")
            .args(["log", "-1", "--format=%ct"])
            .current_dir(root)
            .output();
        if let Ok(out) = out {
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout);
                if let Ok(n) = text.trim().parse() {
                    return Ok((n, EpochSource::Git));
                }
            }
        }
    }
    Ok((0, EpochSource::Missing))
}

/// A [`FileRecord`] for a file read from disk.
pub fn file_record(root: &Path, path: &Path, bytes: &[u8]) -> FileRecord {
    FileRecord {
        path: display_path(root, path),
        size: bytes.len() as u64,
        sha256: crate::digest::sha256_hex(bytes),
    }
}

/// Read `path` and record it.
pub fn read_file_record(root: &Path, path: &Path) -> Result<FileRecord> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(file_record(root, path, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> FileRecord {
        FileRecord {
            path: path.into(),
            size: 3,
            sha256: "ab".repeat(32),
        }
    }

    fn elf(package: &str) -> ElfRecord {
        ElfRecord {
            package: package.into(),
            target: "aarch64-unknown-none-softfloat".into(),
            profile: "firmware".into(),
            elf_size: 100,
            elf_sha256: "cd".repeat(32),
            flat_size: 0x2000,
        }
    }

    fn sample() -> BuildRecord {
        BuildRecord {
            record_version: RECORD_VERSION,
            board: "qemu-virt".into(),
            image: "selftest".into(),
            source_date_epoch: 1_700_000_000,
            toolchain: Toolchain {
                rustc: "rustc 1.95.0".into(),
                cargo: "cargo 1.95.0".into(),
            },
            inputs: Inputs {
                board_manifest: file("manifests/boards/qemu-virt.yaml"),
                image_manifest: file("manifests/images/selftest.yaml"),
                cargo_lock: file("Cargo.lock"),
                hypervisor: elf("bsp-qemu-virt"),
                lock_file: None,
                packages: Vec::new(),
                board_lock_file: None,
            },
            modules: vec![
                ModuleRecord {
                    domain: "selftest".into(),
                    domain_id: 1,
                    kind: "kernel".into(),
                    source: "guest:aarch64-selftest".into(),
                    elf: Some(elf("aarch64-selftest")),
                    packages: Vec::new(),
                    decompressed_from: None,
                    initramfs: None,
                    offset: 0x3000,
                    size: 10,
                    sha256: "ef".repeat(32),
                },
                ModuleRecord {
                    domain: "selftest".into(),
                    domain_id: 1,
                    kind: "ramdisk".into(),
                    source: "file:initrd.cpio".into(),
                    elf: None,
                    packages: Vec::new(),
                    decompressed_from: None,
                    initramfs: None,
                    offset: 0x4000,
                    size: 3,
                    sha256: "01".repeat(32),
                },
            ],
            table_offset: 0x2000,
            signing: SigningRecord {
                public_key: "ef".repeat(32),
                development_key: true,
            },
            output: file("boot.img"),
            secure_boot: None,
            board_dtb: None,
            secure_firmware: None,
        }
    }

    #[test]
    fn json_is_deterministic_and_ordered() {
        let a = sample().to_json();
        assert_eq!(a, sample().to_json());
        let text = String::from_utf8(a).unwrap();
        assert!(text.ends_with("}\n"));
        // Keys come out in declaration order, not sorted or hashed.
        let order = [
            "\"record_version\"",
            "\"board\"",
            "\"image\"",
            "\"source_date_epoch\"",
            "\"toolchain\"",
            "\"inputs\"",
            "\"modules\"",
            "\"table_offset\"",
            "\"signing\"",
            "\"output\"",
        ];
        let pos: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
        // A file module has no "elf" key; a guest module has one.
        assert_eq!(text.matches("\"elf\"").count(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["modules"][0]["elf"]["package"], "aarch64-selftest");
        assert_eq!(v["inputs"]["cargo_lock"]["path"], "Cargo.lock");
    }

    #[test]
    fn paths_are_relative_to_the_root() {
        let root = Path::new("/home/dev/halyard");
        assert_eq!(
            display_path(root, Path::new("/home/dev/halyard/manifests/images/x.yaml")),
            "manifests/images/x.yaml"
        );
        assert_eq!(
            display_path(root, Path::new("/tmp/elsewhere/k.img")),
            "<outside-workspace>/k.img"
        );
        // `..` cannot escape the root unnoticed.
        assert_eq!(
            display_path(root, Path::new("/home/dev/halyard/../secret/k.img")),
            "<outside-workspace>/k.img"
        );
    }

    #[test]
    fn file_record_hashes_bytes() {
        let r = file_record(Path::new("/r"), Path::new("/r/a/b"), b"abc");
        assert_eq!(r.path, "a/b");
        assert_eq!(r.size, 3);
        assert_eq!(
            r.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn epoch_sources() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            epoch_from(Some("1234".into()), root).unwrap(),
            (1234, EpochSource::Env)
        );
        let e = epoch_from(Some("yesterday".into()), root).unwrap_err();
        assert!(e.to_string().contains("SOURCE_DATE_EPOCH"), "{e}");
        // Not a checkout: no epoch, even if an enclosing directory were one.
        assert_eq!(epoch_from(None, root).unwrap(), (0, EpochSource::Missing));
        // A checkout: the last commit's committer time.
        let git = |args: &[&str]| {
            let st = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args)
                .current_dir(root)
                .env("GIT_COMMITTER_DATE", "@1234567890 +0000")
                .env("GIT_AUTHOR_DATE", "@1000000000 +0000")
                .output()
                .unwrap();
            assert!(st.status.success(), "git {args:?}: {st:?}");
        };
        git(&["init", "-q"]);
        git(&["commit", "-q", "--allow-empty", "-m", "x"]);
        assert_eq!(
            epoch_from(None, root).unwrap(),
            (1_234_567_890, EpochSource::Git)
        );
    }
}
