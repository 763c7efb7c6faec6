//! Host tests of the virtual GIC (both front ends) against what Linux's
//! GICv3 and GICv2 drivers do and what the architectures specify.

mod inject;
mod linux_boot;
mod property;
mod property_v2;
mod regs;
mod sched;
mod v2_regs;
mod v2_sched;

use super::*;

/// Two clusters like QEMU virt with 4 vCPUs: Aff1 = 0, Aff0 = 0..3, plus
/// MPIDR bit 31 (RES1) to check it is ignored.
pub(super) const MPIDRS: [u64; 4] = [0x8000_0000, 0x8000_0001, 0x8000_0002, 0x8000_0003];

pub(super) fn gic() -> Vgic {
    Vgic::new(&MPIDRS, 64, 5).unwrap()
}

pub(super) fn rd(g: &mut Vgic, off: u64) -> u64 {
    g.dist_access(0, off, 4, None).unwrap()
}

pub(super) fn wd(g: &mut Vgic, off: u64, v: u64) {
    g.dist_access(0, off, 4, Some(v)).unwrap();
}

pub(super) fn rr(g: &mut Vgic, frame: usize, off: u64) -> u64 {
    g.redist_access(frame, off, 4, None).unwrap()
}

pub(super) fn wr(g: &mut Vgic, frame: usize, off: u64, v: u64) {
    g.redist_access(frame, off, 4, Some(v)).unwrap();
}

pub(super) const SGI: u64 = 0x1_0000;
