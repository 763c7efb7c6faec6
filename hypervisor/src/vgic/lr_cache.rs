//! What one CPU's list registers and ICH_HCR_EL2 hold, as last written or
//! read. Every access to those registers is costly (under QEMU's TCG each
//! one takes the global I/O lock, which all vCPU threads contend for), so an
//! exit reads back only list registers that hold an interrupt (an empty one
//! cannot change by itself) and an entry writes only what differs.

use super::sched::HCR_LRENPIE;
use super::MAX_LRS;

/// ICH_HCR_EL2.EOIcount: only matters while LRENPIE is set.
const HCR_EOICOUNT: u64 = 0x1f << 27;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LrCache {
    lrs: [u64; MAX_LRS],
    hcr: u64,
}

/// Whether a list register value holds an interrupt (State, bits 63:62).
fn holds_interrupt(lr: u64) -> bool {
    lr >> 62 != 0
}

impl LrCache {
    /// The state `gic_cpu::init` leaves: empty registers, interface on.
    pub const fn after_init() -> Self {
        LrCache {
            lrs: [0; MAX_LRS],
            hcr: 1,
        }
    }

    /// Fill `out` (one value per list register) at a guest exit: `read(i)`
    /// only for registers that held an interrupt, the known value for the
    /// rest.
    pub fn read_back(&mut self, out: &mut [u64], read: &mut dyn FnMut(usize) -> u64) {
        for (i, v) in out.iter_mut().enumerate().take(MAX_LRS) {
            if holds_interrupt(self.lrs[i]) {
                self.lrs[i] = read(i);
            }
            *v = self.lrs[i];
        }
    }

    /// ICH_HCR_EL2 at a guest exit: read only while EOIcount can matter.
    pub fn hcr_at_exit(&mut self, read: &mut dyn FnMut() -> u64) -> u64 {
        if self.hcr & HCR_LRENPIE != 0 {
            self.hcr = read();
        }
        self.hcr
    }

    /// The exit consumed EOIcount: the register is rewritten with it clear.
    pub fn clear_eoi_count(&mut self, write: &mut dyn FnMut(u64)) {
        if self.hcr & HCR_EOICOUNT != 0 {
            self.hcr &= !HCR_EOICOUNT;
            write(self.hcr);
        }
    }

    /// At guest entry: write the list registers whose wanted value differs
    /// from what they hold, and ICH_HCR_EL2 if it differs.
    pub fn load(
        &mut self,
        lrs: &[u64],
        hcr: u64,
        write_lr: &mut dyn FnMut(usize, u64),
        write_hcr: &mut dyn FnMut(u64),
    ) {
        for (i, &v) in lrs.iter().enumerate().take(MAX_LRS) {
            if self.lrs[i] != v {
                write_lr(i, v);
                self.lrs[i] = v;
            }
        }
        if self.hcr != hcr {
            write_hcr(hcr);
            self.hcr = hcr;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const PENDING: u64 = 1 << 62;
    const ACTIVE: u64 = 2 << 62;

    /// A fake CPU interface that counts accesses.
    struct Hw {
        lrs: [u64; 4],
        hcr: u64,
        reads: Vec<usize>,
        writes: Vec<(usize, u64)>,
        hcr_writes: Vec<u64>,
    }

    impl Hw {
        fn new() -> Self {
            Hw {
                lrs: [0; 4],
                hcr: 1,
                reads: Vec::new(),
                writes: Vec::new(),
                hcr_writes: Vec::new(),
            }
        }
        fn exit(&mut self, c: &mut LrCache) -> [u64; 4] {
            let mut out = [0; 4];
            let lrs = self.lrs;
            let reads = &mut self.reads;
            c.read_back(&mut out, &mut |i| {
                reads.push(i);
                lrs[i]
            });
            out
        }
        fn entry(&mut self, c: &mut LrCache, want: &[u64], hcr: u64) {
            let (lrs, writes) = (&mut self.lrs, &mut self.writes);
            let (h, hw) = (&mut self.hcr, &mut self.hcr_writes);
            c.load(
                want,
                hcr,
                &mut |i, v| {
                    lrs[i] = v;
                    writes.push((i, v));
                },
                &mut |v| {
                    *h = v;
                    hw.push(v);
                },
            );
        }
    }

    #[test]
    fn only_live_registers_are_read_and_only_changes_written() {
        let mut c = LrCache::after_init();
        let mut hw = Hw::new();
        // Nothing pending: an exit reads nothing, an entry writes nothing.
        assert_eq!(hw.exit(&mut c), [0; 4]);
        hw.entry(&mut c, &[0; 4], 1);
        assert!(hw.reads.is_empty() && hw.writes.is_empty() && hw.hcr_writes.is_empty());
        // The timer fires: one register written.
        hw.entry(&mut c, &[PENDING | 27, 0, 0, 0], 1);
        assert_eq!(hw.writes, [(0, PENDING | 27)]);
        // The guest takes it (the hardware makes it active): read back.
        hw.lrs[0] = ACTIVE | 27;
        assert_eq!(hw.exit(&mut c), [ACTIVE | 27, 0, 0, 0]);
        assert_eq!(hw.reads, [0]);
        // Deactivated: the state clears, the register is read once more,
        // then no longer.
        hw.lrs[0] = 27;
        assert_eq!(hw.exit(&mut c)[0], 27);
        assert_eq!(hw.exit(&mut c)[0], 27);
        assert_eq!(hw.reads, [0, 0]);
        // The same wanted value is not written again.
        hw.entry(&mut c, &[27, 0, 0, 0], 1);
        assert_eq!(hw.writes.len(), 1);
    }

    #[test]
    fn eoi_count_is_read_only_with_lrenpie() {
        let mut c = LrCache::after_init();
        let mut reads = 0;
        let hw_hcr = 1 | (3 << 27);
        assert_eq!(
            c.hcr_at_exit(&mut || {
                reads += 1;
                hw_hcr
            }),
            1
        );
        assert_eq!(reads, 0);
        let mut written = Vec::new();
        c.load(&[], 1 | HCR_LRENPIE, &mut |_, _| {}, &mut |v| {
            written.push(v)
        });
        assert_eq!(written, [1 | HCR_LRENPIE]);
        let hw_hcr = 1 | HCR_LRENPIE | (3 << 27);
        assert_eq!(c.hcr_at_exit(&mut || hw_hcr), hw_hcr);
        c.clear_eoi_count(&mut |v| written.push(v));
        assert_eq!(written, [1 | HCR_LRENPIE, 1 | HCR_LRENPIE]);
        // Already clear: no write.
        c.clear_eoi_count(&mut |v| written.push(v));
        assert_eq!(written.len(), 2);
    }
}
