//! QEMU `virt` memory map facts (hw/arm/virt.c, QEMU 10) this firmware uses.

/// Most CPUs the firmware supports (MPIDR Aff0 0..7, Aff1..3 zero).
pub const MAX_CPUS: usize = 8;

/// Secure-only RAM: 16 MiB, the firmware's data, stacks and partitions.
pub const SECURE_RAM_BASE: u64 = 0x0e00_0000;
pub const SECURE_RAM_SIZE: u64 = 0x0100_0000;

/// Normal-world RAM starts here; QEMU puts its DTB at the very start.
pub const NS_RAM_BASE: u64 = 0x4000_0000;

/// Where the normal-world image (Linux arm64 Image format) is placed.
pub const NS_IMAGE_BASE: u64 = 0x4020_0000;
/// Where QEMU leaves the DTB when firmware is loaded.
pub const NS_DTB_BASE: u64 = 0x4000_0000;

/// Secure PL011: the firmware's own console (QEMU's second `-serial`).
pub const SECURE_UART: usize = 0x0904_0000;
/// GICv3 distributor and redistributors (one 128 KiB frame pair per CPU).
pub const GICD: usize = 0x0800_0000;
pub const GICR: usize = 0x080a_0000;
pub const GICR_STRIDE: usize = 0x2_0000;
/// fw_cfg MMIO interface.
pub const FW_CFG: usize = 0x0902_0000;
/// Secure PL061 GPIO, wired to QEMU's gpio-pwr device.
pub const SECURE_GPIO: usize = 0x090b_0000;
/// gpio-pwr pins (virt.c SECURE_GPIO_POWEROFF / SECURE_GPIO_RESET).
pub const GPIO_PIN_POWEROFF: u32 = 0;
pub const GPIO_PIN_RESET: u32 = 1;
