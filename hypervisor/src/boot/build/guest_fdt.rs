//! The device tree a domain boots with: its memory, CPUs, command line,
//! ramdisk, and what the hypervisor provides: PSCI, the virtual GIC (with
//! only its own redistributors), the timer, its PL011 as the console, and
//! the Xen interface (`/hypervisor`).

use alloc::format;
use alloc::vec::Vec;

use crate::board::PhysRange;
use crate::domain::guest_map;

pub struct GuestFdtSpec<'a> {
    pub ram: PhysRange,
    pub vcpus: u16,
    pub bootargs: &'a str,
    pub initrd: Option<PhysRange>,
    /// Grant frames for `/hypervisor` reg[0].
    pub grant: PhysRange,
    /// Which boot of the domain this is (1 first; reboots count up),
    /// as `/chosen/halyard,boot-count`.
    pub boot: u32,
    /// Host devices passed through (their nodes, and the fixed clocks
    /// they name).
    pub devices: &'a crate::boot::passthrough::DeviceSet,
    /// Its virtual GIC.
    pub vgic: &'a guest_map::VgicLayout,
}

const GIC_PHANDLE: u32 = 1;
/// `interrupts` flags: level high.
const LEVEL_HIGH: u32 = 4;

/// `/psci`: the hypervisor's PSCI 1.1 over HVC, which every domain's vCPUs
/// start and stop by.
pub fn write_psci(w: &mut vm_fdt::FdtWriter) -> Result<(), vm_fdt::Error> {
    let psci = w.begin_node("psci")?;
    w.property_string_list(
        "compatible",
        alloc::vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
    )?;
    w.property_string("method", "hvc")?;
    w.end_node(psci)
}

pub fn build(spec: &GuestFdtSpec<'_>) -> Result<Vec<u8>, vm_fdt::Error> {
    let mut w = vm_fdt::FdtWriter::new()?;
    let root = w.begin_node("")?;
    w.property_string_list(
        "compatible",
        alloc::vec!["halyard,guest".into(), "linux,dummy-virt".into()],
    )?;
    w.property_u32("#address-cells", 2)?;
    w.property_u32("#size-cells", 2)?;
    w.property_u32("interrupt-parent", GIC_PHANDLE)?;

    let uart_name = format!("pl011@{:x}", guest_map::UART);
    let chosen = w.begin_node("chosen")?;
    w.property_string("bootargs", spec.bootargs)?;
    w.property_string("stdout-path", &format!("/{uart_name}"))?;
    w.property_u32("halyard,boot-count", spec.boot)?;
    if let Some(rd) = spec.initrd {
        w.property_u64("linux,initrd-start", rd.base)?;
        w.property_u64("linux,initrd-end", rd.end())?;
    }
    w.end_node(chosen)?;

    let mem = w.begin_node(&format!("memory@{:x}", spec.ram.base))?;
    w.property_string("device_type", "memory")?;
    w.property_array_u64("reg", &[spec.ram.base, spec.ram.size])?;
    w.end_node(mem)?;

    let cpus = w.begin_node("cpus")?;
    w.property_u32("#address-cells", 1)?;
    w.property_u32("#size-cells", 0)?;
    for i in 0..u32::from(spec.vcpus) {
        let cpu = w.begin_node(&format!("cpu@{i}"))?;
        w.property_string("device_type", "cpu")?;
        w.property_string("compatible", "arm,armv8")?;
        w.property_u32("reg", i)?;
        w.property_string("enable-method", "psci")?;
        w.end_node(cpu)?;
    }
    w.end_node(cpus)?;

    write_psci(&mut w)?;

    let [(gicd, _), (second, _)] = spec.vgic.regions();
    let gic = w.begin_node(&format!("intc@{:x}", gicd.base))?;
    match spec.vgic {
        guest_map::VgicLayout::V3 { .. } => {
            w.property_string("compatible", "arm,gic-v3")?;
            w.property_u32("#redistributor-regions", 1)?;
        }
        guest_map::VgicLayout::V2 { .. } => {
            w.property_string("compatible", "arm,cortex-a15-gic")?;
        }
    }
    w.property_u32("#interrupt-cells", 3)?;
    w.property_null("interrupt-controller")?;
    w.property_array_u64("reg", &[gicd.base, gicd.size, second.base, second.size])?;
    w.property_u32("phandle", GIC_PHANDLE)?;
    w.end_node(gic)?;

    let timer = w.begin_node("timer")?;
    w.property_string("compatible", "arm,armv8-timer")?;
    let cells: Vec<u32> = guest_map::TIMER_PPIS
        .iter()
        .flat_map(|p| [1, p - 16, 0xf04])
        .collect();
    w.property_array_u32("interrupts", &cells)?;
    w.property_null("always-on")?;
    w.end_node(timer)?;

    let uart = w.begin_node(&uart_name)?;
    w.property_string("compatible", "arm,sbsa-uart")?;
    w.property_array_u64("reg", &[guest_map::UART, crate::vdev::pl011::SIZE])?;
    w.property_array_u32("interrupts", &[0, guest_map::UART_SPI - 32, LEVEL_HIGH])?;
    w.property_u32("current-speed", 115_200)?;
    w.end_node(uart)?;

    // The root's interrupt-parent already names the GIC.
    crate::boot::xen_node::write(&mut w, spec.grant, crate::domain::EVTCHN_PPI, None, (2, 2))?;

    // Passed-through devices at the root (2/2 cells, interrupt parent the
    // GIC), each with the clocks it names.
    for node in spec
        .devices
        .clocks
        .iter()
        .chain(spec.devices.devices.iter().map(|d| &d.node))
    {
        write_copied(&mut w, node)?;
    }

    w.end_node(root)?;
    w.finish()
}

