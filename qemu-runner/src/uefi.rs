//! UEFI boots: the board's UEFI firmware (AAVMF on qemu-virt) with Secure
//! Boot enforced and our keys enrolled, starting the image's EFI
//! application view from an EFI system partition.
//!
//! Per run, in the run's directory (nothing binary is committed):
//! - `vars.fd`: the board's variable store template with PK, KEK and db
//!   replaced by the certificates of the Secure Boot key set (the set
//!   image-builder signs with: `$HALYARD_SECUREBOOT_KEYS` or the development
//!   set), dbx cleared and Secure Boot switched on, by virt-fw-vars
//!   (virt-firmware, PyPI; `scripts/setup` installs it into a venv). The
//!   firmware writes to it, so every run gets its own.
//! - `esp.img`: a FAT file system (mkfs.vfat, no partition table) holding
//!   the application at the removable-media path (mcopy).
//!
//! Missing tools are errors that say how to install them, never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use image_builder::manifest::UefiSettings;
use image_builder::secureboot::{require_tool, SecureBootKeys, OWNER_GUID};
use serde::Deserialize;

/// Environment variable naming the virt-fw-vars program.
pub const VIRT_FW_VARS_ENV: &str = "HALYARD_VIRT_FW_VARS";
/// Where `scripts/setup` installs virt-firmware (under `$HOME`).
pub const VENV_DIR: &str = ".cache/halyard/virt-firmware";

/// Which file of a built image a UEFI case boots.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UefiImage {
    /// `boot.efi`: signed with the key set's db key.
    Signed,
    /// `boot.img`: the same application, unsigned.
    Unsigned,
}

/// A case's `uefi:` field.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UefiBoot {
    pub image: UefiImage,
    /// Test the EFI entry's relocation: before booting, the PE ImageBase
    /// is set to this address and the image signed again (key set as
    /// image-builder's), so the firmware loads it there and the entry must
    /// copy it to its link address. `signed` images only.
    #[serde(default)]
    pub image_base: Option<u64>,
}

/// `boot.img` with its PE ImageBase moved to `base`, signed like
/// `boot.efi`, written to `dir/relocated.efi`.
pub fn relocated_app(boot_img: &Path, base: u64, dir: &Path) -> Result<PathBuf> {
    let mut bytes =
        std::fs::read(boot_img).with_context(|| format!("cannot read {}", boot_img.display()))?;
    image_builder::pe::set_image_base(&mut bytes, base)?;
    let keys = SecureBootKeys::load(None)?;
    let signed = image_builder::secureboot::sign(&bytes, &keys, 0)?;
    let out = dir.join("relocated.efi");
    std::fs::write(&out, signed).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(out)
}

impl UefiImage {
    /// The file to boot, next to the built `boot.img`.
    pub fn path(self, boot_img: &Path) -> PathBuf {
        match self {
            UefiImage::Signed => boot_img.with_file_name("boot.efi"),
            UefiImage::Unsigned => boot_img.to_path_buf(),
        }
    }
}

/// The disks of one UEFI run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UefiDisks {
    pub vars: PathBuf,
    pub esp: PathBuf,
}

/// The virt-fw-vars program: `$HALYARD_VIRT_FW_VARS`, else the venv
/// `scripts/setup` makes, else `PATH`.
pub fn virt_fw_vars() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(VIRT_FW_VARS_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{VIRT_FW_VARS_ENV}={} does not exist", p.display());
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(VENV_DIR).join("bin/virt-fw-vars");
        if p.is_file() {
            return Ok(p);
        }
    }
    require_tool("virt-fw-vars", "none: PyPI virt-firmware, which scripts/setup installs into ~/.cache/halyard/virt-firmware")
}

/// Run a tool; its stderr is the error if it fails.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The virt-fw-vars arguments that enroll `keys` and enforce Secure Boot.
pub fn enroll_args(template: &Path, keys: &SecureBootKeys, out: &Path) -> Vec<String> {
    let p = |name: &str| keys.file(name).display().to_string();
    let mut v: Vec<String> = vec!["-i".into(), template.display().to_string()];
    v.extend(["-o".into(), out.display().to_string()]);
    for var in ["PK", "KEK", "db", "dbx"] {
        v.extend(["-d".into(), var.into()]);
    }
    v.extend(["--set-pk".into(), OWNER_GUID.into(), p("PK.crt")]);
    v.extend(["--add-kek".into(), OWNER_GUID.into(), p("KEK.crt")]);
    v.extend(["--add-db".into(), OWNER_GUID.into(), p("db.crt")]);
    v.push("--secure-boot".into());
    v
}

