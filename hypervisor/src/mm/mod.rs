//! Memory management: physical frames, translation tables, the heap.
pub mod frames;
pub mod heap;
pub mod page_table;
pub mod stage2_geometry;

/// The hypervisor's own memory at one moment: heap bytes in use and free
/// page frames. Printed where the machine is in the same state each time
/// (a domain rebuilt, the board powering off), so that a soak can compare
/// the first and the last figures: any difference is a leak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUse {
    pub heap_used: usize,
    pub frames_free: u64,
}

impl MemoryUse {
    /// From the heap's bytes in use and the frame allocator's free bytes.
    pub fn new(heap_used: usize, free_bytes: u64) -> Self {
        Self {
            heap_used,
            frames_free: free_bytes / frames::PAGE_SIZE,
        }
    }
}

impl core::fmt::Display for MemoryUse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "memory: heap {} bytes in use, {} frames free",
            self.heap_used, self.frames_free
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_use_counts_whole_frames_and_prints_one_line() {
        let m = MemoryUse::new(123_456, 10 * frames::PAGE_SIZE + 100);
        assert_eq!(m.frames_free, 10);
        assert_eq!(
            alloc::format!("{m}"),
            "memory: heap 123456 bytes in use, 10 frames free"
        );
        assert_eq!(m, MemoryUse::new(123_456, 10 * frames::PAGE_SIZE));
        assert_ne!(m, MemoryUse::new(123_457, 10 * frames::PAGE_SIZE));
    }
}
