//! Domain modules: where each one's bytes come from (a file, a file out of
//! a pinned Debian package, an initramfs the builder assembles, or an
//! in-tree guest crate to build), in manifest order, and the checks that
//! each is what its kind says and that each domain's payload fits in its
//! memory. Everything but guests is read and checked before anything is
//! compiled.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use image_format::ModuleKind;

use crate::build::{elf_record, resolve};
use crate::cargo::Cargo;
use crate::elf::{elf_to_flat, End};
use crate::initramfs::{Fetches, InitramfsRecord};
use crate::kernel::Decompressed;
use crate::lock::LockedPackage;
use crate::manifest::{Arch, BoardManifest, ImageManifest, ModuleSource};
use crate::record::{display_path, ElfRecord};
use crate::sniff::check_module;

/// Directory of the in-tree guest crates, relative to the workspace root.
pub const GUESTS_DIR: &str = "tests/guests";

/// A module whose bytes are known, or a guest still to be built.
pub(crate) enum Pending {
    Ready(Vec<u8>),
    Guest(String),
}

pub(crate) struct PlannedModule {
    pub domain: String,
    pub domain_id: u16,
    pub kind: ModuleKind,
    pub source: String,
    pub cmdline: String,
    pub pending: Pending,
    pub provenance: Provenance,
}

/// Where a module's bytes came from beyond its source string, for build.json.
#[derive(Clone, Debug, Default)]
pub(crate) struct Provenance {
    pub packages: Vec<LockedPackage>,
    pub decompressed_from: Option<Decompressed>,
    pub initramfs: Option<InitramfsRecord>,
}

/// What planning needs besides the manifests.
pub(crate) struct PlanInputs<'a> {
    /// SOURCE_DATE_EPOCH (initramfs timestamps).
    pub epoch: u64,
    /// The image's Debian packages, fetched and checked against the lock.
    pub fetches: &'a Fetches,
}

/// A kernel's bytes as the hypervisor loads them: gzip is decompressed.
fn kernel_bytes(arch: Arch, bytes: Vec<u8>, prov: &mut Provenance) -> Result<Vec<u8>, String> {
    let k = crate::kernel::prepare(arch, bytes).map_err(|e| e.to_string())?;
    prov.decompressed_from = k.decompressed_from;
    Ok(k.bytes)
}

/// Kernel modules built into an initramfs must be for the domain's kernel:
/// Debian names its kernel packages `linux-image-RELEASE`, so a kernel from
/// a package says its release (a kernel from a file cannot be checked here;
/// its modules are checked by the kernel when loaded).
fn check_module_releases(
    kernel: &ModuleSource,
    fetches: &Fetches,
    initramfs: &InitramfsRecord,
) -> Result<()> {
    let ModuleSource::Debian(deb) = kernel else {
        return Ok(());
    };
    let Some(release) = fetches
        .get(&deb.package_ref())
        .and_then(|f| f.locked.name.strip_prefix("linux-image-"))
    else {
        return Ok(());
    };
    for m in &initramfs.modules {
        if m.kernel_release != release {
            bail!(
                "kernel module {} is built for {} but the kernel is linux-image-{release}: \
                 name that release's linux-headers packages in its build_tree",
                m.name,
                m.kernel_release
            );
        }
    }
    Ok(())
}

/// Resolve every module source, reading and checking files, package files
/// and initramfs archives now; guests are only checked to exist (they are
/// built later).
pub(crate) fn plan_modules(
    root: &Path,
    board: &BoardManifest,
    image: &ImageManifest,
    inputs: &PlanInputs,
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
            let mut prov = Provenance::default();
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
                    let mut bytes = std::fs::read(&path)
                        .with_context(|| format!("{what}: cannot read file {}", path.display()))?;
                    if kind == ModuleKind::Kernel {
                        bytes = kernel_bytes(board.arch, bytes, &mut prov)
                            .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", path.display()))?;
                    }
                    check_module(kind, board.arch, &bytes)
                        .map_err(|e| anyhow::anyhow!("{what}: {}: {e}", path.display()))?;
                    (
                        format!("file:{}", display_path(root, &path)),
                        Pending::Ready(bytes),
                    )
                }
                ModuleSource::Debian(deb) => {
                    let f = inputs.fetches.get(&deb.package_ref()).with_context(|| {
                        format!(
                            "internal error: {what}: package {} was not fetched",
                            deb.package
                        )
                    })?;
                    let pkg = f.locked.spec();
                    prov.packages.push(f.locked.clone());
                    let (path, mut bytes) = crate::deb::extract_one(&f.read()?, &deb.path)
                        .with_context(|| format!("{what}: package {pkg}"))?;
                    let source = format!("debian:{pkg}:{path}");
                    if kind == ModuleKind::Kernel {
                        bytes = kernel_bytes(board.arch, bytes, &mut prov)
                            .map_err(|e| anyhow::anyhow!("{what}: {source}: {e}"))?;
                    }
                    check_module(kind, board.arch, &bytes)
                        .map_err(|e| anyhow::anyhow!("{what}: {source}: {e}"))?;
                    (source, Pending::Ready(bytes))
                }
                ModuleSource::Initramfs(spec) => {
                    let i = crate::initramfs::build(root, spec, inputs.fetches, inputs.epoch)
                        .with_context(|| format!("{what}: building the initramfs"))?;
                    check_module_releases(&d.kernel, inputs.fetches, &i.record)
                        .with_context(|| what.clone())?;
                    prov.packages = i.packages;
                    prov.initramfs = Some(i.record);
                    let source = format!("initramfs:{}", spec.init.display());
                    check_module(kind, board.arch, &i.bytes)
                        .map_err(|e| anyhow::anyhow!("{what}: {source}: {e}"))?;
                    (source, Pending::Ready(i.bytes))
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
                provenance: prov,
            });
        }
    }
    Ok(out)
}

