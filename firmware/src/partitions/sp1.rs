//! SP1 (0x8001): MP partition, one context per CPU. Answers PING, CHECKSUM,
//! VM_LOG, HOLD/RELEASE and the VM created/destroyed framework messages;
//! a destroyed VM's held shares are relinquished, as a partition that
//! keeps a VM's memory must when it hears the VM is gone.

use super::protocol::*;
use super::retrieve::{checksum, relinquish, retrieve, BufferLock};
use super::sel1::{map_buffers, message_loop};
use crate::fwprintln;
use crate::lock::SpinLock;
use crate::spmc::direct::{FRAMEWORK, VM_CREATED, VM_DESTROYED};
use crate::spmc::partitions::SP1_ID;
use core::sync::atomic::{AtomicU32, Ordering};

static SERVED: AtomicU32 = AtomicU32::new(0);
static BUFFERS: BufferLock = BufferLock::new();
/// VM messages received, and the last three (`kind << 16 | vm_id`), newest first.
static VM_LOG: SpinLock<(u32, [u32; 3])> = SpinLock::new((0, [0; 3]));
/// Shares retrieved by HOLD and not yet relinquished: (handle, sender).
static HELD: SpinLock<[Option<(u64, u16)>; 4]> = SpinLock::new([None; 4]);

pub extern "C" fn entry(context: u64) -> ! {
    let buffers = super::buffers(0);
    if context == 0 && !map_buffers(buffers.0, buffers.1) {
        panic!("SP1 could not map its buffers");
    }
    message_loop(|m| serve(m, context as usize, buffers))
}

fn serve(m: &[u64; 8], context: usize, buffers: (u64, u64)) -> [u64; 6] {
    if m[2] & FRAMEWORK != 0 {
        let kind = m[2] & 0xff;
        if kind == VM_DESTROYED {
            release_all_of(m[5] as u16, buffers);
        }
        if kind == VM_CREATED || kind == VM_DESTROYED {
            let mut log = VM_LOG.lock();
            log.0 += 1;
            log.1 = [
                ((kind as u32) << 16) | (m[5] as u32 & 0xffff),
                log.1[0],
                log.1[1],
            ];
        }
        return [FRAMEWORK | (kind + 1), 0, 0, 0, 0, 0];
    }
    let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
    match m[3] {
        CMD_PING => {
            let r = ping_reply(SP1_ID, m[5], context, served);
            [0, r[0], r[1], r[2], r[3], r[4]]
        }
        CMD_CHECKSUM => {
            let handle = (m[4] & 0xffff_ffff) | ((m[5] & 0xffff_ffff) << 32);
            let (status, hash, bytes) = checksum(SP1_ID, handle, buffers, &BUFFERS);
            [0, status as u64, hash as u64, bytes, 0, 0]
        }
        CMD_VM_LOG => {
            let log = VM_LOG.lock();
            [
                0,
                0,
                log.0 as u64,
                log.1[0] as u64,
                log.1[1] as u64,
                log.1[2] as u64,
            ]
        }
        CMD_HOLD => [0, hold(handle_of(m), buffers) as u64, 0, 0, 0, 0],
        CMD_RELEASE => [0, release(handle_of(m), buffers) as u64, 0, 0, 0, 0],
        _ => [0, UNKNOWN_COMMAND, 0, 0, 0, 0],
    }
}

fn handle_of(m: &[u64; 8]) -> u64 {
    (m[4] & 0xffff_ffff) | ((m[5] & 0xffff_ffff) << 32)
}

/// Retrieve a share and keep it: its owner's reclaim is DENIED meanwhile.
fn hold(handle: u64, buffers: (u64, u64)) -> u32 {
    let mut held = HELD.lock();
    let Some(slot) = held.iter_mut().find(|s| s.is_none()) else {
        return NO_MEMORY;
    };
    match retrieve(SP1_ID, handle, 2, buffers, &BUFFERS) {
        Ok(got) => {
            *slot = Some((handle, got.sender));
            fwprintln!("sp1: holding share {:#x} of VM {:#06x}", handle, got.sender);
            0
        }
        Err(e) => e,
    }
}

fn release(handle: u64, buffers: (u64, u64)) -> u32 {
    let mut held = HELD.lock();
    let Some(slot) = held
        .iter_mut()
        .find(|s| s.is_some_and(|(h, _)| h == handle))
    else {
        return INVALID_PARAMETERS;
    };
    match relinquish(SP1_ID, handle, buffers, &BUFFERS) {
        Ok(()) => {
            *slot = None;
            0
        }
        Err(e) => e,
    }
}

fn release_all_of(vm: u16, buffers: (u64, u64)) {
    let mut held = HELD.lock();
    for slot in held.iter_mut() {
        if let Some((handle, sender)) = *slot {
            if sender == vm && relinquish(SP1_ID, handle, buffers, &BUFFERS).is_ok() {
                fwprintln!(
                    "sp1: VM {:#06x} destroyed: released share {:#x}",
                    vm,
                    handle
                );
                *slot = None;
            }
        }
    }
}
