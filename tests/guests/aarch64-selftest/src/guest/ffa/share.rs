//! Sharing a buffer with a partition: the transaction descriptor (FF-A
//! v1.1 layout) written into the TX buffer, and the checksum the test
//! partition computes over it (32-bit FNV-1a).

use super::super::mem::{rd8, wr16, wr32, wr64, wr8};

/// Write a descriptor sharing `ranges` (IPA, pages) from `sender` to
/// `receiver` at `tx`; returns its length.
pub fn write_descriptor(tx: u64, sender: u16, receiver: u16, ranges: &[(u64, u32)]) -> u64 {
    for i in 0..128 {
        wr32(tx + 4 * i, 0);
    }
    let total: u32 = ranges.iter().map(|r| r.1).sum();
    wr16(tx, sender);
    // Normal memory, write-back cacheable, inner shareable.
    wr16(tx + 2, 0x2f);
    wr32(tx + 24, 16); // access-descriptor size
    wr32(tx + 28, 1); // one receiver
    wr32(tx + 32, 48); // access descriptors right after the header
    wr16(tx + 48, receiver);
    wr8(tx + 50, 0b10); // read-write
    wr32(tx + 52, 64); // composite descriptor after the one access descriptor
    wr32(tx + 64, total);
    wr32(tx + 68, ranges.len() as u32);
    for (i, &(ipa, pages)) in ranges.iter().enumerate() {
        let at = tx + 80 + 16 * i as u64;
        wr64(at, ipa);
        wr32(at + 8, pages);
    }
    80 + 16 * ranges.len() as u64
}

pub fn fnv1a(at: u64, len: u64) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for i in 0..len {
        h ^= u32::from(rd8(at + i));
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
