//! The GICv2 distributor (GICD) register map (IHI 0048B, 4.1.2), as a
//! guest without Security Extensions sees it. Linux's GICv2 driver reads
//! TYPER and ITARGETSR0..7 (to learn its own CPU's target bit), programs the
//! SPIs' trigger, priority, target and enable, enables the distributor and
//! sends IPIs through SGIR. Unlike the GICv3 map, the SGI/PPI halves of the
//! per-interrupt registers (INTIDs 0..32) live here, banked per accessing
//! vCPU, and SGIs remember the CPU that sent them. The implementation
//! defined range 0xD00.., NSACR (no Security Extensions) and every unknown
//! offset are RAZ/WI.

use super::dist::{id_register, IIDR};
use super::irq::NR_PRIVATE;
use super::mmio::{self, sizes, AccessError, BitReg};
use super::{VcpuSet, Vgic};

/// Size of the GICv2 distributor's register frame.
pub const DIST_V2_SIZE: u64 = 0x1000;

const CTLR_ENABLE_GRP0: u64 = 1 << 0;
const CTLR_ENABLE_GRP1: u64 = 1 << 1;

/// TYPER.CPUNumber [7:5]: CPU interfaces minus one. SecurityExtn [10] = 0.
const TYPER_CPU_NUMBER_SHIFT: u32 = 5;

/// SGIR fields.
const SGIR_FILTER_SHIFT: u32 = 24;
const SGIR_TARGETS_SHIFT: u32 = 16;
const SGIR_INTID: u64 = 0xf;

/// The ID registers, at the GICv3 offsets minus 0xF000; PIDR2.ArchRev
/// [7:4] = 2 says GICv2.
fn id_register_v2(offset: u64) -> u64 {
    let v = id_register(0xf000 | offset);
    if offset == 0xfe8 {
        v & !0xf0 | 0x20
    } else {
        v
    }
}

impl Vgic {
    /// Emulate a `size`-byte access by vCPU `vcpu` at `offset` into the
    /// GICv2 distributor frame (`DIST_V2_SIZE` bytes): `write` is the value
    /// stored, `None` a read. Returns the value read (0 for writes). Queues
    /// `Effect`s, including a `Kick` for every other vCPU an SGIR write
    /// made pending (never one for `vcpu`: its entry flush picks it up).
    pub fn dist_v2_access(
        &mut self,
        vcpu: usize,
        offset: u64,
        size: u8,
        write: Option<u64>,
    ) -> Result<u64, AccessError> {
        if !self.is_v2() {
            return Err(AccessError::WrongVersion);
        }
        if vcpu >= self.nr_vcpus() {
            return Err(AccessError::BadVcpu);
        }
        if offset >= DIST_V2_SIZE {
            return Err(AccessError::BadOffset);
        }
        let write = mmio::check(offset, size, write)?;
        let me = Some(vcpu);
        // Register 0 of each family (INTIDs 0..32) is the accessor's bank.
        let owner = |first: u32| if first < NR_PRIVATE { vcpu } else { 0 };
        let val = match offset {
            0x000 => {
                sizes(size, &[4])?;
                if let Some(w) = write {
                    self.write_ctlr(w, me);
                }
                let mut v = 0;
                if self.grp0 {
                    v |= CTLR_ENABLE_GRP0;
                }
                if self.grp1 {
                    v |= CTLR_ENABLE_GRP1;
                }
                v
            }
            0x004 => {
                sizes(size, &[4])?;
                let cpus = self.nr_vcpus() as u64 - 1;
                u64::from(self.nr_spis() / 32) | cpus << TYPER_CPU_NUMBER_SHIFT
            }
            0x008 => {
                sizes(size, &[4])?;
                IIDR
            }
            0x080..=0x3ff => {
                sizes(size, &[4])?;
                match BitReg::at(offset) {
                    Some((reg, n)) => {
                        let first = 32 * n as u32;
                        // Pending bits of SGIs are RO/WI here: their
                        // pending state is per source (C/SPENDSGIR).
                        let sgi_pend = matches!(reg, BitReg::SetPending | BitReg::ClearPending);
                        let w = match write {
                            Some(w) if n == 0 && sgi_pend => Some(w & !0xffff),
                            w => w,
                        };
                        self.bits_access(owner(first), first, reg, w, me)
                    }
                    None => 0,
                }
            }
            0x400..=0x7ff => {
                sizes(size, &[1, 4])?;
                let first = (offset - 0x400) as u32;
                self.priority_access(owner(first), first, size, write)
            }
            0x800..=0xbff => {
                sizes(size, &[1, 4])?;
                self.targets_access(vcpu, (offset - 0x800) as u32, size, write)
            }
            0xc00..=0xcff => {
                sizes(size, &[4])?;
                let first = 4 * (offset - 0xc00) as u32;
                self.config_access(owner(first), first, write, me)
            }
            0xf00 => {
                sizes(size, &[4])?;
                if let Some(w) = write {
                    self.write_sgir(vcpu, w);
                }
                // Write-only.
                0
            }
            0xf10..=0xf2f => {
                sizes(size, &[1, 4])?;
                self.sgi_pend_access(vcpu, offset, size, write)
            }
            0xfd0..=0xfff => {
                sizes(size, &[4])?;
                id_register_v2(offset)
            }
            _ => 0,
        };
        Ok(if write.is_some() { 0 } else { val })
    }

