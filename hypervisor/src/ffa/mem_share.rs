//! FFA_MEM_SHARE from a guest to a secure partition: the guest's memory
//! transaction descriptor (FF-A v1.1 layout, section 10.11; a v1.0
//! caller's layout is first brought to it) is checked and rewritten with
//! host-physical addresses before the SPMC sees it.
//!
//! Only pages of the caller's own RAM that it has not already shared are
//! accepted; one receiver, which must be a secure partition; no
//! fragments. The shares are remembered so that the pages are not shared
//! twice or given away, and so that teardown can reclaim them.

use alloc::vec::Vec;

use super::abi::status;
use super::guest::GuestRam;
use super::partinfo::{PartitionCache, BUFFER_SIZE};

const PAGE: u64 = 4096;
/// Transaction header (v1.1): sender, attributes, flags, handle, tag,
/// access-descriptor size, count and offset, reserved.
const HEADER_SIZE: usize = 48;
/// Endpoint memory access descriptor: 16 bytes in v1.1, 32 in v1.2.
const EMAD_MIN: usize = 16;
const EMAD_MAX: usize = 32;
const COMPOSITE_SIZE: usize = 16;
const CONSTITUENT_SIZE: usize = 16;
/// Most pages in one share (Xen's mediator also stops at 512 KiB).
pub const MAX_SHARE_PAGES: u64 = 128;
/// Most live shares per domain.
pub const MAX_SHARES_PER_DOMAIN: usize = 32;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A range of the guest's pages, by guest-physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpaRange {
    pub ipa: u64,
    pub pages: u64,
}

impl IpaRange {
    fn overlaps(&self, o: &IpaRange) -> bool {
        self.ipa < o.ipa + o.pages * PAGE && o.ipa < self.ipa + self.pages * PAGE
    }
}

/// A checked share: the descriptor for the SPMC and what it covers.
#[derive(Debug, PartialEq, Eq)]
pub struct CheckedShare {
    /// The rewritten descriptor (host-physical constituents).
    pub descriptor: Vec<u8>,
    pub receiver: u16,
    pub ranges: Vec<IpaRange>,
}

/// One live share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub handle: u64,
    pub domain: u16,
    pub receiver: u16,
    pub ranges: Vec<IpaRange>,
    /// Its domain was torn down while the partition still held it: the
    /// pages stay marked (no Xen area, no new share) until a later reclaim
    /// succeeds, and the domain's next life cannot name the handle.
    pub orphaned: bool,
}

