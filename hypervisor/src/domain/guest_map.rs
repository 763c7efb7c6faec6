//! The address map every domain that is not direct-mapped sees (like Xen's
//! GUEST_* layout for dom0less domUs, here the QEMU `virt` one so that the
//! same kernels and device-tree habits work): where its RAM, virtual GIC,
//! virtual UART and grant frames are, and the interrupts they use.

/// Distributor (64 KiB) and redistributors (128 KiB per vCPU).
pub const GICD: u64 = 0x0800_0000;
pub const GICR: u64 = 0x080a_0000;
/// The domain's own PL011 (4 KiB) and its SPI.
pub const UART: u64 = 0x0900_0000;
pub const UART_SPI: u32 = 33;
/// SPIs the virtual GIC offers (INTIDs 32..64): the UART's, and room.
pub const SPIS: u32 = 32;
/// Arm generic timer PPIs as INTIDs: secure and non-secure physical,
/// virtual, hypervisor (the order of the `arm,armv8-timer` binding).
pub const TIMER_PPIS: [u32; 4] = [29, 30, 27, 26];
