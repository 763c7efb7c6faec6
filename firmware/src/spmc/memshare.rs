//! FFA_MEM_SHARE from the normal world to an S-EL1 partition, the
//! partition's FFA_MEM_RETRIEVE_REQ / FFA_MEM_RELINQUISH, and FFA_MEM_RECLAIM.
//!
//! Memory transaction descriptor (FF-A v1.1+, little-endian):
//!   0 u16 sender, 2 u16 attributes, 4 u32 flags, 8 u64 handle, 16 u64 tag,
//!   24 u32 endpoint descriptor size, 28 u32 endpoint count,
//!   32 u32 endpoint array offset, 36 12 bytes reserved.
//! v1.0: 2 u8 attributes, 24 u32 reserved, endpoint array at 32, 16 bytes each.
//! Endpoint memory access descriptor: 0 u16 endpoint, 2 u8 permissions,
//!   3 u8 flags, 4 u32 composite offset, 8 u64 reserved.
//! Composite: 0 u32 total pages, 4 u32 range count, 8 u64 reserved, then
//!   ranges at 16: u64 address, u32 pages, u32 reserved.
//! The partitions see all normal-world RAM through the shared tables, so
//! "mapping" a share is bookkeeping: the SPMC checks who may read what.

use super::abi::*;
use super::partitions::{self, Kind};
use super::state::{PAGE, STATE};
use super::{negotiated_version, refuse};
use crate::console::fwprintln;
use crate::el3::context::Frame;
use crate::topology;

const MAX_SHARES: usize = 16;
const MAX_RANGES: usize = 32;
const HEADER: usize = 48;
const ENDPOINT: usize = 16;
const COMPOSITE: usize = 16;
const RANGE: usize = 16;

#[derive(Clone, Copy)]
pub struct Range {
    pub address: u64,
    pub pages: u32,
}

#[derive(Clone, Copy)]
pub struct Share {
    handle: u64,
    sender: u16,
    receiver: u16,
    attributes: u16,
    permissions: u8,
    flags: u32,
    tag: u64,
    ranges: [Range; MAX_RANGES],
    range_count: usize,
    retrieved: bool,
}

pub struct ShareTable {
    slots: [Option<Share>; MAX_SHARES],
    next_handle: u64,
}

impl ShareTable {
    pub const fn new() -> Self {
        ShareTable {
            slots: [None; MAX_SHARES],
            next_handle: 1,
        }
    }

    fn find(&mut self, handle: u64) -> Option<&mut Share> {
        self.slots.iter_mut().flatten().find(|s| s.handle == handle)
    }
}

impl Default for ShareTable {
    fn default() -> Self {
        Self::new()
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    le32(b, at) as u64 | ((le32(b, at + 4) as u64) << 32)
}

/// Header fields that differ between v1.0 and v1.1+ layouts.
struct Layout {
    attributes: u16,
    endpoint_size: usize,
    endpoint_offset: usize,
}

fn layout(desc: &[u8], v1_0: bool) -> Layout {
    if v1_0 {
        Layout {
            attributes: desc[2] as u16,
            endpoint_size: ENDPOINT,
            endpoint_offset: 32,
        }
    } else {
        Layout {
            attributes: le16(desc, 2),
            endpoint_size: le32(desc, 24) as usize,
            endpoint_offset: le32(desc, 32) as usize,
        }
    }
}

/// Parses a share descriptor; Err names what is wrong.
fn parse_share(desc: &[u8], v1_0: bool) -> Result<Share, &'static str> {
    if desc.len() < HEADER {
        return Err("descriptor shorter than its header");
    }
    let l = layout(desc, v1_0);
    let count = le32(desc, 28);
    if count != 1 {
        return Err("exactly one receiver supported");
    }
    if l.endpoint_size < ENDPOINT
        || l.endpoint_offset < 32
        || l.endpoint_offset + ENDPOINT > desc.len()
    {
        return Err("endpoint descriptor out of bounds");
    }
    let ep = l.endpoint_offset;
    let receiver = le16(desc, ep);
    let composite = le32(desc, ep + 4) as usize;
    if composite < HEADER || composite + COMPOSITE > desc.len() {
        return Err("composite descriptor out of bounds");
    }
    let total_pages = le32(desc, composite) as u64;
    let range_count = le32(desc, composite + 4) as usize;
    if range_count == 0 || range_count > MAX_RANGES {
        return Err("between 1 and 32 constituents supported");
    }
    if composite + COMPOSITE + range_count * RANGE > desc.len() {
        return Err("constituents out of bounds");
    }
    let mut share = Share {
        handle: 0,
        sender: le16(desc, 0),
        receiver,
        attributes: l.attributes,
        permissions: desc[ep + 2],
        flags: le32(desc, 4),
        tag: le64(desc, 16),
        ranges: [Range {
            address: 0,
            pages: 0,
        }; MAX_RANGES],
        range_count,
        retrieved: false,
    };
    let mut pages = 0u64;
    for n in 0..range_count {
        let at = composite + COMPOSITE + n * RANGE;
        let range = Range {
            address: le64(desc, at),
            pages: le32(desc, at + 8),
        };
        if !range.address.is_multiple_of(PAGE) || range.pages == 0 {
            return Err("constituent not page aligned or empty");
        }
        if !topology::is_ns_ram(range.address, range.pages as u64 * PAGE) {
            return Err("constituent outside normal-world RAM");
        }
        pages += range.pages as u64;
        share.ranges[n] = range;
    }
    if pages != total_pages {
        return Err("total page count does not match the constituents");
    }
    Ok(share)
}