/// v1.0's transaction header is 32 bytes (sender, attributes, reserved,
/// flags, handle, tag, reserved, receiver count) with the access
/// descriptors right after it; v1.1 has the same first 24 bytes, then the
/// access descriptors' size, count and offset in a 48-byte header. The
/// access, composite and constituent descriptors are the same. Lay a v1.0
/// caller's descriptor out as v1.1: the header rebuilt, the rest moved 16
/// bytes on and the access descriptor's composite offset moved with it.
pub fn upgrade_v1_0(d: &[u8]) -> Result<Vec<u8>, i32> {
    const V1_0_HEADER: usize = 32;
    let bad = status::INVALID_PARAMETERS;
    let count = u32_at(d, 28).ok_or(bad)?;
    if d[3] != 0 || u32_at(d, 24) != Some(0) || count == 0 {
        return Err(bad);
    }
    if count != 1 {
        return Err(status::NOT_SUPPORTED);
    }
    let comp_off = u32_at(d, V1_0_HEADER + 4).ok_or(bad)? as usize;
    if comp_off < V1_0_HEADER + EMAD_MIN {
        return Err(bad);
    }
    let shift = HEADER_SIZE - V1_0_HEADER;
    let mut out = Vec::with_capacity(d.len() + shift);
    out.extend_from_slice(&d[..24]);
    out.extend_from_slice(&(EMAD_MIN as u32).to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    out.resize(HEADER_SIZE, 0);
    out.extend_from_slice(&d[V1_0_HEADER..]);
    let moved = (comp_off + shift) as u32;
    out[HEADER_SIZE + 4..HEADER_SIZE + 8].copy_from_slice(&moved.to_le_bytes());
    Ok(out)
}

/// Check a guest's descriptor `d` (read from its TX buffer) for a share
/// by `sender` (the caller's FF-A ID) and rewrite it.
pub fn check(
    d: &[u8],
    sender: u16,
    ram: &dyn GuestRam,
    sps: &PartitionCache,
    live: &[Share],
    domain: u16,
) -> Result<CheckedShare, i32> {
    let bad = status::INVALID_PARAMETERS;
    if d.len() < HEADER_SIZE {
        return Err(bad);
    }
    if u16_at(d, 0) != Some(sender) || u64_at(d, 8) != Some(0) {
        // Another sender, or a handle the caller may not choose.
        return Err(bad);
    }
    let emad_size = u32_at(d, 24).ok_or(bad)? as usize;
    let emad_count = u32_at(d, 28).ok_or(bad)?;
    let emad_off = u32_at(d, 32).ok_or(bad)? as usize;
    if !(EMAD_MIN..=EMAD_MAX).contains(&emad_size) || emad_off < HEADER_SIZE {
        return Err(bad);
    }
    if emad_count != 1 {
        return Err(status::NOT_SUPPORTED);
    }
    let emad = d.get(emad_off..emad_off + emad_size).ok_or(bad)?;
    let receiver = u16_at(emad, 0).ok_or(bad)?;
    if sps.find(receiver).is_none() {
        return Err(bad);
    }
    let comp_off = u32_at(emad, 4).ok_or(bad)? as usize;
    let total_pages = u64::from(u32_at(d, comp_off).ok_or(bad)?);
    let range_count = u32_at(d, comp_off + 4).ok_or(bad)? as usize;
    let first = comp_off + COMPOSITE_SIZE;
    let ranges_len = range_count.checked_mul(CONSTITUENT_SIZE).ok_or(bad)?;
    let table = d
        .get(first..first.checked_add(ranges_len).ok_or(bad)?)
        .ok_or(bad)?;
    if range_count == 0 || total_pages == 0 || total_pages > MAX_SHARE_PAGES {
        return Err(bad);
    }
    let mut ranges = Vec::new();
    let mut sum = 0u64;
    for c in table.chunks_exact(CONSTITUENT_SIZE) {
        let r = IpaRange {
            ipa: u64_at(c, 0).ok_or(bad)?,
            pages: u64::from(u32_at(c, 8).ok_or(bad)?),
        };
        sum += r.pages;
        let wraps = r.ipa.checked_add(r.pages * PAGE).is_none();
        if r.pages == 0 || !r.ipa.is_multiple_of(PAGE) || wraps || sum > total_pages {
            return Err(bad);
        }
        ranges.push(r);
    }
    if sum != total_pages {
        return Err(bad);
    }
    // Each page once, and none already shared by this domain.
    for (i, r) in ranges.iter().enumerate() {
        if ranges[..i].iter().any(|o| o.overlaps(r)) {
            return Err(bad);
        }
        let mine = live.iter().filter(|s| s.domain == domain);
        if mine.flat_map(|s| s.ranges.iter()).any(|o| o.overlaps(r)) {
            return Err(status::DENIED);
        }
    }
    // Translate page by page; contiguous host pages make one constituent.
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for r in &ranges {
        for p in 0..r.pages {
            let ipa = r.ipa.checked_add(p * PAGE).ok_or(bad)?;
            let pa = ram.page_pa(ipa).ok_or(bad)?;
            if ram.reserved(ipa) {
                return Err(status::DENIED);
            }
            match runs.last_mut() {
                Some((base, n)) if *base + *n * PAGE == pa => *n += 1,
                _ => runs.push((pa, 1)),
            }
        }
    }
    let mut out = Vec::with_capacity(BUFFER_SIZE);
    out.extend_from_slice(&d[..HEADER_SIZE]);
    out[32..36].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    let new_comp = HEADER_SIZE + emad_size;
    out.extend_from_slice(emad);
    out[HEADER_SIZE + 4..HEADER_SIZE + 8].copy_from_slice(&(new_comp as u32).to_le_bytes());
    out.extend_from_slice(&(total_pages as u32).to_le_bytes());
    out.extend_from_slice(&(runs.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for (pa, n) in runs {
        out.extend_from_slice(&pa.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
    }
    if out.len() > BUFFER_SIZE {
        return Err(status::NO_MEMORY);
    }
    Ok(CheckedShare {
        descriptor: out,
        receiver,
        ranges,
    })
}

/// Whether `domain` has page `ipa` in a live share.
pub fn is_shared(live: &[Share], domain: u16, ipa: u64) -> bool {
    let page = IpaRange {
        ipa: ipa & !(PAGE - 1),
        pages: 1,
    };
    live.iter()
        .filter(|s| s.domain == domain)
        .any(|s| s.ranges.iter().any(|r| r.overlaps(&page)))
}
