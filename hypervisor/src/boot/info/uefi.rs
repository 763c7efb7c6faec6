//! Boot information from UEFI: which RAM the firmware's memory map lets the
//! hypervisor use once boot services have exited, and the hand-off record
//! the EFI entry (arch code, MMU still on) leaves for the ordinary boot path
//! (MMU off, BSS zeroed).
//!
//! Only memory the UEFI specification says the OS owns after
//! ExitBootServices is usable: loader code/data, boot-services code/data
//! and conventional memory. Everything else (runtime-services code/data,
//! ACPI tables and NVS, reserved, unusable, persistent, MMIO, PAL code,
//! unaccepted and unknown types) stays the firmware's: it never reaches the
//! frame allocator, so neither the hypervisor nor dom0 gets it.

use crate::board::PhysRange;

/// UEFI page size (memory map descriptors count 4 KiB pages).
pub const UEFI_PAGE: u64 = 4096;
/// At most this many usable ranges (after merging neighbours) are kept.
pub const MAX_USABLE: usize = 48;

/// UEFI memory types (UEFI 2.10, EFI_MEMORY_TYPE) that matter here.
pub mod memory_type {
    pub const RESERVED: u32 = 0;
    pub const LOADER_CODE: u32 = 1;
    pub const LOADER_DATA: u32 = 2;
    pub const BOOT_SERVICES_CODE: u32 = 3;
    pub const BOOT_SERVICES_DATA: u32 = 4;
    pub const RUNTIME_SERVICES_CODE: u32 = 5;
    pub const RUNTIME_SERVICES_DATA: u32 = 6;
    pub const CONVENTIONAL: u32 = 7;
    pub const ACPI_RECLAIM: u32 = 9;
    pub const MMIO: u32 = 11;
}

/// Whether memory of UEFI type `ty` belongs to the OS after
/// ExitBootServices.
pub fn usable_after_exit(ty: u32) -> bool {
    use memory_type::*;
    matches!(
        ty,
        LOADER_CODE | LOADER_DATA | BOOT_SERVICES_CODE | BOOT_SERVICES_DATA | CONVENTIONAL
    )
}

/// One memory map descriptor, as far as it matters here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub ty: u32,
    pub base: u64,
    pub pages: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UefiMapError {
    /// More separate usable ranges than [`MAX_USABLE`].
    TooManyRanges,
    /// A descriptor that is not page-aligned or wraps around.
    Malformed,
}

/// What the firmware's memory map says, reduced to what the boot needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UefiMemory {
    usable: [PhysRange; MAX_USABLE],
    len: usize,
    /// Bytes of RAM-like memory the firmware keeps (runtime services,
    /// ACPI, reserved...; MMIO not counted).
    pub firmware_bytes: u64,
    /// Descriptors read.
    pub descriptors: usize,
}

impl Default for UefiMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl UefiMemory {
    pub const fn new() -> Self {
        Self {
            usable: [PhysRange::new(0, 0); MAX_USABLE],
            len: 0,
            firmware_bytes: 0,
            descriptors: 0,
        }
    }

    /// Reduce a memory map (in any order) to its usable ranges, sorted and
    /// with touching or overlapping neighbours merged. Empty descriptors
    /// are ignored.
    pub fn from_descriptors(
        descriptors: impl IntoIterator<Item = Descriptor>,
    ) -> Result<Self, UefiMapError> {
        let mut m = Self::new();
        for d in descriptors {
            m.descriptors += 1;
            let size = d
                .pages
                .checked_mul(UEFI_PAGE)
                .ok_or(UefiMapError::Malformed)?;
            if !d.base.is_multiple_of(UEFI_PAGE) || d.base.checked_add(size).is_none() {
                return Err(UefiMapError::Malformed);
            }
            if size == 0 {
                continue;
            }
            if usable_after_exit(d.ty) {
                m.insert(PhysRange::new(d.base, size))?;
            } else if d.ty != memory_type::MMIO && d.ty != 12 {
                // A report figure: overlapping hostile descriptors may
                // sum past 2^64.
                m.firmware_bytes = m.firmware_bytes.saturating_add(size);
            }
        }
        Ok(m)
    }

