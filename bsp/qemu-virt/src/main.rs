//! Board support for QEMU's arm64 `virt` machine (virtualization=on,
//! gic-version=3): the board as data. Addresses are QEMU's fixed virt map
//! (hw/arm/virt.c memmap).
#![cfg_attr(target_os = "none", no_std, no_main)]

use hypervisor::board::{
    Board, ConsoleDevice, Firmware, InterruptController, Leaves, PhysRange, Spmc, Timer,
};

pub struct QemuVirt;

impl Board for QemuVirt {
    const NAME: &'static str = "qemu-virt";
    const CONSOLE: ConsoleDevice = ConsoleDevice::Pl011 { base: 0x0900_0000 };
    const INTERRUPT_CONTROLLER: InterruptController = InterruptController::GicV3 {
        gicd: 0x0800_0000,
        gicr: 0x080a_0000,
        maintenance_ppi: 25,
    };
    const TIMER: Timer = Timer::ArmGeneric { el1_virt_ppi: 27 };
    // With virtualization=on QEMU's PSCI answers SMC from EL2.
    const FIRMWARE: Firmware = Firmware::ArmPsciSmc;
    // QEMU's virt machine takes at most 512 CPUs with GICv3; Halyard's
    // tables hold 64.
    const MAX_CPUS: usize = 64;
    const RAM_WINDOW: PhysRange = PhysRange::new(0x4000_0000, 255 << 30);
    const DEVICE_WINDOWS: &'static [PhysRange] = &[
        // GIC, UART, RTC, GPIO, fw_cfg, virtio-mmio, PCIe MMIO and I/O: below RAM, above flash.
        PhysRange::new(0x0800_0000, 0x3800_0000),
        // PCIe ECAM (highmem).
        PhysRange::new(0x40_1000_0000, 0x1000_0000),
        // PCIe 64-bit MMIO (highmem).
        PhysRange::new(0x80_0000_0000, 0x80_0000_0000),
    ];
    // The GIC: distributor, v2m, ITS and redistributors (0x0800_0000..0x0900_0000).
    const HYPERVISOR_DEVICES: &'static [PhysRange] = &[PhysRange::new(0x0800_0000, 0x0100_0000)];
    // QEMU's TCG files each guest TLB entry under the larger of its stage-1
    // and stage-2 page sizes, and invalidating one page that lies in such a
    // large page flushes the vCPU's whole TLB. Over 2 MiB stage-2 blocks each
    // single-page TLBI from Linux (88,000 at boot from ftrace alone) became a
    // full flush, and every refill a two-stage walk. 4 KiB pages cost 2 MiB
    // of tables per GiB and buy dom0 ~9% of its boot time here.
    const GUEST_RAM_LEAVES: Leaves = Leaves::Pages;
    // Booted through firmware/ (secure=on) the board has an FF-A SPMC;
    // QEMU's built-in PSCI answers SMCCC_VERSION with -1, and FF-A stays off.
    const SPMC: Spmc = Spmc::FfaSmc;
}

hypervisor::board_main!(QemuVirt);

#[cfg(test)]
mod board_data_tests;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "bsp-qemu-virt is a bare-metal image: build it with `image-builder --board qemu-virt`"
    );
    std::process::exit(2);
}
