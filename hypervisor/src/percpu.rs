//! State kept per physical CPU, sized at boot for the CPUs the board has
//! (the device tree's count, capped by `Board::MAX_CPUS`): allocated once
//! on the heap, never resized, so a board with 4 CPUs keeps 4 slots, not
//! `MAX_CPUS_SUPPORTED`.

use alloc::boxed::Box;

pub struct PerCpu<T> {
    slots: spin::Once<Box<[T]>>,
}

impl<T> PerCpu<T> {
    pub const fn new() -> Self {
        Self {
            slots: spin::Once::new(),
        }
    }

    /// Size it for `cpus` CPUs, each slot made by `make`. Only the first
    /// call counts: the tables are fixed once CPUs may use them.
    pub fn init(&self, cpus: usize, make: impl Fn() -> T) {
        self.slots.call_once(|| (0..cpus).map(|_| make()).collect());
    }

    /// CPU `cpu`'s slot; `None` before `init` or past the board's CPUs.
    pub fn get(&self, cpu: usize) -> Option<&T> {
        self.slots.get()?.get(cpu)
    }

    /// Every CPU's slot, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.get().into_iter().flat_map(|s| s.iter())
    }
}

impl<T> Default for PerCpu<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn sized_once_by_the_first_init() {
        let p: PerCpu<AtomicU32> = PerCpu::new();
        assert!(p.get(0).is_none());
        p.init(4, || AtomicU32::new(7));
        p.init(64, || AtomicU32::new(0));
        assert_eq!(p.iter().count(), 4);
        assert!(p.get(4).is_none());
        p.get(3).unwrap().store(1, Ordering::Relaxed);
        let v: alloc::vec::Vec<u32> = p.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        assert_eq!(v, [7, 7, 7, 1]);
    }
}
