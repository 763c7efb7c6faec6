//! FFA_RXTX_MAP / UNMAP / RX_RELEASE for the normal world and partitions.

use super::abi::*;
use super::refuse;
use super::state::{Mailbox, PAGE, STATE};
use crate::console::fwprintln;
use crate::el3::context::Frame;
use crate::platform::{SECURE_RAM_BASE, SECURE_RAM_SIZE};
use crate::topology;

/// x1 = TX, x2 = RX, x3 = page count (must be 1). Buffers: page aligned,
/// distinct, in normal-world RAM.
pub fn map_normal_world(frame: &mut Frame) {
    let (tx, rx, pages) = arguments(frame);
    let call = "FFA_RXTX_MAP";
    if pages != 1 {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("{} pages, only 1 supported", pages),
        );
    }
    if tx % PAGE != 0 || rx % PAGE != 0 || tx == rx {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("TX {:#x} RX {:#x} not distinct aligned pages", tx, rx),
        );
    }
    if !topology::is_ns_ram(tx, PAGE) || !topology::is_ns_ram(rx, PAGE) {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("TX {:#x} RX {:#x} not in normal-world RAM", tx, rx),
        );
    }
    let mut state = STATE.lock();
    if state.normal_world_mailbox.is_some() {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("normal world already has RX/TX buffers"),
        );
    }
    state.normal_world_mailbox = Some(Mailbox {
        tx,
        rx,
        rx_full: false,
    });
    drop(state);
    fwprintln!("spmc: normal world RX/TX mapped: TX {:#x} RX {:#x}", tx, rx);
    set_success(frame, [0; 5]);
}

fn arguments(frame: &Frame) -> (u64, u64, u64) {
    let mask = if is_smc64(frame.x[0] as u32) {
        u64::MAX
    } else {
        0xffff_ffff
    };
    (frame.x[1] & mask, frame.x[2] & mask, frame.x[3] & 0x3f)
}

/// x1[31:16] = endpoint ID, which must be the normal world's own (0).
pub fn unmap_normal_world(frame: &mut Frame) {
    let id = (frame.x[1] >> 16) as u16;
    let call = "FFA_RXTX_UNMAP";
    if id != NORMAL_WORLD_ID {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("endpoint {:#x} has no buffers here", id),
        );
    }
    let mut state = STATE.lock();
    if state.normal_world_mailbox.take().is_none() {
        drop(state);
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("no RX/TX buffers mapped"),
        );
    }
    drop(state);
    fwprintln!("spmc: normal world RX/TX unmapped");
    set_success(frame, [0; 5]);
}

pub fn release_normal_world(frame: &mut Frame) {
    let mut state = STATE.lock();
    release(state.normal_world_mailbox.as_mut(), "normal world", frame);
}

/// FFA_RX_RELEASE: the caller hands back an RX buffer it owns.
fn release(mailbox: Option<&mut Mailbox>, who: &str, frame: &mut Frame) {
    match mailbox {
        Some(mailbox) if mailbox.rx_full => {
            mailbox.rx_full = false;
            set_success(frame, [0; 5]);
        }
        _ => refuse(
            frame,
            "FFA_RX_RELEASE",
            FfaError::Denied,
            format_args!("{who} does not own a full RX buffer"),
        ),
    }
}

/// A partition maps its own buffers, which must be in secure RAM.
pub fn map_partition(slot: usize, frame: &mut Frame) {
    let (tx, rx, pages) = arguments(frame);
    let in_secure_ram =
        |a: u64| a >= SECURE_RAM_BASE && a + PAGE <= SECURE_RAM_BASE + SECURE_RAM_SIZE;
    if pages != 1
        || tx % PAGE != 0
        || rx % PAGE != 0
        || tx == rx
        || !in_secure_ram(tx)
        || !in_secure_ram(rx)
    {
        return refuse(
            frame,
            "FFA_RXTX_MAP",
            FfaError::InvalidParameters,
            format_args!("partition buffers TX {:#x} RX {:#x}", tx, rx),
        );
    }
    let mut state = STATE.lock();
    if state.partition_mailbox[slot].is_some() {
        drop(state);
        return refuse(
            frame,
            "FFA_RXTX_MAP",
            FfaError::Denied,
            format_args!("partition already has RX/TX buffers"),
        );
    }
    state.partition_mailbox[slot] = Some(Mailbox {
        tx,
        rx,
        rx_full: false,
    });
    drop(state);
    set_success(frame, [0; 5]);
}

pub fn release_partition(slot: usize, frame: &mut Frame) {
    let mut state = STATE.lock();
    release(state.partition_mailbox[slot].as_mut(), "partition", frame);
}

/// A page of normal-world RAM as bytes.
///
/// # Safety
/// `address` must be a page of normal-world RAM (the EL3 tables map it NS,
/// read-write) that the normal world handed over for this purpose (its RX
/// or TX buffer), and no other reference to it may be live.
pub unsafe fn ns_page<'a>(address: u64) -> &'a mut [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts_mut(address as *mut u8, PAGE as usize) }
}

/// A page of secure RAM (a partition's buffer) as bytes.
///
/// # Safety
/// As for `ns_page`, for a partition buffer checked by `map_partition`.
pub unsafe fn secure_page<'a>(address: u64) -> &'a mut [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts_mut(address as *mut u8, PAGE as usize) }
}
