//! EL3 logical partitions (0xc001, and 0x7ff0 with the `no-bit15` knob):
//! served inside the SPMC, one execution context, PING only.

use super::protocol::{ping_reply, CMD_PING, UNKNOWN_COMMAND};
use core::sync::atomic::{AtomicU32, Ordering};

static SERVED: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

/// w3..w7 of the reply to `message` (x0..x7 of the request).
pub fn handle(id: u16, message: &[u64; 8]) -> [u64; 5] {
    let counter = &SERVED[usize::from(id != crate::spmc::partitions::LSP_ID)];
    let served = counter.fetch_add(1, Ordering::Relaxed) + 1;
    match message[3] {
        CMD_PING => ping_reply(id, message[5], 0, served),
        _ => [UNKNOWN_COMMAND, 0, 0, 0, 0],
    }
}
