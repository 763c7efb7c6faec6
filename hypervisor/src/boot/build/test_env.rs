//! A build environment for host tests: records what the builder maps and
//! writes instead of touching memory.

use crate::boot::domain_builder::BuildEnv;
use crate::mm::page_table::PageTable;
use alloc::format;

/// QEMU virt's GICv3, as board data gives it.
pub const HOST_GICV3: crate::board::InterruptController =
    crate::board::InterruptController::GicV3 {
        gicd: 0x0800_0000,
        gicr: 0x080a_0000,
        maintenance_ppi: 25,
    };

pub struct FakeEnv {
    pub writes: Vec<(u64, Vec<u8>)>,
    pub maps: Vec<(u64, u64, u64)>,
    pub devices: Vec<(u64, u64, u64)>,
    pub zeroed: Vec<(u64, u64)>,
    pub mem_left: u64,
    /// Bump pointer for `alloc` (0 = start at 0x1_0000_0000).
    pub next: u64,
}

impl Default for FakeEnv {
    fn default() -> Self {
        Self {
            writes: Vec::new(),
            maps: Vec::new(),
            devices: Vec::new(),
            zeroed: Vec::new(),
            mem_left: 1 << 40,
            next: 0,
        }
    }
}

impl BuildEnv for FakeEnv {
    fn guest_ram_base(&self) -> u64 {
        0x4000_0000
    }
    fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        self.mem_left = self.mem_left.checked_sub(size)?;
        let at = self.next.max(0x1_0000_0000).next_multiple_of(align.max(1));
        self.next = at + size;
        Some(at)
    }
    fn new_stage2(&mut self) -> Option<PageTable> {
        Some(PageTable {
            root: 0x1000,
            root_level: 0,
            root_pages: 1,
        })
    }
    fn map_ram(&mut self, _pt: &PageTable, ipa: u64, pa: u64, size: u64) -> bool {
        self.maps.push((ipa, pa, size));
        true
    }
    fn map_device(&mut self, _pt: &PageTable, ipa: u64, pa: u64, size: u64) -> bool {
        self.devices.push((ipa, pa, size));
        true
    }
    fn write(&mut self, pa: u64, bytes: &[u8]) {
        self.writes.push((pa, bytes.to_vec()));
    }
    fn zero(&mut self, pa: u64, size: u64) {
        self.zeroed.push((pa, size));
    }
}

/// A QEMU-virt-like host device tree.
pub fn sample_host_dtb() -> Vec<u8> {
    let mut w = vm_fdt::FdtWriter::new_with_mem_reserv(&[vm_fdt::FdtReserveEntry::new(
        0x4000_0000,
        0x1000,
    )
    .unwrap()])
    .unwrap();
    let root = w.begin_node("").unwrap();
    w.property_u32("#address-cells", 2).unwrap();
    w.property_u32("#size-cells", 2).unwrap();
    w.property_string("compatible", "linux,dummy-virt").unwrap();
    w.property_u32("interrupt-parent", 0x8001).unwrap();
    let chosen = w.begin_node("chosen").unwrap();
    w.property_string("stdout-path", "/pl011@9000000").unwrap();
    w.property_string("bootargs", "host args").unwrap();
    w.end_node(chosen).unwrap();
    let mem = w.begin_node("memory@40000000").unwrap();
    w.property_string("device_type", "memory").unwrap();
    w.property_array_u64("reg", &[0x4000_0000, 0x4000_0000])
        .unwrap();
    w.end_node(mem).unwrap();
    let psci = w.begin_node("psci").unwrap();
    w.property_string("method", "smc").unwrap();
    w.end_node(psci).unwrap();
    let cpus = w.begin_node("cpus").unwrap();
    let map = w.begin_node("cpu-map").unwrap();
    w.end_node(map).unwrap();
    for i in 0..4 {
        let c = w.begin_node(&format!("cpu@{i}")).unwrap();
        w.property_u32("reg", i).unwrap();
        w.end_node(c).unwrap();
    }
    w.end_node(cpus).unwrap();
    let gic = w.begin_node("intc@8000000").unwrap();
    w.property_u32("phandle", 0x8001).unwrap();
    w.property_null("interrupt-controller").unwrap();
    let its = w.begin_node("its@8080000").unwrap();
    w.end_node(its).unwrap();
    w.end_node(gic).unwrap();
    let pmu = w.begin_node("pmu").unwrap();
    w.property_array_u32("interrupts", &[1, 7, 0xf04]).unwrap();
    w.end_node(pmu).unwrap();
    let timer = w.begin_node("timer").unwrap();
    w.property_array_u32(
        "interrupts",
        &[1, 13, 0xf04, 1, 14, 0xf04, 1, 11, 0xf04, 1, 10, 0xf04],
    )
    .unwrap();
    w.end_node(timer).unwrap();
    let uart = w.begin_node("pl011@9000000").unwrap();
    w.property_string("compatible", "arm,pl011").unwrap();
    w.property_array_u64("reg", &[0x900_0000, 0x1000]).unwrap();
    w.property_array_u32("interrupts", &[0, 1, 4]).unwrap();
    w.end_node(uart).unwrap();
    w.end_node(root).unwrap();
    w.finish().unwrap()
}

/// A boot image holding one domain `id` with `modules` (kind, bytes).
pub fn image_with(
    id: u16,
    flags: u16,
    memory: u64,
    modules: &[(image_format::ModuleKind, Vec<u8>)],
) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let specs: Vec<_> = modules
        .iter()
        .map(|(kind, b)| image_format::ModuleSpec {
            kind: *kind,
            domain: id,
            size: b.len() as u64,
            sha256: Sha256::digest(b).into(),
            cmdline: "console=ttyAMA0".into(),
            piece_blake3: Vec::new(),
            align: 0,
        })
        .collect();
    let domains = [image_format::DomainSpec {
        id,
        flags,
        vcpus: 2,
        memory_bytes: memory,
        pcpus: 0,
        name: "dom0".into(),
    }];
    let l = image_format::layout(0x1000, &domains, &specs);
    let mut img = vec![0u8; l.image_size as usize];
    img[0x1000..0x1000 + l.table.len()].copy_from_slice(&l.table);
    for ((_, b), o) in modules.iter().zip(&l.module_offsets) {
        img[*o as usize..*o as usize + b.len()].copy_from_slice(b);
    }
    img
}

/// A minimal arm64 Image of `size` bytes.
pub fn arm64_image(size: usize) -> Vec<u8> {
    let mut k = vec![0u8; size];
    k[16..24].copy_from_slice(&(size as u64).to_le_bytes());
    k[56..60].copy_from_slice(&crate::boot::linux_image::MAGIC.to_le_bytes());
    k
}