/// x1 total length = x2 fragment length (no fragments), x3/x4 = 0 (the
/// descriptor is in the TX buffer). Reply: w2/w3 = handle low/high.
pub fn share(frame: &mut Frame) {
    let call = "FFA_MEM_SHARE";
    let total = (frame.x[1] & 0xffff_ffff) as usize;
    let fragment = (frame.x[2] & 0xffff_ffff) as usize;
    let (address, pages) = (frame.x[3], frame.x[4]);
    if total != fragment || total > PAGE as usize || address != 0 || pages != 0 {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!(
                "length {} fragment {} buffer {:#x}/{}: only one fragment in the TX buffer",
                total, fragment, address, pages
            ),
        );
    }
    let v1_0 = negotiated_version() == VERSION_1_0;
    let mut state = STATE.lock();
    let Some(tx) = state.normal_world_mailbox.map(|m| m.tx) else {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("no TX buffer mapped"),
        );
    };
    // SAFETY: the normal world's TX page, checked at RXTX_MAP; the normal
    // world waits in this SMC while the SPMC reads it.
    let desc = unsafe { &super::rxtx::ns_page(tx)[..total] };
    let mut parsed = match parse_share(desc, v1_0) {
        Ok(share) => share,
        Err(why) => {
            drop(state);
            return refuse(
                frame,
                call,
                FfaError::InvalidParameters,
                format_args!("{}", why),
            );
        }
    };
    let receiver_ok = matches!(partitions::find(parsed.receiver), Some(p) if matches!(p.kind, Kind::SecureEl1 { .. }));
    if is_secure_id(parsed.sender) || !receiver_ok {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!(
                "sender {:#x} receiver {:#x}: receiver must be SP1 or SP2",
                parsed.sender, parsed.receiver
            ),
        );
    }
    let Some(slot) = state.shares.slots.iter().position(|s| s.is_none()) else {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::NoMemory,
            format_args!("{} shares outstanding", MAX_SHARES),
        );
    };
    parsed.handle = state.shares.next_handle;
    state.shares.next_handle += 1;
    state.shares.slots[slot] = Some(parsed);
    drop(state);
    let pages: u64 = parsed.ranges[..parsed.range_count]
        .iter()
        .map(|r| r.pages as u64)
        .sum();
    fwprintln!(
        "spmc: MEM_SHARE handle {:#x} sender {:#x} receiver {:#x} constituents {} ({} pages)",
        parsed.handle,
        parsed.sender,
        parsed.receiver,
        parsed.range_count,
        pages
    );
    for r in &parsed.ranges[..parsed.range_count] {
        fwprintln!("spmc:   constituent {:#x} {} pages", r.address, r.pages);
    }
    set_success(
        frame,
        [parsed.handle & 0xffff_ffff, parsed.handle >> 32, 0, 0, 0],
    );
}

/// x1/x2 = handle low/high, x3 = flags.
pub fn reclaim(frame: &mut Frame) {
    let call = "FFA_MEM_RECLAIM";
    let handle = (frame.x[1] & 0xffff_ffff) | ((frame.x[2] & 0xffff_ffff) << 32);
    let mut state = STATE.lock();
    let slot = state
        .shares
        .slots
        .iter()
        .position(|s| matches!(s, Some(s) if s.handle == handle));
    let Some(slot) = slot else {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("unknown handle {:#x}", handle),
        );
    };
    if state.shares.slots[slot].is_some_and(|s| s.retrieved) {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("handle {:#x} is retrieved and not relinquished", handle),
        );
    }
    state.shares.slots[slot] = None;
    drop(state);
    fwprintln!("spmc: MEM_RECLAIM handle {:#x}", handle);
    set_success(frame, [0; 5]);
}

