//! The board's data, checked against the board manifest and the device
//! tree QEMU 10 generates for it (tests/fixtures/dtb): a typo in either
//! fails here, not at boot.

use super::QemuVirt;
use hypervisor::board::{Board, ConsoleDevice, InterruptController, PhysRange, Timer};

const DTB: &[u8] = include_bytes!("../../../tests/fixtures/dtb/qemu-virt-gicv3.dtb");
const MANIFEST: &str = include_str!("../../../manifests/boards/qemu-virt.yaml");

fn console_base() -> u64 {
    assert!(matches!(QemuVirt::CONSOLE, ConsoleDevice::Pl011 { .. }));
    QemuVirt::CONSOLE.base()
}

/// The manifest's `hypervisor_devices`: (name, MMIO ranges, SPIs).
fn manifest_devices() -> Vec<(String, Vec<PhysRange>, Vec<u32>)> {
    let v: serde_norway::Value = serde_norway::from_str(MANIFEST).unwrap();
    let list = v["hypervisor_devices"].as_sequence().unwrap();
    let u64s = |v: &serde_norway::Value| -> Vec<u64> {
        v.as_sequence()
            .map(|s| s.iter().map(|x| x.as_u64().unwrap()).collect())
            .unwrap_or_default()
    };
    list.iter()
        .map(|d| {
            let mmio = d["mmio"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|r| {
                    let r = u64s(r);
                    PhysRange::new(r[0], r[1])
                })
                .collect();
            let spis = u64s(&d["spis"]).into_iter().map(|s| s as u32).collect();
            (d["name"].as_str().unwrap().to_string(), mmio, spis)
        })
        .collect()
}

#[test]
fn the_manifest_names_what_the_hypervisor_keeps() {
    let devices = manifest_devices();
    let mut want: Vec<PhysRange> = QemuVirt::HYPERVISOR_DEVICES.to_vec();
    want.push(PhysRange::new(console_base(), 0x1000));
    let got: Vec<PhysRange> = devices.iter().flat_map(|d| d.1.clone()).collect();
    assert_eq!(got, want);
    // The console's SPI (numbered as the DT does) is the one QEMU wires.
    let intid = hypervisor::boot::dt::device_spi(DTB, console_base()).unwrap();
    let uart = devices.iter().find(|d| d.1.contains(&want[want.len() - 1]));
    assert_eq!(uart.unwrap().2, [intid - 32]);
}

/// The first `reg` address of the first node whose `compatible` lists `c`,
/// and every `reg` range of it.
fn regs_of(fdt: &fdt::Fdt<'_>, c: &str) -> Vec<PhysRange> {
    let node = fdt
        .all_nodes()
        .find(|n| n.compatible().is_some_and(|cs| cs.all().any(|x| x == c)))
        .unwrap_or_else(|| panic!("no {c} node"));
    node.reg()
        .unwrap()
        .map(|r| PhysRange::new(r.starting_address as u64, r.size.unwrap() as u64))
        .collect()
}

/// The PPIs (as INTIDs) in the `interrupts` of the first node compatible
/// with `c` (GIC specifiers: type 1 = PPI, number, flags).
fn ppis_of(fdt: &fdt::Fdt<'_>, c: &str) -> Vec<u32> {
    let node = fdt
        .all_nodes()
        .find(|n| n.compatible().is_some_and(|cs| cs.all().any(|x| x == c)))
        .unwrap();
    let v = node.property("interrupts").unwrap().value;
    v.chunks(12)
        .map(|s| {
            let w = |i: usize| u32::from_be_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
            assert_eq!(w(0), 1, "{c}: not a PPI");
            16 + w(4)
        })
        .collect()
}

#[test]
fn the_bsp_matches_qemus_device_tree() {
    let fdt = fdt::Fdt::new(DTB).unwrap();
    let InterruptController::GicV3 {
        gicd,
        gicr,
        maintenance_ppi,
    } = QemuVirt::INTERRUPT_CONTROLLER;
    let gic = regs_of(&fdt, "arm,gic-v3");
    assert_eq!((gic[0].base, gic[1].base), (gicd, gicr));
    // PPIs as INTIDs: the GIC's own interrupt is the maintenance interrupt;
    // the timer's third is the EL1 virtual timer.
    assert_eq!(ppis_of(&fdt, "arm,gic-v3"), [maintenance_ppi]);
    let Timer::ArmGeneric { el1_virt_ppi } = QemuVirt::TIMER;
    assert_eq!(ppis_of(&fdt, "arm,armv8-timer")[2], el1_virt_ppi);
    // The hypervisor keeps the whole GIC: every frame lies in its range.
    let kept = QemuVirt::HYPERVISOR_DEVICES[0];
    assert!(gic
        .iter()
        .all(|r| kept.base <= r.base && r.end() <= kept.end()));
    assert_eq!(regs_of(&fdt, "arm,pl011")[0].base, console_base());
    let info = hypervisor::boot::dt::parse(DTB, 0).unwrap();
    assert!(info.nr_cpus <= QemuVirt::MAX_CPUS);
    let ram = QemuVirt::RAM_WINDOW;
    let banks = info.ram;
    assert!(banks
        .as_slice()
        .iter()
        .all(|r| ram.base <= r.base && r.end() <= ram.end()));
}
