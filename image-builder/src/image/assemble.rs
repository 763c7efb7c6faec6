//! Putting the boot image together: hypervisor, module table, modules, then
//! the fix-ups the board's loader needs (the arm64 `Image` size field).
//! The table itself is laid out by `image_format::layout`.

use anyhow::{bail, ensure, Context, Result};
use image_format::{
    domain_flags, layout_all, DeviceSpec, DomainSpec, LayoutOptions, ModuleKind, ModuleSpec,
    ModuleTable, MAX_DOMAINS, MAX_MODULES, MODULE_ALIGN, PIECE_SIZE,
};

use crate::digest::{blake3, sha256};
use crate::kernel::arm64_footprint;
use crate::manifest::{DomainManifest, ImageFormat};
use crate::signing::LoadedKey;
use crate::sniff::{is_arm64_image, ARM64_IMAGE_SIZE_OFFSET, ARM64_TABLE_OFFSET_OFFSET};

/// A module's bytes and where it goes.
#[derive(Clone, Debug)]
pub struct Module {
    pub kind: ModuleKind,
    pub domain: u16,
    pub cmdline: String,
    pub bytes: Vec<u8>,
}

/// The finished image.
#[derive(Clone, Debug)]
pub struct Assembled {
    pub bytes: Vec<u8>,
    pub table_offset: u64,
    /// Each module's offset in the image, in the order given (the table's
    /// order too; an in-place kernel is placed last in the image).
    pub module_offsets: Vec<u64>,
}

/// The table entry for a manifest domain.
pub fn domain_spec(d: &DomainManifest) -> Result<DomainSpec> {
    let mut flags = 0;
    if d.hardware {
        flags |= domain_flags::HARDWARE;
    }
    if d.direct_map {
        flags |= domain_flags::DIRECT_MAP;
    }
    if d.hvc_console() {
        flags |= domain_flags::HVC_CONSOLE;
    }
    let memory_bytes = d.memory_mib.checked_mul(1 << 20).with_context(|| {
        format!(
            "domain '{}': memory_mib {} is too large",
            d.name, d.memory_mib
        )
    })?;
    Ok(DomainSpec {
        id: d.id,
        flags,
        vcpus: d.vcpus,
        memory_bytes,
        pcpus: d.pcpu_mask(),
        name: d.name.clone(),
    })
}

/// Lay out and assemble the image. `hypervisor` is the flat hypervisor,
/// already padded to the table offset. With `signer`, the table is marked
/// signed and its signature block written right after it.
#[cfg(test)]
pub fn assemble(
    hypervisor: &[u8],
    domains: &[DomainSpec],
    modules: &[Module],
    format: ImageFormat,
    signer: Option<&LoadedKey>,
) -> Result<Assembled> {
    assemble_with_devices(hypervisor, domains, modules, &[], format, signer)
}

