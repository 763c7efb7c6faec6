//! Architecture-neutral 4 KiB-granule translation tables (512 entries per
//! table, up to four levels). The descriptor encoding comes from a
//! `DescriptorFormat` supplied by the arch layer (Arm stage-1 EL2, Arm
//! stage-2, x86 nested paging); the walk, block selection and table
//! allocation are shared and unit-tested here.

use crate::mm::frames::PAGE_SIZE;

pub const ENTRIES: usize = 512;

/// What kind of memory a mapping is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Cacheable RAM.
    Normal,
    /// Device registers: uncached, no speculation.
    Device,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Perms {
    pub const RW: Self = Self {
        read: true,
        write: true,
        exec: false,
    };
    pub const RX: Self = Self {
        read: true,
        write: false,
        exec: true,
    };
    pub const RO: Self = Self {
        read: true,
        write: false,
        exec: false,
    };
    pub const RWX: Self = Self {
        read: true,
        write: true,
        exec: true,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    pub mem: MemType,
    pub perms: Perms,
}

/// How one architecture's translation regime encodes descriptors.
pub trait DescriptorFormat {
    /// A leaf mapping `pa` at `level` (3 = 4 KiB page, 2 = 2 MiB, 1 = 1 GiB).
    fn leaf(level: usize, pa: u64, attrs: Attrs) -> u64;
    /// A pointer to a next-level table.
    fn table(pa: u64) -> u64;
    fn is_valid(desc: u64) -> bool;
    /// Whether a valid descriptor at `level` points to another table.
    fn is_table(level: usize, desc: u64) -> bool;
    /// The output address of a table descriptor.
    fn table_addr(desc: u64) -> u64;
    /// The output address of a leaf descriptor.
    fn leaf_addr(level: usize, desc: u64) -> u64;
    /// Whether this regime allows a block (non-page leaf) at `level`.
    fn block_allowed(level: usize) -> bool {
        level == 1 || level == 2
    }
}

/// Where table memory comes from and how the hypervisor sees it.
pub trait TableMemory {
    /// A zeroed, page-aligned table; returns its physical address.
    fn alloc_table(&mut self) -> Option<u64>;
    /// `pages` zeroed tables, physically contiguous and aligned to their
    /// total size (a concatenated root).
    fn alloc_tables(&mut self, pages: usize) -> Option<u64> {
        if pages == 1 {
            self.alloc_table()
        } else {
            None
        }
    }
    /// The table at physical address `pa`.
    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES];
}

/// The largest leaves a mapping may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaves {
    /// Blocks (1 GiB, 2 MiB) wherever alignment and size allow.
    Blocks,
    /// 4 KiB pages only.
    Pages,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    OutOfTables,
    /// Address or size not page-aligned, or beyond the regime's input range.
    BadRange,
    /// The range overlaps an existing mapping.
    AlreadyMapped {
        va: u64,
    },
}

/// A translation table tree rooted at `root`, starting at `root_level`
/// (0 for a 48-bit input range, 1 for 39 bits). A level-1 root may be
/// `root_pages` concatenated tables (stage 2: 2 pages for 40 bits, 16 for
/// 44), which saves a walk level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    pub root: u64,
    pub root_level: usize,
    pub root_pages: usize,
}

const fn level_shift(level: usize) -> u32 {
    12 + 9 * (3 - level as u32)
}

const fn level_size(level: usize) -> u64 {
    1 << level_shift(level)
}

impl PageTable {
    pub fn new(mem: &mut dyn TableMemory, root_level: usize) -> Result<Self, MapError> {
        Self::with_root_pages(mem, root_level, 1)
    }

    /// A tree whose root is `root_pages` (a power of two, at most 16)
    /// concatenated tables.
    pub fn with_root_pages(
        mem: &mut dyn TableMemory,
        root_level: usize,
        root_pages: usize,
    ) -> Result<Self, MapError> {
        assert!(root_level <= 1 && root_pages.is_power_of_two() && root_pages <= 16);
        let root = mem.alloc_tables(root_pages).ok_or(MapError::OutOfTables)?;
        Ok(Self {
            root,
            root_level,
            root_pages,
        })
    }

    /// Size of the input address space.
    pub fn input_limit(&self) -> u64 {
        level_size(self.root_level) * (ENTRIES * self.root_pages) as u64
    }

