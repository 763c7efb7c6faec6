//! Machine facts found at boot: CPU count (one GICv3 redistributor per CPU)
//! and where normal-world RAM ends (fw_cfg RAM size).

use crate::platform::NS_RAM_BASE;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

static CPU_COUNT: AtomicUsize = AtomicUsize::new(1);
static NS_RAM_END: AtomicU64 = AtomicU64::new(NS_RAM_BASE);

pub fn set_cpu_count(count: usize) {
    CPU_COUNT.store(count, Ordering::Relaxed);
}

pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Relaxed)
}

pub fn set_ns_ram_size(size: u64) {
    NS_RAM_END.store(NS_RAM_BASE + size, Ordering::Relaxed);
}

/// Whether [base, base + size) lies inside normal-world RAM.
pub fn is_ns_ram(base: u64, size: u64) -> bool {
    let end = NS_RAM_END.load(Ordering::Relaxed);
    base >= NS_RAM_BASE
        && size <= end - NS_RAM_BASE
        && base - NS_RAM_BASE <= end - NS_RAM_BASE - size
}
