//! Where a domain's kernel, ramdisk and device tree go in its RAM, following
//! the Linux arm64 boot protocol (Documentation/arch/arm64/booting.rst).

use crate::board::PhysRange;
use crate::boot::linux_image::ImageHeader;
use crate::boot::passthrough::DeviceSet;
use crate::domain::guest_map::VgicLayout;
use crate::mm::frames::{align_down, PAGE_SIZE};

const MIB2: u64 = 2 << 20;
/// The protocol caps a DTB at 2 MiB; it gets the last 2 MiB of RAM.
pub const DTB_MAX: u64 = MIB2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestLayout {
    /// Kernel load address = entry point.
    pub kernel: PhysRange,
    pub dtb: PhysRange,
    pub initrd: Option<PhysRange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    RamMisaligned,
    KernelTooBig { need: u64, have: u64 },
    RamdiskTooBig { need: u64, have: u64 },
    DtbTooBig,
}

/// Place the pieces in `ram` (guest-physical): kernel at the RAM base +
/// text_offset, DTB in the last 2 MiB, ramdisk just below it.
pub fn plan(
    ram: PhysRange,
    kernel: &ImageHeader,
    ramdisk_len: Option<u64>,
    dtb_len: u64,
) -> Result<GuestLayout, LayoutError> {
    if !ram.base.is_multiple_of(MIB2) || !ram.size.is_multiple_of(MIB2) || ram.size < 2 * MIB2 {
        return Err(LayoutError::RamMisaligned);
    }
    if dtb_len > DTB_MAX {
        return Err(LayoutError::DtbTooBig);
    }
    let dtb = PhysRange::new(ram.end() - DTB_MAX, dtb_len);
    let overflow = LayoutError::KernelTooBig {
        need: u64::MAX,
        have: dtb.base - ram.base,
    };
    let kernel_start = ram.base.checked_add(kernel.text_offset).ok_or(overflow)?;
    let kernel_end = kernel_start
        .checked_add(kernel.image_size)
        .and_then(|e| e.checked_add(PAGE_SIZE - 1))
        .map(|e| align_down(e, PAGE_SIZE))
        .ok_or(overflow)?;
    if kernel_end > dtb.base {
        return Err(LayoutError::KernelTooBig {
            need: kernel_end - ram.base,
            have: dtb.base - ram.base,
        });
    }
    let initrd = match ramdisk_len {
        None => None,
        Some(len) => {
            let start = align_down(dtb.base.saturating_sub(len), PAGE_SIZE);
            if len > dtb.base - kernel_end || start < kernel_end {
                return Err(LayoutError::RamdiskTooBig {
                    need: len,
                    have: dtb.base - kernel_end,
                });
            }
            Some(PhysRange::new(start, len))
        }
    };
    Ok(GuestLayout {
        kernel: PhysRange::new(kernel_start, kernel.image_size),
        dtb,
        initrd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: PhysRange = PhysRange::new(0x4000_0000, 64 << 20);

    fn k(text_offset: u64, image_size: u64) -> ImageHeader {
        ImageHeader {
            text_offset,
            image_size,
            flags: 0,
        }
    }

    #[test]
    fn places_kernel_initrd_dtb() {
        let l = plan(RAM, &k(0, 0x10_0000), Some(0x8000), 0x1000).unwrap();
        assert_eq!(l.kernel, PhysRange::new(0x4000_0000, 0x10_0000));
        assert_eq!(l.dtb, PhysRange::new(0x43e0_0000, 0x1000));
        assert_eq!(l.initrd, Some(PhysRange::new(0x43df_8000, 0x8000)));
        assert_eq!(
            plan(RAM, &k(0x20_0000, 0x1000), None, 10)
                .unwrap()
                .kernel
                .base,
            0x4020_0000
        );
    }

    #[test]
    fn too_big() {
        assert!(matches!(
            plan(RAM, &k(0, 63 << 20), None, 1),
            Err(LayoutError::KernelTooBig { .. })
        ));
        assert!(matches!(
            plan(RAM, &k(0, 1 << 20), Some((61 << 20) + 1), 1),
            Err(LayoutError::RamdiskTooBig { .. })
        ));
        assert!(matches!(
            plan(RAM, &k(0, 1 << 20), Some(u64::MAX), 1),
            Err(LayoutError::RamdiskTooBig { .. })
        ));
        assert_eq!(
            plan(RAM, &k(0, 1), None, DTB_MAX + 1),
            Err(LayoutError::DtbTooBig)
        );
        assert_eq!(
            plan(PhysRange::new(0x4000_1000, 64 << 20), &k(0, 1), None, 1),
            Err(LayoutError::RamMisaligned)
        );
        assert!(matches!(
            plan(RAM, &k(u64::MAX - 10, 100), None, 1),
            Err(LayoutError::KernelTooBig { .. })
        ));
    }
}

/// What building a domain needs from the architecture and memory manager.
pub trait BuildEnv {
    /// Guest-physical base of a non-direct-mapped domain's RAM.
    fn guest_ram_base(&self) -> u64;
    /// Physically contiguous host memory.
    fn alloc(&mut self, size: u64, align: u64) -> Option<u64>;
    fn new_stage2(&mut self) -> Option<crate::mm::page_table::PageTable>;
    /// Map guest RAM `[ipa, ipa+size)` to host `pa`, cacheable and RWX for the guest.
    fn map_ram(
        &mut self,
        pt: &crate::mm::page_table::PageTable,
        ipa: u64,
        pa: u64,
        size: u64,
    ) -> bool;
    /// Map device MMIO `[ipa, ipa+size)` to host `pa` (device memory, RW, XN).
    fn map_device(
        &mut self,
        pt: &crate::mm::page_table::PageTable,
        ipa: u64,
        pa: u64,
        size: u64,
    ) -> bool;
    /// Copy into host-physical memory.
    fn write(&mut self, pa: u64, bytes: &[u8]);
    /// Zero host-physical memory.
    fn zero(&mut self, pa: u64, size: u64);
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    NoKernel,
    Kernel(crate::boot::linux_image::ImageError),
    Layout(LayoutError),
    /// Direct-mapped domains are not supported yet.
    DirectMapUnsupported,
    BadMemorySize(u64),
    OutOfMemory {
        need: u64,
    },
    Stage2,
    DeviceTree,
    /// More vCPUs than physical CPUs to pin them to.
    TooManyVcpus {
        vcpus: u16,
        cpus: usize,
    },
    /// A passed-through device lands on the domain's own address map.
    Device(alloc::string::String),
}

/// A domain's boot modules, found in the image and the kernel's header read.
pub struct BootModules<'a> {
    /// The kernel's command line.
    pub cmdline: &'a str,
    pub kernel: &'a [u8],
    pub header: crate::boot::linux_image::ImageHeader,
    pub ramdisk: Option<&'a [u8]>,
}

impl<'a> BootModules<'a> {
    pub fn find(
        image: &'a [u8],
        table: &image_format::ModuleTable<'a>,
        id: u16,
    ) -> Result<Self, BuildError> {
        use crate::boot::{linux_image, modules};
        use image_format::ModuleKind;
        let bytes_of = |kind| {
            table
                .module(id, kind)
                .and_then(|m| modules::module_bytes(image, &m).map(|b| (m, b)))
        };
        let (kmod, kernel) = bytes_of(ModuleKind::Kernel).ok_or(BuildError::NoKernel)?;
        let header = linux_image::parse(kernel).map_err(BuildError::Kernel)?;
        let ramdisk = bytes_of(ModuleKind::Ramdisk).map(|(_, b)| b);
        Ok(Self {
            cmdline: kmod.cmdline,
            kernel,
            header,
            ramdisk,
        })
    }
}

/// Build domain `d` of `table` from the module bytes in `image`: allocate
/// and map its RAM and the MMIO of the `devices` it is given, load kernel,
/// ramdisk and device tree.
pub fn build_domain(
    env: &mut dyn BuildEnv,
    image: &[u8],
    table: &image_format::ModuleTable<'_>,
    d: &image_format::DomainEntry<'_>,
    devices: DeviceSet,
    host_gic: &crate::board::InterruptController,
) -> Result<crate::domain::Domain, BuildError> {
    if d.is_direct_mapped() {
        return Err(BuildError::DirectMapUnsupported);
    }
    if d.memory_bytes == 0 || !d.memory_bytes.is_multiple_of(MIB2) {
        return Err(BuildError::BadMemorySize(d.memory_bytes));
    }
    let ram = PhysRange::new(env.guest_ram_base(), d.memory_bytes);
    let vgic = VgicLayout::for_domain(host_gic, false, d.vcpus);
    if let Some(why) = clash(&devices, ram, &vgic) {
        return Err(BuildError::Device(why));
    }
    // Check the modules fit before taking memory for them.
    let modules = BootModules::find(image, table, d.id)?;
    plan(
        ram,
        &modules.header,
        modules.ramdisk.map(|r| r.len() as u64),
        DTB_BOUND,
    )
    .map_err(BuildError::Layout)?;
    let ram_pa = env
        .alloc(d.memory_bytes, MIB2)
        .ok_or(BuildError::OutOfMemory {
            need: d.memory_bytes,
        })?;
    let stage2 = env.new_stage2().ok_or(BuildError::Stage2)?;
    if !env.map_ram(&stage2, ram.base, ram_pa, ram.size) {
        return Err(BuildError::Stage2);
    }
    // Passed through 1:1: the domain sees each device where it is.
    for r in devices.mmio() {
        if !env.map_device(&stage2, r.base, r.base, r.size) {
            return Err(BuildError::Stage2);
        }
    }
    map_vgic(env, &stage2, &vgic)?;
    let boot_vcpu = load_domain(
        &mut |pa, bytes| env.write(pa, bytes),
        image,
        table,
        d,
        crate::domain::Bank {
            ipa: ram,
            pa: ram_pa,
        },
        1,
        GuestHardware {
            devices: &devices,
            vgic: &vgic,
        },
    )?;
    let grant = grant_frames(env, &stage2, Some(GUEST_GRANT_BASE))?;
    let mut dom = crate::domain::Domain::new(
        d.id,
        alloc::string::String::from(d.name),
        d.is_hardware(),
        alloc::vec![crate::domain::Bank {
            ipa: ram,
            pa: ram_pa
        }],
        stage2,
        (0..u64::from(d.vcpus)).collect(),
        boot_vcpu,
    );
    dom.grant = Some(grant);
    dom.pin(d.pcpus);
    dom.ffa_bench_forwarding = BootModules::find(image, table, d.id)
        .is_ok_and(|m| m.cmdline.split(' ').any(|w| w == FFA_BENCH_FORWARDING));
    dom.vuart = Some(spin::Mutex::new(crate::vdev::pl011::Vpl011::new()));
    dom.devices = devices;
    dom.vgic_layout = Some(vgic);
    Ok(dom)
}

/// A word in a domain's (signed) command line that makes the FF-A mediator
/// ask the SPMC at each of its PARTITION_INFO_GET calls instead of
/// answering from the cache: for the cached-vs-forwarded benchmark only.
pub const FFA_BENCH_FORWARDING: &str = "halyard.bench=ffa-forwarding";

/// Map what of the virtual GIC is the hardware's (a GICv2's CPU interface).
pub fn map_vgic(
    env: &mut dyn BuildEnv,
    stage2: &crate::mm::page_table::PageTable,
    vgic: &VgicLayout,
) -> Result<(), BuildError> {
    match vgic.mapped() {
        Some((ipa, pa, size)) if !env.map_device(stage2, ipa, pa, size) => Err(BuildError::Stage2),
        _ => Ok(()),
    }
}

/// What a device would collide with on the domain's own address map
/// (`crate::domain::guest_map`) or among its virtual interrupts.
fn clash(devices: &DeviceSet, ram: PhysRange, vgic: &VgicLayout) -> Option<alloc::string::String> {
    use crate::domain::guest_map;
    let [gic0, gic1] = vgic.regions();
    let own = [
        (ram, "RAM"),
        gic0,
        gic1,
        (
            PhysRange::new(guest_map::UART, crate::vdev::pl011::SIZE),
            "virtual UART",
        ),
        (
            PhysRange::new(GUEST_GRANT_BASE, GRANT_FRAMES * PAGE),
            "grant frames",
        ),
    ];
    crate::boot::passthrough::clash(
        devices,
        &own,
        &[(guest_map::UART_SPI, "virtual UART's interrupt")],
    )
}

/// What a domain's device tree describes besides RAM and CPUs: the devices
/// passed through to it and its virtual GIC.
pub struct GuestHardware<'a> {
    pub devices: &'a DeviceSet,
    pub vgic: &'a VgicLayout,
}

