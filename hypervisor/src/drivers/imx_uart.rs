//! NXP i.MX UART (i.MX 6/7/8M, `fsl,imx21-uart` and descendants): transmit
//! for the hypervisor console, and receive with interrupts when the
//! hypervisor keeps the UART for hvc0. Register offsets and bits from the
//! i.MX 8M Plus reference manual's UART chapter.

use super::mmio::MmioBlock;

/// Receiver register: the byte in bits 7:0.
const URXD: usize = 0x00;
const UTXD: usize = 0x40;
const UCR1: usize = 0x80;
const UCR2: usize = 0x84;
const UCR4: usize = 0x8c;
const USR2: usize = 0x98;
const UTS: usize = 0xb4;

const UCR1_UARTEN: u32 = 1 << 0;
/// Receiver-ready interrupt.
const UCR1_RRDYEN: u32 = 1 << 9;
/// Not in software reset; receiver, transmitter on; 8-bit words; ignore RTS.
const UCR2_ON: u32 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 5) | (1 << 14);
/// Receive-data-ready interrupt.
const UCR4_DREN: u32 = 1 << 0;
const USR2_RDR: u32 = 1 << 0;
const USR2_TXDC: u32 = 1 << 3;
const UTS_TXFULL: u32 = 1 << 4;

pub struct ImxUart {
    regs: MmioBlock,
}

impl ImxUart {
    /// # Safety
    /// `base` must be a mapped i.MX UART that only the hypervisor transmits
    /// on. The firmware has set its baud rate (as on the boards we boot
    /// from); `new` makes sure it is enabled, which a direct kernel boot
    /// under QEMU may not have done.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        let regs = unsafe { MmioBlock::new(base) };
        let u = Self { regs };
        u.set(UCR1, UCR1_UARTEN);
        u.set(UCR2, UCR2_ON);
        u
    }

    fn set(&self, reg: usize, bits: u32) {
        let r = self.regs.reg32(reg);
        let v = r.read();
        if v & bits != bits {
            r.write(v | bits);
        }
    }

    pub fn put(&self, byte: u8) {
        while self.regs.reg32(UTS).read() & UTS_TXFULL != 0 {
            core::hint::spin_loop();
        }
        self.regs.reg32(UTXD).write(u32::from(byte));
    }

    /// Wait until the last byte has left the wire (before power-off).
    pub fn flush(&self) {
        while self.regs.reg32(USR2).read() & USR2_TXDC == 0 {
            core::hint::spin_loop();
        }
    }

    /// Interrupt while received bytes wait.
    pub fn enable_rx_interrupts(&self) {
        self.set(UCR1, UCR1_RRDYEN);
        self.set(UCR4, UCR4_DREN);
    }

    /// A received byte, if one is waiting.
    pub fn get(&self) -> Option<u8> {
        if self.regs.reg32(USR2).read() & USR2_RDR == 0 {
            return None;
        }
        Some(self.regs.reg32(URXD).read() as u8)
    }

    /// The receive interrupt is level: it goes when the FIFO is drained.
    pub fn clear_rx_interrupts(&self) {}
}