/// The partition's retrieve request is in its TX buffer; the response (the
/// share's full descriptor, v1.1 layout) goes to its RX buffer.
pub fn retrieve(slot: usize, frame: &mut Frame) {
    let call = "FFA_MEM_RETRIEVE_REQ";
    let me = partitions::by_slot(slot).id;
    let total = (frame.x[1] & 0xffff_ffff) as usize;
    if total != (frame.x[2] & 0xffff_ffff) as usize
        || total < HEADER + ENDPOINT
        || total > PAGE as usize
    {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("length {}", total),
        );
    }
    let mut state = STATE.lock();
    let Some(mailbox) = state.partition_mailbox[slot] else {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("partition {:#x} has no buffers", me),
        );
    };
    if mailbox.rx_full {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Busy,
            format_args!("partition {:#x} RX buffer full", me),
        );
    }
    // SAFETY: the partition's TX page (secure RAM, checked at its RXTX_MAP);
    // the partition waits in this SMC.
    let request = unsafe { &super::rxtx::secure_page(mailbox.tx)[..total] };
    let handle = le64(request, 8);
    let ep = le32(request, 32) as usize;
    let receiver = if ep + 2 <= total {
        le16(request, ep)
    } else {
        0
    };
    let Some(share) = state.shares.find(handle) else {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("unknown handle {:#x}", handle),
        );
    };
    if share.receiver != me || receiver != me {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("handle {:#x} is not shared with {:#x}", handle, me),
        );
    }
    if share.retrieved {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("handle {:#x} already retrieved", handle),
        );
    }
    share.retrieved = true;
    let share = *share;
    if let Some(m) = state.partition_mailbox[slot].as_mut() {
        m.rx_full = true;
    }
    drop(state);
    // SAFETY: the partition's RX page; it owns nothing in it until this call
    // returns (rx_full was clear and is now set for it).
    let out = unsafe { super::rxtx::secure_page(mailbox.rx) };
    let length = write_retrieved(out, &share);
    set_regs(
        frame,
        FFA_MEM_RETRIEVE_RESP,
        [length as u64, length as u64, 0, 0, 0, 0],
    );
}

fn write_retrieved(out: &mut [u8], share: &Share) -> usize {
    let composite = HEADER + ENDPOINT;
    let ranges = composite + COMPOSITE;
    let length = ranges + share.range_count * RANGE;
    out[..length].fill(0);
    out[0..2].copy_from_slice(&share.sender.to_le_bytes());
    out[2..4].copy_from_slice(&share.attributes.to_le_bytes());
    out[4..8].copy_from_slice(&share.flags.to_le_bytes());
    out[8..16].copy_from_slice(&share.handle.to_le_bytes());
    out[16..24].copy_from_slice(&share.tag.to_le_bytes());
    out[24..28].copy_from_slice(&(ENDPOINT as u32).to_le_bytes());
    out[28..32].copy_from_slice(&1u32.to_le_bytes());
    out[32..36].copy_from_slice(&(HEADER as u32).to_le_bytes());
    out[HEADER..HEADER + 2].copy_from_slice(&share.receiver.to_le_bytes());
    out[HEADER + 2] = share.permissions;
    out[HEADER + 4..HEADER + 8].copy_from_slice(&(composite as u32).to_le_bytes());
    let pages: u32 = share.ranges[..share.range_count]
        .iter()
        .map(|r| r.pages)
        .sum();
    out[composite..composite + 4].copy_from_slice(&pages.to_le_bytes());
    out[composite + 4..composite + 8].copy_from_slice(&(share.range_count as u32).to_le_bytes());
    for (n, r) in share.ranges[..share.range_count].iter().enumerate() {
        let at = ranges + n * RANGE;
        out[at..at + 8].copy_from_slice(&r.address.to_le_bytes());
        out[at + 8..at + 12].copy_from_slice(&r.pages.to_le_bytes());
    }
    length
}

/// Relinquish descriptor in the partition's TX buffer: u64 handle,
/// u32 flags, u32 endpoint count, u16 endpoints[].
pub fn relinquish(slot: usize, frame: &mut Frame) {
    let call = "FFA_MEM_RELINQUISH";
    let me = partitions::by_slot(slot).id;
    let mut state = STATE.lock();
    let Some(mailbox) = state.partition_mailbox[slot] else {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("partition {:#x} has no buffers", me),
        );
    };
    // SAFETY: the partition's TX page, as in `retrieve`.
    let request = unsafe { &super::rxtx::secure_page(mailbox.tx)[..18] };
    let handle = le64(request, 0);
    let count = le32(request, 12);
    let endpoint = le16(request, 16);
    match state.shares.find(handle) {
        Some(share) if share.retrieved && share.receiver == me && count == 1 && endpoint == me => {
            share.retrieved = false;
            drop(state);
            set_success(frame, [0; 5]);
        }
        _ => {
            drop(state);
            refuse(
                frame,
                call,
                FfaError::InvalidParameters,
                format_args!("handle {:#x} not retrieved by {:#x}", handle, me),
            );
        }
    }
}