/// [`assemble`], with the devices passed through to domains in the table.
pub fn assemble_with_devices(
    hypervisor: &[u8],
    domains: &[DomainSpec],
    modules: &[Module],
    devices: &[DeviceSpec],
    format: ImageFormat,
    signer: Option<&LoadedKey>,
) -> Result<Assembled> {
    let table_offset = hypervisor.len() as u64;
    ensure!(
        table_offset.is_multiple_of(MODULE_ALIGN),
        "hypervisor size {table_offset:#x} is not 4 KiB aligned"
    );
    ensure!(
        domains.len() <= MAX_DOMAINS,
        "{} domains; the module table holds at most {MAX_DOMAINS}",
        domains.len()
    );
    ensure!(
        modules.len() <= MAX_MODULES,
        "{} modules; the module table holds at most {MAX_MODULES}",
        modules.len()
    );
    // A direct-mapped hardware domain's kernel runs where it lies in the
    // image: 2 MiB-aligned, and so placed last by the writer (its BSS
    // extends past the file).
    let in_place = |m: &Module| in_place_kernel(domains, m);
    let specs: Vec<ModuleSpec> = modules
        .iter()
        .map(|m| ModuleSpec {
            kind: m.kind,
            domain: m.domain,
            size: m.bytes.len() as u64,
            sha256: sha256(&m.bytes),
            cmdline: m.cmdline.clone(),
            piece_blake3: m.bytes.chunks(PIECE_SIZE as usize).map(blake3).collect(),
            align: if in_place(m) { KERNEL_ALIGN } else { 0 },
        })
        .collect();
    // Piece BLAKE3s let the hypervisor check big modules on every CPU,
    // with a hash that is cheap in SIMD.
    let opts = LayoutOptions {
        signed: signer.is_some(),
        piece_blake3: true,
    };
    let l = layout_all(table_offset, domains, &specs, devices, opts);
    let mut bytes = Vec::with_capacity(l.image_size as usize);
    bytes.extend_from_slice(hypervisor);
    bytes.extend_from_slice(&l.table);
    if let Some(key) = signer {
        // The table already carries the SIGNED flag: that is what is signed.
        bytes.extend_from_slice(&key.sign(&l.table));
    }
    let mut placed: Vec<(&Module, u64)> = modules
        .iter()
        .zip(l.module_offsets.iter().copied())
        .collect();
    placed.sort_by_key(|&(_, off)| off);
    for &(m, off) in &placed {
        bytes.resize(off as usize, 0);
        bytes.extend_from_slice(&m.bytes);
    }
    ensure!(
        bytes.len() as u64 == l.image_size,
        "internal error: assembled {} bytes, layout says {}",
        bytes.len(),
        l.image_size
    );
    // Read back what we wrote, as the hypervisor will.
    ModuleTable::parse(&bytes[table_offset as usize..])
        .map_err(|e| anyhow::anyhow!("internal error: the module table does not parse: {e}"))?;
    match format {
        ImageFormat::LinuxArm64Image => {
            // What the image occupies once running: the file, or more if an
            // in-place kernel's BSS reaches past it.
            let footprint = modules
                .iter()
                .zip(&l.module_offsets)
                .filter(|(m, _)| in_place(m))
                .filter_map(|(m, &off)| Some(off + arm64_footprint(&m.bytes)?))
                .fold(bytes.len() as u64, u64::max);
            patch_arm64_image_size(&mut bytes, table_offset, footprint)?;
            // The same image as an EFI application: the PE section grows too.
            crate::pe::patch_sizes(&mut bytes, footprint).context("patching the PE/COFF header")?;
        }
    }
    Ok(Assembled {
        bytes,
        table_offset,
        module_offsets: l.module_offsets,
    })
}

/// Alignment of a kernel that runs in place: the arm64 boot protocol's
/// 2 MiB (the image itself is loaded 2 MiB-aligned).
pub const KERNEL_ALIGN: u64 = 2 << 20;

/// Whether `m` is a kernel the hypervisor can run where it lies: the kernel
/// of a direct-mapped hardware domain (guest-physical = host-physical), an
/// arm64 `Image` asking for a 2 MiB-aligned base (text_offset 0; a kernel
/// from before Linux 3.17, with image_size 0, is read as asking for the
/// legacy 0x80000 and copied instead, as the hypervisor does).
fn in_place_kernel(domains: &[DomainSpec], m: &Module) -> bool {
    let direct = domain_flags::HARDWARE | domain_flags::DIRECT_MAP;
    m.kind == ModuleKind::Kernel
        && image_format::arm64_image::parse(&m.bytes).is_ok_and(|h| h.text_offset == 0)
        && domains
            .iter()
            .any(|d| d.id == m.domain && d.flags & direct == direct)
}

