//! `selftest.start=uart`: the attacker waits for a line typed on its own
//! virtual PL011 before its first case. The hostile suite types it once
//! dom0's Linux is up and printing heartbeats, so that every case runs
//! while dom0 has to keep answering (its boot alone takes longer than the
//! whole attack).

use crate::guest::mem::{rd32, ticks, ticks_per_second};

/// Its virtual PL011 (Halyard's domU layout).
pub const UART: u64 = 0x0900_0000;
const UARTDR: u64 = 0x00;
const UARTFR: u64 = 0x18;
const FR_RXFE: u32 = 1 << 4;

/// The longest it waits for the line.
const WAIT_MS: u64 = 600_000;

/// Whether the command line asks for the gate.
pub fn asked(dtb: u64) -> bool {
    crate::guest::cmdline_has(dtb, "selftest.start=uart")
}

/// Wait until a newline arrives on the UART (what precedes it is
/// ignored); false if none came within the limit. It polls once a
/// millisecond: every UART read traps, and the CPUs QEMU emulates share
/// the host's.
pub fn wait_for_line() -> bool {
    let tps = ticks_per_second();
    let deadline = ticks() + tps * WAIT_MS / 1000;
    while ticks() < deadline {
        while rd32(UART + UARTFR) & FR_RXFE == 0 {
            if rd32(UART + UARTDR) & 0xff == u32::from(b'\n') {
                return true;
            }
        }
        let next = ticks() + tps / 1000;
        while ticks() < next {
            core::hint::spin_loop();
        }
    }
    false
}
