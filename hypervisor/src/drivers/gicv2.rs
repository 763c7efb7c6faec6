//! The physical GICv2 (GIC-400 and QEMU's model) as the hypervisor drives
//! it, all memory-mapped (register offsets: Arm IHI 0048B): the
//! distributor (GICD), this CPU's interface (GICC, banked per CPU) and the
//! virtual interface control (GICH, banked per CPU) whose list registers
//! deliver virtual interrupts. The guests' own CPU interface is the GICV
//! frame, mapped into their stage 2; the hypervisor never touches it.
//!
//! Groups: a GIC without Security Extensions puts everything in Group 0;
//! one with them is reached here from the Non-secure side, where the boot
//! firmware (or QEMU's `-kernel` loader) has made every interrupt Group 1.
//! Either way bit 0 of GICD_CTLR and GICC_CTLR enables the group we see, and
//! bit 9 of GICC_CTLR is the EOImode we want (priority drop apart from
//! deactivation, so a guest's deactivation of an HW-linked interrupt
//! deactivates the physical one).

use super::gic_bank::{self, ICACTIVER, ICENABLER, ICPENDR, IPRIORITYR};
use super::mmio::MmioBlock;

const GICD_CTLR: usize = 0x000;
const GICD_TYPER: usize = 0x004;
const GICD_ITARGETSR: usize = 0x800;
const GICD_SGIR: usize = 0xf00;

const GICC_CTLR: usize = 0x0000;
const GICC_PMR: usize = 0x0004;
const GICC_BPR: usize = 0x0008;
const GICC_IAR: usize = 0x000c;
const GICC_EOIR: usize = 0x0010;
const GICC_DIR: usize = 0x1000;
/// Enable (the group this side sees) and EOImode (bit 9 in both views).
const GICC_CTLR_ENABLE_SPLIT_EOI: u32 = 1 | 1 << 9;

const GICH_HCR: usize = 0x000;
const GICH_VTR: usize = 0x004;
const GICH_VMCR: usize = 0x008;
const GICH_APR: usize = 0x0f0;
const GICH_LR: usize = 0x100;

/// Default priority of every interrupt (guests' priorities are virtual).
pub const PRIORITY: u8 = 0xa0;

/// IAR: INTID [9:0] and, for SGIs, the sending CPU [12:10]; written back
/// whole to EOIR and DIR.
pub const IAR_MASK: u32 = 0x1fff;

/// The distributor. Its registers for INTIDs 0..31 are banked: an access
/// reaches the calling CPU's SGIs and PPIs.
pub struct Distributor {
    regs: MmioBlock,
}

impl Distributor {
    /// # Safety
    /// `base` must be the mapped GICD of this board, owned by the hypervisor.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        let regs = unsafe { MmioBlock::new(base) };
        Self { regs }
    }

    /// Number of interrupt IDs the distributor implements (SGIs..last SPI).
    pub fn lines(&self) -> u32 {
        32 * ((self.regs.reg32(GICD_TYPER).read() & 0x1f) + 1)
    }

    /// Reset every SPI to disabled, inactive, not pending, default
    /// priority, targeted at the CPU interfaces in `boot_cpu_mask`; then
    /// enable forwarding.
    pub fn init(&self, boot_cpu_mask: u8) {
        self.regs.reg32(GICD_CTLR).write(0);
        let lines = self.lines().min(1020);
        for i in (32..lines).step_by(32) {
            let o = (i / 32) as usize * 4;
            self.regs.reg32(ICENABLER + o).write(u32::MAX);
            self.regs.reg32(ICPENDR + o).write(u32::MAX);
            self.regs.reg32(ICACTIVER + o).write(u32::MAX);
        }
        let prio = u32::from_ne_bytes([PRIORITY; 4]);
        let target = u32::from_ne_bytes([boot_cpu_mask; 4]);
        for i in (32..lines).step_by(4) {
            self.regs.reg32(IPRIORITYR + i as usize).write(prio);
            self.regs.reg32(GICD_ITARGETSR + i as usize).write(target);
        }
        self.regs.reg32(GICD_CTLR).write(1);
    }

    /// Reset the calling CPU's SGIs and PPIs: disabled, inactive, not
    /// pending, default priority.
    pub fn init_banked(&self) {
        gic_bank::reset_private(&self.regs, PRIORITY);
    }

    /// The calling CPU's interface as a target mask: ITARGETSR0..7 read
    /// it for every banked interrupt (0 on a uniprocessor GIC).
    pub fn this_cpu_mask(&self) -> u8 {
        let m = self.regs.reg32(GICD_ITARGETSR).read();
        (m | m >> 8 | m >> 16 | m >> 24) as u8
    }

    /// Deliver SPI `intid` to the CPU interfaces in `mask`.
    pub fn route(&self, intid: u32, mask: u8) {
        let r = self.regs.reg32(GICD_ITARGETSR + (intid & !3) as usize);
        let shift = (intid % 4) * 8;
        r.write(r.read() & !(0xff << shift) | u32::from(mask) << shift);
    }

    /// For INTIDs below 32, the calling CPU's own.
    pub fn set_enabled(&self, intid: u32, on: bool) {
        gic_bank::set_enabled(&self.regs, intid, on);
    }

    pub fn clear_pending(&self, intid: u32) {
        gic_bank::clear_pending(&self.regs, intid);
    }

    pub fn clear_active(&self, intid: u32) {
        gic_bank::clear_active(&self.regs, intid);
    }

    /// Edge- (true) or level-triggered.
    pub fn set_edge(&self, intid: u32, edge: bool) {
        gic_bank::set_edge(&self.regs, intid, edge);
    }

    /// Send SGI `sgi` to the CPU interfaces in `mask`.
    pub fn send_sgi(&self, mask: u8, sgi: u8) {
        self.regs
            .reg32(GICD_SGIR)
            .write(u32::from(mask) << 16 | u32::from(sgi & 0xf));
    }
}

