//! Partition side of memory sharing: retrieve a share, checksum its pages
//! through the partition's identity mapping of normal-world RAM, relinquish.

use super::protocol::{fnv1a, FNV_OFFSET};
use super::sel1::call;
use crate::lock::SpinLock;
use crate::spmc::abi::*;

const MAX_RANGES: usize = 32;

/// Serialises use of a partition's RX/TX pair among its execution contexts.
pub struct BufferLock(SpinLock<()>);

impl BufferLock {
    pub const fn new() -> Self {
        BufferLock(SpinLock::new(()))
    }
}

fn page<'a>(address: u64) -> &'a mut [u8] {
    // SAFETY: `address` is one of this partition's own RX/TX pages in secure
    // RAM, used only while the BufferLock is held.
    unsafe { core::slice::from_raw_parts_mut(address as *mut u8, 4096) }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Returns (status, FNV-1a, bytes): status 0 or an FF-A error code.
pub fn checksum(me: u16, handle: u64, buffers: (u64, u64), lock: &BufferLock) -> (u32, u32, u64) {
    let (tx, rx) = buffers;
    let mut ranges = [(0u64, 0u64); MAX_RANGES];
    let count;
    {
        let _held = lock.0.lock();
        let request = page(tx);
        request[..64].fill(0);
        request[8..16].copy_from_slice(&handle.to_le_bytes());
        request[24..28].copy_from_slice(&16u32.to_le_bytes());
        request[28..32].copy_from_slice(&1u32.to_le_bytes());
        request[32..36].copy_from_slice(&48u32.to_le_bytes());
        request[48..50].copy_from_slice(&me.to_le_bytes());
        request[50] = 1; // read-only access is all a checksum needs
        let r = call(FFA_MEM_RETRIEVE_REQ_32, 64, 64, 0);
        if r[0] as u32 != FFA_MEM_RETRIEVE_RESP {
            return (r[2] as u32, 0, 0);
        }
        let response = page(rx);
        let composite = le32(response, 48 + 4) as usize;
        count = (le32(response, composite + 4) as usize).min(MAX_RANGES);
        for (n, range) in ranges.iter_mut().take(count).enumerate() {
            let at = composite + 16 + n * 16;
            let address = le32(response, at) as u64 | ((le32(response, at + 4) as u64) << 32);
            *range = (address, le32(response, at + 8) as u64 * 4096);
        }
        call(FFA_RX_RELEASE, 0, 0, 0);
    }
    let mut hash = FNV_OFFSET;
    let mut bytes = 0;
    for &(address, size) in &ranges[..count] {
        // SAFETY: the SPMC accepted this range as normal-world RAM shared with
        // this partition (and retrieved by it); the tables map it NS.
        let memory = unsafe { core::slice::from_raw_parts(address as *const u8, size as usize) };
        hash = fnv1a(hash, memory);
        bytes += size;
    }
    let _held = lock.0.lock();
    let request = page(tx);
    request[..18].fill(0);
    request[0..8].copy_from_slice(&handle.to_le_bytes());
    request[12..16].copy_from_slice(&1u32.to_le_bytes());
    request[16..18].copy_from_slice(&me.to_le_bytes());
    let r = call(FFA_MEM_RELINQUISH, 0, 0, 0);
    if r[0] as u32 != FFA_SUCCESS_32 {
        return (r[2] as u32, hash, bytes);
    }
    (0, hash, bytes)
}
