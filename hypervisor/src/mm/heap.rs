//! The hypervisor heap, carved from the frame allocator at boot.

#[cfg(target_os = "none")]
#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// Hand `[base, base+size)` to the heap.
///
/// # Safety
/// The range must be mapped read-write, unused by anything else, and this
/// must be called once.
#[cfg(target_os = "none")]
pub unsafe fn init(base: usize, size: usize) {
    // SAFETY: forwarded from this function's contract.
    unsafe { HEAP.lock().init(base as *mut u8, size) }
}

/// Bytes of the heap allocated now.
#[cfg(target_os = "none")]
pub fn used() -> usize {
    HEAP.lock().used()
}
