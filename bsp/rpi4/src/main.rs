//! Board support for the Raspberry Pi 4 Model B (BCM2711: 4 Cortex-A72, a
//! GIC-400 with the virtualization extensions, PL011 UART0), as its boot
//! firmware leaves it and as QEMU 10's `raspi4b` models it: entered at EL2,
//! no PSCI (secondaries wait in a spin table), power through the PM block.
//! Addresses are the CPU's (the device tree's are VideoCore bus addresses
//! behind /soc's `ranges`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use hypervisor::board::{Board, ConsoleDevice, Firmware, InterruptController, PhysRange, Timer};

pub struct RaspberryPi4;

impl Board for RaspberryPi4 {
    const NAME: &'static str = "rpi4";
    const CONSOLE: ConsoleDevice = ConsoleDevice::Pl011 { base: 0xfe20_1000 };
    const INTERRUPT_CONTROLLER: InterruptController = InterruptController::GicV2 {
        gicd: 0xff84_1000,
        gicc: 0xff84_2000,
        gich: 0xff84_4000,
        gicv: 0xff84_6000,
        maintenance_ppi: 25,
    };
    const TIMER: Timer = Timer::ArmGeneric { el1_virt_ppi: 27 };
    const FIRMWARE: Firmware = Firmware::SpinTableBcm2835Pm { pm: 0xfe10_0000 };
    const MAX_CPUS: usize = 4;
    // Up to 8 GiB from 0.
    const RAM_WINDOW: PhysRange = PhysRange::new(0, 8 << 30);
    // The peripherals (0xfc00_0000..), the GIC and the ARM local block.
    const DEVICE_WINDOWS: &'static [PhysRange] = &[PhysRange::new(0xfc00_0000, 0x400_0000)];
    // The GIC-400: distributor, CPU interface, GICH (and its per-CPU
    // aliases), GICV.
    const HYPERVISOR_DEVICES: &'static [PhysRange] = &[PhysRange::new(0xff84_0000, 0x8000)];
}

hypervisor::board_main!(RaspberryPi4);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("bsp-rpi4 is a bare-metal image: build it with `image-builder --board rpi4`");
    std::process::exit(2);
}

#[cfg(test)]
mod board_data_tests {
    const DTB: &[u8] = include_bytes!("../../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");

    /// The board's data against Debian's upstream tree (the one the board
    /// manifest pins for QEMU's `-dtb`).
    #[test]
    fn board_data_matches_the_upstream_device_tree() {
        let p = hypervisor::boot::board_upstream::problems::<super::RaspberryPi4>(DTB);
        assert!(p.is_empty(), "{p:#?}");
    }
}
