//! Building the hardware domain (dom0): direct-mapped RAM (everything the
//! hypervisor does not keep), the host's devices passed through 1:1, and a
//! device tree rewritten from the host's.

use alloc::vec::Vec;

use crate::board::PhysRange;
use crate::boot::domain_builder::{BootModules, BuildEnv, BuildError, DTB_MAX};
use crate::boot::{direct_map, dom0_fdt};
use crate::mm::frames::PAGE_SIZE;

const MIB2: u64 = 2 << 20;
use crate::domain::{Bank, BootVcpu, Domain};
use image_format::{DomainEntry, ModuleKind, ModuleTable};

pub struct HardwareInputs<'a> {
    /// The firmware's device tree.
    pub host_dtb: &'a [u8],
    /// RAM dom0 gets (host-physical; mapped 1:1).
    pub ram: &'a [PhysRange],
    /// Parts of that RAM the kernel, ramdisk and DTB must not be placed in
    /// (the boot modules they are copied from).
    pub avoid: &'a [PhysRange],
    /// MMIO passed through 1:1.
    pub devices: &'a [PhysRange],
    /// Host device-tree nodes dom0 must not see.
    pub remove_nodes: &'a [&'a str],
    /// The hypervisor's console UART: kept by the hypervisor (not mapped,
    /// node hidden) when dom0's console is hvc0.
    pub console_uart: Option<PhysRange>,
    /// MPIDRs of the physical CPUs; vCPU i runs on CPU i and reports its MPIDR.
    pub cpus: &'a [u64],
    /// The board's interrupt controller: dom0's virtual GIC sits where it is.
    pub gic: crate::board::InterruptController,
    /// Host-physical address of the boot image's first byte: with it, a
    /// module's offset is where it lies, and a suitably placed kernel (and
    /// ramdisk) run where they are instead of being copied.
    pub image_base: u64,
}

/// The host-physical range module `kind` of domain `id` occupies, if it can
/// be used where it lies: inside dom0's RAM and, for a kernel, at a 2 MiB
/// boundary plus its text_offset, with its whole footprint (BSS included)
/// in RAM. `size` is what must fit (the kernel's image_size).
fn in_place(
    table: &ModuleTable<'_>,
    id: u16,
    kind: ModuleKind,
    inputs: &HardwareInputs<'_>,
    size: Option<u64>,
    align: u64,
    skew: u64,
) -> Option<PhysRange> {
    let m = table.module(id, kind)?;
    let at = inputs.image_base.checked_add(m.offset)?;
    let r = PhysRange::new(at, size.unwrap_or(m.size));
    r.base.checked_add(r.size)?;
    let in_ram = inputs
        .ram
        .iter()
        .any(|b| b.base <= r.base && r.end() <= b.end());
    (in_ram && at.checked_sub(skew)?.is_multiple_of(align)).then_some(r)
}

