//! Access decoding shared by the distributor and redistributor maps: size
//! and alignment checks, and the per-interrupt register families that both
//! have (1 bit per INTID: IGROUPR, IS/ICENABLER, IS/ICPENDR, IS/ICACTIVER;
//! 8 bits: IPRIORITYR; 2 bits: ICFGR). The distributor applies them to
//! SPIs, a redistributor to its vCPU's SGIs and PPIs.

use super::irq::{Trigger, NR_PRIVATE, NR_SGIS};
use super::{Effect, Phys, Vgic};

/// Size of the distributor's register frame.
pub const DIST_SIZE: u64 = 0x1_0000;
/// Size of one vCPU's redistributor (RD_base + SGI_base frames).
pub const REDIST_STRIDE: u64 = 0x2_0000;

/// Why a guest access cannot be emulated: inject a data abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Not 1, 2, 4 or 8 bytes, or a size the register does not support.
    BadSize,
    /// The address is not aligned to the access size.
    Misaligned,
    /// The accessing vCPU (an arch-layer argument) does not exist.
    BadVcpu,
    /// The offset is outside the frame (an arch-layer argument).
    BadOffset,
    /// A frame of the other GIC version: `dist_access`/`redist_access` on
    /// a GICv2 model, `dist_v2_access` on a GICv3 one (an arch-layer bug).
    WrongVersion,
}

/// Split an offset into the redistributor region into (vCPU frame, offset
/// inside its 128 KiB).
pub fn split_redist_offset(offset: u64) -> (usize, u64) {
    ((offset / REDIST_STRIDE) as usize, offset % REDIST_STRIDE)
}

/// Common checks; returns the written value truncated to the access size.
pub(super) fn check(offset: u64, size: u8, write: Option<u64>) -> Result<Option<u64>, AccessError> {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(AccessError::BadSize);
    }
    if !offset.is_multiple_of(u64::from(size)) {
        return Err(AccessError::Misaligned);
    }
    let mask = if size == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size)) - 1
    };
    Ok(write.map(|v| v & mask))
}

/// Refuse sizes a register does not support.
pub(super) fn sizes(size: u8, allowed: &[u8]) -> Result<(), AccessError> {
    if allowed.contains(&size) {
        Ok(())
    } else {
        Err(AccessError::BadSize)
    }
}

/// A 64-bit register that also takes 32-bit accesses to either half:
/// returns the read value and, for writes, the new 64-bit value.
pub(super) fn reg64(
    cur: u64,
    half_hi: bool,
    size: u8,
    write: Option<u64>,
) -> Result<(u64, Option<u64>), AccessError> {
    match (size, half_hi) {
        (8, false) => Ok((cur, write)),
        (4, false) => Ok((cur & 0xffff_ffff, write.map(|w| cur & !0xffff_ffff | w))),
        (4, true) => Ok((cur >> 32, write.map(|w| cur & 0xffff_ffff | w << 32))),
        _ => Err(AccessError::BadSize),
    }
}

/// The 1-bit-per-interrupt register families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitReg {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
}

impl BitReg {
    /// The family at `offset` (0x080..0x400 in both GICD and SGI_base), and
    /// the register index n inside it.
    pub(super) fn at(offset: u64) -> Option<(Self, u64)> {
        let reg = match offset & !0x7f {
            0x080 => Self::Group,
            0x100 => Self::SetEnable,
            0x180 => Self::ClearEnable,
            0x200 => Self::SetPending,
            0x280 => Self::ClearPending,
            0x300 => Self::SetActive,
            0x380 => Self::ClearActive,
            _ => return None,
        };
        Some((reg, (offset & 0x7f) / 4))
    }
}

impl Vgic {
    /// 32 interrupts from `first` (seen from `owner`) through register family `reg`.
    pub(super) fn bits_access(
        &mut self,
        owner: usize,
        first: u32,
        reg: BitReg,
        write: Option<u64>,
        accessor: Option<usize>,
    ) -> u64 {
        let mut val = 0;
        for bit in 0..32 {
            let intid = first + bit;
            if !self.implemented(intid) {
                continue;
            }
            let Some(w) = write else {
                let irq = self.irq(owner, intid).copied();
                let set = irq.is_some_and(|i| match reg {
                    BitReg::Group => i.group1,
                    BitReg::SetEnable | BitReg::ClearEnable => i.enabled,
                    BitReg::SetPending | BitReg::ClearPending => i.pending(),
                    BitReg::SetActive | BitReg::ClearActive => i.active(),
                });
                val |= u64::from(set) << bit;
                continue;
            };
            let one = (w >> bit) & 1 == 1;
            if !one && reg != BitReg::Group {
                continue;
            }
            let Some(irq) = self.irq_mut(owner, intid) else {
                continue;
            };
            let op = match reg {
                BitReg::Group => {
                    irq.group1 = one;
                    None
                }
                BitReg::SetEnable => irq.set_enabled(true),
                BitReg::ClearEnable => irq.set_enabled(false),
                BitReg::SetPending => {
                    irq.set_pending();
                    None
                }
                BitReg::ClearPending => irq.clear_pending(),
                BitReg::SetActive => irq.set_active(true),
                BitReg::ClearActive => irq.set_active(false),
            };
            if let Some(op) = op {
                self.phys_effect(owner, intid, op);
            }
            self.note_change(owner, intid, accessor);
        }
        val
    }

    /// IPRIORITYR bytes for `nbytes` interrupts from `first`.
    pub(super) fn priority_access(
        &mut self,
        owner: usize,
        first: u32,
        nbytes: u8,
        write: Option<u64>,
    ) -> u64 {
        let mask = self.prio_mask;
        let mut val = 0;
        for k in 0..u32::from(nbytes) {
            let intid = first + k;
            if !self.implemented(intid) {
                continue;
            }
            let Some(irq) = self.irq_mut(owner, intid) else {
                continue;
            };
            match write {
                Some(w) => irq.priority = (w >> (8 * k)) as u8 & mask,
                None => val |= u64::from(irq.priority) << (8 * k),
            }
        }
        val
    }

    /// ICFGR<n>: 16 interrupts from `first`, bit 2k+1 = edge. SGIs are
    /// always edge and read-only; bits 2k are RES0.
    pub(super) fn config_access(
        &mut self,
        owner: usize,
        first: u32,
        write: Option<u64>,
        accessor: Option<usize>,
    ) -> u64 {
        let mut val = 0;
        for k in 0..16u32 {
            let intid = first + k;
            if !self.implemented(intid) {
                continue;
            }
            let Some(irq) = self.irq_mut(owner, intid) else {
                continue;
            };
            let Some(w) = write.filter(|_| intid >= NR_SGIS) else {
                val |= u64::from(irq.trigger == Trigger::Edge) << (2 * k + 1);
                continue;
            };
            let edge = (w >> (2 * k + 1)) & 1 == 1;
            let trigger = if edge { Trigger::Edge } else { Trigger::Level };
            if irq.trigger == trigger {
                continue;
            }
            irq.trigger = trigger;
            if let Some(pintid) = irq.hw {
                let vcpu = (intid < NR_PRIVATE).then_some(owner);
                self.push_effect(Effect::SetPhysTrigger {
                    phys: Phys { pintid, vcpu },
                    edge,
                });
            }
            self.note_change(owner, intid, accessor);
        }
        val
    }
}