    /// Insert keeping the list sorted and merged.
    fn insert(&mut self, r: PhysRange) -> Result<(), UefiMapError> {
        let (mut base, mut end) = (r.base, r.end());
        // Absorb every range that touches or overlaps [base, end).
        let mut i = 0;
        while i < self.len {
            let u = self.usable[i];
            if u.base <= end && base <= u.end() {
                base = base.min(u.base);
                end = end.max(u.end());
                self.usable.copy_within(i + 1..self.len, i);
                self.len -= 1;
            } else {
                i += 1;
            }
        }
        if self.len == MAX_USABLE {
            return Err(UefiMapError::TooManyRanges);
        }
        let at = self.usable[..self.len].partition_point(|u| u.base < base);
        self.usable.copy_within(at..self.len, at + 1);
        self.usable[at] = PhysRange::new(base, end - base);
        self.len += 1;
        Ok(())
    }

    /// The usable ranges, sorted by address, disjoint and not touching.
    pub fn usable(&self) -> &[PhysRange] {
        &self.usable[..self.len]
    }

    pub fn usable_bytes(&self) -> u64 {
        self.usable().iter().map(|r| r.size).sum()
    }

    /// Whether all of `r` is usable.
    pub fn is_usable(&self, r: PhysRange) -> bool {
        r.size == 0
            || self
                .usable()
                .iter()
                .any(|u| u.base <= r.base && r.end() <= u.end())
    }

    /// The usable ranges clipped to `banks` (the RAM the device tree
    /// describes): what the frame allocator may be given.
    pub fn clip_to<'a>(&'a self, banks: &'a [PhysRange]) -> impl Iterator<Item = PhysRange> + 'a {
        self.usable().iter().flat_map(move |u| {
            banks.iter().filter_map(move |b| {
                let base = u.base.max(b.base);
                let end = u.end().min(b.end());
                (base < end).then(|| PhysRange::new(base, end - base))
            })
        })
    }
}

/// Marks a [`Handoff`] that the EFI entry filled in.
pub const HANDOFF_MAGIC: u64 = u64::from_le_bytes(*b"HLYDUEFI");

/// What the EFI entry leaves for the ordinary boot path. It lives in the
/// image's initialised data (not BSS, which the ordinary entry zeroes).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Handoff {
    /// [`HANDOFF_MAGIC`] once filled in; anything else otherwise.
    pub magic: u64,
    pub memory: UefiMemory,
    /// Exception level the EFI application was entered at.
    pub entry_el: u8,
    /// Counter time (µs) at the EFI entry and just after ExitBootServices.
    pub entered_us: u64,
    pub exited_us: u64,
    /// Whether the image ran where the firmware loaded it (else it copied
    /// itself to its link address).
    pub loaded_in_place: bool,
}

impl Handoff {
    /// An empty record (a non-zero placeholder magic keeps it out of BSS).
    pub const fn empty() -> Self {
        Self {
            magic: 1,
            memory: UefiMemory::new(),
            entry_el: 0,
            entered_us: 0,
            exited_us: 0,
            loaded_in_place: false,
        }
    }

    pub fn from_uefi(&self) -> bool {
        self.magic == HANDOFF_MAGIC
    }
}

#[cfg(test)]
mod tests {
    use super::memory_type::*;
    use super::*;

    fn d(ty: u32, base: u64, pages: u64) -> Descriptor {
        Descriptor { ty, base, pages }
    }

    fn r(base: u64, size: u64) -> PhysRange {
        PhysRange::new(base, size)
    }

    const P: u64 = UEFI_PAGE;

    /// Found by fuzzing (uefi-memory-map): firmware-kept sizes summed past
    /// 2^64 overflowed (a debug-build panic).
    #[test]
    fn huge_firmware_regions_do_not_overflow_the_total() {
        let half = (u64::MAX / 2) / P;
        let map = [d(0, 0, half), d(0, 0, half), d(0, 0, half)];
        let m = UefiMemory::from_descriptors(map).unwrap();
        assert_eq!(m.firmware_bytes, u64::MAX);
    }

