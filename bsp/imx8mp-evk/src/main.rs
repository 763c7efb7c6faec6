//! Board support for the NXP i.MX 8M Plus EVK (QEMU 10's `imx8mp-evk`:
//! 4 Cortex-A53, GICv3, entered at EL2): the board as data, from the
//! upstream device tree (freescale/imx8mp-evk.dtb) and the SoC's memory map.
#![cfg_attr(target_os = "none", no_std, no_main)]

use hypervisor::board::{
    Board, ConsoleDevice, Firmware, InterruptController, Leaves, PhysRange, Timer, VirtualIrqSignal,
};

pub struct Imx8mpEvk;

impl Board for Imx8mpEvk {
    const NAME: &'static str = "imx8mp-evk";
    // UART2, the EVK's console (stdout-path serial1).
    const CONSOLE: ConsoleDevice = ConsoleDevice::ImxUart { base: 0x3089_0000 };
    const INTERRUPT_CONTROLLER: InterruptController = InterruptController::GicV3 {
        gicd: 0x3880_0000,
        gicr: 0x3888_0000,
        maintenance_ppi: 25,
    };
    const TIMER: Timer = Timer::ArmGeneric { el1_virt_ppi: 27 };
    const FIRMWARE: Firmware = Firmware::ArmPsciSmc;
    const MAX_CPUS: usize = 4;
    // DDR from 0x40000000: 3 GiB there and 3 GiB above 4 GiB on the EVK.
    const RAM_WINDOW: PhysRange = PhysRange::new(0x4000_0000, 0x1_8000_0000);
    // The SoC's peripherals (AIPS buses, GIC, PCIe, media), below DDR; the
    // boot ROM's first 2 MiB stay unmapped.
    const DEVICE_WINDOWS: &'static [PhysRange] = &[PhysRange::new(0x0020_0000, 0x3fe0_0000)];
    // The GIC: distributor and its redistributors.
    const HYPERVISOR_DEVICES: &'static [PhysRange] = &[PhysRange::new(0x3880_0000, 0x0014_0000)];
    // Emulated by QEMU's TCG here, as qemu-virt is (see its reasons).
    const GUEST_RAM_LEAVES: Leaves = Leaves::Pages;
    // QEMU 10's model connects only the GIC's IRQ and FIQ outputs to the
    // CPUs (hw/arm/fsl-imx8mp.c), not the virtual ones.
    const VIRTUAL_IRQ: VirtualIrqSignal = VirtualIrqSignal::HcrVi;
}

hypervisor::board_main!(Imx8mpEvk);

#[cfg(test)]
mod board_data_tests;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "bsp-imx8mp-evk is a bare-metal image: build it with `image-builder --board imx8mp-evk`"
    );
    std::process::exit(2);
}
