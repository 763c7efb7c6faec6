//! Data-cache and TLB maintenance.

use aarch64_cpu::asm::barrier;

const LINE: usize = 64;

/// Apply a by-VA cache operation to every line of `[start, end)`, then wait
/// for it to complete.
fn each_line(start: usize, end: usize, op: impl Fn(usize)) {
    let mut a = start & !(LINE - 1);
    while a < end {
        op(a);
        a += LINE;
    }
    barrier::dsb(barrier::SY);
}

/// Invalidate `[start, end)` to the point of coherency: used on memory
/// written with the MMU (and so the cache) off, so no stale line can later
/// shadow or overwrite it.
pub fn invalidate_range(start: usize, end: usize) {
    // SAFETY: cache maintenance by VA does not change memory contents
    // visible to the program; the range is RAM we own.
    each_line(start, end, |a| unsafe {
        core::arch::asm!("dc ivac, {}", in(reg) a, options(nostack))
    });
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
    // SAFETY: cleaning writes back dirty lines; contents are unchanged.
    each_line(start, end, |a| unsafe {
        core::arch::asm!("dc cvac, {}", in(reg) a, options(nostack))
    });
}

/// Clean and invalidate `[start, end)` to the point of coherency: written
/// with caches on, about to be read (and written) with them off.
pub fn clean_invalidate_range(start: usize, end: usize) {
    // SAFETY: clean-and-invalidate writes back dirty lines and drops them;
    // contents are unchanged.
    each_line(start, end, |a| unsafe {
        core::arch::asm!("dc civac, {}", in(reg) a, options(nostack))
    });
}
