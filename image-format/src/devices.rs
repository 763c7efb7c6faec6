//! The device section of a module table: host devices passed through to
//! one domain each (flag [`crate::table_flags::DEVICES`]). It sits right
//! after the module entries:
//!
//! ```text
//! section header  8 bytes: u16 count, u16 entry size (24), u32 zero
//! entries         count * 24 bytes, see `DeviceEntry`
//! ```
//!
//! Each entry's lists (its MMIO ranges as (base u64, size u64), then its
//! interrupt lines as u32) lie in the table's tail, after the strings.
//! Everything is checked when the table is parsed: a device names an
//! existing domain other than the hardware domain (which has every device
//! no other domain gets), ranges are page-aligned and non-empty, lines are
//! SPIs, and no two devices share a path, an MMIO page or an interrupt.

use crate::table::{u16_at, u32_at, u64_at, FormatError};

pub const DEVICE_SECTION_HEADER: usize = 8;
pub const DEVICE_ENTRY_SIZE: usize = 24;
pub const MAX_DEVICES: usize = 64;
/// Per device: enough for any real device node, small enough to keep
/// the pairwise checks of a hostile table short.
pub const MAX_DEVICE_MMIO: usize = 16;
pub const MAX_DEVICE_IRQS: usize = 32;
/// Interrupt lines are GIC INTIDs; a device may have only SPIs (32..1019).
pub const FIRST_SPI: u32 = 32;
pub const LAST_SPI: u32 = 1019;
const PAGE: u64 = 4096;

/// What is wrong with one device entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceFault {
    /// The section header's entry size or reserved word is not version 1's.
    BadSection,
    UnknownDomain(u16),
    /// The hardware domain already has every device no other domain gets.
    HardwareDomain(u16),
    TooManyRanges,
    /// A range that is empty, not page-aligned, or wraps.
    BadRange {
        base: u64,
        size: u64,
    },
    NotAnSpi(u32),
    /// The path is not absolute.
    BadPath,
    /// Lists outside the table, or reserved fields set.
    BadEntry,
}

/// What two devices share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shared {
    Path,
    /// A page at this address.
    Mmio(u64),
    Irq(u32),
}

impl core::fmt::Display for DeviceFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::BadSection => write!(f, "device section header is not version 1's"),
            Self::UnknownDomain(d) => write!(f, "names domain {d}, which is not in the table"),
            Self::HardwareDomain(d) => write!(
                f,
                "is given to domain {d}, the hardware domain, which has every device no other domain gets"
            ),
            Self::TooManyRanges => write!(f, "has too many MMIO ranges or interrupts"),
            Self::BadRange { base, size } => write!(
                f,
                "MMIO range {base:#x}+{size:#x} is empty, not 4 KiB aligned or wraps"
            ),
            Self::NotAnSpi(i) => write!(f, "interrupt {i} is not an SPI (INTID 32..1019)"),
            Self::BadPath => write!(f, "path is not an absolute device-tree path"),
            Self::BadEntry => write!(f, "lists lie outside the table or reserved fields are set"),
        }
    }
}

impl core::fmt::Display for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Path => write!(f, "the same device"),
            Self::Mmio(a) => write!(f, "MMIO page {a:#x}"),
            Self::Irq(i) => write!(f, "interrupt {i}"),
        }
    }
}

/// A device passed through to `domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceEntry<'a> {
    pub domain: u16,
    /// The device's node in the host's device tree (e.g. `/pl031@9010000`).
    pub path: &'a str,
    mmio_count: usize,
    irq_count: usize,
    lists: &'a [u8],
}

impl<'a> DeviceEntry<'a> {
    /// The MMIO ranges as (base, size), host-physical; the domain sees
    /// them at the same addresses.
    pub fn mmio(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let lists = self.lists;
        (0..self.mmio_count).map(move |i| (u64_at(lists, i * 16), u64_at(lists, i * 16 + 8)))
    }