/// Room the device tree may take at the top of RAM.
const DTB_BOUND: u64 = 64 * 1024;

/// Load domain `d`'s kernel, ramdisk and a device tree (saying this is boot
/// number `boot`, describing its `devices`) into its RAM `bank`, through
/// `write` (host-physical address, bytes); where its first vCPU starts.
/// Used for the first boot and again for every reboot of the domain.
pub fn load_domain(
    write: &mut dyn FnMut(u64, &[u8]),
    image: &[u8],
    table: &image_format::ModuleTable<'_>,
    d: &image_format::DomainEntry<'_>,
    bank: crate::domain::Bank,
    boot: u32,
    hardware: GuestHardware<'_>,
) -> Result<crate::domain::BootVcpu, BuildError> {
    let GuestHardware { devices, vgic } = hardware;
    use crate::boot::guest_fdt;
    let BootModules {
        cmdline,
        kernel,
        header,
        ramdisk,
    } = BootModules::find(image, table, d.id)?;
    let ram = bank.ipa;
    // The DTB's size depends on the initrd placement only through values,
    // not length, so plan with a generous bound and build it afterwards.
    let layout = plan(ram, &header, ramdisk.map(|r| r.len() as u64), DTB_BOUND)
        .map_err(BuildError::Layout)?;
    let dtb = guest_fdt::build(&guest_fdt::GuestFdtSpec {
        ram,
        vcpus: d.vcpus,
        bootargs: cmdline,
        initrd: layout.initrd,
        grant: PhysRange::new(GUEST_GRANT_BASE, GRANT_FRAMES * PAGE),
        boot,
        devices,
        vgic,
    })
    .map_err(|_| BuildError::DeviceTree)?;
    if dtb.len() as u64 > DTB_BOUND {
        return Err(BuildError::DeviceTree);
    }
    let pa = |ipa: u64| bank.pa + (ipa - ram.base);
    write(pa(layout.kernel.base), kernel);
    if let (Some(rd), Some(bytes)) = (layout.initrd, ramdisk) {
        write(pa(rd.base), bytes);
    }
    write(pa(layout.dtb.base), &dtb);
    Ok(crate::domain::BootVcpu {
        entry: layout.kernel.base,
        arg0: layout.dtb.base,
    })
}

