//! The BCM2835-family power-management block's watchdog registers (also
//! the BCM2711 of the Raspberry Pi 4): the only way to reset or power off a
//! Pi without PSCI firmware. Every write carries the block's password.
//! "Power off" is the reset with the halt partition (63) in RSTS: the Pi's
//! boot firmware then stays halted, and QEMU's model ends the machine.

use super::mmio::MmioBlock;

const RSTC: usize = 0x1c;
const RSTS: usize = 0x20;
const WDOG: usize = 0x24;
const PASSWORD: u32 = 0x5a00_0000;
/// RSTC.WRCFG: clear, then full reset.
const RSTC_WRCFG_MASK: u32 = 0x30;
const RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// RSTS: partition 63 (its bits spread over the field), "halt".
const RSTS_PARTITION_HALT: u32 = 0x555;
const RSTS_PARTITION_MASK: u32 = 0xfff;
/// A short watchdog count, in 16 us ticks, before the reset.
const WDOG_TICKS: u32 = 10;

pub struct PowerManagement {
    regs: MmioBlock,
}

impl PowerManagement {
    /// # Safety
    /// `base` must be the mapped PM block of this board.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        let regs = unsafe { MmioBlock::new(base) };
        Self { regs }
    }

    /// Reset the board; with `halt`, keep it off afterwards.
    pub fn reset(&self, halt: bool) {
        if halt {
            let rsts = self.regs.reg32(RSTS).read() & !(RSTS_PARTITION_MASK | 0xff00_0000);
            self.regs
                .reg32(RSTS)
                .write(PASSWORD | rsts | RSTS_PARTITION_HALT);
        }
        self.regs.reg32(WDOG).write(PASSWORD | WDOG_TICKS);
        let rstc = self.regs.reg32(RSTC).read() & !(RSTC_WRCFG_MASK | 0xff00_0000);
        self.regs
            .reg32(RSTC)
            .write(PASSWORD | rstc | RSTC_WRCFG_FULL_RESET);
    }
}
