//! How large a guest-physical space the stage-2 tables cover, and so how
//! many levels every stage-2 walk takes. Each level is a memory read on
//! every TLB miss, and a guest's stage-1 walk needs a stage-2 walk for each
//! of its own table reads: one level saved is several reads per miss (under
//! QEMU's TCG, which caches no walks, a measurable share of guest time).

/// A stage-2 input space of `ipa_bits` with a 4 KiB granule: up to 43 bits
/// the walk starts at level 1 with 2^(bits-39) concatenated root tables,
/// above at level 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub ipa_bits: u32,
    pub root_level: usize,
    pub root_pages: usize,
}

/// The smallest input space the walk can use from level 1 with one table.
const LEVEL1_MIN_BITS: u32 = 32;
/// The largest a level-1 start reaches (16 concatenated tables).
const LEVEL1_MAX_BITS: u32 = 43;

impl Geometry {
    /// The smallest space holding every guest-physical address below `top`
    /// (exclusive), never more than the CPU's `pa_bits`: what a board's RAM
    /// and device windows need, rather than all the CPU could address.
    pub fn covering(top: u64, pa_bits: u32) -> Self {
        let needed = if top <= 1 {
            0
        } else {
            64 - (top - 1).leading_zeros()
        };
        Self::with_bits(needed.max(LEVEL1_MIN_BITS).min(pa_bits).min(48))
    }

    fn with_bits(bits: u32) -> Self {
        if bits > LEVEL1_MAX_BITS {
            Geometry {
                ipa_bits: bits,
                root_level: 0,
                root_pages: 1,
            }
        } else {
            Geometry {
                ipa_bits: bits,
                root_level: 1,
                root_pages: 1 << bits.saturating_sub(39),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_virt_highmem_fits_two_level1_tables() {
        // Windows end at 1 TiB (PCIe 64-bit MMIO): 40 bits, level 1, 2 pages.
        let g = Geometry::covering(0x100_0000_0000, 48);
        assert_eq!((g.ipa_bits, g.root_level, g.root_pages), (40, 1, 2));
    }

    #[test]
    fn one_more_byte_needs_one_more_bit() {
        let g = Geometry::covering(0x100_0000_0001, 48);
        assert_eq!((g.ipa_bits, g.root_level, g.root_pages), (41, 1, 4));
    }

    #[test]
    fn small_boards_use_one_level1_table() {
        let g = Geometry::covering(0x1_0000_0000, 48);
        assert_eq!((g.ipa_bits, g.root_level, g.root_pages), (32, 1, 1));
        assert_eq!(Geometry::covering(0, 48).ipa_bits, 32);
    }

    #[test]
    fn beyond_43_bits_walks_from_level0() {
        let g = Geometry::covering(1 << 44, 48);
        assert_eq!((g.ipa_bits, g.root_level, g.root_pages), (44, 0, 1));
        assert_eq!(Geometry::covering(u64::MAX, 48).ipa_bits, 48);
    }

    #[test]
    fn never_more_than_the_cpu_addresses() {
        let g = Geometry::covering(0x100_0000_0000, 36);
        assert_eq!((g.ipa_bits, g.root_level, g.root_pages), (36, 1, 1));
    }
}