    #[test]
    fn only_memory_the_os_owns_is_usable() {
        for ty in 0..20 {
            let want = matches!(ty, 1..=4 | 7);
            assert_eq!(usable_after_exit(ty), want, "type {ty}");
        }
        // A typical AAVMF-like map: runtime, ACPI and reserved regions
        // between usable ones, out of order.
        let map = [
            d(CONVENTIONAL, 0x4000_0000, 0x200),
            d(LOADER_CODE, 0x4020_0000, 0x100),
            d(RUNTIME_SERVICES_DATA, 0x7fe0_0000, 0x10),
            d(BOOT_SERVICES_DATA, 0x4030_0000, 0x100),
            d(ACPI_RECLAIM, 0x7ff0_0000, 0x4),
            d(RUNTIME_SERVICES_CODE, 0x7ff1_0000, 0x4),
            d(CONVENTIONAL, 0x4040_0000, 0x3fa00),
            d(RESERVED, 0x7ff2_0000, 0xe0),
            d(MMIO, 0x0400_0000, 0x4000),
        ];
        let m = UefiMemory::from_descriptors(map).unwrap();
        // 0x4000_0000..0x7fe0_0000 merged into one range.
        assert_eq!(m.usable(), [r(0x4000_0000, 0x3fe0_0000)]);
        assert_eq!(m.firmware_bytes, (0x10 + 0x4 + 0x4 + 0xe0) * P);
        assert_eq!(m.descriptors, map.len());
        assert!(m.is_usable(r(0x4020_0000, 0x10_0000)));
        assert!(
            !m.is_usable(r(0x7fdf_f000, 0x2000)),
            "crosses into runtime data"
        );
        assert!(!m.is_usable(r(0x7ff1_0000, P)));
        assert!(
            m.is_usable(r(0x7ff1_0000, 0)),
            "empty ranges are trivially usable"
        );
    }

    #[test]
    fn merging_keeps_order_and_gaps() {
        let m = UefiMemory::from_descriptors([
            d(CONVENTIONAL, 10 * P, 2),
            d(CONVENTIONAL, 2 * P, 2),
            d(LOADER_DATA, 4 * P, 1), // touches [2,4): merged
            d(RUNTIME_SERVICES_CODE, 5 * P, 1),
            d(CONVENTIONAL, 6 * P, 1),
            d(BOOT_SERVICES_CODE, 7 * P, 3), // bridges [6,7) and [10,12)
            d(CONVENTIONAL, 20 * P, 0),      // empty: ignored
            d(CONVENTIONAL, 11 * P, 4),      // overlaps [10,12)
        ])
        .unwrap();
        assert_eq!(m.usable(), [r(2 * P, 3 * P), r(6 * P, 9 * P)]);
        assert_eq!(m.usable_bytes(), 12 * P);
    }

    #[test]
    fn malformed_and_too_many() {
        assert_eq!(
            UefiMemory::from_descriptors([d(CONVENTIONAL, 0x123, 1)]),
            Err(UefiMapError::Malformed)
        );
        assert_eq!(
            UefiMemory::from_descriptors([d(CONVENTIONAL, !0xfff, 2)]),
            Err(UefiMapError::Malformed)
        );
        assert_eq!(
            UefiMemory::from_descriptors([d(CONVENTIONAL, 0, u64::MAX)]),
            Err(UefiMapError::Malformed)
        );
        // Alternating usable / runtime pages: one range per usable page.
        let alternating = |n: u64| {
            (0..n).map(|i| {
                let ty = if i % 2 == 0 {
                    CONVENTIONAL
                } else {
                    RUNTIME_SERVICES_DATA
                };
                d(ty, i * P, 1)
            })
        };
        let max = 2 * MAX_USABLE as u64;
        assert_eq!(
            UefiMemory::from_descriptors(alternating(max + 2)),
            Err(UefiMapError::TooManyRanges)
        );
        let fits = UefiMemory::from_descriptors(alternating(max)).unwrap();
        assert_eq!(fits.usable().len(), MAX_USABLE);
    }

    #[test]
    fn clipping_to_ram_banks() {
        let m = UefiMemory::from_descriptors([
            d(CONVENTIONAL, 0, 0x10),
            d(CONVENTIONAL, 0x20 * P, 0x20),
        ])
        .unwrap();
        let banks = [r(0x8 * P, 0x20 * P), r(0x38 * P, 0x100 * P)];
        let clipped: Vec<PhysRange> = m.clip_to(&banks).collect();
        assert_eq!(
            clipped,
            [
                r(0x8 * P, 0x8 * P),
                r(0x20 * P, 0x8 * P),
                r(0x38 * P, 0x8 * P)
            ]
        );
    }

    #[test]
    fn handoff_is_marked_only_when_filled() {
        let mut h = Handoff::empty();
        assert!(!h.from_uefi());
        assert_ne!(
            h.magic, 0,
            "must not be all zeros (it must stay out of BSS)"
        );
        h.magic = HANDOFF_MAGIC;
        assert!(h.from_uefi());
    }
}