    /// The CPU interfaces that exist, as an 8-bit target mask.
    fn all_cpus_mask(&self) -> u64 {
        (1 << self.nr_vcpus()) - 1
    }

    /// ITARGETSR bytes for `nbytes` interrupts from `first`. SGIs and PPIs
    /// read as the accessor's own bit (how Linux learns its CPU's mask).
    /// An SPI is delivered to the lowest CPU of its mask: the model has one
    /// target per SPI, and any CPU of the mask is a correct choice.
    fn targets_access(&mut self, vcpu: usize, first: u32, nbytes: u8, write: Option<u64>) -> u64 {
        let all = self.all_cpus_mask();
        let mut val = 0;
        for k in 0..u32::from(nbytes) {
            let intid = first + k;
            if !self.implemented(intid) {
                continue;
            }
            let byte = if intid < NR_PRIVATE {
                1 << vcpu
            } else if let Some(w) = write {
                let mask = (w >> (8 * k)) & all;
                let target = (mask != 0).then(|| mask.trailing_zeros() as u8);
                self.retarget(intid, mask, target, Some(vcpu));
                continue;
            } else {
                self.irq(0, intid).map_or(0, |i| i.route)
            };
            val |= byte << (8 * k);
        }
        val
    }

    /// A GICD_SGIR write by vCPU `from`. TargetListFilter 3 is reserved:
    /// nothing is sent. NSATT only matters with Security Extensions.
    fn write_sgir(&mut self, from: usize, w: u64) {
        let all = self.all_cpus_mask();
        let targets = match (w >> SGIR_FILTER_SHIFT) & 3 {
            0 => (w >> SGIR_TARGETS_SHIFT) & all,
            1 => all & !(1 << from),
            2 => 1 << from,
            _ => 0,
        };
        let intid = (w & SGIR_INTID) as u32;
        for t in VcpuSet(targets).iter() {
            self.pend_sgi(t, intid, from as u8, from);
        }
    }

    /// SGI `intid` of vCPU `target` becomes pending from `source`; kicks
    /// `target` unless it is the accessor. Unlike GICv3's SGIs, the GICv2
    /// ones do not depend on the group (no Security Extensions).
    fn pend_sgi(&mut self, target: usize, intid: u32, source: u8, accessor: usize) {
        let Some(irq) = self.irq_mut(target, intid) else {
            return;
        };
        irq.set_pending();
        self.vcpus[target].sgi_source[intid as usize] = source;
        self.note_change(target, intid, Some(accessor));
    }

    /// CPENDSGIR (0xF10..) and SPENDSGIR (0xF20..): a byte per SGI of the
    /// accessor, a bit per source CPU. Only the recorded source reads as
    /// pending, and clearing another source's bit clears nothing (that
    /// instance was merged into the recorded one). Setting several bits at
    /// once keeps the lowest as the source.
    fn sgi_pend_access(&mut self, vcpu: usize, offset: u64, nbytes: u8, write: Option<u64>) -> u64 {
        let set = offset >= 0xf20;
        let first = (offset & 0xf) as u32;
        let all = self.all_cpus_mask();
        let mut val = 0;
        for k in 0..u32::from(nbytes) {
            let intid = first + k;
            let source = self.vcpus[vcpu].sgi_source[intid as usize];
            let pending = self.irq(vcpu, intid).is_some_and(|i| i.pending());
            let Some(w) = write else {
                if pending {
                    val |= 1 << (8 * k + u32::from(source));
                }
                continue;
            };
            let bits = (w >> (8 * k)) & all;
            if set && bits != 0 {
                self.pend_sgi(vcpu, intid, bits.trailing_zeros() as u8, vcpu);
            } else if !set && pending && bits & (1 << source) != 0 {
                if let Some(irq) = self.irq_mut(vcpu, intid) {
                    irq.clear_pending();
                }
                self.note_change(vcpu, intid, Some(vcpu));
            }
        }
        val
    }
}
