//! Passthrough checks against QEMU virt's real device tree (dumped from
//! QEMU 10, tests/fixtures/dtb) and hand-made trees for what it lacks.

use super::*;
use alloc::string::ToString;
use image_format::{domain_flags, layout_all, DeviceSpec, DomainSpec, LayoutOptions};

const QEMU_VIRT: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");

/// The GIC and the console PL011, as qemu-virt's BSP keeps them.
const KEPT_MMIO: [PhysRange; 2] = [
    PhysRange::new(0x0800_0000, 0x0100_0000),
    PhysRange::new(0x0900_0000, 0x1000),
];
const KEPT: Kept<'static> = Kept {
    mmio: &KEPT_MMIO,
    irqs: &[33],
};

fn dev(domain: u16, path: &str, mmio: &[(u64, u64)], irqs: &[u32]) -> DeviceSpec {
    DeviceSpec {
        domain,
        path: path.to_string(),
        mmio: mmio.to_vec(),
        irqs: irqs.to_vec(),
    }
}

fn rtc(domain: u16) -> DeviceSpec {
    dev(domain, "/pl031@9010000", &[(0x0901_0000, 0x1000)], &[34])
}

fn gpio(domain: u16) -> DeviceSpec {
    dev(domain, "/pl061@9030000", &[(0x0903_0000, 0x1000)], &[39])
}

fn run(devices: &[DeviceSpec], dtb: &[u8]) -> Checked {
    let domains: Vec<DomainSpec> = [(0u16, domain_flags::HARDWARE), (1, 0), (2, 0)]
        .into_iter()
        .map(|(id, flags)| DomainSpec {
            id,
            flags,
            vcpus: 1,
            memory_bytes: 64 << 20,
            name: alloc::format!("d{id}"),
            pcpus: 0,
        })
        .collect();
    let l = layout_all(0x1000, &domains, &[], devices, LayoutOptions::default());
    let t = ModuleTable::parse(&l.table).unwrap();
    check(&t, dtb, &KEPT)
}

fn prop<'a>(n: &'a CopiedNode, name: &str) -> Option<&'a [u8]> {
    n.props
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

#[test]
fn the_rtc_is_given_with_its_clock() {
    let mut c = run(&[rtc(1), gpio(1)], QEMU_VIRT);
    assert!(c.refused.is_empty(), "{:?}", c.refused);
    let set = c.take(1);
    assert_eq!(set.devices.len(), 2);
    let d = &set.devices[0];
    assert_eq!(d.path, "/pl031@9010000");
    assert_eq!(d.irqs, [34]);
    assert_eq!(d.mmio, [PhysRange::new(0x0901_0000, 0x1000)]);
    let n = &d.node;
    assert_eq!(n.name, "pl031@9010000");
    assert_eq!(
        prop(n, "compatible"),
        Some(&b"arm,pl031\0arm,primecell\0"[..])
    );
    assert_eq!(
        prop(n, "interrupts"),
        Some(&[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4][..])
    );
    assert_eq!(prop(n, "reg").map(<[u8]>::len), Some(16));
    assert_eq!(prop(n, "phandle"), None);
    // Both devices name QEMU's apb-pclk: one copy, phandle 2.
    assert_eq!(prop(n, "clocks"), Some(&2u32.to_be_bytes()[..]));
    assert_eq!(
        prop(&set.devices[1].node, "clocks"),
        Some(&2u32.to_be_bytes()[..])
    );
    assert_eq!(set.clocks.len(), 1);
    let clk = &set.clocks[0];
    assert_eq!(clk.name, "apb-pclk");
    assert_eq!(prop(clk, "compatible"), Some(&b"fixed-clock\0"[..]));
    assert_eq!(prop(clk, "phandle"), Some(&2u32.to_be_bytes()[..]));
    assert!(prop(clk, "clock-frequency").is_some());
    assert_eq!(set.irqs().collect::<Vec<_>>(), [34, 39]);
    // The hardware domain loses them.
    assert_eq!(c.withheld.paths, ["/pl031@9010000", "/pl061@9030000"]);
    assert_eq!(c.withheld.irqs, [34, 39]);
    assert!(c.take(2).is_empty());
}

fn refusal(devices: &[DeviceSpec], dtb: &[u8]) -> Refusal {
    let c = run(devices, dtb);
    assert_eq!(c.refused.len(), 1, "{:?}", c.refused);
    c.refused[0].clone()
}

