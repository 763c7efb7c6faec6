//! The physical GICv3 distributor and redistributors, as the hypervisor
//! drives them (register offsets: Arm IHI 0069). The hypervisor owns the
//! GIC: every interrupt is Group 1 (non-secure), SPIs are routed to the
//! physical CPU running the vCPU they are delivered to, and guests only
//! ever see the virtual GIC.

use super::gic_bank::{self, ICACTIVER, ICENABLER, ICPENDR, IGROUPR, IPRIORITYR};
use super::mmio::MmioBlock;

const GICD_CTLR: usize = 0x0000;
const GICD_TYPER: usize = 0x0004;
const GICD_IROUTER: usize = 0x6000;
const CTLR_RWP: u32 = 1 << 31;
/// With a single security state (DS=1): ARE, EnableGrp1.
const CTLR_ARE: u32 = 1 << 4;
const CTLR_ENABLE_GRP1: u32 = 1 << 1;

const GICR_FRAME: usize = 0x2_0000;
const GICR_TYPER: usize = 0x0008;
const GICR_WAKER: usize = 0x0014;
const TYPER_LAST: u64 = 1 << 4;
const TYPER_VLPIS: u64 = 1 << 1;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const SGI_BASE: usize = 0x1_0000;

/// Default priority of every interrupt (guests' priorities are virtual).
pub const PRIORITY: u8 = 0xa0;

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

    fn wait_rwp(&self) {
        while self.regs.reg32(GICD_CTLR).read() & CTLR_RWP != 0 {
            core::hint::spin_loop();
        }
    }

    /// Reset every SPI to disabled, inactive, not pending, Group 1, default
    /// priority, routed to `boot_affinity`; then enable affinity routing and
    /// Group 1.
    pub fn init(&self, boot_affinity: u64) {
        self.regs.reg32(GICD_CTLR).write(0);
        self.wait_rwp();
        let lines = self.lines().min(1020);
        for i in (32..lines).step_by(32) {
            let o = (i / 32) as usize * 4;
            self.regs.reg32(ICENABLER + o).write(u32::MAX);
            self.regs.reg32(ICPENDR + o).write(u32::MAX);
            self.regs.reg32(ICACTIVER + o).write(u32::MAX);
            self.regs.reg32(IGROUPR + o).write(u32::MAX);
        }
        let prio = u32::from_ne_bytes([PRIORITY; 4]);
        for i in (32..lines).step_by(4) {
            self.regs.reg32(IPRIORITYR + i as usize).write(prio);
        }
        self.wait_rwp();
        self.regs
            .reg32(GICD_CTLR)
            .write(CTLR_ARE | CTLR_ENABLE_GRP1);
        self.wait_rwp();
        for i in 32..lines {
            self.route(i, boot_affinity);
        }
    }

    /// Route SPI `intid` to the CPU with MPIDR affinity `aff` (Aff3.Aff2.Aff1.Aff0).
    pub fn route(&self, intid: u32, aff: u64) {
        // IROUTER and MPIDR place Aff0-3 alike; IRM (bit 31) stays 0.
        let router = aff & 0xff_00ff_ffff;
        let o = GICD_IROUTER + intid as usize * 8;
        self.regs.reg32(o).write(router as u32);
        self.regs.reg32(o + 4).write((router >> 32) as u32);
    }

    pub fn set_enabled(&self, intid: u32, on: bool) {
        gic_bank::set_enabled(&self.regs, intid, on);
        if !on {
            self.wait_rwp();
        }
    }

    pub fn clear_pending(&self, intid: u32) {
        gic_bank::clear_pending(&self.regs, intid);
    }

    /// Deactivate an SPI from any CPU (a domain that was reset may have
    /// left it active).
    pub fn clear_active(&self, intid: u32) {
        gic_bank::clear_active(&self.regs, intid);
    }

    /// Edge- (true) or level-triggered SPI.
    pub fn set_edge(&self, intid: u32, edge: bool) {
        gic_bank::set_edge(&self.regs, intid, edge);
    }
}

/// This CPU's redistributor.
pub struct Redistributor {
    rd: MmioBlock,
    sgi: MmioBlock,
}

impl Redistributor {
    /// Find the redistributor whose affinity is `aff` (from MPIDR_EL1).
    ///
    /// # Safety
    /// `gicr` must be the mapped start of this board's redistributor region.
    pub unsafe fn find(gicr: usize, aff: u64) -> Option<Self> {
        let want = ((aff >> 8) & 0xff00_0000) | (aff & 0x00ff_ffff);
        let mut frame = gicr;
        for _ in 0..1024 {
            // SAFETY: `frame` walks the redistributor region frame by frame
            // until the frame marked Last, as the architecture lays it out.
            let rd = unsafe { MmioBlock::new(frame) };
            let typer = u64::from(rd.reg32(GICR_TYPER).read())
                | u64::from(rd.reg32(GICR_TYPER + 4).read()) << 32;
            if typer >> 32 == want {
                // SAFETY: the SGI frame follows the RD frame.
                let sgi = unsafe { MmioBlock::new(frame + SGI_BASE) };
                return Some(Self { rd, sgi });
            }
            if typer & TYPER_LAST != 0 {
                return None;
            }
            frame += if typer & TYPER_VLPIS != 0 {
                2 * GICR_FRAME
            } else {
                GICR_FRAME
            };
        }
        None
    }

    /// Wake the redistributor and reset SGIs/PPIs: all Group 1, default
    /// priority, disabled.
    pub fn init(&self) {
        let waker = self.rd.reg32(GICR_WAKER);
        waker.write(waker.read() & !WAKER_PROCESSOR_SLEEP);
        while waker.read() & WAKER_CHILDREN_ASLEEP != 0 {
            core::hint::spin_loop();
        }
        gic_bank::reset_private(&self.sgi, PRIORITY);
        self.sgi.reg32(IGROUPR).write(u32::MAX);
    }

    /// Enable or disable PPI/SGI `intid` (< 32) on this CPU.
    pub fn set_enabled(&self, intid: u32, on: bool) {
        gic_bank::set_enabled(&self.sgi, intid % 32, on);
    }

    pub fn clear_pending(&self, intid: u32) {
        gic_bank::clear_pending(&self.sgi, intid % 32);
    }

    /// Clear the active state of this CPU's SGI or PPI `intid`.
    pub fn clear_active(&self, intid: u32) {
        gic_bank::clear_active(&self.sgi, intid % 32);
    }

    /// Edge- (true) or level-triggered PPI.
    pub fn set_edge(&self, intid: u32, edge: bool) {
        gic_bank::set_edge(&self.sgi, intid % 32, edge);
    }
}
