//! Arm PL011 UART, transmit side: enough for the hypervisor console.

use super::mmio::MmioBlock;

const DR: usize = 0x00;
const FR: usize = 0x18;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;

pub struct Pl011 {
    regs: MmioBlock,
}

impl Pl011 {
    /// # Safety
    /// `base` must be a mapped PL011 that only the hypervisor transmits on.
    /// The firmware has already set it up (baud rate, enable), as on every
    /// board we boot from.
    pub const unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        let regs = unsafe { MmioBlock::new(base) };
        Self { regs }
    }

    pub fn put(&self, byte: u8) {
        while self.regs.reg32(FR).read() & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        self.regs.reg32(DR).write(u32::from(byte));
    }

    /// Wait until the last byte has left the wire (before power-off).
    pub fn flush(&self) {
        while self.regs.reg32(FR).read() & FR_BUSY != 0 {
            core::hint::spin_loop();
        }
    }
}
