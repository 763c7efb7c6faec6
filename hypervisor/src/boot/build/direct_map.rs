//! Placement for a direct-mapped domain (dom0: guest-physical = host-
//! physical): its RAM is what the hypervisor does not use, in several banks,
//! and the kernel, ramdisk and device tree must land in free slots of that
//! RAM that do not overlap the boot modules they are copied from.

use alloc::vec::Vec;

use crate::board::PhysRange;
use crate::boot::domain_builder::{GuestLayout, LayoutError, DTB_MAX};
use crate::boot::linux_image::ImageHeader;
use crate::mm::frames::{align_down, align_up, PAGE_SIZE};

const MIB2: u64 = 2 << 20;

fn overlaps(a: PhysRange, b: PhysRange) -> bool {
    a.base < b.end() && b.base < a.end()
}

/// `[base + offset, +size)` inside one of `ram`, clear of `taken`, with
/// `base` aligned to `align`; lowest first, or highest with `from_top`.
pub fn find_slot(
    ram: &[PhysRange],
    taken: &[PhysRange],
    size: u64,
    align: u64,
    offset: u64,
    from_top: bool,
) -> Option<u64> {
    let fits = |base: u64| {
        let r = PhysRange::new(base.checked_add(offset)?, size);
        r.base.checked_add(size)?;
        let inside = ram.iter().any(|b| b.base <= r.base && r.end() <= b.end());
        (inside && !taken.iter().any(|t| overlaps(*t, r))).then_some(base)
    };
    // Candidate bases: each bank's aligned start/end and each obstacle's edges.
    let mut candidates: Vec<u64> = Vec::new();
    for b in ram {
        candidates.push(align_up(b.base, align));
        candidates.push(align_down(b.end().saturating_sub(size + offset), align));
    }
    for t in taken {
        candidates.push(align_up(t.end(), align));
        candidates.push(align_down(t.base.saturating_sub(size + offset), align));
    }
    candidates.sort_unstable();
    candidates.dedup();
    if from_top {
        candidates.reverse();
    }
    candidates.into_iter().find_map(fits)
}

/// What already lies where it will be used (a kernel and ramdisk that run
/// in place in the boot image): not placed again, only kept clear of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fixed {
    pub kernel: Option<PhysRange>,
    pub initrd: Option<PhysRange>,
}

/// Where a direct-mapped domain's kernel (lowest 2 MiB-aligned base that
/// fits), device tree (highest 2 MiB slot) and ramdisk (highest fit below
/// or anywhere else) go, unless `fixed` says where they already are.
pub fn plan(
    ram: &[PhysRange],
    avoid: &[PhysRange],
    kernel: &ImageHeader,
    ramdisk_len: Option<u64>,
    dtb_len: u64,
    fixed: Fixed,
) -> Result<GuestLayout, LayoutError> {
    if dtb_len > DTB_MAX {
        return Err(LayoutError::DtbTooBig);
    }
    let have = ram.iter().map(|r| r.size).max().unwrap_or(0);
    let ksize = align_up(kernel.image_size, PAGE_SIZE);
    let kernel_r = match fixed.kernel {
        Some(k) => k,
        None => {
            let kbase = find_slot(ram, avoid, ksize, MIB2, kernel.text_offset, false)
                .ok_or(LayoutError::KernelTooBig { need: ksize, have })?;
            PhysRange::new(kbase + kernel.text_offset, kernel.image_size)
        }
    };
    let mut taken: Vec<PhysRange> = avoid.to_vec();
    taken.push(PhysRange::new(kernel_r.base, ksize));
    taken.extend(fixed.initrd);
    let dtb = find_slot(ram, &taken, DTB_MAX, MIB2, 0, true).ok_or(LayoutError::DtbTooBig)?;
    taken.push(PhysRange::new(dtb, DTB_MAX));
    let initrd = match (ramdisk_len, fixed.initrd) {
        (None, _) => None,
        (Some(_), Some(r)) => Some(r),
        (Some(len), None) => {
            let at = find_slot(ram, &taken, align_up(len, PAGE_SIZE), PAGE_SIZE, 0, true)
                .ok_or(LayoutError::RamdiskTooBig { need: len, have })?;
            Some(PhysRange::new(at, len))
        }
    };
    Ok(GuestLayout {
        kernel: kernel_r,
        dtb: PhysRange::new(dtb, dtb_len),
        initrd,
    })
}