#[test]
fn what_the_host_tree_contradicts_is_refused() {
    let r = refusal(
        &[dev(1, "/pl031@9010000", &[(0x0901_0000, 0x2000)], &[34])],
        QEMU_VIRT,
    );
    assert_eq!(r.domain, 1);
    assert_eq!(
        r.why,
        "the table gives MMIO [0x9010000+0x2000], the host device tree's 'reg' is [0x9010000+0x1000]"
    );
    let r = refusal(
        &[dev(1, "/pl031@9010000", &[(0x0901_0000, 0x1000)], &[35])],
        QEMU_VIRT,
    );
    assert_eq!(
        r.why,
        "the table gives interrupts [35], the host device tree [34]"
    );
    let r = refusal(
        &[dev(2, "/rtc@1", &[(0x0901_0000, 0x1000)], &[34])],
        QEMU_VIRT,
    );
    assert_eq!(
        (r.domain, r.why.as_str()),
        (2, "no such node in the host device tree")
    );
}

#[test]
fn the_hypervisors_own_devices_are_refused() {
    let r = refusal(
        &[dev(1, "/pl011@9000000", &[(0x0900_0000, 0x1000)], &[33])],
        QEMU_VIRT,
    );
    assert!(r.why.contains("is the hypervisor's own"), "{}", r.why);
    // The ITS: inside the GIC's frame.
    let its = "/intc@8000000/its@8080000";
    let r = refusal(&[dev(1, its, &[(0x0808_0000, 0x20000)], &[])], QEMU_VIRT);
    assert!(r.why.contains("hypervisor's own"), "{}", r.why);
}

#[test]
fn one_bad_device_refuses_its_domain_only() {
    let bad = dev(1, "/pl061@9030000", &[(0x0903_0000, 0x1000)], &[40]);
    let mut c = run(
        &[
            rtc(1),
            bad,
            dev(2, "/fw-cfg@9020000", &[(0x0902_0000, 0x1000)], &[]),
        ],
        QEMU_VIRT,
    );
    assert_eq!(c.refused.len(), 1);
    assert_eq!(c.refused[0].path, "/pl061@9030000");
    assert!(c.take(1).is_empty());
    let fw = c.take(2);
    assert_eq!(fw.devices.len(), 1);
    // fw-cfg's reg is 0x18 bytes: the table gives the whole page.
    assert_eq!(fw.devices[0].mmio, [PhysRange::new(0x0902_0000, 0x1000)]);
    assert_eq!(c.withheld.paths.len(), 3);
}

/// A tree with what QEMU's lacks: a translating bus, a PPI, a clock that
/// is not fixed, a disabled node, phandle references.
fn odd_tree() -> Vec<u8> {
    let mut w = vm_fdt::FdtWriter::new().unwrap();
    let root = w.begin_node("").unwrap();
    w.property_u32("#address-cells", 2).unwrap();
    w.property_u32("#size-cells", 2).unwrap();
    w.property_u32("interrupt-parent", 1).unwrap();
    let gic = w.begin_node("intc@8000000").unwrap();
    w.property_u32("#interrupt-cells", 3).unwrap();
    w.property_u32("phandle", 1).unwrap();
    w.end_node(gic).unwrap();
    let pll = w.begin_node("pll").unwrap();
    w.property_string("compatible", "vendor,pll").unwrap();
    w.property_u32("#clock-cells", 0).unwrap();
    w.property_u32("phandle", 7).unwrap();
    w.end_node(pll).unwrap();
    let soc = w.begin_node("soc").unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    w.property_u32("#size-cells", 1).unwrap();
    w.property_array_u32("ranges", &[0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000])
        .unwrap();
    let uart = w.begin_node("serial@7e201000").unwrap();
    w.property_array_u32("reg", &[0x7e20_1000, 0x200]).unwrap();
    w.end_node(uart).unwrap();
    w.end_node(soc).unwrap();
    for (name, int, clocks, status) in [
        ("ppi@a000000", [1u32, 7, 4], None, None),
        ("pll-user@a001000", [0, 9, 4], Some(7u32), None),
        ("off@a002000", [0, 10, 4], None, Some("disabled")),
        ("refs@a003000", [0, 11, 4], None, None),
    ] {
        let n = w.begin_node(name).unwrap();
        let base = u64::from_str_radix(&name[name.len() - 7..], 16).unwrap();
        w.property_array_u64("reg", &[base, 0x1000]).unwrap();
        w.property_array_u32("interrupts", &int).unwrap();
        if let Some(c) = clocks {
            w.property_u32("clocks", c).unwrap();
        }
        if let Some(s) = status {
            w.property_string("status", s).unwrap();
        }
        if name.starts_with("refs") {
            w.property_u32("resets", 7).unwrap();
            w.property_u32("vdd-supply", 7).unwrap();
            let child = w.begin_node("port").unwrap();
            w.property_u32("reg", 0).unwrap();
            w.end_node(child).unwrap();
        }
        w.end_node(n).unwrap();
    }
    w.end_node(root).unwrap();
    w.finish().unwrap()
}

