//! The distributor (GICD) register map, as a guest with affinity routing
//! sees it: Linux's GICv3 driver reads CTLR/TYPER/TYPER2/IIDR/PIDR2, writes
//! CTLR, and programs the SPIs' group, trigger, priority, enable, active and
//! IROUTER here. The SGI/PPI halves of the per-interrupt registers (INTIDs
//! 0..32) are RAZ/WI: with ARE = 1 the redistributors own them. Legacy
//! registers (ITARGETSR, SGIR, C/SPENDSGIR), the Secure-only ones (IGRPMODR,
//! NSACR: RES0 with DS = 1), message-based SPIs, extended SPIs and every
//! unknown offset are RAZ/WI.

use super::irq::NR_PRIVATE;
use super::mmio::{self, reg64, sizes, AccessError, BitReg, DIST_SIZE};
use super::Vgic;

const CTLR_ENABLE_GRP0: u64 = 1 << 0;
const CTLR_ENABLE_GRP1: u64 = 1 << 1;
/// ARE: affinity routing, RAO/WI (there is no legacy mode).
const CTLR_ARE: u64 = 1 << 4;
/// DS: a single Security state, RAO/WI.
const CTLR_DS: u64 = 1 << 6;

/// TYPER.IDbits: 10 INTID bits (0..1023), minus one.
const TYPER_IDBITS: u64 = 9 << 19;
/// TYPER.A3V: Aff3 may be non-zero.
const TYPER_A3V: u64 = 1 << 24;
/// TYPER.RSS: SGI targets may use Aff0 16..255 (ICC_SGI1R_EL1.RS).
const TYPER_RSS: u64 = 1 << 26;

/// IIDR (also GICR_IIDR): implementer 0x43B (JEP106 of Arm, as the ID
/// registers below), product 0x48 ('H'), variant 0, revision 0.
pub(super) const IIDR: u64 = 0x4800_043b;

/// IROUTER bits that exist: Aff3 [39:32], IRM [31], Aff2..Aff0 [23:0].
pub(super) const IROUTER_MASK: u64 = 0xff_80ff_ffff;

/// The ID registers at 0xFFD0..=0xFFFC (shared by GICD and GICR's RD_base;
/// a GICv2 distributor has them at 0xFD0.., with ArchRev 2).
/// PIDR2.ArchRev [7:4] = 3 (GICv3) is what Linux checks.
pub(super) fn id_register(offset: u64) -> u64 {
    match offset {
        0xffd0 => 0x04, // PIDR4: DES_2 (JEP106 continuation code 4), 4 KiB
        0xffe0 => 0x48, // PIDR0: part number [7:0]
        0xffe4 => 0xb0, // PIDR1: DES_0 (JEP106 id [3:0]), part number [11:8]
        0xffe8 => 0x3b, // PIDR2: ArchRev 3, JEDEC, DES_1 (JEP106 id [6:4])
        0xfff0 => 0x0d, // CIDR0..3: the standard component preamble
        0xfff4 => 0xf0,
        0xfff8 => 0x05,
        0xfffc => 0xb1,
        _ => 0,
    }
}