/// Every domain whose kernel is ready must hold kernel, ramdisk and device
/// tree area in its memory (see [`crate::kernel::check_fits`]).
pub(crate) fn check_memory(image: &ImageManifest, modules: &[PlannedModule]) -> Result<()> {
    for d in &image.domains {
        let ready = |kind| {
            modules.iter().find_map(|m| match &m.pending {
                Pending::Ready(b) if m.domain_id == d.id && m.kind == kind => Some(b),
                _ => None,
            })
        };
        let Some(kernel) = ready(ModuleKind::Kernel) else {
            continue;
        };
        let ramdisk = ready(ModuleKind::Ramdisk).map(Vec::len);
        crate::kernel::check_fits(&d.name, d.memory_mib, kernel, ramdisk)?;
    }
    Ok(())
}

/// Build the guests `modules` name (each once), check them like files, and
/// turn them into ready modules. Returns, per module, the ELF it came from.
pub(crate) fn build_guests(
    cargo: &Cargo,
    arch: Arch,
    modules: &mut [PlannedModule],
) -> Result<Vec<Option<ElfRecord>>> {
    let mut guests: BTreeMap<String, (Vec<u8>, ElfRecord)> = BTreeMap::new();
    let mut elves = Vec::new();
    for m in modules {
        let Pending::Guest(name) = &m.pending else {
            elves.push(None);
            continue;
        };
        if !guests.contains_key(name) {
            let built = crate::progress::stage(format!("building guest {name}"), || {
                build_guest(cargo, name).with_context(|| {
                    format!("domain '{}': {}: {}", m.domain, m.kind.name(), m.source)
                })
            })?;
            guests.insert(name.clone(), built);
        }
        let (bytes, rec) = &guests[name];
        check_module(m.kind, arch, bytes).map_err(|e| {
            anyhow::anyhow!("domain '{}': {} {}: {e}", m.domain, m.kind.name(), m.source)
        })?;
        elves.push(Some(rec.clone()));
        m.pending = Pending::Ready(bytes.clone());
    }
    Ok(elves)
}