pub fn build(
    env: &mut dyn BuildEnv,
    image: &[u8],
    table: &ModuleTable<'_>,
    d: &DomainEntry<'_>,
    inputs: &HardwareInputs<'_>,
) -> Result<Domain, BuildError> {
    let BootModules {
        cmdline,
        kernel,
        header,
        ramdisk,
    } = BootModules::find(image, table, d.id)?;
    if usize::from(d.vcpus) > inputs.cpus.len() {
        return Err(BuildError::TooManyVcpus {
            vcpus: d.vcpus,
            cpus: inputs.cpus.len(),
        });
    }
    let total: u64 = inputs.ram.iter().map(|r| r.size).sum();
    if total < d.memory_bytes {
        return Err(BuildError::OutOfMemory {
            need: d.memory_bytes,
        });
    }

    // Run the kernel and ramdisk where they lie when they can (the image
    // builder places a direct-mapped kernel for it): no copy to make.
    let kernel_at = in_place(
        table,
        d.id,
        ModuleKind::Kernel,
        inputs,
        Some(header.image_size),
        MIB2,
        header.text_offset,
    );
    let initrd_at = in_place(table, d.id, ModuleKind::Ramdisk, inputs, None, PAGE_SIZE, 0)
        .filter(|r| kernel_at.is_none_or(|k| r.end() <= k.base || k.end() <= r.base));
    let mut layout = direct_map::plan(
        inputs.ram,
        inputs.avoid,
        &header,
        ramdisk.map(|r| r.len() as u64),
        0,
        direct_map::Fixed {
            kernel: kernel_at,
            initrd: initrd_at,
        },
    )
    .map_err(BuildError::Layout)?;
    let stage2 = env.new_stage2().ok_or(BuildError::Stage2)?;
    // Grant frames 1:1 in hypervisor memory (never dom0's RAM), as Xen
    // places dom0's inside its own image.
    let grant = crate::boot::domain_builder::grant_frames(env, &stage2, None)?;
    let kept_uart = inputs.console_uart.filter(|_| d.has_hvc_console());
    let dtb = dom0_fdt::build(
        inputs.host_dtb,
        &dom0_fdt::Dom0FdtSpec {
            ram: inputs.ram,
            vcpus: d.vcpus,
            bootargs: cmdline,
            initrd: layout.initrd,
            remove: inputs.remove_nodes,
            keep_device: kept_uart.map(|r| r.base),
            xen: Some(dom0_fdt::XenNode {
                grant: grant.ipa,
                evtchn_intid: crate::domain::EVTCHN_PPI,
            }),
        },
    )
    .map_err(|_| BuildError::DeviceTree)?;
    if dtb.len() as u64 > DTB_MAX {
        return Err(BuildError::DeviceTree);
    }
    layout.dtb.size = dtb.len() as u64;

    for r in inputs.ram {
        if !env.map_ram(&stage2, r.base, r.base, r.size) {
            return Err(BuildError::Stage2);
        }
    }
    let devices = direct_map::passthrough(inputs.devices, kept_uart.as_slice());
    for r in &devices {
        if !env.map_device(&stage2, r.base, r.base, r.size) {
            return Err(BuildError::Stage2);
        }
    }
    let vgic = crate::domain::guest_map::VgicLayout::for_domain(&inputs.gic, true, d.vcpus);
    crate::boot::domain_builder::map_vgic(env, &stage2, &vgic)?;
    match kernel_at {
        Some(k) => crate::info!(
            "d{}: kernel runs in place at {:#x}{}",
            d.id,
            k.base,
            if initrd_at.is_some() {
                ", ramdisk too"
            } else {
                ""
            }
        ),
        None => env.write(layout.kernel.base, kernel),
    }
    if let (Some(rd), Some(bytes), None) = (layout.initrd, ramdisk, initrd_at) {
        env.write(rd.base, bytes);
    }
    env.write(layout.dtb.base, &dtb);

    let banks: Vec<Bank> = inputs
        .ram
        .iter()
        .map(|r| Bank {
            ipa: *r,
            pa: r.base,
        })
        .collect();
    let mut dom = Domain::new(
        d.id,
        alloc::string::String::from(d.name),
        true,
        banks,
        stage2,
        inputs.cpus[..usize::from(d.vcpus)].to_vec(),
        BootVcpu {
            entry: layout.kernel.base,
            arg0: layout.dtb.base,
        },
    );
    dom.grant = Some(grant);
    dom.vgic_layout = Some(vgic);
    dom.pin(d.pcpus);
    dom.direct_mapped = true;
    dom.xen_console = kept_uart.is_some();
    Ok(dom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::test_env::{arm64_image, image_with, sample_host_dtb, FakeEnv};
    use image_format::domain_flags::{DIRECT_MAP, HARDWARE};
    use image_format::ModuleKind;

    const MIB: u64 = 1 << 20;

    #[test]
    fn builds_dom0_direct_mapped() {
        let kernel = arm64_image(3 * MIB as usize);
        let rd = vec![0x1f; 5000];
        let img = image_with(
            0,
            HARDWARE | DIRECT_MAP,
            256 * MIB,
            &[
                (ModuleKind::Kernel, kernel.clone()),
                (ModuleKind::Ramdisk, rd.clone()),
            ],
        );
        let t = ModuleTable::parse(&img[0x1000..]).unwrap();
        let d = t.domains().next().unwrap();
        let ram = [
            PhysRange::new(0x4000_0000, 0x20_0000),
            PhysRange::new(0x4400_0000, 0x3c00_0000),
        ];
        let avoid = [PhysRange::new(0x4400_0000, 8 * MIB)];
        let devices = [PhysRange::new(0x0900_0000, 0x1000)];
        let inputs = HardwareInputs {
            host_dtb: &sample_host_dtb(),
            ram: &ram,
            avoid: &avoid,
            devices: &devices,
            remove_nodes: &["/pmu"],
            console_uart: None,
            cpus: &[0, 1],
            gic: crate::boot::test_env::HOST_GICV3,
            // The image outside dom0's RAM: everything is copied.
            image_base: 0x1_0000_0000,
        };
        let mut env = FakeEnv::default();
        let dom = build(&mut env, &img, &t, &d, &inputs).unwrap();
        assert!(dom.hardware);
        assert_eq!((dom.vcpus, dom.power.mpidr(1)), (2, 1));
        // Kernel: the first 2 MiB-aligned slot clear of the modules.
        assert_eq!(dom.boot_vcpu.entry, 0x4480_0000);
        // Grant frames 1:1 in memory that is not dom0's RAM, then the RAM.
        let g = dom.grant.unwrap().ipa;
        assert!(!ram.iter().any(|r| r.contains(g.base)));
        assert_eq!(
            env.maps,
            vec![
                (g.base, g.base, g.size),
                (0x4000_0000, 0x4000_0000, 0x20_0000),
                (0x4400_0000, 0x4400_0000, 0x3c00_0000)
            ]
        );
        assert_eq!(env.devices, vec![(0x0900_0000, 0x0900_0000, 0x1000)]);
        assert_eq!(env.writes[0], (0x4480_0000, kernel));
        let (rd_at, rd_bytes) = &env.writes[1];
        assert_eq!(rd_bytes, &rd);
        let (dtb_at, dtb) = &env.writes[2];
        assert_eq!(*dtb_at, dom.boot_vcpu.arg0);
        let f = fdt::Fdt::new(dtb).unwrap();
        assert_eq!(f.chosen().bootargs(), Some("console=ttyAMA0"));
        let chosen = f.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("linux,initrd-start").unwrap().as_usize(),
            Some(*rd_at as usize)
        );
        assert_eq!(f.memory().regions().count(), 2);
        assert_eq!(dom.ipa_to_pa(0x4400_1000, 8), Some(0x4400_1000));
        // Not enough RAM for the declared minimum.
        let small = image_with(
            0,
            HARDWARE | DIRECT_MAP,
            2048 * MIB,
            &[(ModuleKind::Kernel, arm64_image(4096))],
        );
        let t = ModuleTable::parse(&small[0x1000..]).unwrap();
        let d = t.domains().next().unwrap();
        assert!(matches!(
            build(&mut FakeEnv::default(), &small, &t, &d, &inputs),
            Err(BuildError::OutOfMemory { .. })
        ));
    }

    /// A kernel module at a 2 MiB boundary inside dom0's RAM runs where it
    /// lies, and the ramdisk after it too: only the DTB is written.
    #[test]
    fn a_well_placed_kernel_and_ramdisk_run_in_place() {
        let kernel = arm64_image(3 * MIB as usize);
        let rd = vec![0x1f; 5000];
        let img = image_with(
            0,
            HARDWARE | DIRECT_MAP,
            256 * MIB,
            &[(ModuleKind::Kernel, kernel), (ModuleKind::Ramdisk, rd)],
        );
        let t = ModuleTable::parse(&img[0x1000..]).unwrap();
        let d = t.domains().next().unwrap();
        let k = t.module(0, ModuleKind::Kernel).unwrap();
        let r = t.module(0, ModuleKind::Ramdisk).unwrap();
        let ram = [PhysRange::new(0x4000_0000, 0x4000_0000)];
        let base = 0x4460_0000 - k.offset;
        let inputs = HardwareInputs {
            host_dtb: &sample_host_dtb(),
            ram: &ram,
            avoid: &[PhysRange::new(base, img.len() as u64)],
            devices: &[],
            remove_nodes: &[],
            console_uart: None,
            cpus: &[0, 1],
            gic: crate::boot::test_env::HOST_GICV3,
            image_base: base,
        };
        let mut env = FakeEnv::default();
        let dom = build(&mut env, &img, &t, &d, &inputs).unwrap();
        assert_eq!(dom.boot_vcpu.entry, 0x4460_0000);
        assert_eq!(env.writes.len(), 1, "only the device tree is written");
        assert_eq!(env.writes[0].0, dom.boot_vcpu.arg0);
        let f = fdt::Fdt::new(&env.writes[0].1).unwrap();
        let chosen = f.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("linux,initrd-start").unwrap().as_usize(),
            Some((base + r.offset) as usize)
        );
        // One page off the boundary: copied as before.
        let inputs = HardwareInputs {
            image_base: base + 0x1000,
            ..inputs
        };
        let mut env = FakeEnv::default();
        let dom = build(&mut env, &img, &t, &d, &inputs).unwrap();
        assert_ne!(dom.boot_vcpu.entry, 0x4460_1000);
        assert_eq!(env.writes.len(), 2, "kernel and device tree written");
    }
}