/// Make `dir/vars.fd` and `dir/esp.img` for booting `app`.
pub fn prepare(settings: &UefiSettings, app: &Path, dir: &Path) -> Result<UefiDisks> {
    for (what, p) in [
        ("firmware code", &settings.code),
        ("variable store template", &settings.vars_template),
    ] {
        if !p.is_file() {
            bail!(
                "UEFI {what} {} not found: install it with scripts/setup (Debian package qemu-efi-aarch64)",
                p.display()
            );
        }
    }
    if !app.is_file() {
        bail!(
            "{} not found (image-builder writes boot.efi for boards with UEFI settings)",
            app.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keys = SecureBootKeys::load(None)?;
    let vars = dir.join("vars.fd");
    let tool = virt_fw_vars()?;
    run(
        Command::new(&tool).args(enroll_args(&settings.vars_template, &keys, &vars)),
        "virt-fw-vars (enrolling our Secure Boot keys)",
    )?;

    let esp = dir.join("esp.img");
    let _ = std::fs::remove_file(&esp);
    let app_kib = std::fs::metadata(app)
        .with_context(|| format!("cannot read {}", app.display()))?
        .len()
        .div_ceil(1024);
    // Room for the file and the FAT: 4 MiB plus 1/16 more than the file.
    let kib = 4096 + app_kib + app_kib / 16;
    run(
        Command::new(require_tool("mkfs.vfat", "dosfstools")?)
            .args(["-C", "-i", "48414c59", "-n", "HALYARD"])
            .arg(&esp)
            .arg(kib.to_string()),
        "mkfs.vfat (the EFI system partition)",
    )?;
    let image_arg = format!("{}", esp.display());
    let mut dirs = Vec::new();
    let parts: Vec<&str> = settings.boot_path.split('/').collect();
    for i in 1..parts.len() {
        dirs.push(format!("::/{}", parts[..i].join("/")));
    }
    let mtools = |tool: &str| -> Result<Command> {
        let mut c = Command::new(require_tool(tool, "mtools")?);
        c.env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&image_arg);
        Ok(c)
    };
    if !dirs.is_empty() {
        run(mtools("mmd")?.args(&dirs), "mmd (ESP directories)")?;
    }
    run(
        mtools("mcopy")?
            .arg(app)
            .arg(format!("::/{}", settings.boot_path)),
        "mcopy (the EFI application onto the ESP)",
    )?;
    Ok(UefiDisks { vars, esp })
}

/// QEMU options that boot through the firmware from `disks` (no network:
/// the firmware would wait for PXE).
pub fn boot_args(settings: &UefiSettings, disks: &UefiDisks) -> Vec<String> {
    let drive = |spec: String| ["-drive".to_string(), spec];
    let mut v = Vec::new();
    v.extend(drive(format!(
        "if=pflash,format=raw,readonly=on,file={}",
        settings.code.display()
    )));
    v.extend(drive(format!(
        "if=pflash,format=raw,file={}",
        disks.vars.display()
    )));
    v.extend(drive(format!(
        "if=virtio,format=raw,readonly=on,file={}",
        disks.esp.display()
    )));
    v.extend(["-nic".to_string(), "none".to_string()]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> UefiSettings {
        UefiSettings {
            code: "/fw/CODE.fd".into(),
            vars_template: "/fw/VARS.fd".into(),
            machine: "virt,acpi=off".into(),
            boot_path: "EFI/BOOT/BOOTAA64.EFI".into(),
        }
    }

    #[test]
    fn boot_args_attach_code_vars_and_esp() {
        let d = UefiDisks {
            vars: "/r/vars.fd".into(),
            esp: "/r/esp.img".into(),
        };
        assert_eq!(
            crate::qemu::shell_line(&boot_args(&settings(), &d)),
            "-drive if=pflash,format=raw,readonly=on,file=/fw/CODE.fd \
             -drive if=pflash,format=raw,file=/r/vars.fd \
             -drive if=virtio,format=raw,readonly=on,file=/r/esp.img -nic none"
        );
    }

    #[test]
    fn enrollment_replaces_every_key_and_enforces() {
        let keys = SecureBootKeys::load(None).unwrap();
        let v = enroll_args(Path::new("/t.fd"), &keys, Path::new("/o.fd"));
        let line = v.join(" ");
        assert!(line.starts_with("-i /t.fd -o /o.fd -d PK -d KEK -d db -d dbx --set-pk "));
        assert!(line.ends_with("db.crt --secure-boot"), "{line}");
        assert_eq!(v.iter().filter(|a| *a == OWNER_GUID).count(), 3);
    }

    #[test]
    fn signed_and_unsigned_files() {
        let img = Path::new("/o/images/selftest/boot.img");
        assert_eq!(
            UefiImage::Signed.path(img),
            Path::new("/o/images/selftest/boot.efi")
        );
        assert_eq!(UefiImage::Unsigned.path(img), img);
    }

    #[test]
    fn missing_firmware_is_an_error_naming_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let e = prepare(&settings(), Path::new("/nonexistent"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("qemu-efi-aarch64"), "{e}");
    }
}