#[test]
fn what_halyard_cannot_give_is_refused_by_name() {
    let tree = odd_tree();
    let r = refusal(
        &[dev(
            1,
            "/soc/serial@7e201000",
            &[(0xfe20_1000, 0x1000)],
            &[],
        )],
        &tree,
    );
    assert!(
        r.why.contains("its bus /soc translates addresses"),
        "{}",
        r.why
    );
    let r = refusal(
        &[dev(1, "/ppi@a000000", &[(0x0a00_0000, 0x1000)], &[])],
        &tree,
    );
    assert!(r.why.contains("interrupt <1 7> is not an SPI"), "{}", r.why);
    let r = refusal(
        &[dev(1, "/pll-user@a001000", &[(0x0a00_1000, 0x1000)], &[41])],
        &tree,
    );
    assert!(
        r.why.contains("its clock pll is not a fixed clock"),
        "{}",
        r.why
    );
    let r = refusal(
        &[dev(1, "/off@a002000", &[(0x0a00_2000, 0x1000)], &[42])],
        &tree,
    );
    assert!(r.why.contains("status \"disabled\""), "{}", r.why);
    let r = refusal(&[rtc(1)], b"not a tree");
    assert_eq!(r.why, "the host device tree cannot be read");
}

#[test]
fn references_to_other_nodes_are_dropped_children_kept() {
    let tree = odd_tree();
    let mut c = run(
        &[dev(1, "/refs@a003000", &[(0x0a00_3000, 0x1000)], &[43])],
        &tree,
    );
    assert!(c.refused.is_empty(), "{:?}", c.refused);
    let set = c.take(1);
    let n = &set.devices[0].node;
    assert_eq!(prop(n, "resets"), None);
    assert_eq!(prop(n, "vdd-supply"), None);
    assert!(prop(n, "interrupts").is_some());
    assert_eq!(n.children.len(), 1);
    assert_eq!(n.children[0].name, "port");
    assert_eq!(prop(&n.children[0], "reg"), Some(&[0, 0, 0, 0][..]));
}

#[test]
fn a_device_on_the_domains_own_map_clashes() {
    let mut c = run(&[rtc(1)], QEMU_VIRT);
    let set = c.take(1);
    let ram = PhysRange::new(0x0900_0000, 0x0200_0000);
    assert_eq!(
        clash(&set, &[(ram, "RAM")], &[]),
        Some("device /pl031@9010000: MMIO 0x9010000+0x1000 lies on the domain's RAM".into())
    );
    assert_eq!(
        clash(&set, &[], &[(34, "virtual UART's interrupt")]),
        Some("device /pl031@9010000: interrupt 34 is the domain's virtual UART's interrupt".into())
    );
    assert_eq!(
        clash(
            &set,
            &[(PhysRange::new(0x4000_0000, 1 << 30), "RAM")],
            &[(33, "UART")]
        ),
        None
    );
}

#[test]
fn the_domains_tree_describes_its_devices() {
    let mut c = run(&[rtc(1)], QEMU_VIRT);
    let set = c.take(1);
    let blob = crate::boot::guest_fdt::build(&crate::boot::guest_fdt::GuestFdtSpec {
        ram: PhysRange::new(0x4000_0000, 64 << 20),
        vcpus: 1,
        bootargs: "",
        initrd: None,
        grant: PhysRange::new(0x3800_0000, 0x1_0000),
        boot: 1,
        devices: &set,
        vgic: &crate::domain::guest_map::VgicLayout::for_domain(
            &crate::board::InterruptController::GicV3 {
                gicd: 0x0800_0000,
                gicr: 0x080a_0000,
                maintenance_ppi: 25,
            },
            false,
            1,
        ),
    })
    .unwrap();
    let fdt = fdt::Fdt::new(&blob).unwrap();
    let rtc = fdt.find_node("/pl031@9010000").unwrap();
    let reg: Vec<_> = rtc.reg().unwrap().collect();
    assert_eq!(reg[0].starting_address as u64, 0x0901_0000);
    assert_eq!(reg[0].size, Some(0x1000));
    assert_eq!(
        rtc.property("interrupts").unwrap().value,
        [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4]
    );
    let clk = fdt.find_phandle(prop_u32(&rtc, "clocks").unwrap()).unwrap();
    assert_eq!(clk.name, "apb-pclk");
    // Its interrupts go to the domain's GIC, the root's interrupt parent.
    assert!(rtc.property("interrupt-parent").is_none());
    let root = fdt.find_node("/").unwrap();
    let gic = fdt.find_phandle(prop_u32(&root, "interrupt-parent").unwrap());
    assert_eq!(gic.unwrap().name, "intc@8000000");
}
