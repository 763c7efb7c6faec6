//! Typed volatile access to one memory-mapped register block.

use core::marker::PhantomData;

/// A block of device registers at a fixed physical (= hypervisor virtual) address.
#[derive(Clone, Copy, Debug)]
pub struct MmioBlock {
    base: usize,
}

impl MmioBlock {
    /// # Safety
    /// `base` must be the address of a device register block that is mapped
    /// as device memory for as long as the block is used, and no one else
    /// may program that device in conflicting ways.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    pub fn reg32(&self, offset: usize) -> Reg32<'_> {
        Reg32 {
            addr: self.base + offset,
            _block: PhantomData,
        }
    }
}

/// One 32-bit register of an `MmioBlock`.
pub struct Reg32<'a> {
    addr: usize,
    _block: PhantomData<&'a MmioBlock>,
}

impl Reg32<'_> {
    pub fn read(&self) -> u32 {
        // SAFETY: `MmioBlock::new`'s contract makes every offset the driver
        // uses a mapped device register; volatile keeps the access as is.
        unsafe { core::ptr::read_volatile(self.addr as *const u32) }
    }

    pub fn write(&self, v: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile(self.addr as *mut u32, v) }
    }
}