    /// The interrupt lines (GIC INTIDs, all SPIs).
    pub fn irqs(&self) -> impl Iterator<Item = u32> + 'a {
        let (lists, at) = (self.lists, self.mmio_count * 16);
        (0..self.irq_count).map(move |i| u32_at(lists, at + i * 4))
    }
}

/// Where the section starts in the table, and its entry count.
pub(crate) fn section(table: &[u8], at: usize) -> Result<usize, FormatError> {
    let head = table
        .get(at..at + DEVICE_SECTION_HEADER)
        .ok_or(FormatError::Truncated)?;
    let count = usize::from(u16_at(head, 0));
    if usize::from(u16_at(head, 2)) != DEVICE_ENTRY_SIZE || u32_at(head, 4) != 0 {
        return Err(FormatError::BadDevice {
            device: 0,
            fault: DeviceFault::BadSection,
        });
    }
    if count > MAX_DEVICES {
        return Err(FormatError::TooManyEntries);
    }
    Ok(count)
}

/// Bytes the section takes (header and entries) for `count` devices.
pub const fn section_size(count: usize) -> usize {
    DEVICE_SECTION_HEADER + count * DEVICE_ENTRY_SIZE
}

/// Decode entry `i` of the section at `at` (the caller checked the table
/// holds all entries); `string` reads a table string.
pub(crate) fn entry<'a>(
    table: &'a [u8],
    at: usize,
    i: usize,
    string: impl Fn(usize) -> Result<&'a str, FormatError>,
) -> Result<DeviceEntry<'a>, FormatError> {
    let o = at + DEVICE_SECTION_HEADER + i * DEVICE_ENTRY_SIZE;
    let bad = |fault| FormatError::BadDevice { device: i, fault };
    let (flags, reserved) = (u16_at(table, o + 2), u32_at(table, o + 20));
    let mmio_count = usize::from(u16_at(table, o + 4));
    let irq_count = usize::from(u16_at(table, o + 6));
    if flags != 0 || reserved != 0 {
        return Err(bad(DeviceFault::BadEntry));
    }
    if mmio_count > MAX_DEVICE_MMIO || irq_count > MAX_DEVICE_IRQS {
        return Err(bad(DeviceFault::TooManyRanges));
    }
    let start = u32_at(table, o + 16) as usize;
    let len = mmio_count * 16 + irq_count * 4;
    let lists = start
        .checked_add(len)
        .and_then(|end| table.get(start..end))
        .ok_or(bad(DeviceFault::BadEntry))?;
    let path = string(o + 8)?;
    if !path.starts_with('/') {
        return Err(bad(DeviceFault::BadPath));
    }
    Ok(DeviceEntry {
        domain: u16_at(table, o),
        path,
        mmio_count,
        irq_count,
        lists,
    })
}

/// Check one device on its own: ranges and lines.
pub(crate) fn check_entry(i: usize, d: &DeviceEntry<'_>) -> Result<(), FormatError> {
    let bad = |fault| FormatError::BadDevice { device: i, fault };
    for (base, size) in d.mmio() {
        let wraps = base.checked_add(size).is_none();
        if size == 0 || !base.is_multiple_of(PAGE) || !size.is_multiple_of(PAGE) || wraps {
            return Err(bad(DeviceFault::BadRange { base, size }));
        }
    }
    if let Some(irq) = d.irqs().find(|i| !(FIRST_SPI..=LAST_SPI).contains(i)) {
        return Err(bad(DeviceFault::NotAnSpi(irq)));
    }
    Ok(())
}

/// What devices `a` and `b` share, if anything (a device listing the same
/// page or line twice is not a conflict with itself).
pub fn shared(a: &DeviceEntry<'_>, b: &DeviceEntry<'_>) -> Option<Shared> {
    if a.path == b.path {
        return Some(Shared::Path);
    }
    for (ab, asz) in a.mmio() {
        for (bb, bsz) in b.mmio() {
            let (lo, hi) = (ab.max(bb), (ab + asz).min(bb + bsz));
            if lo < hi {
                return Some(Shared::Mmio(lo));
            }
        }
    }
    a.irqs()
        .find(|i| b.irqs().any(|j| j == *i))
        .map(Shared::Irq)
}
