//! Volatile device register access at fixed QEMU virt addresses.

/// Reads a 32-bit device register.
pub fn read32(addr: usize) -> u32 {
    // SAFETY: callers pass addresses of QEMU virt device registers, which the
    // EL3 page tables map as Device-nGnRnE; the access is naturally aligned.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Writes a 32-bit device register.
pub fn write32(addr: usize, value: u32) {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// Reads a 64-bit device register.
pub fn read64(addr: usize) -> u64 {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Reads an 8-bit device register.
pub fn read8(addr: usize) -> u8 {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

/// Writes a 16-bit device register.
pub fn write16(addr: usize, value: u16) {
    // SAFETY: as for `read32`.
    unsafe { core::ptr::write_volatile(addr as *mut u16, value) }
}
