//! Arm PL011 UART: transmit for the hypervisor console, and receive with
//! interrupts when the hypervisor keeps the UART for hvc0.

use super::mmio::MmioBlock;

const DR: usize = 0x00;
const FR: usize = 0x18;
const IMSC: usize = 0x38;
const ICR: usize = 0x44;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;
/// Receive and receive-timeout interrupts.
const RX_INTERRUPTS: u32 = (1 << 4) | (1 << 6);
const ALL_INTERRUPTS: u32 = 0x7ff;

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

    /// Interrupt on received bytes (and on a receive timeout, for a FIFO
    /// that holds fewer than its trigger level).
    pub fn enable_rx_interrupts(&self) {
        self.regs.reg32(ICR).write(ALL_INTERRUPTS);
        self.regs.reg32(IMSC).write(RX_INTERRUPTS);
    }

    /// A received byte, if one is waiting.
    pub fn get(&self) -> Option<u8> {
        if self.regs.reg32(FR).read() & FR_RXFE != 0 {
            return None;
        }
        Some(self.regs.reg32(DR).read() as u8)
    }

    pub fn clear_rx_interrupts(&self) {
        self.regs.reg32(ICR).write(RX_INTERRUPTS);
    }
}
