//! SP2 (0x8002): UP partition (one context). Answers PING and CHECKSUM.

use super::protocol::*;
use super::retrieve::{checksum, BufferLock};
use super::sel1::{map_buffers, message_loop};
use crate::spmc::partitions::SP2_ID;
use core::sync::atomic::{AtomicU32, Ordering};

static SERVED: AtomicU32 = AtomicU32::new(0);
static BUFFERS: BufferLock = BufferLock::new();

pub extern "C" fn entry(context: u64) -> ! {
    let buffers = super::buffers(1);
    if !map_buffers(buffers.0, buffers.1) {
        panic!("SP2 could not map its buffers");
    }
    message_loop(|m| {
        let served = SERVED.fetch_add(1, Ordering::Relaxed) + 1;
        match m[3] {
            CMD_PING => {
                let r = ping_reply(SP2_ID, m[5], context as usize, served);
                [0, r[0], r[1], r[2], r[3], r[4]]
            }
            CMD_CHECKSUM => {
                let handle = (m[4] & 0xffff_ffff) | ((m[5] & 0xffff_ffff) << 32);
                let (status, hash, bytes) = checksum(SP2_ID, handle, buffers, &BUFFERS);
                [0, status as u64, hash as u64, bytes, 0, 0]
            }
            _ => [0, UNKNOWN_COMMAND, 0, 0, 0, 0],
        }
    })
}
