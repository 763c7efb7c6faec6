//! What the Arm VMSAv8-64 stage-1 and stage-2 descriptor formats share
//! (4 KiB granule): the valid and table/page bits, table descriptors, and
//! where the output address sits. Leaf attributes differ per stage.

pub const VALID: u64 = 1;
/// Set in table descriptors (levels 0-2) and page descriptors (level 3).
pub const TABLE_OR_PAGE: u64 = 1 << 1;
pub const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// The shared `DescriptorFormat` methods, for use inside an impl block.
macro_rules! vmsa_common_methods {
    () => {
        fn table(pa: u64) -> u64 {
            pa | $crate::arch::aarch64::vmsa::VALID | $crate::arch::aarch64::vmsa::TABLE_OR_PAGE
        }
        fn is_valid(d: u64) -> bool {
            d & $crate::arch::aarch64::vmsa::VALID != 0
        }
        fn is_table(level: usize, d: u64) -> bool {
            level < 3 && d & $crate::arch::aarch64::vmsa::TABLE_OR_PAGE != 0
        }
        fn table_addr(d: u64) -> u64 {
            d & $crate::arch::aarch64::vmsa::ADDR_MASK
        }
        fn leaf_addr(level: usize, d: u64) -> u64 {
            d & $crate::arch::aarch64::vmsa::ADDR_MASK & !((1u64 << (12 + 9 * (3 - level))) - 1)
        }
    };
}
pub(crate) use vmsa_common_methods;
