//! What S-EL1 partition code uses to talk to the SPMC: FF-A calls by SMC,
//! and the message loop.

use crate::spmc::abi::*;

/// An SMCCC 1.2 call: x0..x7 in, x0..x7 out (the SPMC preserves the rest).
pub fn ffa_call(args: [u64; 8]) -> [u64; 8] {
    let mut r = args;
    // SAFETY: SMC traps to the SPMC at EL3, which only writes x0..x7 of this
    // context and returns to the next instruction; no memory is touched on
    // the partition's behalf except its own RX/TX buffers.
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
            inout("x4") r[4], inout("x5") r[5], inout("x6") r[6], inout("x7") r[7],
            options(nostack)
        )
    };
    r
}

pub fn call(function: u32, x1: u64, x2: u64, x3: u64) -> [u64; 8] {
    ffa_call([function as u64, x1, x2, x3, 0, 0, 0, 0])
}

/// Maps the partition's RX/TX pair with the SPMC.
pub fn map_buffers(tx: u64, rx: u64) -> bool {
    call(FFA_RXTX_MAP_64, tx, rx, 1)[0] as u32 == FFA_SUCCESS_32
}

/// Serves direct requests forever: `serve` turns a request (x0..x7) into
/// w2..w7 of the response, which this loop sends back with the matching
/// response ID and swapped endpoint IDs.
pub fn message_loop(mut serve: impl FnMut(&[u64; 8]) -> [u64; 6]) -> ! {
    let mut message = call(FFA_MSG_WAIT, 0, 0, 0);
    loop {
        let function = message[0] as u32;
        let response = match function {
            FFA_MSG_SEND_DIRECT_REQ_32 => FFA_MSG_SEND_DIRECT_RESP_32,
            FFA_MSG_SEND_DIRECT_REQ_64 => FFA_MSG_SEND_DIRECT_RESP_64,
            _ => {
                message = call(FFA_MSG_WAIT, 0, 0, 0);
                continue;
            }
        };
        let ids = message[1] & 0xffff_ffff;
        let swapped = ((ids & 0xffff) << 16) | (ids >> 16);
        let reply = serve(&message);
        let mut out = [0u64; 8];
        out[0] = response as u64;
        out[1] = swapped;
        out[2..].copy_from_slice(&reply);
        message = ffa_call(out);
    }
}
