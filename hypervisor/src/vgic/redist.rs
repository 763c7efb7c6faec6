//! The redistributor (GICR) register map: one 128 KiB region per vCPU, an
//! RD_base frame (control, identification, power) and an SGI_base frame at
//! +64 KiB (the vCPU's SGIs and PPIs). Linux finds its frame by walking
//! GICR_TYPER's affinity and Last bit, wakes it with the GICR_WAKER
//! handshake and programs SGI/PPI group, enable, active, priority and
//! trigger in SGI_base. No LPIs: PROPBASER/PENDBASER and the LPI command
//! registers are RAZ/WI, as is every unknown offset and any frame past the
//! last vCPU.

use super::dist::{id_register, IIDR};
use super::mmio::{self, reg64, sizes, AccessError, BitReg, REDIST_STRIDE};
use super::Vgic;

const SGI_BASE: u64 = 0x1_0000;

/// GICR_TYPER.Last: the highest-addressed redistributor of the region.
const TYPER_LAST: u64 = 1 << 4;
const TYPER_PROCESSOR_NUMBER_SHIFT: u32 = 8;
const TYPER_AFFINITY_SHIFT: u32 = 32;

const WAKER_PROCESSOR_SLEEP: u64 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u64 = 1 << 2;

impl Vgic {
    /// Emulate an access at `offset` into the 128 KiB redistributor region of
    /// vCPU `vcpu_frame` (any vCPU may access any frame). Returns the value
    /// read (0 for writes). Queues `Effect`s; kicks may name the accessor.
    pub fn redist_access(
        &mut self,
        vcpu_frame: usize,
        offset: u64,
        size: u8,
        write: Option<u64>,
    ) -> Result<u64, AccessError> {
        if self.is_v2() {
            return Err(AccessError::WrongVersion);
        }
        if offset >= REDIST_STRIDE {
            return Err(AccessError::BadOffset);
        }
        let write = mmio::check(offset, size, write)?;
        if vcpu_frame >= self.nr_vcpus() {
            return Ok(0);
        }
        let val = if offset < SGI_BASE {
            self.rd_base(vcpu_frame, offset, size, write)?
        } else {
            self.sgi_base(vcpu_frame, offset - SGI_BASE, size, write)?
        };
        Ok(if write.is_some() { 0 } else { val })
    }

    /// GICR_TYPER of vCPU `v`'s redistributor: affinity, processor number,
    /// Last; no physical or virtual LPIs, no DirectLPI, 16 PPIs.
    fn redist_typer(&self, v: usize) -> u64 {
        let mut t = u64::from(self.vcpus[v].affinity) << TYPER_AFFINITY_SHIFT
            | (v as u64) << TYPER_PROCESSOR_NUMBER_SHIFT;
        if v + 1 == self.nr_vcpus() {
            t |= TYPER_LAST;
        }
        t
    }

    fn rd_base(
        &mut self,
        v: usize,
        offset: u64,
        size: u8,
        write: Option<u64>,
    ) -> Result<u64, AccessError> {
        Ok(match offset {
            // CTLR (EnableLPIs, RWP, UWP all 0), STATUSR: RAZ/WI.
            0x0000 | 0x0010 => sizes(size, &[4]).map(|_| 0)?,
            0x0004 => {
                sizes(size, &[4])?;
                IIDR
            }
            // TYPER is read-only.
            0x0008 | 0x000c => reg64(self.redist_typer(v), offset == 0x000c, size, None)?.0,
            0x0014 => {
                sizes(size, &[4])?;
                if let Some(w) = write {
                    self.vcpus[v].asleep = w & WAKER_PROCESSOR_SLEEP != 0;
                }
                // ChildrenAsleep follows ProcessorSleep at once: nothing to quiesce.
                if self.vcpus[v].asleep {
                    WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
                } else {
                    0
                }
            }
            // PROPBASER, PENDBASER: RAZ/WI (no LPIs).
            0x0070..=0x007f => reg64(0, offset & 4 != 0, size, None)?.0,
            0xffd0..=0xffff => {
                sizes(size, &[4])?;
                id_register(offset)
            }
            _ => 0,
        })
    }

    fn sgi_base(
        &mut self,
        v: usize,
        offset: u64,
        size: u8,
        write: Option<u64>,
    ) -> Result<u64, AccessError> {
        Ok(match offset {
            0x0080..=0x03ff => {
                sizes(size, &[4])?;
                match BitReg::at(offset) {
                    // n > 0: the extended PPI range, not implemented.
                    Some((reg, 0)) => self.bits_access(v, 0, reg, write, None),
                    _ => 0,
                }
            }
            0x0400..=0x041f => {
                sizes(size, &[1, 4])?;
                self.priority_access(v, (offset - 0x400) as u32, size, write)
            }
            0x0c00 | 0x0c04 => {
                sizes(size, &[4])?;
                self.config_access(v, 4 * (offset - 0xc00) as u32, write, None)
            }
            // IGRPMODR0, NSACR: RES0 with DS = 1; RAZ/WI.
            0x0d00 | 0x0e00 => sizes(size, &[4]).map(|_| 0)?,
            _ => 0,
        })
    }
}
