//! How many CPUs the machine has: one GICv3 redistributor per CPU.

use core::sync::atomic::{AtomicUsize, Ordering};

static CPU_COUNT: AtomicUsize = AtomicUsize::new(1);

pub fn set_cpu_count(count: usize) {
    CPU_COUNT.store(count, Ordering::Relaxed);
}

pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Relaxed)
}
