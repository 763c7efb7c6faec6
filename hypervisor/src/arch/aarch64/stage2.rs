//! Stage-2 translation: what guest-physical addresses mean for a domain.

use aarch64_cpu::registers::*;

use crate::mm::page_table::{Attrs, DescriptorFormat, MemType};

use super::vmsa::{TABLE_OR_PAGE, VALID};

const MEMATTR_NORMAL_WB: u64 = 0b1111 << 2;
const MEMATTR_DEVICE_NGNRE: u64 = 0b0001 << 2;
const S2AP_R: u64 = 1 << 6;
const S2AP_W: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const XN: u64 = 1 << 54;

pub struct Stage2Format;

impl DescriptorFormat for Stage2Format {
    fn leaf(level: usize, pa: u64, a: Attrs) -> u64 {
        let mut d = pa | VALID | AF;
        d |= if level == 3 { TABLE_OR_PAGE } else { 0 };
        d |= match a.mem {
            MemType::Normal => MEMATTR_NORMAL_WB | SH_INNER,
            MemType::Device => MEMATTR_DEVICE_NGNRE,
        };
        if a.perms.read {
            d |= S2AP_R;
        }
        if a.perms.write {
            d |= S2AP_W;
        }
        if !a.perms.exec {
            d |= XN;
        }
        d
    }
    super::vmsa::vmsa_common_methods!();
}

pub use crate::mm::stage2_geometry::Geometry;

static GEOMETRY: spin::Once<Geometry> = spin::Once::new();

/// Size the guest-physical space once, at boot, for everything a guest may
/// be given below `top` (RAM, device windows): every later walk is shorter
/// than with the CPU's whole physical range.
pub fn set_top(top: u64) -> Geometry {
    *GEOMETRY.call_once(|| Geometry::covering(top, super::mmu::pa_range().1))
}

/// The stage-2 geometry (the CPU's whole range if `set_top` never ran).
pub fn geometry() -> Geometry {
    *GEOMETRY.call_once(|| Geometry::covering(u64::MAX, super::mmu::pa_range().1))
}

/// Program VTCR_EL2 for `geometry()`.
pub fn configure() {
    let (ps, _) = super::mmu::pa_range();
    let g = geometry();
    // SL0 for a 4 KiB granule: 1 = start at level 1, 2 = level 0.
    let sl0 = if g.root_level == 0 { 2 } else { 1 };
    let t0sz = 64 - u64::from(g.ipa_bits);
    // Inner/outer write-back walks, inner shareable, 4 KiB granule, RES1 bit 31.
    let vtcr = t0sz | (sl0 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (ps << 16) | (1 << 31);
    VTCR_EL2.set(vtcr);
}

/// Make `root` (tagged with `vmid`) the current stage-2 tables.
pub fn activate(root: u64, vmid: u16) {
    VTTBR_EL2.set(root | (u64::from(vmid & 0xff) << 48));
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}
