//! The arch layer's memory backends: translation tables in frames from the
//! allocator (seen through the identity map, or physically while the MMU is
//! off), and the domain builder's environment (stage-2 mappings, copies).

use core::sync::atomic::{AtomicUsize, Ordering};

use super::{cache, stage2};
use crate::boot::domain_builder::BuildEnv;
use crate::mm::frames::{FrameAllocator, PAGE_SIZE};
use crate::mm::page_table::{Attrs, Leaves, MemType, PageTable, Perms, TableMemory, ENTRIES};

/// Translation tables in frames from the allocator, seen through the
/// identity map (or physically, while the MMU is off).
pub struct FrameTables<'a> {
    pub frames: &'a mut FrameAllocator,
    /// Lowest table allocated (for cache maintenance after MMU-off writes).
    pub lowest: u64,
}

impl TableMemory for FrameTables<'_> {
    fn alloc_table(&mut self) -> Option<u64> {
        let pa = self.frames.alloc(PAGE_SIZE, PAGE_SIZE).ok()?;
        self.lowest = self.lowest.min(pa);
        // SAFETY: a fresh frame of RAM owned by us, identity-accessible.
        unsafe { core::ptr::write_bytes(pa as *mut u8, 0, PAGE_SIZE as usize) };
        Some(pa)
    }
    fn alloc_tables(&mut self, pages: usize) -> Option<u64> {
        let size = PAGE_SIZE * pages as u64;
        let pa = self.frames.alloc(size, size).ok()?;
        self.lowest = self.lowest.min(pa);
        // SAFETY: fresh, contiguous frames of RAM owned by us.
        unsafe { core::ptr::write_bytes(pa as *mut u8, 0, size as usize) };
        Some(pa)
    }
    fn table(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        // SAFETY: only addresses returned by `alloc_table` are walked, and
        // each table is reached through exactly one tree.
        unsafe { &mut *(pa as *mut [u64; ENTRIES]) }
    }
}

const COPY_PIECE: usize = 1 << 20;
/// Below this, starting the other CPUs costs more than it saves.
const PARALLEL_COPY_MIN: usize = 8 << 20;

pub struct Env<'a> {
    pub frames: &'a mut FrameAllocator,
    ram_leaves: Leaves,
}

impl<'a> Env<'a> {
    pub fn new(frames: &'a mut FrameAllocator, ram_leaves: Leaves) -> Self {
        Env { frames, ram_leaves }
    }
}

impl BuildEnv for Env<'_> {
    fn guest_ram_base(&self) -> u64 {
        crate::domain::guest_map::RAM
    }
    fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        self.frames.alloc(size, align).ok()
    }
    fn new_stage2(&mut self) -> Option<PageTable> {
        let g = stage2::geometry();
        let mut t = FrameTables {
            frames: self.frames,
            lowest: u64::MAX,
        };
        PageTable::with_root_pages(&mut t, g.root_level, g.root_pages).ok()
    }
    fn map_ram(&mut self, pt: &PageTable, ipa: u64, pa: u64, size: u64) -> bool {
        let attrs = Attrs {
            mem: MemType::Normal,
            perms: Perms::RWX,
        };
        let mut t = FrameTables {
            frames: self.frames,
            lowest: u64::MAX,
        };
        pt.map_with::<stage2::Stage2Format>(&mut t, ipa, pa, size, attrs, self.ram_leaves)
            .is_ok()
    }
    fn map_device(&mut self, pt: &PageTable, ipa: u64, pa: u64, size: u64) -> bool {
        let attrs = Attrs {
            mem: MemType::Device,
            perms: Perms::RW,
        };
        let mut t = FrameTables {
            frames: self.frames,
            lowest: u64::MAX,
        };
        pt.map::<stage2::Stage2Format>(&mut t, ipa, pa, size, attrs)
            .is_ok()
    }
    fn zero(&mut self, pa: u64, size: u64) {
        // SAFETY: as for `write`: memory this domain's build allocated.
        unsafe { core::ptr::write_bytes(pa as *mut u8, 0, size as usize) };
        cache::clean_range(pa as usize, (pa + size) as usize);
    }
    /// Copy, then clean to the point of coherency: a vCPU starts with its
    /// MMU and caches off and must find the bytes in memory. Big copies (a
    /// kernel) are shared among all CPUs, 1 MiB pieces at a time.
    fn write(&mut self, pa: u64, bytes: &[u8]) {
        let next = AtomicUsize::new(0);
        let copy_pieces = || loop {
            let off = next.fetch_add(1, Ordering::Relaxed) * COPY_PIECE;
            let Some(part) = bytes.get(off..bytes.len().min(off + COPY_PIECE)) else {
                return;
            };
            if part.is_empty() {
                return;
            }
            let to = pa as usize + off;
            // SAFETY: the domain builder only writes into RAM it allocated
            // through `alloc` for this domain, which the EL2 map covers;
            // each piece is copied by one CPU only.
            unsafe { core::ptr::copy_nonoverlapping(part.as_ptr(), to as *mut u8, part.len()) };
            cache::clean_range(to, to + part.len());
        };
        if bytes.len() >= PARALLEL_COPY_MIN {
            super::smp::on_all_cpus(self.frames, &copy_pieces);
        } else {
            copy_pieces();
        }
    }
}
