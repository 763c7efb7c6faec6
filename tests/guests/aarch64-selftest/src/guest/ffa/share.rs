//! Sharing a buffer with a partition: the transaction descriptor (FF-A
//! v1.1 layout, or v1.0's for a v1.0 caller) written into the TX buffer,
//! and the checksum the test partition computes over it (32-bit FNV-1a).

use super::super::mem::{rd8, wr16, wr32, wr64, wr8};

/// Write a descriptor sharing `ranges` (IPA, pages) from `sender` to
/// `receiver` at `tx`, in v1.0's layout if `v1_0`; returns its length.
pub fn write_descriptor(
    tx: u64,
    v1_0: bool,
    sender: u16,
    receiver: u16,
    ranges: &[(u64, u32)],
) -> u64 {
    for i in 0..128 {
        wr32(tx + 4 * i, 0);
    }
    let total: u32 = ranges.iter().map(|r| r.1).sum();
    wr16(tx, sender);
    // Normal memory, write-back cacheable, inner shareable (v1.0: one
    // byte, then a reserved one).
    wr16(tx + 2, 0x2f);
    wr32(tx + 28, 1); // one receiver
                      // v1.0: the access descriptor follows the 32-byte header; v1.1 names
                      // its size and offset (after the 48-byte header).
    let emad = if v1_0 {
        32
    } else {
        wr32(tx + 24, 16);
        wr32(tx + 32, 48);
        48
    };
    wr16(tx + emad, receiver);
    wr8(tx + emad + 2, 0b10); // read-write
    let composite = emad + 16; // after the one access descriptor
    wr32(tx + emad + 4, composite as u32);
    wr32(tx + composite, total);
    wr32(tx + composite + 4, ranges.len() as u32);
    for (i, &(ipa, pages)) in ranges.iter().enumerate() {
        let at = tx + composite + 16 + 16 * i as u64;
        wr64(at, ipa);
        wr32(at + 8, pages);
    }
    composite + 16 + 16 * ranges.len() as u64
}

pub fn fnv1a(at: u64, len: u64) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for i in 0..len {
        h ^= u32::from(rd8(at + i));
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
