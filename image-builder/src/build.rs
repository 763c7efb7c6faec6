//! The build pipeline: manifests → checked inputs → cargo builds → flat
//! binaries → assembled image → outputs and build record. Everything that
//! can be checked without compiling is checked first, so bad input fails fast.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image_format::ModuleKind;

use crate::assemble::{assemble, domain_spec, Module};
use crate::cargo::{rustc_program, tool_version, Cargo, PROFILE};
use crate::digest::sha256_hex;
use crate::elf::{elf_to_flat, End, Flat};
use crate::manifest::{
    image_manifest_path, load_board, load_image, BoardManifest, ImageFormat, ImageManifest,
    ModuleSource,
};
use crate::output::write_all_or_nothing;
use crate::record::{
    display_path, file_record, read_file_record, source_date_epoch, BuildRecord, ElfRecord,
    EpochSource, Inputs, ModuleRecord, Toolchain, RECORD_VERSION,
};
use crate::sniff::{check_module, is_arm64_image, ARM64_MAGIC_OFFSET};
use crate::workspace::Workspace;

/// The symbol that marks the end of the hypervisor (4 KiB aligned, after
/// .bss); the module table starts there.
pub const HYP_END_SYMBOL: &str = "__hyp_end";
/// Directory of the in-tree guest crates, relative to the workspace root.
pub const GUESTS_DIR: &str = "tests/guests";

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
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// The boot image (`boot.img`).
    pub image: PathBuf,
    /// Hex SHA-256 of the boot image.
    pub sha256: String,
    /// The build record (`build.json`).
    pub record: PathBuf,
    pub image_size: u64,
    /// Size of the flat hypervisor padded to `__hyp_end` (= the table offset).
    pub hypervisor_size: u64,
}

/// Settings that are not user options: the reproducibility check pins them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub source_date_epoch: Option<u64>,
}

/// Build the boot image described by `opts`.
pub fn build(opts: &BuildOptions) -> Result<BuildOutput> {
    build_with(opts, &Overrides::default())
}

/// A module whose bytes are known, or a guest still to be built.
enum Pending {
    Ready(Vec<u8>),
    Guest(String),
}

struct PlannedModule {
    domain: String,
    domain_id: u16,
    kind: ModuleKind,
    source: String,
    cmdline: String,
    pending: Pending,
}

fn resolve(root: &Path, p: &Path) -> PathBuf {
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
    let mut modules = plan_modules(root, &board, &image)?;
    let epoch = match ov.source_date_epoch {
        Some(e) => e,
        None => epoch_with_warning(root)?,
    };
    let cargo_lock = read_file_record(root, &root.join("Cargo.lock"))?;
    let target_dir = resolve(
        root,
        opts.target_dir
            .as_deref()
            .unwrap_or(Path::new("target/image-builder")),
    );
    let cargo = Cargo::new(root, &board.target, &target_dir, epoch);

    // The hypervisor (BSP crate).
    let (hyp, hyp_record) = build_hypervisor(&cargo, &board)?;

    // In-tree guests, each built once however often it is used.
    let mut guests: BTreeMap<String, (Vec<u8>, ElfRecord)> = BTreeMap::new();
    let mut module_elves = Vec::new();
    for m in &mut modules {
        if let Pending::Guest(name) = &m.pending {
            if !guests.contains_key(name) {
                let built = build_guest(&cargo, name).with_context(|| {
                    format!("domain '{}': {}: {}", m.domain, m.kind.name(), m.source)
                })?;
                guests.insert(name.clone(), built);
            }
            let (bytes, rec) = &guests[name];
            check_module(m.kind, board.arch, bytes).map_err(|e| {
                anyhow::anyhow!("domain '{}': {} {}: {e}", m.domain, m.kind.name(), m.source)
            })?;
            module_elves.push(Some(rec.clone()));
            m.pending = Pending::Ready(bytes.clone());
        } else {
            module_elves.push(None);
        }
    }

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
    let assembled = assemble(&hyp.bytes, &domains, &table_modules, board.image_format)
        .context("assembling the boot image")?;
    let image_sha256 = sha256_hex(&assembled.bytes);

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
        },
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
                offset,
                size: t.bytes.len() as u64,
                sha256: sha256_hex(&t.bytes),
            })
            .collect(),
        table_offset: assembled.table_offset,
        output: file_record(Path::new(""), Path::new("boot.img"), &assembled.bytes),
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
    let paths = write_all_or_nothing(
        &out_dir,
        &[
            ("boot.img", &assembled.bytes),
            ("boot.img.sha256", sha_line.as_bytes()),
            ("build.json", &json),
        ],
    )?;
    Ok(BuildOutput {
        image: paths[0].clone(),
        sha256: image_sha256,
        record: paths[2].clone(),
        image_size: assembled.bytes.len() as u64,
        hypervisor_size: assembled.table_offset,
    })
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