/// Grant-table frames each domain gets: 64 KiB, 8192 v1 grant entries.
pub const GRANT_FRAMES: u64 = 16;
/// Where a domain that is not direct-mapped finds them (Xen's
/// GUEST_GNTTAB_BASE, below the RAM of every board's guest map).
pub const GUEST_GRANT_BASE: u64 = 0x3800_0000;

/// Allocate, zero and map a domain's grant frames at `ipa`, or 1:1 where
/// they were allocated (direct-mapped domains: that range is the
/// hypervisor's, never the domain's RAM).
pub fn grant_frames(
    env: &mut dyn BuildEnv,
    stage2: &crate::mm::page_table::PageTable,
    ipa: Option<u64>,
) -> Result<crate::domain::xen_state::GrantFrames, BuildError> {
    let size = GRANT_FRAMES * PAGE;
    let pa = env
        .alloc(size, PAGE)
        .ok_or(BuildError::OutOfMemory { need: size })?;
    env.zero(pa, size);
    let ipa = ipa.unwrap_or(pa);
    if !env.map_ram(stage2, ipa, pa, size) {
        return Err(BuildError::Stage2);
    }
    Ok(crate::domain::xen_state::GrantFrames {
        ipa: PhysRange::new(ipa, size),
    })
}

const PAGE: u64 = 4096;