impl Vgic {
    /// Emulate a `size`-byte access by vCPU `vcpu` at `offset` into the
    /// distributor frame: `write` is the value stored, `None` a read.
    /// Returns the value read (0 for writes). Queues `Effect`s.
    pub fn dist_access(
        &mut self,
        vcpu: usize,
        offset: u64,
        size: u8,
        write: Option<u64>,
    ) -> Result<u64, AccessError> {
        if self.is_v2() {
            return Err(AccessError::WrongVersion);
        }
        if vcpu >= self.nr_vcpus() {
            return Err(AccessError::BadVcpu);
        }
        if offset >= DIST_SIZE {
            return Err(AccessError::BadOffset);
        }
        let write = mmio::check(offset, size, write)?;
        let me = Some(vcpu);
        let val = match offset {
            0x0000 => {
                sizes(size, &[4])?;
                if let Some(w) = write {
                    self.write_ctlr(w, me);
                }
                self.read_ctlr()
            }
            0x0004 => {
                sizes(size, &[4])?;
                u64::from(self.nr_spis() / 32) | TYPER_IDBITS | TYPER_A3V | TYPER_RSS
            }
            0x0008 => {
                sizes(size, &[4])?;
                IIDR
            }
            // TYPER2 (no vSGIs, no nASSGIcap), STATUSR: RAZ/WI.
            0x000c | 0x0010 => sizes(size, &[4]).map(|_| 0)?,
            0x0080..=0x03ff => {
                sizes(size, &[4])?;
                match BitReg::at(offset) {
                    Some((reg, n)) if n > 0 => self.bits_access(0, 32 * n as u32, reg, write, me),
                    _ => 0,
                }
            }
            0x0400..=0x07ff => {
                sizes(size, &[1, 4])?;
                let first = (offset - 0x400) as u32;
                if first < NR_PRIVATE {
                    0
                } else {
                    self.priority_access(0, first, size, write)
                }
            }
            // ITARGETSR, CPENDSGIR, SPENDSGIR: RAZ/WI with ARE.
            0x0800..=0x0bff | 0x0f10..=0x0f2f => sizes(size, &[1, 4]).map(|_| 0)?,
            0x0c00..=0x0cff => {
                sizes(size, &[4])?;
                let n = (offset - 0xc00) as u32 / 4;
                if n < 2 {
                    0
                } else {
                    self.config_access(0, 16 * n, write, me)
                }
            }
            // IGRPMODR, NSACR (DS = 1), SGIR (ARE = 1): RAZ/WI.
            0x0d00..=0x0d7f | 0x0e00..=0x0eff | 0x0f00 => sizes(size, &[4]).map(|_| 0)?,
            0x6000..=0x7fff => self.irouter_access(offset, size, write, me)?,
            0xffd0..=0xffff => {
                sizes(size, &[4])?;
                id_register(offset)
            }
            _ => 0,
        };
        Ok(if write.is_some() { 0 } else { val })
    }

    fn read_ctlr(&self) -> u64 {
        let mut v = CTLR_ARE | CTLR_DS;
        if self.grp0 {
            v |= CTLR_ENABLE_GRP0;
        }
        if self.grp1 {
            v |= CTLR_ENABLE_GRP1;
        }
        v
    }

    pub(super) fn write_ctlr(&mut self, w: u64, accessor: Option<usize>) {
        self.grp0 = w & CTLR_ENABLE_GRP0 != 0;
        self.grp1 = w & CTLR_ENABLE_GRP1 != 0;
        // Newly deliverable interrupts, or loaded ones a disabled group withdraws.
        for v in 0..self.nr_vcpus() {
            let loaded = self.vcpus[v].nr_loaded > 0;
            if Some(v) != accessor && (loaded || self.highest_pending(v).is_some()) {
                self.push_effect(super::Effect::Kick(v));
            }
        }
    }

    /// IROUTER<n> at 0x6000 + 8n: 64-bit, or 32-bit halves. n < 32 is reserved.
    fn irouter_access(
        &mut self,
        offset: u64,
        size: u8,
        write: Option<u64>,
        accessor: Option<usize>,
    ) -> Result<u64, AccessError> {
        let intid = ((offset - 0x6000) / 8) as u32;
        let hi = offset & 4 != 0;
        if intid < NR_PRIVATE || !self.implemented(intid) {
            return reg64(0, hi, size, write).map(|_| 0);
        }
        let cur = self.irq(0, intid).map_or(0, |i| i.route);
        let (val, new) = reg64(cur, hi, size, write)?;
        if let Some(route) = new {
            self.set_route(intid, route & IROUTER_MASK, accessor);
        }
        Ok(val)
    }
}
