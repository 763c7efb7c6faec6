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

/// A retrieved share: its sender and ranges (address, bytes).
pub struct Retrieved {
    pub sender: u16,
    pub ranges: [(u64, u64); MAX_RANGES],
    pub count: usize,
}

/// FFA_MEM_RETRIEVE_REQ for `handle` (`access` 1 read-only, 2 read-write);
/// Err is an FF-A error code.
pub fn retrieve(
    me: u16,
    handle: u64,
    access: u8,
    buffers: (u64, u64),
    lock: &BufferLock,
) -> Result<Retrieved, u32> {
    let (tx, rx) = buffers;
    let _held = lock.0.lock();
    let request = page(tx);
    request[..64].fill(0);
    request[8..16].copy_from_slice(&handle.to_le_bytes());
    request[24..28].copy_from_slice(&16u32.to_le_bytes());
    request[28..32].copy_from_slice(&1u32.to_le_bytes());
    request[32..36].copy_from_slice(&48u32.to_le_bytes());
    request[48..50].copy_from_slice(&me.to_le_bytes());
    request[50] = access;
    let r = call(FFA_MEM_RETRIEVE_REQ_32, 64, 64, 0);
    if r[0] as u32 != FFA_MEM_RETRIEVE_RESP {
        return Err(r[2] as u32);
    }
    let response = page(rx);
    let mut out = Retrieved {
        sender: u16::from_le_bytes([response[0], response[1]]),
        ranges: [(0, 0); MAX_RANGES],
        count: 0,
    };
    let composite = le32(response, 48 + 4) as usize;
    out.count = (le32(response, composite + 4) as usize).min(MAX_RANGES);
    for (n, range) in out.ranges.iter_mut().take(out.count).enumerate() {
        let at = composite + 16 + n * 16;
        let address = le32(response, at) as u64 | ((le32(response, at + 4) as u64) << 32);
        *range = (address, le32(response, at + 8) as u64 * 4096);
    }
    call(FFA_RX_RELEASE, 0, 0, 0);
    Ok(out)
}

/// FFA_MEM_RELINQUISH of `handle`; Err is an FF-A error code.
pub fn relinquish(me: u16, handle: u64, buffers: (u64, u64), lock: &BufferLock) -> Result<(), u32> {
    let _held = lock.0.lock();
    let request = page(buffers.0);
    request[..18].fill(0);
    request[0..8].copy_from_slice(&handle.to_le_bytes());
    request[12..16].copy_from_slice(&1u32.to_le_bytes());
    request[16..18].copy_from_slice(&me.to_le_bytes());
    let r = call(FFA_MEM_RELINQUISH, 0, 0, 0);
    if r[0] as u32 != FFA_SUCCESS_32 {
        return Err(r[2] as u32);
    }
    Ok(())
}

/// Returns (status, FNV-1a, bytes): status 0 or an FF-A error code.
pub fn checksum(me: u16, handle: u64, buffers: (u64, u64), lock: &BufferLock) -> (u32, u32, u64) {
    // Read-only access is all a checksum needs.
    let got = match retrieve(me, handle, 1, buffers, lock) {
        Ok(got) => got,
        Err(e) => return (e, 0, 0),
    };
    let mut hash = FNV_OFFSET;
    let mut bytes = 0;
    for &(address, size) in &got.ranges[..got.count] {
        // SAFETY: the SPMC accepted this range as normal-world RAM shared with
        // this partition (and retrieved by it); the tables map it NS.
        let memory = unsafe { core::slice::from_raw_parts(address as *const u8, size as usize) };
        hash = fnv1a(hash, memory);
        bytes += size;
    }
    match relinquish(me, handle, buffers, lock) {
        Ok(()) => (0, hash, bytes),
        Err(e) => (e, hash, bytes),
    }
}
