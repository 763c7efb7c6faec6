//! FFA_PARTITION_INFO_GET (descriptors in the caller's RX buffer) and
//! FFA_PARTITION_INFO_GET_REGS (v1.2, descriptors in registers).

use super::abi::*;
use super::partitions::{self, Partition};
use super::state::STATE;
use super::{negotiated_version, refuse};
use crate::el3::context::Frame;
use crate::knobs;

const COUNT_ONLY: u64 = 1;
const V1_0_DESCRIPTOR: usize = 8;
const UUID_OFFSET: usize = 8;
/// Bytes past the 24 the spec defines, when the stride knob is larger.
const PADDING_BYTE: u8 = 0xee;

fn uuid_from_words(words: [u32; 4]) -> [u8; 16] {
    let mut uuid = [0u8; 16];
    for (chunk, word) in uuid.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    uuid
}

/// Partitions matching `uuid` (all for the nil UUID), in table order.
fn matching(uuid: [u8; 16]) -> impl Iterator<Item = &'static Partition> {
    partitions::all()
        .iter()
        .filter(move |p| uuid == [0; 16] || p.uuid == uuid)
}

pub fn get(frame: &mut Frame) {
    let call = "FFA_PARTITION_INFO_GET";
    let words = [1, 2, 3, 4].map(|n| frame.x[n] as u32);
    let uuid = uuid_from_words(words);
    let flags = frame.x[5] & 0xffff_ffff;
    let v1_0 = negotiated_version() == VERSION_1_0;
    if (v1_0 && flags != 0) || flags & !COUNT_ONLY != 0 {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("flags {:#x}", flags),
        );
    }
    let count = matching(uuid).count();
    if count == 0 {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("no partition has that UUID"),
        );
    }
    if flags & COUNT_ONLY != 0 {
        return set_success(frame, [count as u64, 0, 0, 0, 0]);
    }
    let stride = if v1_0 {
        V1_0_DESCRIPTOR
    } else {
        knobs::desc_size()
    };
    if count * stride > 4096 {
        return refuse(
            frame,
            call,
            FfaError::NoMemory,
            format_args!(
                "{} descriptors of {} bytes exceed the RX buffer",
                count, stride
            ),
        );
    }
    let mut state = STATE.lock();
    let rx = match state.normal_world_mailbox.as_mut() {
        None => None,
        Some(mailbox) if mailbox.rx_full => Some(Err(())),
        Some(mailbox) => {
            mailbox.rx_full = true;
            Some(Ok(mailbox.rx))
        }
    };
    drop(state);
    let rx = match rx {
        // TF-A's EL3 SPMC answers BUSY for both cases; so do we.
        None => {
            return refuse(
                frame,
                call,
                FfaError::Busy,
                format_args!("no RX buffer mapped"),
            )
        }
        Some(Err(())) => {
            return refuse(
                frame,
                call,
                FfaError::Busy,
                format_args!("RX buffer not released yet"),
            )
        }
        Some(Ok(rx)) => rx,
    };
    // SAFETY: `rx` is the normal world's mapped RX page, checked at
    // RXTX_MAP; the SPMC owns it now (rx_full) until FFA_RX_RELEASE.
    let buffer = unsafe { super::rxtx::ns_page(rx) };
    for (n, p) in matching(uuid).enumerate() {
        let entry = &mut buffer[n * stride..(n + 1) * stride];
        entry[0..2].copy_from_slice(&p.id.to_le_bytes());
        entry[2..4].copy_from_slice(&(p.execution_contexts() as u16).to_le_bytes());
        entry[4..8].copy_from_slice(&p.properties.to_le_bytes());
        if !v1_0 {
            // A specific-UUID query gets the UUID field zeroed (FF-A v1.1).
            let shown = if uuid == [0; 16] { p.uuid } else { [0; 16] };
            entry[UUID_OFFSET..UUID_OFFSET + 16].copy_from_slice(&shown);
            entry[24..].fill(PADDING_BYTE);
        }
    }
    let size = if v1_0 { 0 } else { stride as u64 };
    set_success(frame, [count as u64, size, 0, 0, 0]);
}

/// x1/x2 = UUID halves, x3 = start index [15:0] | tag [31:16]. Reply x2 =
/// descriptor size 24 << 48 | tag << 32 | last index << 16 | count - 1, and
/// up to five descriptors in x3..x17, three registers each.
pub fn get_regs(frame: &mut Frame) {
    let call = "FFA_PARTITION_INFO_GET_REGS";
    let mut uuid = [0u8; 16];
    uuid[..8].copy_from_slice(&frame.x[1].to_le_bytes());
    uuid[8..].copy_from_slice(&frame.x[2].to_le_bytes());
    let start = (frame.x[3] & 0xffff) as usize;
    let tag = (frame.x[3] >> 16) & 0xffff;
    if tag != 0 {
        return refuse(
            frame,
            call,
            FfaError::Retry,
            format_args!("tag {:#x} unknown", tag),
        );
    }
    let count = matching(uuid).count();
    if count == 0 || start >= count {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("start {} of {} matches", start, count),
        );
    }
    let last = (start + 5).min(count) - 1;
    let mut regs = [0u64; 15];
    for (n, p) in matching(uuid)
        .enumerate()
        .skip(start)
        .take(last + 1 - start)
    {
        let at = (n - start) * 3;
        regs[at] =
            p.id as u64 | ((p.execution_contexts() as u64) << 16) | ((p.properties as u64) << 32);
        let mut half = [0u8; 8];
        half.copy_from_slice(&p.uuid[..8]);
        regs[at + 1] = u64::from_le_bytes(half);
        half.copy_from_slice(&p.uuid[8..]);
        regs[at + 2] = u64::from_le_bytes(half);
    }
    frame.x[0] = FFA_SUCCESS_64 as u64;
    frame.x[1] = 0;
    frame.x[2] = (24 << 48) | ((last as u64) << 16) | (count as u64 - 1);
    frame.x[3..18].copy_from_slice(&regs);
}
