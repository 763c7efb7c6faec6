//! The build pipeline: manifests → checked inputs → cargo builds → flat
//! binaries → assembled image → outputs and build record. Everything that
//! can be checked without compiling is checked first, so bad input fails fast.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::assemble::{assemble_with_devices, domain_spec, Module};
use crate::cargo::{rustc_program, tool_version, Cargo, PROFILE};
use crate::digest::sha256_hex;
use crate::elf::{elf_to_flat, End, Flat};
use crate::exit::OrBadInput;
use crate::manifest::{image_manifest_path, load_board, load_image, BoardManifest, ImageFormat};
use crate::modules::{build_guests, check_memory, plan_modules, Pending, PlanInputs};
use crate::output::write_all_or_nothing;
use crate::progress;
use crate::record::{
    file_record, read_file_record, source_date_epoch, BuildRecord, ElfRecord, EpochSource, Inputs,
    ModuleRecord, SecureBootRecord, SigningRecord, Toolchain, RECORD_VERSION,
};
use crate::secureboot::{SecureBootKeys, DEV_SECUREBOOT_WARNING};
use crate::signing::{load_signing_key, DEV_KEY_WARNING};
use crate::sniff::{is_arm64_image, ARM64_MAGIC_OFFSET};
use crate::workspace::Workspace;

/// The symbol that marks the end of the hypervisor (4 KiB aligned, after
/// .bss); the module table starts there.
pub const HYP_END_SYMBOL: &str = "__hyp_end";

/// What to build. Relative paths are taken relative to the workspace root.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub workspace: Workspace,
    pub board: String,
    /// Image manifest; default `manifests/images/<board's default_image>.yaml`.
    pub image: Option<PathBuf>,
    /// Output directory; default `<root>/out/<board>/<image name>/`.
    pub out_dir: Option<PathBuf>,
    /// Cargo target directory; default `<root>/target/image-builder`.
    pub target_dir: Option<PathBuf>,
    /// Also write the split layout (see [`crate::split`]) into `split/`.
    pub layout: Layout,
}

/// How the image is handed to the board's loader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// One file, `boot.img` (and `boot.efi` for UEFI boards).
    #[default]
    Single,
    /// `boot.img`, and in `split/` the hypervisor with its signed table,
    /// each module as a file, a U-Boot boot script and `layout.json`.
    Split,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// The boot image (`boot.img`).
    pub image: PathBuf,
    /// The split layout's directory, with `--layout split`.
    pub split: Option<PathBuf>,
    /// Hex SHA-256 of the boot image.
    pub sha256: String,
    /// The build record (`build.json`).
    pub record: PathBuf,
    pub image_size: u64,
    /// Size of the flat hypervisor padded to `__hyp_end` (= the table offset).
    pub hypervisor_size: u64,
    /// With `--release`: the archive and the SBOM.
    pub release: Option<ReleaseOutput>,
    /// The Secure Boot-signed EFI application (`boot.efi`), for UEFI boards.
    pub efi: Option<PathBuf>,
}

/// What `--release` added to a build.
#[derive(Clone, Debug)]
pub struct ReleaseOutput {
    /// `halyard-<board>-<image>.tar.gz`.
    pub archive: PathBuf,
    /// `sbom.spdx.json` (also in the archive).
    pub sbom: PathBuf,
    pub counts: crate::sbom::Counts,
}

/// How to sign, and whether to make a release.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    /// The signing key file (`--key`); `None`: `$HALYARD_SIGNING_KEY` or the
    /// development key (see [`crate::signing`]).
    pub signing_key: Option<PathBuf>,
    /// Also write the SBOM and the release archive (`--release`).
    pub release: bool,
    /// The Secure Boot key set directory (`--secureboot-keys`); `None`:
    /// `$HALYARD_SECUREBOOT_KEYS` or the development set (see
    /// [`crate::secureboot`]).
    pub secureboot_keys: Option<PathBuf>,
}

/// Build the boot image described by `opts`, signed with the key in
/// `$HALYARD_SIGNING_KEY`, else the development key (with a warning).
pub fn build(opts: &BuildOptions) -> Result<BuildOutput> {
    build_with(opts, &Overrides::default())
}