#[cfg(test)]
mod build_tests {
    use super::*;
    use image_format::{ModuleKind, ModuleTable};

    use crate::boot::test_env::{arm64_image, image_with, FakeEnv};

    fn kernel() -> Vec<u8> {
        arm64_image(8192)
    }

    fn image(kernel: &[u8], memory: u64) -> Vec<u8> {
        image_with(3, 0, memory, &[(ModuleKind::Kernel, kernel.to_vec())])
    }

    fn run(img: &[u8], env: &mut FakeEnv) -> Result<crate::domain::Domain, BuildError> {
        run_on(img, env, &crate::boot::test_env::HOST_GICV3)
    }

    fn run_on(
        img: &[u8],
        env: &mut FakeEnv,
        gic: &crate::board::InterruptController,
    ) -> Result<crate::domain::Domain, BuildError> {
        let t = ModuleTable::parse(&img[0x1000..]).unwrap();
        let d = t.domains().next().unwrap();
        build_domain(env, img, &t, &d, DeviceSet::default(), gic)
    }

    #[test]
    fn a_gicv2_domain_gets_the_virtual_cpu_interface_mapped() {
        let img = image(&kernel(), 64 << 20);
        let mut env = FakeEnv {
            mem_left: 1 << 30,
            ..Default::default()
        };
        let gic = crate::board::InterruptController::GicV2 {
            gicd: 0x0800_0000,
            gicc: 0x0801_0000,
            gich: 0x0803_0000,
            gicv: 0x0804_0000,
            maintenance_ppi: 25,
        };
        let d = run_on(&img, &mut env, &gic).unwrap();
        assert_eq!(env.devices, vec![(0x0801_0000, 0x0804_0000, 0x2000)]);
        assert!(matches!(
            d.vgic_layout,
            Some(crate::domain::guest_map::VgicLayout::V2 { .. })
        ));
    }

