//! Physical frame allocator: free RAM as a short list of ranges.
//!
//! Fed from the boot information (RAM banks minus everything reserved), it
//! hands out page-aligned, physically contiguous blocks; guests need large
//! aligned blocks for big stage-2 mappings, which a bitmap of pages would
//! make expensive to find.

use crate::board::PhysRange;

pub const PAGE_SIZE: u64 = 4096;
const MAX_RANGES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free range can satisfy the request.
    OutOfMemory,
    /// More disjoint ranges than the allocator can track.
    TooFragmented,
    /// Size zero, or alignment not a power of two >= a page.
    BadRequest,
}

pub struct FrameAllocator {
    ranges: [PhysRange; MAX_RANGES],
    len: usize,
}

impl FrameAllocator {
    pub const fn new() -> Self {
        Self {
            ranges: [PhysRange::new(0, 0); MAX_RANGES],
            len: 0,
        }
    }

    pub fn ranges(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    pub fn free_bytes(&self) -> u64 {
        self.ranges().iter().map(|r| r.size).sum()
    }

    /// Add RAM (page-aligned inward). Overlap with free RAM is merged.
    pub fn add(&mut self, r: PhysRange) -> Result<(), FrameError> {
        let base = align_up(r.base, PAGE_SIZE);
        let end = align_down(r.end(), PAGE_SIZE);
        if end <= base {
            return Ok(());
        }
        // Remove any overlap first so ranges stay disjoint, then insert sorted.
        self.remove(PhysRange::new(base, end - base))?;
        if self.len == MAX_RANGES {
            return Err(FrameError::TooFragmented);
        }
        let pos = self
            .ranges()
            .iter()
            .position(|x| x.base > base)
            .unwrap_or(self.len);
        self.ranges.copy_within(pos..self.len, pos + 1);
        self.ranges[pos] = PhysRange::new(base, end - base);
        self.len += 1;
        self.coalesce();
        Ok(())
    }

    /// Take a range out of the free pool (page-aligned outward).
    pub fn remove(&mut self, r: PhysRange) -> Result<(), FrameError> {
        let cut_base = align_down(r.base, PAGE_SIZE);
        let cut_end = align_up(r.base.saturating_add(r.size), PAGE_SIZE);
        let mut i = 0;
        while i < self.len {
            let cur = self.ranges[i];
            if cut_end <= cur.base || cut_base >= cur.end() {
                i += 1;
                continue;
            }
            let left = (cur.base < cut_base).then(|| PhysRange::new(cur.base, cut_base - cur.base));
            let right = (cur.end() > cut_end).then(|| PhysRange::new(cut_end, cur.end() - cut_end));
            match (left, right) {
                (Some(l), Some(r)) => {
                    if self.len == MAX_RANGES {
                        return Err(FrameError::TooFragmented);
                    }
                    self.ranges.copy_within(i + 1..self.len, i + 2);
                    self.ranges[i] = l;
                    self.ranges[i + 1] = r;
                    self.len += 1;
                    i += 2;
                }
                (Some(x), None) | (None, Some(x)) => {
                    self.ranges[i] = x;
                    i += 1;
                }
                (None, None) => {
                    self.ranges.copy_within(i + 1..self.len, i);
                    self.len -= 1;
                }
            }
        }
        Ok(())
    }

    fn coalesce(&mut self) {
        let mut i = 0;
        while i + 1 < self.len {
            if self.ranges[i].end() == self.ranges[i + 1].base {
                self.ranges[i].size += self.ranges[i + 1].size;
                self.ranges.copy_within(i + 2..self.len, i + 1);
                self.len -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// Allocate `size` bytes aligned to `align`, from the highest free
    /// address down so that low memory stays available for direct-mapped
    /// guests and devices with addressing limits.
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<u64, FrameError> {
        if size == 0 || !align.is_power_of_two() || align < PAGE_SIZE {
            return Err(FrameError::BadRequest);
        }
        let size = align_up(size, PAGE_SIZE);
        for i in (0..self.len).rev() {
            let r = self.ranges[i];
            if r.size < size {
                continue;
            }
            let base = align_down(r.end() - size, align);
            if base >= r.base {
                self.remove(PhysRange::new(base, size))?;
                return Ok(base);
            }
        }
        Err(FrameError::OutOfMemory)
    }

    /// Return a block to the pool.
    pub fn free(&mut self, base: u64, size: u64) -> Result<(), FrameError> {
        self.add(PhysRange::new(base, size))
    }
}

impl Default for FrameAllocator {
    fn default() -> Self {
        Self::new()
    }
}

pub const fn align_up(v: u64, a: u64) -> u64 {
    v.wrapping_add(a - 1) & !(a - 1)
}

pub const fn align_down(v: u64, a: u64) -> u64 {
    v & !(a - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn ram() -> FrameAllocator {
        let mut f = FrameAllocator::new();
        f.add(PhysRange::new(0x4000_0000, 1024 * MIB)).unwrap();
        f
    }

    #[test]
    fn reserve_splits_and_alloc_is_top_down_and_aligned() {
        let mut f = ram();
        f.remove(PhysRange::new(0x4020_0000, 0x1_2345)).unwrap();
        assert_eq!(f.ranges().len(), 2);
        assert_eq!(f.ranges()[1].base, 0x4021_3000);
        let a = f.alloc(64 * MIB, 2 * MIB).unwrap();
        assert_eq!(a, 0x8000_0000 - 64 * MIB);
        let b = f.alloc(PAGE_SIZE, PAGE_SIZE).unwrap();
        assert_eq!(b, a - PAGE_SIZE);
        assert_eq!(f.free_bytes(), 1024 * MIB - 0x13000 - 64 * MIB - PAGE_SIZE);
    }

    #[test]
    fn free_coalesces() {
        let mut f = ram();
        let a = f.alloc(8 * MIB, PAGE_SIZE).unwrap();
        let b = f.alloc(8 * MIB, PAGE_SIZE).unwrap();
        f.free(a, 8 * MIB).unwrap();
        f.free(b, 8 * MIB).unwrap();
        assert_eq!(f.ranges(), &[PhysRange::new(0x4000_0000, 1024 * MIB)]);
    }

    #[test]
    fn errors() {
        let mut f = ram();
        assert_eq!(f.alloc(2048 * MIB, PAGE_SIZE), Err(FrameError::OutOfMemory));
        assert_eq!(f.alloc(0, PAGE_SIZE), Err(FrameError::BadRequest));
        assert_eq!(f.alloc(PAGE_SIZE, 3), Err(FrameError::BadRequest));
        // An alignment the range cannot meet.
        let mut g = FrameAllocator::new();
        g.add(PhysRange::new(0x4010_0000, 2 * MIB)).unwrap();
        assert_eq!(g.alloc(2 * MIB, 2 * MIB), Err(FrameError::OutOfMemory));
        assert_eq!(g.alloc(MIB, 2 * MIB), Ok(0x4020_0000));
    }

    #[test]
    fn too_fragmented_is_an_error_not_a_panic() {
        let mut f = ram();
        let mut err = None;
        for i in 0..200u64 {
            if let Err(e) = f.remove(PhysRange::new(0x4000_0000 + i * 2 * PAGE_SIZE, PAGE_SIZE)) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(FrameError::TooFragmented));
    }
}
