//! The per-interrupt registers every GIC distributor (v2 and v3) and a
//! GICv3 redistributor's SGI frame share, at the same offsets: one bit per
//! interrupt to set or clear enable, pending and active, two bits of
//! configuration. Both GIC drivers program interrupts through these.

use super::mmio::MmioBlock;

pub const IGROUPR: usize = 0x080;
pub const ISENABLER: usize = 0x100;
pub const ICENABLER: usize = 0x180;
pub const ICPENDR: usize = 0x280;
pub const ICACTIVER: usize = 0x380;
pub const IPRIORITYR: usize = 0x400;
pub const ICFGR: usize = 0xc00;

/// Write `intid`'s bit into the 1-bit-per-interrupt register family at `base`.
fn write_bit(regs: &MmioBlock, base: usize, intid: u32) {
    regs.reg32(base + (intid / 32) as usize * 4)
        .write(1 << (intid % 32));
}

pub fn set_enabled(regs: &MmioBlock, intid: u32, on: bool) {
    write_bit(regs, if on { ISENABLER } else { ICENABLER }, intid);
}

pub fn clear_pending(regs: &MmioBlock, intid: u32) {
    write_bit(regs, ICPENDR, intid);
}

pub fn clear_active(regs: &MmioBlock, intid: u32) {
    write_bit(regs, ICACTIVER, intid);
}

/// ICFGR: two bits per interrupt, bit 1 of each pair = edge.
pub fn set_edge(regs: &MmioBlock, intid: u32, edge: bool) {
    let r = regs.reg32(ICFGR + (intid / 16) as usize * 4);
    let bit = 1 << ((intid % 16) * 2 + 1);
    r.write(if edge {
        r.read() | bit
    } else {
        r.read() & !bit
    });
}

/// Interrupts 0..32 of this bank (a CPU's SGIs and PPIs): disabled, not
/// pending, inactive, all at `priority`.
pub fn reset_private(regs: &MmioBlock, priority: u8) {
    regs.reg32(ICENABLER).write(u32::MAX);
    regs.reg32(ICPENDR).write(u32::MAX);
    regs.reg32(ICACTIVER).write(u32::MAX);
    let prio = u32::from_ne_bytes([priority; 4]);
    for i in (0..32).step_by(4) {
        regs.reg32(IPRIORITYR + i).write(prio);
    }
}