    #[test]
    fn builds_a_domain() {
        let img = image(&kernel(), 64 << 20);
        let mut env = FakeEnv {
            mem_left: 1 << 30,
            ..Default::default()
        };
        let d = run(&img, &mut env).unwrap();
        assert_eq!(d.id, 3);
        assert_eq!(d.banks[0].ipa, PhysRange::new(0x4000_0000, 64 << 20));
        assert_eq!(d.boot_vcpu.entry, 0x4000_0000);
        assert_eq!(d.boot_vcpu.arg0, 0x43e0_0000);
        let grant = 0x1_0000_0000 + (64 << 20);
        assert_eq!(
            env.maps,
            vec![
                (0x4000_0000, 0x1_0000_0000, 64 << 20),
                (GUEST_GRANT_BASE, grant, GRANT_FRAMES * 4096)
            ]
        );
        assert_eq!(env.zeroed, vec![(grant, GRANT_FRAMES * 4096)]);
        assert_eq!(d.grant.unwrap().ipa.base, GUEST_GRANT_BASE);
        assert_eq!(env.writes[0], (0x1_0000_0000, kernel()));
        let (dtb_pa, dtb) = &env.writes[1];
        assert_eq!(*dtb_pa, 0x1_0000_0000 + (62 << 20));
        assert_eq!(
            fdt::Fdt::new(dtb).unwrap().chosen().bootargs(),
            Some("console=ttyAMA0")
        );
    }

    #[test]
    fn refuses_bad_domains() {
        let mut env = FakeEnv {
            mem_left: 1 << 30,
            ..Default::default()
        };
        assert_eq!(
            run(&image(&[1u8; 100], 64 << 20), &mut env).unwrap_err(),
            BuildError::Kernel(crate::boot::linux_image::ImageError::BadMagic)
        );
        assert_eq!(
            run(&image(&kernel(), 3 << 20), &mut env).unwrap_err(),
            BuildError::BadMemorySize(3 << 20)
        );
        let mut small = FakeEnv {
            mem_left: 1 << 20,
            ..Default::default()
        };
        assert_eq!(
            run(&image(&kernel(), 64 << 20), &mut small).unwrap_err(),
            BuildError::OutOfMemory { need: 64 << 20 }
        );
    }
}
