//! Board support for QEMU's arm64 `virt` machine with gic-version=2 and
//! virtualization=on: the reference machine with a GICv2 (distributor, CPU
//! interface, GICH and GICV frames), so the vGICv2 runs where everything
//! else is known to work. Addresses are QEMU's fixed virt map.
#![cfg_attr(target_os = "none", no_std, no_main)]

use hypervisor::board::{
    Board, ConsoleDevice, Firmware, InterruptController, Leaves, PhysRange, Timer,
};

pub struct QemuVirtGicV2;

impl Board for QemuVirtGicV2 {
    const NAME: &'static str = "qemu-virt-gicv2";
    const CONSOLE: ConsoleDevice = ConsoleDevice::Pl011 { base: 0x0900_0000 };
    const INTERRUPT_CONTROLLER: InterruptController = InterruptController::GicV2 {
        gicd: 0x0800_0000,
        gicc: 0x0801_0000,
        gich: 0x0803_0000,
        gicv: 0x0804_0000,
        maintenance_ppi: 25,
    };
    const TIMER: Timer = Timer::ArmGeneric { el1_virt_ppi: 27 };
    const FIRMWARE: Firmware = Firmware::ArmPsciSmc;
    // A GICv2 addresses at most 8 CPU interfaces.
    const MAX_CPUS: usize = 8;
    const RAM_WINDOW: PhysRange = PhysRange::new(0x4000_0000, 255 << 30);
    const DEVICE_WINDOWS: &'static [PhysRange] = &[
        PhysRange::new(0x0800_0000, 0x3800_0000),
        PhysRange::new(0x40_1000_0000, 0x1000_0000),
        PhysRange::new(0x80_0000_0000, 0x80_0000_0000),
    ];
    // GICD, GICC, v2m, GICH and GICV (0x0800_0000..0x0806_0000).
    const HYPERVISOR_DEVICES: &'static [PhysRange] = &[PhysRange::new(0x0800_0000, 0x0100_0000)];
    // As qemu-virt (its BSP says why).
    const GUEST_RAM_LEAVES: Leaves = Leaves::Pages;
    // QEMU's GICv2 does not re-signal a physical interrupt that a guest's
    // HW = 1 deactivation left pending (see the constant).
    const HW_DEACTIVATION_UNSIGNALLED: bool = true;
}

hypervisor::board_main!(QemuVirtGicV2);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "bsp-qemu-virt-gicv2 is a bare-metal image: build it with `image-builder --board qemu-virt-gicv2`"
    );
    std::process::exit(2);
}

#[cfg(test)]
mod board_data_tests {
    const DTB: &[u8] = include_bytes!("../../../tests/fixtures/dtb/qemu-virt-gicv2.dtb");

    /// The board's data against the tree QEMU 10 generates for it.
    #[test]
    fn board_data_matches_qemus_device_tree() {
        let p = hypervisor::boot::board_upstream::problems::<super::QemuVirtGicV2>(DTB);
        assert!(p.is_empty(), "{p:#?}");
    }
}