    /// The table and index holding `va`'s entry at `level`, given the
    /// table reached at that level.
    fn slot(&self, table: u64, va: u64, level: usize) -> (u64, usize) {
        if level == self.root_level {
            let i = ((va >> level_shift(level)) as usize) % (ENTRIES * self.root_pages);
            (table + (i / ENTRIES) as u64 * PAGE_SIZE, i % ENTRIES)
        } else {
            (table, index(va, level))
        }
    }

    /// Map `[va, va+size)` to `[pa, pa+size)` with the largest blocks the
    /// alignment allows. Refuses to replace existing mappings.
    pub fn map<F: DescriptorFormat>(
        &self,
        mem: &mut dyn TableMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        self.map_with::<F>(mem, va, pa, size, attrs, Leaves::Blocks)
    }

    /// [`Self::map`] with at most `leaves`-sized leaves.
    pub fn map_with<F: DescriptorFormat>(
        &self,
        mem: &mut dyn TableMemory,
        va: u64,
        pa: u64,
        size: u64,
        attrs: Attrs,
        leaves: Leaves,
    ) -> Result<(), MapError> {
        let aligned = |v: u64| v.is_multiple_of(PAGE_SIZE);
        if !aligned(va) || !aligned(pa) || !aligned(size) || size == 0 {
            return Err(MapError::BadRange);
        }
        let end = va.checked_add(size).ok_or(MapError::BadRange)?;
        if end > self.input_limit() || pa.checked_add(size).is_none() {
            return Err(MapError::BadRange);
        }
        let mut off = 0;
        while off < size {
            let (v, p, left) = (va + off, pa + off, size - off);
            // Largest level whose block fits alignment and remaining size.
            let mut level = 3;
            if leaves == Leaves::Blocks {
                for l in self.root_level.max(1)..3 {
                    let s = level_size(l);
                    if F::block_allowed(l) && v % s == 0 && p % s == 0 && left >= s {
                        level = l;
                        break;
                    }
                }
            }
            // Every entry up to the end of this table gets a leaf of the
            // same level (a larger one could only start past its end), so
            // the table is found once per run, not once per entry.
            let table = self.table_for::<F>(mem, v, level)?;
            let (t, first) = self.slot(table, v, level);
            let step = level_size(level);
            let run = (ENTRIES - first).min((left / step) as usize);
            for (i, slot) in mem.table(t)[first..first + run].iter_mut().enumerate() {
                let i = i as u64;
                if F::is_valid(*slot) {
                    return Err(MapError::AlreadyMapped { va: v + i * step });
                }
                *slot = F::leaf(level, p + i * step, attrs);
            }
            off += run as u64 * step;
        }
        Ok(())
    }

    /// The table that holds `va`'s entry at level `target`, creating the
    /// tables on the way that do not exist yet.
    fn table_for<F: DescriptorFormat>(
        &self,
        mem: &mut dyn TableMemory,
        va: u64,
        target: usize,
    ) -> Result<u64, MapError> {
        let mut table = self.root;
        for level in self.root_level..target {
            let (t, idx) = self.slot(table, va, level);
            let desc = mem.table(t)[idx];
            table = if !F::is_valid(desc) {
                let next = mem.alloc_table().ok_or(MapError::OutOfTables)?;
                mem.table(t)[idx] = F::table(next);
                next
            } else if F::is_table(level, desc) {
                F::table_addr(desc)
            } else {
                return Err(MapError::AlreadyMapped { va });
            };
        }
        Ok(table)
    }

    /// Translate `va`; returns the output address and the leaf descriptor.
    pub fn translate<F: DescriptorFormat>(
        &self,
        mem: &mut dyn TableMemory,
        va: u64,
    ) -> Option<(u64, u64)> {
        if va >= self.input_limit() {
            return None;
        }
        let mut table = self.root;
        for level in self.root_level..=3 {
            let (t, idx) = self.slot(table, va, level);
            let desc = mem.table(t)[idx];
            if !F::is_valid(desc) {
                return None;
            }
            if level < 3 && F::is_table(level, desc) {
                table = F::table_addr(desc);
                continue;
            }
            let mask = level_size(level) - 1;
            return Some((F::leaf_addr(level, desc) | (va & mask), desc));
        }
        None
    }
}