/// The calling CPU's physical CPU interface.
pub struct CpuInterface {
    regs: MmioBlock,
}

impl CpuInterface {
    /// # Safety
    /// `base` must be the mapped GICC (8 KiB, DIR included) of this board,
    /// owned by the hypervisor.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        let regs = unsafe { MmioBlock::new(base) };
        Self { regs }
    }

    /// Every priority unmasked, no preemption groups, enabled with split EOI.
    pub fn init(&self) {
        self.regs.reg32(GICC_PMR).write(0xff);
        self.regs.reg32(GICC_BPR).write(0);
        self.regs.reg32(GICC_CTLR).write(GICC_CTLR_ENABLE_SPLIT_EOI);
    }

    /// Acknowledge: the raw IAR (INTID and SGI source), for `eoi`/`deactivate`.
    pub fn ack(&self) -> u32 {
        self.regs.reg32(GICC_IAR).read() & IAR_MASK
    }

    /// Priority drop (the interrupt stays active).
    pub fn eoi(&self, iar: u32) {
        self.regs.reg32(GICC_EOIR).write(iar);
    }

    pub fn deactivate(&self, iar: u32) {
        self.regs.reg32(GICC_DIR).write(iar);
    }
}

/// The calling CPU's virtual interface control.
pub struct HypInterface {
    regs: MmioBlock,
}

impl HypInterface {
    /// # Safety
    /// `base` must be the mapped GICH of this board, owned by the hypervisor.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        let regs = unsafe { MmioBlock::new(base) };
        Self { regs }
    }

    /// GICH_VTR.ListRegs + 1 (at most 64).
    pub fn nr_lrs(&self) -> usize {
        (self.regs.reg32(GICH_VTR).read() & 0x3f) as usize + 1
    }

    /// GICH_VTR.PRIbits + 1.
    pub fn priority_bits(&self) -> u8 {
        ((self.regs.reg32(GICH_VTR).read() >> 29) & 7) as u8 + 1
    }

    /// Empty list registers, no active priorities, virtual interface on.
    pub fn init(&self, nr_lrs: usize) {
        for n in 0..nr_lrs {
            self.write_lr(n, 0);
        }
        self.regs.reg32(GICH_APR).write(0);
        self.regs.reg32(GICH_VMCR).write(0);
        self.set_hcr(1);
    }

    pub fn read_lr(&self, n: usize) -> u32 {
        self.regs.reg32(GICH_LR + 4 * n).read()
    }

    pub fn write_lr(&self, n: usize, v: u32) {
        self.regs.reg32(GICH_LR + 4 * n).write(v);
    }

    pub fn hcr(&self) -> u32 {
        self.regs.reg32(GICH_HCR).read()
    }

    pub fn set_hcr(&self, v: u32) {
        self.regs.reg32(GICH_HCR).write(v);
    }
}