fn write_copied(
    w: &mut vm_fdt::FdtWriter,
    node: &crate::boot::passthrough::CopiedNode,
) -> Result<(), vm_fdt::Error> {
    let n = w.begin_node(&node.name)?;
    for (name, value) in &node.props {
        w.property(name, value)?;
    }
    for child in &node.children {
        write_copied(w, child)?;
    }
    w.end_node(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::InterruptController;

    const HOST_V3: InterruptController = InterruptController::GicV3 {
        gicd: 0x0800_0000,
        gicr: 0x080a_0000,
        maintenance_ppi: 25,
    };

    #[test]
    fn a_gicv2_domain_gets_a_distributor_and_cpu_interface() {
        let host = InterruptController::GicV2 {
            gicd: 0xff84_1000,
            gicc: 0xff84_2000,
            gich: 0xff84_4000,
            gicv: 0xff84_6000,
            maintenance_ppi: 25,
        };
        let vgic = guest_map::VgicLayout::for_domain(&host, false, 2);
        assert_eq!(vgic.mapped(), Some((0x0801_0000, 0xff84_6000, 0x2000)));
        let blob = build(&GuestFdtSpec {
            ram: PhysRange::new(0x4000_0000, 64 << 20),
            vcpus: 2,
            bootargs: "",
            initrd: None,
            grant: PhysRange::new(0x3800_0000, 0x1_0000),
            boot: 1,
            devices: &Default::default(),
            vgic: &vgic,
        })
        .unwrap();
        let fdt = fdt::Fdt::new(&blob).unwrap();
        let gic = fdt.find_node("/intc@8000000").unwrap();
        assert_eq!(gic.compatible().unwrap().first(), "arm,cortex-a15-gic");
        let reg: Vec<_> = gic
            .reg()
            .unwrap()
            .map(|r| (r.starting_address as u64, r.size))
            .collect();
        assert_eq!(
            reg,
            [(0x0800_0000, Some(0x1000)), (0x0801_0000, Some(0x2000))]
        );
        assert!(gic.property("#redistributor-regions").is_none());
    }

    #[test]
    fn describes_the_domain() {
        let blob = build(&GuestFdtSpec {
            ram: PhysRange::new(0x4000_0000, 64 << 20),
            vcpus: 2,
            bootargs: "console=hvc0",
            initrd: Some(PhysRange::new(0x4300_0000, 0x1000)),
            grant: PhysRange::new(0x3800_0000, 0x1_0000),
            boot: 2,
            devices: &Default::default(),
            vgic: &guest_map::VgicLayout::for_domain(&HOST_V3, false, 2),
        })
        .unwrap();
        let fdt = fdt::Fdt::new(&blob).unwrap();
        assert_eq!(fdt.chosen().bootargs(), Some("console=hvc0"));
        let r: Vec<_> = fdt.memory().regions().collect();
        assert_eq!(
            (r[0].starting_address as u64, r[0].size),
            (0x4000_0000, Some(64 << 20))
        );
        assert_eq!(fdt.cpus().count(), 2);
        let psci = fdt.find_node("/psci").unwrap();
        assert_eq!(psci.property("method").unwrap().as_str(), Some("hvc"));
        let chosen = fdt.find_node("/chosen").unwrap();
        assert_eq!(
            chosen.property("linux,initrd-end").unwrap().as_usize(),
            Some(0x4300_1000)
        );
        assert_eq!(fdt.chosen().stdout().map(|s| s.name), Some("pl011@9000000"));
        // The GIC has exactly this domain's two redistributors.
        let gic = fdt.find_node("/intc@8000000").unwrap();
        let reg: Vec<_> = gic
            .reg()
            .unwrap()
            .map(|r| (r.starting_address as u64, r.size))
            .collect();
        assert_eq!(
            reg,
            [(0x0800_0000, Some(0x1_0000)), (0x080a_0000, Some(0x4_0000))]
        );
        let uart = fdt.find_node("/pl011@9000000").unwrap();
        assert_eq!(uart.compatible().unwrap().first(), "arm,sbsa-uart");
        let xen = fdt.find_node("/hypervisor").unwrap();
        assert_eq!(xen.compatible().unwrap().first(), "xen,xen-4.19");
        assert!(fdt.find_node("/timer").is_some());
        assert_eq!(
            chosen.property("halyard,boot-count").unwrap().as_usize(),
            Some(2)
        );
    }
}
