//! Data-cache and TLB maintenance.

use aarch64_cpu::asm::barrier;

const LINE: usize = 64;

/// Invalidate `[start, end)` to the point of coherency: used on memory
/// written with the MMU (and so the cache) off, so no stale line can later
/// shadow or overwrite it.
pub fn invalidate_range(start: usize, end: usize) {
    let mut a = start & !(LINE - 1);
    while a < end {
        // SAFETY: cache maintenance by VA does not change memory contents
        // visible to the program; the range is RAM we own.
        unsafe { core::arch::asm!("dc ivac, {}", in(reg) a, options(nostack)) };
        a += LINE;
    }
    barrier::dsb(barrier::SY);
}

/// Invalidate all stage-1 and stage-2 TLB entries of the current VMID.
pub fn flush_guest_tlb() {
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB invalidation only drops cached translations.
    unsafe { core::arch::asm!("tlbi vmalls12e1is", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Clean `[start, end)` to the point of coherency, for a reader whose
/// caches are off (a CPU that has not turned its MMU on yet).
pub fn clean_range(start: usize, end: usize) {
    let mut a = start & !(LINE - 1);
    while a < end {
        // SAFETY: cleaning writes back dirty lines; contents are unchanged.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) a, options(nostack)) };
        a += LINE;
    }
    barrier::dsb(barrier::SY);
}