/// Resolve every module source, reading and checking files now; guests are
/// only checked to exist (they are built later).
fn plan_modules(
    root: &Path,
    board: &BoardManifest,
    image: &ImageManifest,
) -> Result<Vec<PlannedModule>> {
    let mut out = Vec::new();
    for d in &image.domains {
        let sources = [
            (ModuleKind::Kernel, Some(&d.kernel)),
            (ModuleKind::Ramdisk, d.ramdisk.as_ref()),
            (ModuleKind::DeviceTree, d.device_tree.as_ref()),
        ];
        for (kind, source) in sources {
            let Some(source) = source else { continue };
            let what = format!("domain '{}': {}", d.name, kind.name());
            let (source, pending) = match source {
                ModuleSource::Guest(name) => {
                    let dir = root.join(GUESTS_DIR).join(name);
                    if name.contains(['/', '\\']) || !dir.join("Cargo.toml").is_file() {
                        bail!(
                            "{what}: guest '{name}': no crate at {} (in-tree guests live in {GUESTS_DIR}/<name>/)",
                            display_path(root, &dir)
                        );
                    }
                    (format!("guest:{name}"), Pending::Guest(name.clone()))
                }
                ModuleSource::File(p) => {
                    let path = resolve(root, p);
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("{what}: cannot read file {}", path.display()))?;
                    check_module(kind, board.arch, &bytes)
                        .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", path.display()))?;
                    (
                        format!("file:{}", display_path(root, &path)),
                        Pending::Ready(bytes),
                    )
                }
            };
            out.push(PlannedModule {
                domain: d.name.clone(),
                domain_id: d.id,
                kind,
                source,
                cmdline: if kind == ModuleKind::Kernel {
                    d.cmdline.clone()
                } else {
                    String::new()
                },
                pending,
            });
        }
    }
    Ok(out)
}

fn elf_record(cargo: &Cargo, package: &str, elf: &[u8], flat: &Flat) -> ElfRecord {
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

fn build_guest(cargo: &Cargo, name: &str) -> Result<(Vec<u8>, ElfRecord)> {
    let path = cargo.build(name)?;
    let elf = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let flat = elf_to_flat(&elf, End::SegmentsEnd)
        .with_context(|| format!("guest ELF {}", path.display()))?;
    let rec = elf_record(cargo, name, &elf, &flat);
    Ok((flat.bytes, rec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::tests::{make_elf, TestSeg};
    use crate::sniff::ARM64_MAGIC;

    fn board() -> BoardManifest {
        let ws = Workspace {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        };
        load_board(&ws, "qemu-virt").unwrap()
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

    #[test]
    fn plan_reads_and_checks_files_in_manifest_order() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let mut kernel = vec![0u8; 128];
        kernel[56..60].copy_from_slice(&ARM64_MAGIC);
        std::fs::write(root.join("k.img"), &kernel).unwrap();
        std::fs::write(root.join("rd.cpio"), b"070701rest").unwrap();
        std::fs::write(root.join("d.dtb"), [0xd0, 0x0d, 0xfe, 0xed]).unwrap();
        std::fs::create_dir_all(root.join("tests/guests/g1")).unwrap();
        std::fs::write(root.join("tests/guests/g1/Cargo.toml"), "").unwrap();
        let yaml = "image: t\nboards: [qemu-virt]\ndomains:\n\
            - {name: a, id: 4, vcpus: 1, memory_mib: 8, kernel: {file: k.img}, device_tree: {file: d.dtb}, ramdisk: {file: rd.cpio}, cmdline: 'x y'}\n\
            - {name: b, id: 2, vcpus: 1, memory_mib: 8, kernel: {guest: g1}}\n";
        let image: ImageManifest = serde_norway::from_str(yaml).unwrap();
        let plan = plan_modules(root, &board(), &image).unwrap();
        let got: Vec<_> = plan
            .iter()
            .map(|m| {
                (
                    m.domain.as_str(),
                    m.domain_id,
                    m.kind,
                    m.source.as_str(),
                    m.cmdline.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", 4, ModuleKind::Kernel, "file:k.img", "x y"),
                ("a", 4, ModuleKind::Ramdisk, "file:rd.cpio", ""),
                ("a", 4, ModuleKind::DeviceTree, "file:d.dtb", ""),
                ("b", 2, ModuleKind::Kernel, "guest:g1", ""),
            ]
        );
        assert!(matches!(plan[0].pending, Pending::Ready(ref b) if *b == kernel));
        assert!(matches!(plan[3].pending, Pending::Guest(ref g) if g == "g1"));

        let fail = |yaml: &str| {
            let image: ImageManifest = serde_norway::from_str(yaml).unwrap();
            format!("{:#}", plan_modules(root, &board(), &image).err().unwrap())
        };
        let head =
            "image: t\nboards: [qemu-virt]\ndomains:\n- {name: a, id: 1, vcpus: 1, memory_mib: 8, ";
        let e = fail(&format!("{head}kernel: {{guest: nope}}}}\n"));
        assert!(
            e.contains("domain 'a': kernel: guest 'nope': no crate at tests/guests/nope"),
            "{e}"
        );
        let e = fail(&format!("{head}kernel: {{file: gone.img}}}}\n"));
        assert!(
            e.contains("domain 'a': kernel: cannot read file") && e.contains("gone.img"),
            "{e}"
        );
        let e = fail(&format!(
            "{head}kernel: {{file: k.img}}, ramdisk: {{file: d.dtb}}}}\n"
        ));
        assert!(
            e.contains("domain 'a': ramdisk:")
                && e.contains("d.dtb")
                && e.contains("found a flattened device tree"),
            "{e}"
        );
    }
}
