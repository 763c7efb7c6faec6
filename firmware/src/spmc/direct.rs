//! FFA_MSG_SEND_DIRECT_REQ from the normal world and the partitions'
//! FFA_MSG_SEND_DIRECT_RESP.

use super::abi::*;
use super::partitions::{self, Kind, PendingRequest, STATE_IDLE, STATE_RUNNING};
use super::refuse;
use crate::el3::context::Frame;
use crate::el3::percpu;
use crate::partitions::logical;
use crate::sysreg::cpu_index;
use core::sync::atomic::Ordering;

/// Framework message bit in w2, and the message types.
pub const FRAMEWORK: u64 = 1 << 31;
pub const VM_CREATED: u64 = 4;
pub const VM_DESTROYED: u64 = 6;

pub fn request(frame: &mut Frame) {
    let function = frame.x[0] as u32;
    let is64 = is_smc64(function);
    let call = "FFA_MSG_SEND_DIRECT_REQ";
    let source = (frame.x[1] >> 16) as u16;
    let destination = frame.x[1] as u16;
    if is_secure_id(source) {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("source {:#x} is a secure ID", source),
        );
    }
    let Some(partition) = partitions::find(destination) else {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("no partition {:#x}", destination),
        );
    };
    if partition.properties & partitions::PROP_DIRECT_RECV == 0 {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!("partition {:#x} takes no direct requests", destination),
        );
    }
    let flags = frame.x[2] & 0xffff_ffff;
    if flags & FRAMEWORK != 0 {
        let needed = match flags & 0xff {
            VM_CREATED => partitions::PROP_VM_CREATED,
            VM_DESTROYED => partitions::PROP_VM_DESTROYED,
            _ => 0,
        };
        if needed == 0 || partition.properties & needed == 0 {
            return refuse(
                frame,
                call,
                FfaError::InvalidParameters,
                format_args!(
                    "framework message {:#x} not wanted by partition {:#x}",
                    flags, destination
                ),
            );
        }
        // Tests follow the hypervisor's VM lifecycle messages here.
        crate::console::fwprintln!(
            "spmc: VM {:#06x} {} -> partition {:#x}",
            frame.x[5] & 0xffff,
            if needed == partitions::PROP_VM_CREATED {
                "created"
            } else {
                "destroyed"
            },
            destination
        );
    }
    let mask = if is64 { u64::MAX } else { 0xffff_ffff };
    let mut message = [0u64; 8];
    message[0] = function as u64;
    message[1] = frame.x[1] & 0xffff_ffff;
    message[2] = flags;
    for (word, value) in message[3..].iter_mut().zip(&frame.x[3..8]) {
        *word = value & mask;
    }
    let response = if is64 {
        FFA_MSG_SEND_DIRECT_RESP_64
    } else {
        FFA_MSG_SEND_DIRECT_RESP_32
    };
    match partition.kind {
        Kind::Logical => {
            let reply = logical::handle(partition.id, &message);
            frame.x[0] = response as u64;
            frame.x[1] = ((destination as u64) << 16) | source as u64;
            frame.x[2] = 0;
            for n in 3..8 {
                frame.x[n] = reply[n - 3] & mask;
            }
        }
        Kind::SecureEl1 { slot, mp } => {
            let index = if mp { cpu_index() } else { 0 };
            let exec = partitions::context(slot, index);
            if exec
                .state
                .compare_exchange(
                    STATE_IDLE,
                    STATE_RUNNING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                return refuse(
                    frame,
                    call,
                    FfaError::Busy,
                    format_args!(
                        "partition {:#x} context {} is running on another CPU",
                        destination, index
                    ),
                );
            }
            *exec.pending.lock() = Some(PendingRequest {
                source,
                destination,
                is64,
            });
            let target = exec.saved.get();
            // SAFETY: this CPU claimed the context (IDLE -> RUNNING) above.
            unsafe { (&mut (*target).frame.x)[..8].copy_from_slice(&message) };
            percpu::switch_to(target);
        }
    }
}

/// The partition answers: hand its registers to the normal world and switch
/// back there.
pub fn response(slot: usize, index: usize, frame: &mut Frame) {
    let exec = partitions::context(slot, index);
    let call = "FFA_MSG_SEND_DIRECT_RESP";
    let Some(pending) = *exec.pending.lock() else {
        return refuse(
            frame,
            call,
            FfaError::Denied,
            format_args!("partition has no request to answer"),
        );
    };
    let function = frame.x[0] as u32;
    let expected = if pending.is64 {
        FFA_MSG_SEND_DIRECT_RESP_64
    } else {
        FFA_MSG_SEND_DIRECT_RESP_32
    };
    let ids = ((pending.destination as u64) << 16) | pending.source as u64;
    let got_ids = frame.x[1];
    if function != expected || got_ids & 0xffff_ffff != ids {
        return refuse(
            frame,
            call,
            FfaError::InvalidParameters,
            format_args!(
                "response {:#x} ids {:#x}, expected {:#x} ids {:#x}",
                function, got_ids, expected, ids
            ),
        );
    }
    *exec.pending.lock() = None;
    let mask = if pending.is64 { u64::MAX } else { 0xffff_ffff };
    let nw = percpu::normal_world();
    // SAFETY: the normal world on this CPU is waiting in its SMC; only this
    // CPU touches its context.
    let nw_frame = unsafe { &mut (*nw).frame };
    nw_frame.x[0] = function as u64;
    nw_frame.x[1] = ids;
    for n in 2..8 {
        nw_frame.x[n] = frame.x[n] & mask;
    }
    percpu::switch_to(nw);
    // Only now, with the partition's registers saved, may another CPU take it.
    exec.state.store(STATE_IDLE, Ordering::Release);
}
