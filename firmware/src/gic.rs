//! Secure-side GICv3 setup (security enabled, DS = 0). Only the secure world
//! can set interrupt groups and wake redistributors; once everything is
//! Non-secure Group 1 the hypervisor at EL2 drives the GIC as it does on a
//! machine without EL3.

use crate::mmio;
use crate::platform::{GICD, GICR, GICR_STRIDE, MAX_CPUS};

const GICD_CTLR: usize = 0x0000;
const GICD_TYPER: usize = 0x0004;
const GICD_IGROUPR: usize = 0x0080;
const GICD_IGRPMODR: usize = 0x0d00;
const CTLR_ARE_S: u32 = 1 << 4;
const CTLR_ARE_NS: u32 = 1 << 5;
const CTLR_RWP: u32 = 1 << 31;

const GICR_TYPER: usize = 0x0008;
const GICR_WAKER: usize = 0x0014;
const TYPER_LAST: u64 = 1 << 4;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// SGI/PPI frame: the second 64 KiB of each redistributor.
const GICR_SGI_BASE: usize = 0x1_0000;
const GICR_IGROUPR0: usize = 0x0080;
const GICR_IGRPMODR0: usize = 0x0d00;

/// Affinity routing for both states, every SPI Non-secure Group 1.
pub fn init_distributor() {
    mmio::write32(GICD + GICD_CTLR, CTLR_ARE_S | CTLR_ARE_NS);
    while mmio::read32(GICD + GICD_CTLR) & CTLR_RWP != 0 {}
    let lines = (mmio::read32(GICD + GICD_TYPER) & 0x1f) as usize + 1;
    // Register 0 covers SGIs/PPIs, which live in the redistributors.
    for n in 1..lines {
        mmio::write32(GICD + GICD_IGROUPR + 4 * n, !0);
        mmio::write32(GICD + GICD_IGRPMODR + 4 * n, 0);
    }
}

/// Wakes every redistributor and makes its SGIs/PPIs Non-secure Group 1.
/// Returns how many there are (= CPUs).
pub fn init_redistributors() -> usize {
    let mut count = 0;
    while count < MAX_CPUS {
        let rd = GICR + count * GICR_STRIDE;
        let waker = mmio::read32(rd + GICR_WAKER);
        mmio::write32(rd + GICR_WAKER, waker & !WAKER_PROCESSOR_SLEEP);
        while mmio::read32(rd + GICR_WAKER) & WAKER_CHILDREN_ASLEEP != 0 {}
        mmio::write32(rd + GICR_SGI_BASE + GICR_IGROUPR0, !0);
        mmio::write32(rd + GICR_SGI_BASE + GICR_IGRPMODR0, 0);
        count += 1;
        if mmio::read64(rd + GICR_TYPER) & TYPER_LAST != 0 {
            break;
        }
    }
    count
}