/// Set the arm64 `Image` header's `image_size` to what the image occupies
/// once loaded (`size`: the whole file, or more when an in-place kernel's
/// BSS reaches past it), so a loader reserves room for the table and the
/// modules too, and record the table's offset in `res2` (offset 32) for
/// `image-builder verify`.
pub fn patch_arm64_image_size(image: &mut [u8], table_offset: u64, size: u64) -> Result<()> {
    if !is_arm64_image(image) {
        bail!("the image does not start with a Linux arm64 Image header");
    }
    ensure!(size >= image.len() as u64, "image_size below the file size");
    image[ARM64_IMAGE_SIZE_OFFSET..ARM64_IMAGE_SIZE_OFFSET + 8]
        .copy_from_slice(&size.to_le_bytes());
    image[ARM64_TABLE_OFFSET_OFFSET..ARM64_TABLE_OFFSET_OFFSET + 8]
        .copy_from_slice(&table_offset.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_format::arm64_image::MAGIC_BYTES as ARM64_MAGIC;

    fn hypervisor(len: usize) -> Vec<u8> {
        let mut h = vec![0x11u8; len];
        h[16..24].fill(0);
        h[56..60].copy_from_slice(&ARM64_MAGIC);
        h
    }

    fn domain(id: u16, name: &str) -> DomainSpec {
        DomainSpec {
            id,
            flags: domain_flags::HARDWARE,
            vcpus: 1,
            memory_bytes: 64 << 20,
            pcpus: 0,
            name: name.into(),
        }
    }

    fn module(kind: ModuleKind, domain: u16, bytes: &[u8], cmdline: &str) -> Module {
        Module {
            kind,
            domain,
            cmdline: cmdline.into(),
            bytes: bytes.to_vec(),
        }
    }

    /// A direct-mapped dom0's arm64 kernel goes last and 2 MiB-aligned,
    /// and the Image header's size covers its BSS past the file's end.
    #[test]
    fn a_direct_mapped_kernel_is_placed_to_run_in_place() {
        let hyp = hypervisor(0x2000);
        let mut kernel = vec![0x22u8; 0x5000];
        kernel[8..16].fill(0);
        kernel[16..24].copy_from_slice(&0x9000u64.to_le_bytes());
        kernel[56..60].copy_from_slice(&ARM64_MAGIC);
        let mut dom0 = domain(0, "dom0");
        dom0.flags |= domain_flags::DIRECT_MAP;
        let a = assemble(
            &hyp,
            &[dom0, domain(1, "domu")],
            &[
                module(ModuleKind::Kernel, 0, &kernel, ""),
                module(ModuleKind::Ramdisk, 0, &[7; 100], ""),
                module(ModuleKind::Kernel, 1, &kernel, ""),
            ],
            ImageFormat::LinuxArm64Image,
            None,
        )
        .unwrap();
        // Offsets in the order given; dom0's kernel is placed last.
        assert_eq!(a.module_offsets, [KERNEL_ALIGN, 0x3000, 0x4000]);
        assert_eq!(a.bytes.len() as u64, KERNEL_ALIGN + 0x5000);
        let size = u64::from_le_bytes(a.bytes[16..24].try_into().unwrap());
        assert_eq!(size, KERNEL_ALIGN + 0x9000);
        let t = ModuleTable::parse(&a.bytes[0x2000..]).unwrap();
        // Listed where the manifest has it: first.
        let first = t.modules().next().unwrap();
        assert_eq!(
            (first.domain, first.kind, first.offset),
            (0, ModuleKind::Kernel, KERNEL_ALIGN)
        );
    }

    #[test]
    fn layout_and_patching() {
        let hyp = hypervisor(0x2000);
        let kernel = vec![0x22u8; 5000];
        let fdt = [0xd0, 0x0d, 0xfe, 0xed, 1, 2, 3];
        let a = assemble(
            &hyp,
            &[domain(1, "dom0")],
            &[
                module(ModuleKind::Kernel, 1, &kernel, "console=hvc0"),
                module(ModuleKind::DeviceTree, 1, &fdt, ""),
            ],
            ImageFormat::LinuxArm64Image,
            None,
        )
        .unwrap();
        assert_eq!(a.table_offset, 0x2000);
        assert_eq!(a.module_offsets, [0x3000, 0x5000]);
        assert_eq!(a.bytes.len(), 0x5000 + fdt.len());
        // The hypervisor is intact except the patched size field.
        let size = u64::from_le_bytes(a.bytes[16..24].try_into().unwrap());
        assert_eq!(size, a.bytes.len() as u64);
        assert_eq!(&a.bytes[..16], &hyp[..16]);
        assert_eq!(&a.bytes[24..32], &hyp[24..32]);
        assert_eq!(
            &a.bytes[32..40],
            &0x2000u64.to_le_bytes(),
            "res2: table offset"
        );
        assert_eq!(&a.bytes[40..0x2000], &hyp[40..]);
        // Modules at their offsets, zero padding in between.
        assert_eq!(&a.bytes[0x3000..0x3000 + 5000], &kernel[..]);
        assert!(a.bytes[0x3000 + 5000..0x5000].iter().all(|&b| b == 0));
        assert_eq!(&a.bytes[0x5000..], &fdt);
        // The table describes them, with digests and the kernel's cmdline.
        let t = ModuleTable::parse(&a.bytes[0x2000..]).unwrap();
        assert_eq!(t.header.image_size, a.bytes.len() as u64);
        let k = t.module(1, ModuleKind::Kernel).unwrap();
        assert_eq!(
            (k.offset, k.size, k.cmdline),
            (0x3000, 5000, "console=hvc0")
        );
        assert_eq!(k.sha256, sha256(&kernel));
        let d = t.module(1, ModuleKind::DeviceTree).unwrap();
        assert_eq!((d.offset, d.cmdline), (0x5000, ""));
        assert!(a.bytes[0x2000 + t.header.table_size as usize..0x3000]
            .iter()
            .all(|&b| b == 0));
    }

    #[test]
    fn signed_image_carries_a_verifying_block() {
        let key = crate::signing::load_signing_key(None).unwrap();
        let kernel = vec![0x22u8; 5000];
        let a = assemble(
            &hypervisor(0x2000),
            &[domain(1, "dom0")],
            &[module(ModuleKind::Kernel, 1, &kernel, "c")],
            ImageFormat::LinuxArm64Image,
            Some(&key),
        )
        .unwrap();
        let t = ModuleTable::parse(&a.bytes[0x2000..]).unwrap();
        assert!(t.header.is_signed());
        let b = image_format::signature_block(&a.bytes, &t.header)
            .unwrap()
            .unwrap();
        assert_eq!(b.public_key, &key.public_key());
        image_format::verify_signature(t.as_bytes(), &b, &key.public_key()).unwrap();
        assert_eq!(a.module_offsets, [0x3000]);
        assert_eq!(&a.bytes[0x3000..], &kernel[..]);
    }

    #[test]
    fn rejects_unaligned_hypervisor_and_missing_header() {
        let e = assemble(
            &hypervisor(0x2001),
            &[domain(1, "a")],
            &[],
            ImageFormat::LinuxArm64Image,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not 4 KiB aligned"), "{e}");
        let e = assemble(
            &[0u8; 0x1000],
            &[domain(1, "a")],
            &[],
            ImageFormat::LinuxArm64Image,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("arm64 Image header"), "{e}");
    }

    #[test]
    fn rejects_too_many_domains() {
        let domains: Vec<_> = (0..=MAX_DOMAINS as u16).map(|i| domain(i, "d")).collect();
        let e = assemble(
            &hypervisor(0x1000),
            &domains,
            &[],
            ImageFormat::LinuxArm64Image,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
    }

    #[test]
    fn domain_flags_and_memory() {
        let yaml = "name: d\nid: 3\nhardware: true\ndirect_map: true\nvcpus: 2\nmemory_mib: 128\nkernel: {file: k}\n";
        let d: DomainManifest = serde_norway::from_str(yaml).unwrap();
        let s = domain_spec(&d).unwrap();
        assert_eq!(
            s.flags,
            domain_flags::HARDWARE | domain_flags::DIRECT_MAP | domain_flags::HVC_CONSOLE
        );
        let uart = DomainManifest {
            console: Some(crate::manifest::ConsoleChoice::Uart),
            ..d.clone()
        };
        assert_eq!(
            domain_spec(&uart).unwrap().flags,
            domain_flags::HARDWARE | domain_flags::DIRECT_MAP
        );
        assert_eq!((s.id, s.vcpus, s.memory_bytes), (3, 2, 128 << 20));
        let d = DomainManifest {
            hardware: false,
            direct_map: false,
            memory_mib: u64::MAX >> 10,
            ..d
        };
        assert!(domain_spec(&d).is_err());
        let d = DomainManifest { memory_mib: 1, ..d };
        assert_eq!(domain_spec(&d).unwrap().flags, 0);
    }
}