/// [`build`], signed with the key file `key` (`None`: as [`build`]); with
/// `release`, also the SBOM and the release archive (see [`crate::release`]).
pub fn build_signed(opts: &BuildOptions, key: Option<&Path>, release: bool) -> Result<BuildOutput> {
    build_with_keys(opts, key, None, release)
}

/// [`build_signed`], and `boot.efi` signed with the Secure Boot key set in
/// `secureboot_keys` (`None`: `$HALYARD_SECUREBOOT_KEYS` or the
/// development set).
pub fn build_with_keys(
    opts: &BuildOptions,
    key: Option<&Path>,
    secureboot_keys: Option<&Path>,
    release: bool,
) -> Result<BuildOutput> {
    let ov = Overrides {
        signing_key: key.map(Path::to_path_buf),
        secureboot_keys: secureboot_keys.map(Path::to_path_buf),
        release,
    };
    build_with(opts, &ov)
}

pub(crate) fn resolve(root: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

pub(crate) fn build_with(opts: &BuildOptions, ov: &Overrides) -> Result<BuildOutput> {
    let root = opts.workspace.root.as_path();
    let board = load_board(&opts.workspace, &opts.board)?;
    let image_path = resolve(
        root,
        &image_manifest_path(&opts.workspace, opts.image.as_deref(), &board),
    );
    let image = load_image(&image_path, &board)?;
    let board_path = opts
        .workspace
        .boards_dir()
        .join(format!("{}.yaml", board.board));

    // Everything that needs no compiler first.
    let epoch = epoch_with_warning(root)?;
    let cache = crate::debian::cache_dir(root);
    let (fetches, lock_file) = crate::packages::fetch_for_build(
        &crate::apt::Apt::new(),
        &cache,
        root,
        &board.board,
        &image_path,
        &image,
    )?;
    let board_dtb = crate::packages::fetch_board_dtb(
        &crate::apt::Apt::new(),
        &cache,
        root,
        &opts.workspace.boards_dir(),
        &board,
    )?;
    let inputs = PlanInputs {
        epoch,
        fetches: &fetches,
    };
    // What the manifest names must exist, be the right kind and fit.
    let mut modules = progress::stage("preparing the domains' modules", || {
        plan_modules(root, &board, &image, &inputs)
    })
    .or_bad_input()?;
    check_memory(&image, &modules).or_bad_input()?;
    // The keys last among the inputs, so their warnings never come before
    // an error in the manifests.
    let signer = load_signing_key(ov.signing_key.as_deref())?;
    let secureboot = match board.uefi {
        Some(_) => Some(SecureBootKeys::load(ov.secureboot_keys.as_deref())?),
        None => None,
    };
    if signer.development {
        eprintln!("image-builder: {DEV_KEY_WARNING}");
    }
    if secureboot.as_ref().is_some_and(|k| k.development) {
        eprintln!("image-builder: {DEV_SECUREBOOT_WARNING}");
    }
    let cargo_lock = read_file_record(root, &root.join("Cargo.lock"))?;
    let target_dir = resolve(
        root,
        opts.target_dir
            .as_deref()
            .unwrap_or(Path::new("target/image-builder")),
    );
    let cargo = Cargo::new(root, &board.target, &target_dir, epoch, signer.public_hex());

    // The hypervisor (BSP crate).
    let (hyp, hyp_record) = progress::stage(
        format!("building the hypervisor ({})", board.bsp_crate),
        || build_hypervisor(&cargo, &board),
    )?;

    // The secure world's test firmware, for boards that have one.
    let secure_fw = match &board.secure_world {
        Some(sw) => Some(progress::stage(
            format!("building the secure-world firmware ({})", sw.firmware_crate),
            || build_secure_firmware(&cargo, sw),
        )?),
        None => None,
    };

    // In-tree guests, each built once however often it is used.
    let module_elves = build_guests(&cargo, board.arch, &mut modules)?;
    check_memory(&image, &modules)?;

    let domains = image
        .domains
        .iter()
        .map(domain_spec)
        .collect::<Result<Vec<_>>>()?;
    let table_modules: Vec<Module> = modules
        .iter()
        .map(|m| Module {
            kind: m.kind,
            domain: m.domain_id,
            cmdline: m.cmdline.clone(),
            bytes: match &m.pending {
                Pending::Ready(b) => b.clone(),
                Pending::Guest(_) => unreachable!("every guest was built above"),
            },
        })
        .collect();
    let module_bytes: u64 = table_modules.iter().map(|m| m.bytes.len() as u64).sum();
    let assembled = progress::stage(
        format!(
            "assembling, hashing and signing the image ({} modules, {})",
            table_modules.len(),
            progress::mib(module_bytes)
        ),
        || {
            assemble_with_devices(
                &hyp.bytes,
                &domains,
                &table_modules,
                &crate::devices::specs(&image.domains),
                board.image_format,
                Some(&signer),
            )
            .context("assembling the boot image")
        },
    )?;
    // Now with the image's own size: it stays in RAM beside the domains.
    crate::plan::check_memory(
        &image_path.display().to_string(),
        &image.domains,
        board.ram_mib(),
        assembled.bytes.len() as u64,
    )
    .or_bad_input()?;
    let image_sha256 = sha256_hex(&assembled.bytes);
    let efi = match &secureboot {
        Some(keys) => Some(progress::stage(
            "signing boot.efi for UEFI Secure Boot",
            || {
                crate::secureboot::sign(&assembled.bytes, keys, epoch)
                    .context("signing boot.efi for UEFI Secure Boot")
            },
        )?),
        None => None,
    };

    let record = BuildRecord {
        record_version: RECORD_VERSION,
        board: board.board.clone(),
        image: image.image.clone(),
        source_date_epoch: epoch,
        toolchain: Toolchain {
            rustc: tool_version(&rustc_program(), root)?,
            cargo: tool_version(&cargo.program, root)?,
        },
        inputs: Inputs {
            board_manifest: read_file_record(root, &board_path)?,
            image_manifest: read_file_record(root, &image_path)?,
            cargo_lock,
            hypervisor: hyp_record,
            lock_file,
            packages: fetches.values().map(|f| f.locked.clone()).collect(),
            board_lock_file: board_dtb.as_ref().map(|d| d.lock_file.clone()),
        },
        board_dtb: board_dtb.as_ref().map(|d| crate::record::BoardDtbRecord {
            source: d.source.clone(),
            package: d.package.clone(),
            disabled: d.disabled.clone(),
            output: file_record(Path::new(""), Path::new("board.dtb"), &d.bytes),
        }),
        secure_firmware: secure_fw.as_ref().map(|(flat, elf)| {
            crate::record::SecureFirmwareRecord {
                elf: elf.clone(),
                flash_base: flat.base,
                output: file_record(Path::new(""), Path::new(SECURE_FIRMWARE_FILE), &flat.bytes),
            }
        }),
        modules: modules
            .iter()
            .zip(&table_modules)
            .zip(module_elves)
            .zip(&assembled.module_offsets)
            .map(|(((m, t), elf), &offset)| ModuleRecord {
                domain: m.domain.clone(),
                domain_id: m.domain_id,
                kind: m.kind.name().to_string(),
                source: m.source.clone(),
                elf,
                packages: m.provenance.packages.clone(),
                decompressed_from: m.provenance.decompressed_from.clone(),
                initramfs: m.provenance.initramfs.clone(),
                offset,
                size: t.bytes.len() as u64,
                sha256: sha256_hex(&t.bytes),
            })
            .collect(),
        table_offset: assembled.table_offset,
        signing: SigningRecord {
            public_key: signer.public_hex(),
            development_key: signer.development,
        },
        output: file_record(Path::new(""), Path::new("boot.img"), &assembled.bytes),
        secure_boot: match (&secureboot, &efi) {
            (Some(keys), Some(efi)) => Some(SecureBootRecord {
                db_certificate: read_file_record(&keys.dir, &keys.file("db.crt"))?,
                development_keys: keys.development,
                output: file_record(Path::new(""), Path::new("boot.efi"), efi),
            }),
            _ => None,
        },
    };

    let out_dir = resolve(
        root,
        &opts
            .out_dir
            .clone()
            .unwrap_or_else(|| Path::new("out").join(&board.board).join(&image.image)),
    );
    let sha_line = format!("{image_sha256}  boot.img\n");
    let json = record.to_json();
    let mut outputs: Vec<(&str, &[u8])> = vec![
        ("boot.img", &assembled.bytes),
        ("boot.img.sha256", sha_line.as_bytes()),
        ("build.json", &json),
    ];
    if let Some(efi) = &efi {
        outputs.push(("boot.efi", efi));
    }
    if let Some(d) = &board_dtb {
        outputs.push(("board.dtb", &d.bytes));
    }
    if let Some((flat, _)) = &secure_fw {
        outputs.push((SECURE_FIRMWARE_FILE, &flat.bytes));
    }
    let release = if ov.release {
        let mut manifests = vec![
            (
                format!("manifests/boards/{}.yaml", board.board),
                read(&board_path)?,
            ),
            (archive_name("images", &image_path), read(&image_path)?),
        ];
        if record.inputs.lock_file.is_some() {
            let lock = crate::lock::lock_path(&image_path);
            manifests.push((archive_name("images", &lock), read(&lock)?));
        }
        let smp = image.domains.iter().map(|d| u32::from(d.vcpus)).max();
        let inputs = crate::release::ReleaseInputs {
            cargo: &cargo,
            board: &board,
            record: &record,
            outputs: &outputs,
            manifests,
            smp: smp.unwrap_or(0).max(board.qemu.smp),
        };
        Some(progress::stage(
            "making the release (SBOM, archive)",
            || crate::release::make(&inputs),
        )?)
    } else {
        None
    };
    let mut files: Vec<(&str, &[u8])> = outputs.to_vec();
    if let Some(r) = &release {
        files.extend(r.files.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    }
    let paths = progress::stage("writing the outputs", || {
        write_all_or_nothing(&out_dir, &files)
    })?;
    let split = match opts.layout {
        Layout::Single => None,
        Layout::Split => Some(progress::stage("writing the split layout", || {
            write_split(
                &out_dir.join("split"),
                &assembled,
                board.load_address,
                epoch,
            )
        })?),
    };
    Ok(BuildOutput {
        image: paths[0].clone(),
        split,
        sha256: image_sha256,
        record: paths[2].clone(),
        image_size: assembled.bytes.len() as u64,
        hypervisor_size: assembled.table_offset,
        efi: efi.as_ref().map(|_| paths[3].clone()),
        release: release.map(|r| ReleaseOutput {
            sbom: paths[outputs.len()].clone(),
            archive: paths[outputs.len() + 1].clone(),
            counts: r.counts,
        }),
    })
}

/// Write the split layout into `dir`, all or nothing, and remove files an
/// earlier split of another image left there.
fn write_split(
    dir: &Path,
    a: &crate::assemble::Assembled,
    load: u64,
    epoch: u64,
) -> Result<PathBuf> {
    let split = crate::split::split(&a.bytes, a.table_offset, load, epoch)?;
    let files: Vec<(&str, &[u8])> = split
        .files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    write_all_or_nothing(dir, &files)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        if !files.iter().any(|(n, _)| name.to_str() == Some(n)) && entry.path().is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(dir.to_path_buf())
}

/// `manifests/<dir>/<file name of path>`: where a manifest goes in the archive.
fn archive_name(dir: &str, path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    format!("manifests/{dir}/{name}")
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn epoch_with_warning(root: &Path) -> Result<u64> {
    let (epoch, src) = source_date_epoch(root)?;
    if src == EpochSource::Missing {
        eprintln!(
            "image-builder: WARNING: no SOURCE_DATE_EPOCH and {} is not a git checkout: \
             recording timestamp 0",
            root.display()
        );
    }
    Ok(epoch)
}

pub(crate) fn elf_record(cargo: &Cargo, package: &str, elf: &[u8], flat: &Flat) -> ElfRecord {
    ElfRecord {
        package: package.to_string(),
        target: cargo.target.clone(),
        profile: PROFILE.to_string(),
        elf_size: elf.len() as u64,
        elf_sha256: sha256_hex(elf),
        flat_size: flat.bytes.len() as u64,
    }
}

/// Build the BSP and turn it into the image's first part.
fn build_hypervisor(cargo: &Cargo, board: &BoardManifest) -> Result<(Flat, ElfRecord)> {
    let path = cargo
        .build(&board.bsp_crate)
        .context("building the hypervisor")?;
    let elf = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let flat = elf_to_flat(&elf, End::Symbol(HYP_END_SYMBOL))
        .with_context(|| format!("hypervisor ELF {}", path.display()))?;
    check_hypervisor(&flat, board, &path)?;
    let rec = elf_record(cargo, &board.bsp_crate, &elf, &flat);
    Ok((flat, rec))
}

/// Where the secure-world firmware is written, beside `boot.img`.
pub const SECURE_FIRMWARE_FILE: &str = "secure-firmware.bin";

/// Build the secure-world firmware: a ROM image for the board's flash.
fn build_secure_firmware(
    cargo: &Cargo,
    sw: &crate::board_manifest::SecureWorld,
) -> Result<(Flat, ElfRecord)> {
    let path = cargo
        .build(&sw.firmware_crate)
        .context("building the secure-world firmware")?;
    let elf = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let flat = elf_to_flat(&elf, End::FileContents)
        .with_context(|| format!("secure-world firmware ELF {}", path.display()))?;
    if flat.base != sw.flash_base {
        bail!(
            "secure-world firmware ELF {}: it starts at {:#x}, but the board's flash is at {:#x}",
            path.display(),
            flat.base,
            sw.flash_base
        );
    }
    let rec = elf_record(cargo, &sw.firmware_crate, &elf, &flat);
    Ok((flat, rec))
}

/// The flat hypervisor must load where the board loads it and carry the
/// header the board's loader expects.
fn check_hypervisor(flat: &Flat, board: &BoardManifest, path: &Path) -> Result<()> {
    if flat.base != board.load_address {
        bail!(
            "hypervisor ELF {}: lowest load address is {:#x}, but board '{}' loads the image at {:#x} (check the BSP linker script)",
            path.display(),
            flat.base,
            board.board,
            board.load_address
        );
    }
    match board.image_format {
        ImageFormat::LinuxArm64Image if !is_arm64_image(&flat.bytes) => bail!(
            "hypervisor ELF {}: no Linux arm64 Image header (magic ARM\\x64 at offset {ARM64_MAGIC_OFFSET}), which board '{}' needs",
            path.display(),
            board.board
        ),
        ImageFormat::LinuxArm64Image => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::{make_elf, TestSeg};
    use image_format::arm64_image::MAGIC_BYTES as ARM64_MAGIC;

    fn board() -> BoardManifest {
        crate::test_support::qemu_virt()
    }

    fn hyp_elf(base: u64, with_header: bool) -> Flat {
        let mut text = vec![0u8; 64];
        if with_header {
            text[56..60].copy_from_slice(&ARM64_MAGIC);
        }
        let elf = make_elf(
            &[TestSeg::new(base, &text, 0x100)],
            &[(HYP_END_SYMBOL, base + 0x1000)],
        );
        elf_to_flat(&elf, End::Symbol(HYP_END_SYMBOL)).unwrap()
    }

    #[test]
    fn hypervisor_checks() {
        let b = board();
        let p = Path::new("bsp.elf");
        check_hypervisor(&hyp_elf(b.load_address, true), &b, p).unwrap();
        let e = check_hypervisor(&hyp_elf(0x4000_0000, true), &b, p).unwrap_err();
        assert!(
            e.to_string().contains("lowest load address is 0x40000000"),
            "{e}"
        );
        let e = check_hypervisor(&hyp_elf(b.load_address, false), &b, p).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("bsp.elf") && e.contains("no Linux arm64 Image header"),
            "{e}"
        );
    }
}