/// The board's device windows minus the ranges the hypervisor keeps: what
/// a hardware domain gets mapped 1:1.
pub fn passthrough(windows: &[PhysRange], kept: &[PhysRange]) -> Vec<PhysRange> {
    let mut out: Vec<PhysRange> = windows.to_vec();
    for k in kept {
        out = out
            .into_iter()
            .flat_map(|w| {
                let left =
                    (w.base < k.base).then(|| PhysRange::new(w.base, k.base.min(w.end()) - w.base));
                let right = (w.end() > k.end()).then(|| {
                    let s = k.end().max(w.base);
                    PhysRange::new(s, w.end() - s)
                });
                if overlaps(w, *k) {
                    [left, right]
                } else {
                    [Some(w), None]
                }
            })
            .flatten()
            .filter(|r| r.size > 0)
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn k(image_size: u64) -> ImageHeader {
        ImageHeader {
            text_offset: 0,
            image_size,
            flags: 0,
        }
    }

    #[test]
    fn avoids_modules_and_uses_aligned_slots() {
        // RAM 1 GiB at 0x40000000 minus the hypervisor's first 4 MiB;
        // modules (the copy source) occupy 0x40400000..0x42400000.
        let ram = [PhysRange::new(0x4040_0000, 1020 * MIB)];
        let modules = [PhysRange::new(0x4040_0000, 32 * MIB)];
        let l = plan(
            &ram,
            &modules,
            &k(30 * MIB),
            Some(20 * MIB),
            4096,
            Fixed::default(),
        )
        .unwrap();
        assert_eq!(l.kernel.base, 0x4240_0000);
        assert_eq!(l.dtb.base, 0x8000_0000 - 2 * MIB);
        assert_eq!(
            l.initrd,
            Some(PhysRange::new(0x8000_0000 - 22 * MIB, 20 * MIB))
        );
        for (a, b) in [(l.kernel, modules[0]), (l.dtb, l.kernel)] {
            assert!(!overlaps(a, b));
        }
    }

    #[test]
    fn fixed_kernel_and_ramdisk_stay_and_are_kept_clear_of() {
        let ram = [PhysRange::new(0x4000_0000, 1024 * MIB)];
        let modules = [PhysRange::new(0x4040_0000, 40 * MIB)];
        let fixed = Fixed {
            kernel: Some(PhysRange::new(0x4060_0000, 36 * MIB)),
            initrd: Some(PhysRange::new(0x4044_0000, MIB)),
        };
        let l = plan(&ram, &modules, &k(36 * MIB), Some(MIB), 4096, fixed).unwrap();
        assert_eq!(l.kernel, fixed.kernel.unwrap());
        assert_eq!(l.initrd, fixed.initrd);
        assert_eq!(l.dtb.base, 0x8000_0000 - 2 * MIB);
        // A DTB cannot land on the kernel's BSS past the modules either.
        let tight = [PhysRange::new(0x4000_0000, 40 * MIB)];
        let fixed = Fixed {
            kernel: Some(PhysRange::new(0x4000_0000, 38 * MIB + 1)),
            initrd: None,
        };
        assert_eq!(
            plan(&tight, &[], &k(38 * MIB + 1), None, 10, fixed),
            Err(LayoutError::DtbTooBig)
        );
    }

    #[test]
    fn too_big_is_reported() {
        let ram = [PhysRange::new(0x4000_0000, 64 * MIB)];
        assert!(matches!(
            plan(&ram, &[], &k(63 * MIB), None, 10, Fixed::default()),
            Err(LayoutError::DtbTooBig)
        ));
        assert!(matches!(
            plan(&ram, &[], &k(65 * MIB), None, 10, Fixed::default()),
            Err(LayoutError::KernelTooBig { .. })
        ));
        assert!(matches!(
            plan(&ram, &[], &k(MIB), Some(61 * MIB + 1), 10, Fixed::default()),
            Err(LayoutError::RamdiskTooBig { .. })
        ));
        assert!(find_slot(&ram, &[], u64::MAX - 5, MIB2, 0, false).is_none());
    }

    #[test]
    fn passthrough_subtracts_kept_ranges() {
        let w = [PhysRange::new(0x0800_0000, 0x3800_0000)];
        let kept = [PhysRange::new(0x0800_0000, 0x100_0000)];
        assert_eq!(
            passthrough(&w, &kept),
            [PhysRange::new(0x0900_0000, 0x3700_0000)]
        );
        let kept = [PhysRange::new(0x0a00_0000, 0x1000)];
        assert_eq!(
            passthrough(&w, &kept),
            [
                PhysRange::new(0x0800_0000, 0x200_0000),
                PhysRange::new(0x0a00_1000, 0x35ff_f000)
            ]
        );
        assert_eq!(passthrough(&w, &[PhysRange::new(0, 1 << 40)]), []);
    }
}

/// RAM for the hardware domain: the free ranges plus regions it gets back
/// once they have served their purpose (boot modules, the firmware's DTB),
/// sorted and with touching ranges merged.
pub fn merge_ranges(free: &[PhysRange], give_back: &[PhysRange]) -> Vec<PhysRange> {
    let mut all: Vec<PhysRange> = free
        .iter()
        .chain(give_back)
        .copied()
        .filter(|r| r.size > 0)
        .collect();
    all.sort_unstable_by_key(|r| r.base);
    let mut out: Vec<PhysRange> = Vec::new();
    for r in all {
        match out.last_mut() {
            Some(last) if r.base <= last.end() => last.size = last.size.max(r.end() - last.base),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    #[test]
    fn merges_sorted_and_touching() {
        let free = [
            PhysRange::new(0x5000_0000, 0x1000_0000),
            PhysRange::new(0x4000_0000, 0x20_0000),
        ];
        let back = [
            PhysRange::new(0x4040_0000, 0x0fc0_0000),
            PhysRange::new(0x5800_0000, 0x1000),
        ];
        assert_eq!(
            merge_ranges(&free, &back),
            [
                PhysRange::new(0x4000_0000, 0x20_0000),
                PhysRange::new(0x4040_0000, 0x1fc0_0000)
            ]
        );
        assert_eq!(merge_ranges(&[], &[PhysRange::new(1, 0)]), []);
    }
}
