//! UEFI Secure Boot: signing the boot image's EFI view (`boot.efi`) with
//! Debian's `sbsign`, and the key set both the builder (db key) and
//! qemu-runner (PK, KEK and db certificates to enroll) use.
//!
//! A key set is a directory with `PK.crt`, `KEK.crt`, `db.crt` and `db.key`
//! (PEM; `scripts/secureboot-keygen DIR` makes one). Which set: the
//! `--secureboot-keys DIR` option, else the directory in
//! [`SECUREBOOT_KEYS_ENV`], else the public development set committed at
//! `keys/dev/secureboot/` (compiled into this binary, so fixture trees
//! without `keys/` build too), with [`DEV_SECUREBOOT_WARNING`] on stderr.
//!
//! Reproducibility: sbsign's PKCS#7 signature carries a signing time (the
//! current time: OpenSSL adds it), so two signings a second apart differ.
//! The builder therefore runs sbsign under `faketime` frozen at
//! `SOURCE_DATE_EPOCH` (UTC): RSA PKCS#1 v1.5 signatures are deterministic,
//! so the same image, key and epoch give the same `boot.efi`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Environment variable naming a Secure Boot key set directory.
pub const SECUREBOOT_KEYS_ENV: &str = "HALYARD_SECUREBOOT_KEYS";
pub const DEV_SECUREBOOT_WARNING: &str =
    "WARNING: Secure Boot signing with the DEVELOPMENT db key (keys/dev/secureboot): not for release";
/// Owner GUID recorded with our enrolled certificates (any GUID will do;
/// this one is Halyard's).
pub const OWNER_GUID: &str = "4e4a8f6c-3d52-4f1b-9a6e-48414c594152";

/// The development key set (public, for development only:
/// keys/dev/secureboot/README.txt).
const DEV_FILES: [(&str, &str); 4] = [
    (
        "PK.crt",
        include_str!("../../../keys/dev/secureboot/PK.crt"),
    ),
    (
        "KEK.crt",
        include_str!("../../../keys/dev/secureboot/KEK.crt"),
    ),
    (
        "db.crt",
        include_str!("../../../keys/dev/secureboot/db.crt"),
    ),
    (
        "db.key",
        include_str!("../../../keys/dev/secureboot/db.key"),
    ),
];

/// A key set on disk (the development set is written to a temporary
/// directory that lives as long as this value).
pub struct SecureBootKeys {
    pub dir: PathBuf,
    pub development: bool,
    _tmp: Option<tempfile::TempDir>,
}

impl SecureBootKeys {
    /// The key set to use: `explicit`, else `$HALYARD_SECUREBOOT_KEYS`,
    /// else the development set. A named set must hold all four files.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let named = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(SECUREBOOT_KEYS_ENV).map(PathBuf::from));
        if let Some(dir) = named {
            for (name, _) in DEV_FILES {
                let p = dir.join(name);
                if !p.is_file() {
                    return Err(crate::exit::bad_input(anyhow::anyhow!(
                        "Secure Boot key set {}: {name} is missing (make a set with scripts/secureboot-keygen DIR)",
                        dir.display()
                    )));
                }
            }
            return Ok(Self {
                dir,
                development: false,
                _tmp: None,
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix("halyard-secureboot-dev-")
            .tempdir()
            .context("cannot create a temporary directory for the development Secure Boot keys")?;
        for (name, text) in DEV_FILES {
            let p = tmp.path().join(name);
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        }
        Ok(Self {
            dir: tmp.path().to_path_buf(),
            development: true,
            _tmp: Some(tmp),
        })
    }

    /// `PK.crt`, `KEK.crt`, `db.crt` or `db.key` of this set.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A host tool the build cannot do without: its path, or an error that says
/// which Debian package has it.
pub fn require_tool(name: &str, package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "'{name}' not found in PATH: install it with scripts/setup (Debian package {package})"
            )
        })
}

/// `SOURCE_DATE_EPOCH` as `YYYY-MM-DD hh:mm:ss` (UTC), faketime's
/// absolute (frozen) time format.
pub fn utc_timestamp(epoch: u64) -> String {
    // ISO 8601 "YYYY-MM-DDThh:mm:ssZ" from the SBOM's date code.
    let iso = crate::sbom::iso8601(epoch);
    iso.trim_end_matches('Z').replacen('T', " ", 1)
}

/// Sign `image` (a PE/COFF EFI application) with the set's db key: the
/// bytes of a signed `boot.efi`. Reproducible for a given `epoch`.
pub fn sign(image: &[u8], keys: &SecureBootKeys, epoch: u64) -> Result<Vec<u8>> {
    let sbsign = require_tool("sbsign", "sbsigntool")?;
    let faketime = require_tool("faketime", "faketime")?;
    let tmp = tempfile::Builder::new()
        .prefix("halyard-sbsign-")
        .tempdir()
        .context("cannot create a temporary directory for sbsign")?;
    let (input, output) = (tmp.path().join("boot.img"), tmp.path().join("boot.efi"));
    std::fs::write(&input, image).with_context(|| format!("cannot write {}", input.display()))?;
    let out = Command::new(&faketime)
        .arg("-f")
        .arg(utc_timestamp(epoch))
        .arg(&sbsign)
        .arg("--key")
        .arg(keys.file("db.key"))
        .arg("--cert")
        .arg(keys.file("db.crt"))
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .env("TZ", "UTC")
        .output()
        .with_context(|| format!("cannot run {}", faketime.display()))?;
    if !out.status.success() {
        bail!(
            "sbsign failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let signed =
        std::fs::read(&output).with_context(|| format!("cannot read {}", output.display()))?;
    if signed.len() <= image.len() {
        bail!("sbsign wrote no signature ({} bytes)", signed.len());
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_faketime_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn development_set_is_complete_and_named_sets_are_checked() {
        let dev = SecureBootKeys::load(None).unwrap();
        if std::env::var_os(SECUREBOOT_KEYS_ENV).is_none() {
            assert!(dev.development);
        }
        for name in ["PK.crt", "KEK.crt", "db.crt", "db.key"] {
            let text = std::fs::read_to_string(dev.file(name)).unwrap();
            assert!(text.starts_with("-----BEGIN"), "{name}");
        }
        let empty = tempfile::tempdir().unwrap();
        let e = SecureBootKeys::load(Some(empty.path())).err().unwrap();
        assert!(e.to_string().contains("PK.crt is missing"), "{e}");
        let named = SecureBootKeys::load(Some(&dev.dir)).unwrap();
        assert!(!named.development);
    }

    #[test]
    fn missing_tools_say_which_package() {
        let e = require_tool("halyard-no-such-tool", "some-package").unwrap_err();
        assert!(e.to_string().contains("some-package"), "{e}");
    }
}