fn build_guest(cargo: &Cargo, name: &str) -> Result<(Vec<u8>, ElfRecord)> {
    let path = cargo.build(name)?;
    let elf = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let flat = elf_to_flat(&elf, End::AllSegments)
        .with_context(|| format!("guest ELF {}", path.display()))?;
    let rec = elf_record(cargo, name, &elf, &flat);
    Ok((flat.bytes, rec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_format::arm64_image::MAGIC_BYTES as ARM64_MAGIC;

    fn board() -> BoardManifest {
        crate::test_support::qemu_virt()
    }

    fn no_packages() -> PlanInputs<'static> {
        static NONE: Fetches = Fetches::new();
        PlanInputs {
            epoch: 0,
            fetches: &NONE,
        }
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
        let plan = plan_modules(root, &board(), &image, &no_packages()).unwrap();
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
            format!(
                "{:#}",
                plan_modules(root, &board(), &image, &no_packages())
                    .err()
                    .unwrap()
            )
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

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// An arm64 Image header with `image_size`.
    fn arm64_image(image_size: u64) -> Vec<u8> {
        let mut k = vec![0u8; 4096];
        k[16..24].copy_from_slice(&image_size.to_le_bytes());
        k[56..60].copy_from_slice(&ARM64_MAGIC);
        k
    }

    #[test]
    fn gzip_file_kernels_become_images() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let raw = arm64_image(1 << 20);
        let gz = gzip(&raw);
        std::fs::write(root.join("vmlinuz"), &gz).unwrap();
        // A gzip'd ramdisk stays compressed: only kernels are unpacked.
        std::fs::write(root.join("rd.gz"), gzip(b"070701")).unwrap();
        let yaml = "image: t\nboards: [qemu-virt]\ndomains:\n\
            - {name: a, id: 1, vcpus: 1, memory_mib: 8, kernel: {file: vmlinuz}, ramdisk: {file: rd.gz}}\n";
        let image: ImageManifest = serde_norway::from_str(yaml).unwrap();
        let plan = plan_modules(root, &board(), &image, &no_packages()).unwrap();
        assert!(matches!(plan[0].pending, Pending::Ready(ref b) if *b == raw));
        let d = plan[0].provenance.decompressed_from.as_ref().unwrap();
        assert_eq!((d.format.as_str(), d.size), ("gzip", gz.len() as u64));
        assert!(matches!(plan[1].pending, Pending::Ready(ref b) if b.starts_with(&[0x1f, 0x8b])));
        assert!(plan[1].provenance.decompressed_from.is_none());
        check_memory(&image, &plan).unwrap();
    }

    #[test]
    fn debian_and_initramfs_sources() {
        use crate::deb::testdeb::Item;

        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::write(root.join("init"), "#!/bin/sh\n").unwrap();
        let mut a = crate::debian::tests::FakeArchive::default();
        let gz = gzip(&arm64_image(2 << 20));
        a.add(
            "linux-image-arm64",
            "arm64",
            "2",
            "linux-image-9-arm64 (= 2)",
            &[],
        );
        a.add(
            "linux-image-9-arm64",
            "arm64",
            "2",
            "",
            &[
                Item::File("./boot/vmlinuz-9-arm64", 0o644, &gz),
                Item::File("./boot/config-9-arm64", 0o644, b"CONFIG_XEN=y"),
            ],
        );
        let mut bb = b"\x7fELF\0".to_vec();
        for name in [
            "[", "[[", "ash", "cat", "ls", "mount", "poweroff", "sh", "sleep",
        ] {
            bb.extend_from_slice(name.as_bytes());
            bb.push(0);
        }
        a.add(
            "busybox-static",
            "arm64",
            "1:1.0-1",
            "",
            &[Item::File("./bin/busybox", 0o755, &bb)],
        );
        let yaml = "image: t\nboards: [qemu-virt]\ndomains:\n\
            - name: dom0\n  id: 0\n  vcpus: 1\n  memory_mib: 8\n  cmdline: console=ttyAMA0\n\
            \x20 kernel: {debian: {package: linux-image-arm64, arch: arm64, resolve: depends, path: boot/vmlinuz-*}}\n\
            \x20 ramdisk: {initramfs: {busybox: {package: busybox-static, arch: arm64}, applets: [sh, cat], init: init}}\n";
        let image: ImageManifest = serde_norway::from_str(yaml).unwrap();
        let mut fetches = Fetches::new();
        for r in image.packages() {
            let f = crate::debian::resolve_current(&a, &root.join("cache"), &r).unwrap();
            fetches.insert(r, f);
        }
        let inputs = PlanInputs {
            epoch: 99,
            fetches: &fetches,
        };
        let plan = plan_modules(root, &board(), &image, &inputs).unwrap();
        assert_eq!(
            plan[0].source,
            "debian:linux-image-9-arm64:arm64=2:boot/vmlinuz-9-arm64"
        );
        assert_eq!(plan[0].cmdline, "console=ttyAMA0");
        assert!(matches!(plan[0].pending, Pending::Ready(ref b) if *b == arm64_image(2 << 20)));
        assert_eq!(
            plan[0]
                .provenance
                .decompressed_from
                .as_ref()
                .unwrap()
                .sha256,
            crate::digest::sha256_hex(&gz)
        );
        assert_eq!(
            plan[0].provenance.packages[0]
                .metapackage
                .as_ref()
                .unwrap()
                .name,
            "linux-image-arm64"
        );
        assert_eq!(plan[1].source, "initramfs:init");
        let rec = plan[1].provenance.initramfs.as_ref().unwrap();
        // 7 standard directories, /dev/console, busybox, 2 applets, /init.
        assert_eq!((rec.entries, rec.mtime), (12, 99));
        assert_eq!(plan[1].provenance.packages[0].name, "busybox-static");

        // 2 MiB image + ramdisk + 2 MiB DT area fit in 8 MiB, not in 4.
        check_memory(&image, &plan).unwrap();
        let mut small = image.clone();
        small.domains[0].memory_mib = 4;
        let e = check_memory(&small, &plan).unwrap_err().to_string();
        assert!(
            e.contains("domain 'dom0'") && e.contains("does not fit in memory_mib 4"),
            "{e}"
        );

        // The glob must pick one file.
        let mut two = image.clone();
        if let ModuleSource::Debian(d) = &mut two.domains[0].kernel {
            d.path = "boot/*".into();
        }
        let e = format!(
            "{:#}",
            plan_modules(root, &board(), &two, &inputs).err().unwrap()
        );
        assert!(
            e.contains("domain 'dom0': kernel: package linux-image-9-arm64:arm64=2: 'boot/*' matches 2 files"),
            "{e}"
        );
        // A kernel package whose file is not a kernel is named.
        if let ModuleSource::Debian(d) = &mut two.domains[0].kernel {
            d.path = "boot/config-*".into();
        }
        let e = format!(
            "{:#}",
            plan_modules(root, &board(), &two, &inputs).err().unwrap()
        );
        assert!(
            e.contains("debian:linux-image-9-arm64:arm64=2:boot/config-9-arm64: expected a Linux arm64 Image"),
            "{e}"
        );
    }
}