fn index(va: u64, level: usize) -> usize {
    ((va >> level_shift(level)) as usize) % ENTRIES
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Host stand-in for physical memory holding tables.
    #[derive(Default)]
    pub struct FakeMem {
        pub tables: BTreeMap<u64, Box<[u64; ENTRIES]>>,
        pub next: u64,
        pub limit: usize,
    }

    impl TableMemory for FakeMem {
        fn alloc_table(&mut self) -> Option<u64> {
            if self.limit != 0 && self.tables.len() >= self.limit {
                return None;
            }
            self.next += PAGE_SIZE;
            self.tables.insert(self.next, Box::new([0; ENTRIES]));
            Some(self.next)
        }
        fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
            self.tables
                .get_mut(&pa)
                .expect("walk reached a non-table address")
        }
        fn alloc_tables(&mut self, pages: usize) -> Option<u64> {
            // Contiguous and aligned to the whole root, as the frame allocator gives.
            let align = PAGE_SIZE * pages as u64;
            self.next = (self.next + align).div_ceil(align) * align - PAGE_SIZE;
            let first = self.alloc_table()?;
            for _ in 1..pages {
                self.alloc_table()?;
            }
            Some(first)
        }
    }

    /// A simple format: bit 0 valid, bit 1 table-or-page, bits 12.. address.
    pub struct TestFormat;
    impl DescriptorFormat for TestFormat {
        fn leaf(level: usize, pa: u64, attrs: Attrs) -> u64 {
            pa | 1 | if level == 3 { 2 } else { 0 } | if attrs.perms.write { 4 } else { 0 }
        }
        fn table(pa: u64) -> u64 {
            pa | 3
        }
        fn is_valid(d: u64) -> bool {
            d & 1 != 0
        }
        fn is_table(level: usize, d: u64) -> bool {
            level < 3 && d & 2 != 0
        }
        fn table_addr(d: u64) -> u64 {
            d & 0x0000_ffff_ffff_f000
        }
        fn leaf_addr(level: usize, d: u64) -> u64 {
            d & 0x0000_ffff_ffff_f000 & !(level_size(level) - 1)
        }
    }

    const RW: Attrs = Attrs {
        mem: MemType::Normal,
        perms: Perms::RW,
    };

    #[test]
    fn picks_largest_blocks() {
        let mut m = FakeMem::default();
        let pt = PageTable::new(&mut m, 0).unwrap();
        // 4 KiB + 2 MiB-aligned middle + 1 GiB block region.
        pt.map::<TestFormat>(&mut m, 0x4000_0000, 0x4000_0000, 0x4000_0000, RW)
            .unwrap();
        // One 1 GiB block: root + level-1 table only.
        assert_eq!(m.tables.len(), 2);
        pt.map::<TestFormat>(&mut m, 0x8020_0000, 0x9020_0000, 0x20_1000, RW)
            .unwrap();
        // Level-2 table, then a level-3 table for the trailing page.
        assert_eq!(m.tables.len(), 4);
        let (pa, _) = pt.translate::<TestFormat>(&mut m, 0x8020_1234).unwrap();
        assert_eq!(pa, 0x9020_1234);
        let (pa, d) = pt.translate::<TestFormat>(&mut m, 0x8040_0fff).unwrap();
        assert_eq!((pa, d & 2), (0x9040_0fff, 2));
        let (pa, _) = pt.translate::<TestFormat>(&mut m, 0x7fff_fff8).unwrap();
        assert_eq!(pa, 0x7fff_fff8);
        assert!(pt.translate::<TestFormat>(&mut m, 0x8040_1000).is_none());
        assert!(pt.translate::<TestFormat>(&mut m, 0x3fff_ffff).is_none());
    }

    #[test]
    fn rejects_overlap_misalignment_and_range() {
        let mut m = FakeMem::default();
        let pt = PageTable::new(&mut m, 1).unwrap();
        pt.map::<TestFormat>(&mut m, 0x20_0000, 0x20_0000, 0x20_0000, RW)
            .unwrap();
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 0x20_0000, 0, PAGE_SIZE, RW),
            Err(MapError::AlreadyMapped { va: 0x20_0000 })
        );
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 0x123, 0, PAGE_SIZE, RW),
            Err(MapError::BadRange)
        );
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 1 << 39, 0, PAGE_SIZE, RW),
            Err(MapError::BadRange)
        );
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 0, 0, 0, RW),
            Err(MapError::BadRange)
        );
        assert!(pt.translate::<TestFormat>(&mut m, 1 << 40).is_none());
    }

    #[test]
    fn concatenated_root_covers_more_input() {
        let mut m = FakeMem::default();
        // 40-bit input: level-1 root of two tables.
        let pt = PageTable::with_root_pages(&mut m, 1, 2).unwrap();
        assert_eq!(pt.input_limit(), 1 << 40);
        assert_eq!(pt.root % (2 * PAGE_SIZE), 0);
        pt.map::<TestFormat>(&mut m, 0x80_4000_0000, 0x4000_0000, 1 << 30, RW)
            .unwrap();
        pt.map::<TestFormat>(&mut m, 0x4000_0000, 0x8000_0000, 1 << 30, RW)
            .unwrap();
        // The 513th 1 GiB block lives in the second root page, the 2nd in the first.
        assert_eq!(m.tables[&(pt.root + PAGE_SIZE)][1] & 1, 1);
        assert_eq!(m.tables[&pt.root][1] & 1, 1);
        assert_eq!(
            pt.translate::<TestFormat>(&mut m, 0x80_4000_1234)
                .unwrap()
                .0,
            0x4000_1234
        );
        assert_eq!(
            pt.translate::<TestFormat>(&mut m, 0x4000_1234).unwrap().0,
            0x8000_1234
        );
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 1 << 40, 0, PAGE_SIZE, RW),
            Err(MapError::BadRange)
        );
    }

    #[test]
    fn out_of_tables_is_an_error() {
        let mut m = FakeMem {
            limit: 2,
            ..Default::default()
        };
        let pt = PageTable::new(&mut m, 0).unwrap();
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 0x1000, 0x1000, PAGE_SIZE, RW),
            Err(MapError::OutOfTables)
        );
    }

    #[test]
    fn pages_only_maps_every_4k_across_table_ends() {
        let mut m = FakeMem::default();
        let pt = PageTable::with_root_pages(&mut m, 1, 2).unwrap();
        // 2 MiB-aligned and 4 MiB long, yet all pages: two level-3 tables,
        // plus the level-2 table and the two root pages.
        let (va, pa, size) = (0x4000_0000, 0x4000_0000, 0x40_3000);
        pt.map_with::<TestFormat>(&mut m, va, pa, size, RW, Leaves::Pages)
            .unwrap();
        assert_eq!(m.tables.len(), 2 + 1 + 3);
        for off in (0..size).step_by(PAGE_SIZE as usize) {
            let (out, d) = pt.translate::<TestFormat>(&mut m, va + off + 8).unwrap();
            assert_eq!((out, d & 2), (pa + off + 8, 2), "page at +{off:#x}");
        }
        assert!(pt.translate::<TestFormat>(&mut m, va + size).is_none());
    }

    #[test]
    fn a_run_stops_at_an_existing_mapping() {
        let mut m = FakeMem::default();
        let pt = PageTable::new(&mut m, 1).unwrap();
        pt.map::<TestFormat>(&mut m, 0x5000, 0x5000, PAGE_SIZE, RW)
            .unwrap();
        assert_eq!(
            pt.map_with::<TestFormat>(&mut m, 0x1000, 0x1000, 0x8000, RW, Leaves::Pages),
            Err(MapError::AlreadyMapped { va: 0x5000 })
        );
        // A block refuses to cover a table of pages, too.
        assert_eq!(
            pt.map::<TestFormat>(&mut m, 0, 0, 0x20_0000, RW),
            Err(MapError::AlreadyMapped { va: 0 })
        );
    }

    #[test]
    fn blocks_after_a_page_run_up_to_the_boundary() {
        let mut m = FakeMem::default();
        let pt = PageTable::new(&mut m, 1).unwrap();
        // Pages up to 2 MiB, then one 2 MiB block, then one trailing page.
        pt.map::<TestFormat>(&mut m, 0x1f_e000, 0x1f_e000, 0x20_3000, RW)
            .unwrap();
        let (_, d) = pt.translate::<TestFormat>(&mut m, 0x1f_f000).unwrap();
        assert_eq!(d & 2, 2);
        let (out, d) = pt.translate::<TestFormat>(&mut m, 0x30_0000).unwrap();
        assert_eq!((out, d & 2), (0x30_0000, 0));
        let (_, d) = pt.translate::<TestFormat>(&mut m, 0x40_0000).unwrap();
        assert_eq!(d & 2, 2);
        assert!(pt.translate::<TestFormat>(&mut m, 0x40_1000).is_none());
    }
}
